"""
Caps on concurrent uploads and downloads: beyond them a 503 with Retry-After
before the body is read, never a queue; each slot is held until the response
and the work behind it have ended, and given back exactly once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import pytest_twisted
import treq
from support.auth import AUTH
from support.raw_http import connect_raw
from support.waiting import poll_until, within
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure

from s3node.errors import Overloaded

BOUNDARY = "BOUNDARYxyz"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"
HEAD = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="f.bin"\r\n\r\n').encode()
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


class Request:
    """What a limiter needs of a request: ``notifyFinish``."""

    def __init__(self) -> None:
        self.finished: Deferred[None] = Deferred()

    def notifyFinish(self) -> Deferred[None]:
        return self.finished


def test_a_limiter_refuses_beyond_its_limit_and_admits_again_once_a_slot_is_back():
    """Up to ``limit`` requests are admitted; the next gets Overloaded at once (no queue);
    a request that ends gives its slot to the next one."""
    from s3node.gateway.limits import Limiter

    limiter = Limiter("uploads", 2)
    first, second = Request(), Request()
    with limiter.take(first), limiter.take(second):
        pass
    assert limiter.active == 2
    with pytest.raises(Overloaded, match="2 uploads at once"):
        limiter.take(Request())
    assert limiter.active == 2
    first.finished.callback(None)
    assert limiter.active == 1
    with limiter.take(Request()):
        assert limiter.active == 2


@pytest.mark.parametrize("order", [
    ("route", "response", "work"), ("work", "route", "response"), ("response", "work", "route"),
])
def test_a_slot_is_given_back_once_route_response_and_held_work_have_all_ended(order):
    """Whatever order the route, the response and the held work end in, the slot is
    given back when the last of them ends, and only once."""
    from s3node.gateway.limits import Limiter

    limiter = Limiter("downloads", 1)
    request = Request()
    work: Deferred[str] = Deferred()
    slot = limiter.take(request)
    slot.__enter__()
    results: list[str] = []
    slot.hold(work).addCallback(results.append)
    ends = {
        "route": lambda: slot.__exit__(None, None, None),
        "response": lambda: request.finished.callback(None),
        "work": lambda: work.callback("done"),
    }
    for i, part in enumerate(order):
        assert limiter.active == 1
        ends[part]()
        assert limiter.active == (0 if i == len(order) - 1 else 1)
    slot.__exit__(None, None, None)  # a second exit gives nothing back twice
    assert limiter.active == 0 and results == ["done"]


def test_a_lost_connection_ends_the_response_and_failures_pass_through():
    """A response ended by a lost connection gives the slot back with no unhandled error;
    a held Deferred's failure reaches its own callbacks unchanged."""
    from s3node.gateway.limits import Limiter

    limiter = Limiter("uploads", 1)
    request = Request()
    work: Deferred[None] = Deferred()
    failures: list[Failure] = []
    with limiter.take(request) as slot:
        slot.hold(work).addErrback(failures.append)
    request.finished.errback(Failure(ConnectionLost("gone")))
    assert limiter.active == 1
    work.errback(Failure(ValueError("pipeline failed")))
    assert limiter.active == 0
    assert failures and failures[0].check(ValueError)


async def _refused(url: str, request: bytes) -> tuple[bytes, dict[str, Any]]:
    """Send ``request`` (headers only) and return the response head and JSON once the
    server has closed the connection."""
    raw = await connect_raw(url)
    raw.transport.write(request)
    await within(raw.closed, what="the server to close the connection")
    head, _, body = raw.received.partition(b"\r\n\r\n")
    return head, json.loads(body)


def _upload_head(length: int) -> bytes:
    return (f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
            f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n").encode()


@pytest_twisted.ensureDeferred
async def test_uploads_beyond_the_cap_get_503_before_the_body_until_the_pipeline_is_done():
    """With --max-uploads 1, a second upload gets 503 with Retry-After and a JSON error
    before any body byte (no '100 Continue', connection closed, no file); the slot of an
    upload whose client left stays taken until its pipeline has finished its cleanup."""
    from gateway.conftest import running_gateway

    from s3node.gateway.errors import RETRY_AFTER

    async with running_gateway(max_uploads=1) as running:
        gate = asyncio.Event()
        for node in running.nodes.values():
            node.gate = gate
        first = await connect_raw(running.url)
        first.transport.write(_upload_head(len(HEAD) + 100_000) + HEAD + b"x" * 2500)
        slots = running.gateway.upload_slots
        await poll_until(lambda: running.store.files and slots.active == 1,
                         what="the first upload to start")
        head, error = await _refused(running.url, _upload_head(len(HEAD) + 10))
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"100 Continue" not in head
        assert f"\r\nRetry-After: {RETRY_AFTER}".encode() in head
        assert error["error"] == "overloaded" and "1 uploads at once" in error["details"]
        assert len(running.store.files) == 1
        first.transport.abortConnection()  # its chunk writes still wait at the gate
        (file_id,) = running.store.files
        await within(first.closed, what="the first client to go")
        head, _ = await _refused(running.url, _upload_head(len(HEAD) + 10))
        assert head.startswith(b"HTTP/1.1 503 ") and slots.active == 1
        gate.set()
        await poll_until(lambda: slots.active == 0, what="the first upload's slot")
        assert running.store.files[file_id].status.value == "failed"
        body = HEAD + b"abc" + TAIL
        r = await treq.post(running.url + "/files", data=body, headers={"content-type": CTYPE})
        assert r.code == 201, await r.content()
        await poll_until(lambda: slots.active == 0, what="the second upload's slot")


@pytest_twisted.ensureDeferred
async def test_refused_and_failed_uploads_hold_no_slot():
    """An upload refused for its declared size (413) or failing on a malformed body (400)
    leaves no slot taken."""
    from gateway.conftest import running_gateway

    async with running_gateway(max_uploads=1) as running:
        slots = running.gateway.upload_slots
        head, error = await _refused(running.url, _upload_head(10**9))
        assert head.startswith(b"HTTP/1.1 413 ") and error["error"] == "too_large"
        assert slots.active == 0
        r = await treq.post(running.url + "/files", data=b"--B\r\nnonsense",
                            headers={"content-type": "multipart/form-data; boundary=B"})
        assert r.code == 400, await r.content()
        await poll_until(lambda: slots.active == 0, what="the failed upload's slot")


@pytest_twisted.ensureDeferred
async def test_downloads_beyond_the_cap_get_503_and_every_ending_gives_the_slot_back():
    """With --max-downloads 1, a GET beyond the cap gets 503 with Retry-After (HEAD is not
    a download); a finished, a failed, an unknown and an abandoned download each give
    the slot back."""
    from gateway.conftest import running_gateway

    from s3node.gateway.errors import RETRY_AFTER

    async with running_gateway(max_downloads=1) as running:
        data = bytes(range(256)) * 10
        r = await treq.post(running.url + "/files", data=HEAD + data + TAIL,
                            headers={"content-type": CTYPE})
        path = f"/files/{json.loads(await r.content())['file_id']}"
        url = running.url + path
        slots = running.gateway.download_slots
        gate = asyncio.Event()
        for node in running.nodes.values():
            node.read_gate = gate
        first = treq.get(url)
        await poll_until(lambda: slots.active == 1, what="the first download to start")
        refused = await treq.get(url)
        assert refused.code == 503
        assert refused.headers.getRawHeaders("retry-after") == [str(RETRY_AFTER)]
        assert json.loads(await refused.content())["error"] == "overloaded"
        assert (await treq.head(url)).code == 200
        gate.set()
        r = await first
        assert r.code == 200 and await r.content() == data
        await poll_until(lambda: slots.active == 0, what="the finished download's slot")
        r = await treq.get(f"{running.url}/files/{uuid.uuid4()}")
        assert r.code == 404
        for node in running.nodes.values():
            node.down = True
        for _ in range(2):
            r = await treq.get(url)
            assert r.code == 503
            assert json.loads(await r.content())["error"] == "not_enough_replicas"
        for node in running.nodes.values():
            node.down = False
        gate.clear()
        raw = await connect_raw(running.url)
        raw.transport.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
        await poll_until(lambda: slots.active == 1, what="the abandoned download to start")
        raw.transport.abortConnection()
        await poll_until(lambda: slots.active == 0, what="the abandoned download's slot")
        gate.set()
        await poll_until(lambda: sum(n.open_reads for n in running.nodes.values()) == 0,
                         what="the abandoned download's reads to close")
