"""
HTTP framing abuse against a real ``twistd -n s3node standalone`` (issue 11):
hostile request heads, many at once, pipelined garbage and a slow head; the
gateway answers each in JSON, stays responsive for other clients, and logs
client faults at info level, once each.
"""

from __future__ import annotations

import json

import pytest
import pytest_twisted
import treq
from integration.hostile_gateway import hostile_standalone, log_events
from support.http_refusals import REFUSALS, parse_response
from support.raw_http import connect_raw
from support.waiting import within
from twisted.internet.defer import Deferred, gatherResults

pytestmark = pytest.mark.integration

#: seconds the gateway under test gives a request head (--header-timeout)
HEAD_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The standalone process and its URL."""
    with hostile_standalone(tmp_path_factory.mktemp("hostile-http"),
                            "--header-timeout", str(HEAD_TIMEOUT)) as running:
        yield running


async def _refused(url: str, request: bytes):
    client = await connect_raw(url)
    client.transport.write(request)
    await within(client.closed, what="the gateway to close the connection")
    return parse_response(client.received)


@pytest_twisted.ensureDeferred
async def test_hostile_heads_many_at_once(gateway):
    """Every hostile head, ten connections of each at once: each gets its JSON error
    and ``Connection: close``; the gateway serves ``/health`` right after."""
    _, url = gateway
    tried = 0
    results = await gatherResults([
        Deferred.fromCoroutine(_refused(url, refusal.request))
        for refusal in REFUSALS for _ in range(10)])
    for (response, rest), refusal in zip(results, [r for r in REFUSALS for _ in range(10)],
                                         strict=True):
        tried += 1
        assert (response.status, response.json()["error"]) == (refusal.status, refusal.code)
        assert response.headers["connection"] == "close" and rest == b""
    r = await treq.get(f"{url}/health")
    assert r.code == 200
    print(f"\nHTTP framing: {tried} hostile heads on {tried} connections, all refused in JSON")


@pytest_twisted.ensureDeferred
async def test_pipelined_garbage(gateway):
    """Two good requests and garbage on one connection: two answers, then a JSON 400."""
    _, url = gateway
    client = await connect_raw(url)
    good = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
    client.transport.write(good + good + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
    await within(client.closed, what="the gateway to close the connection")
    first, rest = parse_response(client.received)
    second, rest = parse_response(rest)
    third, rest = parse_response(rest)
    assert (first.status, second.status, third.status) == (200, 200, 400)
    assert third.json()["error"] == "bad_request" and rest == b""


@pytest_twisted.ensureDeferred
async def test_a_slow_head_is_timed_out_and_others_are_served(gateway):
    """A client that sends its head a byte at a time (every 0.1 s: the idle timeout
    never fires) gets ``408`` after ``--header-timeout``; others are served meanwhile."""
    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall

    _, url = gateway
    slow = await connect_raw(url)
    head = iter(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 10_000)
    sent = 0

    def trickle() -> None:
        nonlocal sent
        slow.transport.write(bytes([next(head)]))
        sent += 1

    loop = LoopingCall(trickle)
    loop.clock = reactor
    loop.start(0.1)
    served = 0
    try:
        while not slow.closed.called and served < 1000:
            r = await treq.get(f"{url}/openapi.json")
            assert r.code == 200 and "paths" in json.loads(await r.content())
            served += 1
        await within(slow.closed, what="the slow client to be timed out")
    finally:
        if loop.running:
            loop.stop()
    response, _ = parse_response(slow.received)
    assert response.status == 408 and response.json()["error"] == "request_timeout"
    assert sent >= 5 and served >= 1
    print(f"\nslow head: {sent} bytes over its timeout, {served} requests served meanwhile")


@pytest_twisted.ensureDeferred
async def test_client_faults_are_logged_at_info_once(gateway):
    """A multipart body full of junk, an oversized file and a refused head log no
    error-level event, nothing outside the JSON log (no stderr), and one info event
    for the refused head."""
    proc, url = gateway
    start = len(log_events(proc))
    junk = b"--B\r\n" + b"\x00junk-where-headers-belong\r\n" * 200
    r = await treq.post(f"{url}/files", data=junk,
                        headers={"content-type": "multipart/form-data; boundary=B"})
    assert r.code == 400
    big = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
           + b"b" * (1024 * 1024 + 1) + b"\r\n--B--\r\n")
    r = await treq.post(f"{url}/files", data=big,
                        headers={"content-type": "multipart/form-data; boundary=B"})
    assert r.code == 413
    await _refused(url, b"get / HTTP/1.1\r\nHost: x\r\n\r\n")
    r = await treq.get(f"{url}/health")  # the events above are logged before this answer
    assert r.code == 200
    events = log_events(proc)[start:]
    assert [e for e in events if e.get("level") not in ("info", "debug", "warn")] == []
    refusals = [e for e in events if "refused a request" in e.get("message", "")]
    assert len(refusals) == 1
    # the chunks the cut-off upload had stored, and their clean-up, are one line
    # each from the nodes however far it got: not what this test counts
    chatter = [e for e in events
               if not str(e.get("message", "")).startswith(("stored chunk", "deleted chunk"))]
    assert len(chatter) < 20, [e.get("message") for e in chatter]
