"""
The gateway's HTTP/1.1 protocol layer (s3node/gateway/http.py) over a real
loopback connection: hostile request heads get a JSON error and a closed
connection, never a bare close; slow heads are timed out.
"""

from __future__ import annotations

import json

import pytest
import pytest_twisted
import treq
from gateway.conftest import running_gateway
from support.auth import AUTH_LINE
from support.http_refusals import REFUSALS, Refusal, parse_response
from support.raw_http import connect_raw
from support.waiting import turns, within


@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.name for r in REFUSALS])
@pytest_twisted.ensureDeferred
async def test_hostile_request_heads_get_a_json_error_and_close(gw, refusal: Refusal):
    """Each hostile head is answered with its status, a JSON error body,
    ``Connection: close`` and a request id, then the connection closes."""
    client = await connect_raw(gw.url)
    client.transport.write(refusal.request)
    await within(client.closed, what="the gateway to close the connection")
    response, rest = parse_response(client.received)
    assert (response.status, response.json()["error"]) == (refusal.status, refusal.code)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert len(response.headers["x-request-id"]) == 16
    assert response.json()["details"]
    assert rest == b""
    # counted like any request, with no route
    r = await treq.get(f"{gw.url}/metrics")
    line = ('s3node_http_requests_total{method="other",route="unmatched",'
            f'status="{refusal.status}"}} 1.0')
    assert line in (await r.content()).decode()


@pytest_twisted.ensureDeferred
async def test_http_1_0_without_host_is_served(gw):
    """``Host`` is required of HTTP/1.1 only."""
    client = await connect_raw(gw.url)
    client.transport.write(b"GET /openapi.json HTTP/1.0\r\n\r\n")
    await within(client.closed, what="the response")
    assert client.received.startswith(b"HTTP/1.0 200") or client.received.startswith(
        b"HTTP/1.1 200")


@pytest_twisted.ensureDeferred
async def test_pipelined_garbage_after_a_good_request(gw):
    """A good request followed by garbage on one connection: the first is answered,
    the garbage gets a JSON 400, then the connection closes."""
    client = await connect_raw(gw.url)
    client.transport.write(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"\x00\x01garbage \xff\r\n\r\n")
    await within(client.closed, what="the gateway to close the connection")
    first, rest = parse_response(client.received)
    assert first.status == 200 and "openapi" in first.json()
    second, _ = parse_response(rest)
    assert second.status == 400 and second.json()["error"] == "bad_request"
    assert second.headers["connection"] == "close"


@pytest_twisted.ensureDeferred
async def test_malformed_chunked_upload_body_is_a_json_400(gw):
    """A chunked upload whose framing breaks mid-body fails that upload with a JSON 400
    (``Connection: close``) and leaves no file ``uploading``."""
    client = await connect_raw(gw.url)
    head = (b"POST /files HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE + b"Transfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\n\r\n")
    part = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'
    client.transport.write(head + b"%x\r\n" % len(part) + part + b"\r\nZZZ-not-hex\r\n")
    await within(client.closed, what="the gateway to close the connection")
    response, _ = parse_response(client.received)
    assert response.status == 400 and response.headers["connection"] == "close"
    assert "chunk" in response.json()["details"] or response.json()["error"] == "bad_request"
    page = await gw.store.list_files(page=1, per_page=10)
    assert all(f.status.value != "uploading" for f in page.files)


@pytest_twisted.ensureDeferred
async def test_a_slow_head_is_timed_out_while_others_are_served():
    """A client that trickles its head a byte at a time gets ``408`` after
    ``header_timeout`` seconds, although every byte came well within the idle
    timeout; another client is served meanwhile."""
    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall

    async with running_gateway(header_timeout=0.5) as gw:
        slow = await connect_raw(gw.url)
        head = iter(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000)
        sent = 0

        def trickle() -> None:
            nonlocal sent
            slow.transport.write(bytes([next(head)]))
            sent += 1

        loop = LoopingCall(trickle)
        loop.clock = reactor
        loop.start(0.05)
        try:
            r = await treq.get(f"{gw.url}/openapi.json")
            assert r.code == 200 and "paths" in json.loads(await r.content())
            await within(slow.closed, what="the slow client to be timed out")
        finally:
            if loop.running:
                loop.stop()
        response, _ = parse_response(slow.received)
        assert response.status == 408 and response.json()["error"] == "request_timeout"
        assert response.headers["connection"] == "close"
        assert sent > 3  # bytes kept arriving: the idle timeout alone never fired


@pytest_twisted.ensureDeferred
async def test_an_idle_keep_alive_connection_is_not_a_slow_head():
    """The head deadline starts with a request's first byte: a connection idle
    between requests is left to the idle timeout, and a later request on it works."""
    from twisted.internet.task import Clock

    clock = Clock()
    async with running_gateway(header_timeout=0.2, site_clock=clock) as gw:
        client = await connect_raw(gw.url)
        client.transport.write(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.wait_for(b"}\n")
        # longer than the head timeout, idle: the head timer must not be running
        clock.advance(0.4)
        await turns(20)
        assert not client.closed.called
        client.received = b""
        client.transport.write(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.wait_for(b"}\n")
        assert client.received.startswith(b"HTTP/1.1 200")
        client.transport.loseConnection()
