"""The streaming request body: early dispatch, early errors, limits, disconnects, backpressure."""

from __future__ import annotations

import asyncio
import json
from functools import partial

import pytest
import pytest_twisted
from support.auth import AUTH
from support.raw_http import connect_raw
from support.waiting import poll_until, turns
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from s3node.errors import ClientDisconnected
from s3node.gateway.streaming import HIGH_WATER, LOW_WATER, BodyStream
from s3node.gateway.upload import IN_FLIGHT

BOUNDARY = "BOUNDARYxyz"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def head_of(part_len: int) -> tuple[bytes, bytes]:
    """The multipart envelope around a 'file' part."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="s.bin"\r\n\r\n').encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest_twisted.ensureDeferred
async def test_declared_length_over_limit_gets_413_instead_of_100_continue(gw):
    """A Content-Length over the limit is answered 413 right after the headers, with no
    '100 Continue', and the connection is closed."""
    raw = await connect_raw(gw.url)
    raw.transport.write(
        f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
        f"Content-Length: {10**9}\r\nExpect: 100-continue\r\n\r\n".encode())
    await raw.closed
    assert raw.received.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in raw.received
    assert json.loads(raw.received.split(b"\r\n\r\n", 1)[1])["error"] == "too_large"
    assert gw.store.files == {}


@pytest_twisted.ensureDeferred
async def test_expect_continue_within_limit_gets_100_then_201(gw):
    """A body within the limit gets '100 Continue', then the upload completes with 201."""
    head, tail = head_of(10)
    body = head + b"0123456789" + tail
    raw = await connect_raw(gw.url)
    raw.transport.write(
        f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
    await raw.wait_for(b"100 Continue")
    raw.transport.write(body)
    await raw.wait_for(b"}")
    assert b"HTTP/1.1 201 Created" in raw.received
    raw.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_chunked_body_is_cut_off_past_the_limit(gw, bodies):
    """A chunked upload is answered 413 as soon as it passes the limit (1 MB here)."""
    head, _ = head_of(0)
    raw = await connect_raw(gw.url)
    raw.transport.write(
        f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode())
    piece = b"z" * 65536
    raw.transport.write(b"%x\r\n%s\r\n" % (len(head), head))
    sent = len(head)

    def taken_or_answered(sent: int) -> bool:
        return bool(raw.received) or bool(bodies) and bodies[-1].received >= sent

    for _ in range(40):  # 2.6 MB offered, never a final chunk
        if raw.received:
            break
        raw.transport.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        sent += len(piece)
        # One piece at a time: the next only once the gateway took this one (or answered).
        await poll_until(partial(taken_or_answered, sent),
                         what="the gateway to take the piece or answer")
    await raw.wait_for(b"\r\n\r\n")
    assert raw.received.startswith(b"HTTP/1.1 413 ")
    await raw.closed
    assert [f.status.value for f in gw.store.files.values()] == ["failed"]


@pytest_twisted.ensureDeferred
async def test_request_is_dispatched_before_the_body_is_complete(gw):
    """The upload starts (file record created, chunks stored) while the body still arrives;
    a client that then disconnects leaves the file failed, never completed."""
    head, _ = head_of(0)
    raw = await connect_raw(gw.url)
    raw.transport.write(
        f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
        f"Content-Length: {len(head) + 500_000}\r\n\r\n".encode() + head + bytes(5000))
    await poll_until(lambda: gw.store.files and any(n.puts for n in gw.nodes.values()),
                     what="the upload to store a chunk")
    (record,) = gw.store.files.values()
    assert record.status.value == "uploading"
    raw.transport.abortConnection()
    await poll_until(lambda: gw.store.files[record.file_id].status.value != "uploading",
                     what="the upload to end")
    assert gw.store.files[record.file_id].status.value == "failed"


@pytest_twisted.ensureDeferred
async def test_keep_alive_after_a_streamed_upload(gw):
    """After a completed streamed upload the same connection serves the next request."""
    head, tail = head_of(3)
    body = head + b"abc" + tail
    raw = await connect_raw(gw.url)
    raw.transport.write(
        f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await raw.wait_for(b'"chunk_count": 1}')
    raw.transport.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await raw.wait_for(b'"status": "ok"')
    assert raw.received.count(b"HTTP/1.1 ") == 2
    raw.transport.loseConnection()


def test_body_stream_pauses_above_high_water_and_resumes_when_read():
    """The stream pauses its producer past HIGH_WATER and resumes it once the reader
    has taken it down to LOW_WATER."""
    calls = []
    body = BodyStream(lambda: calls.append("pause"), lambda: calls.append("resume"))
    piece = b"x" * (HIGH_WATER // 4)
    for _ in range(4):
        body.push(piece)
    assert calls == []
    body.push(b"y")
    assert calls == ["pause"]
    taken = 0
    while calls == ["pause"]:
        taken += len(Deferred.fromCoroutine(body.read()).result)
    assert HIGH_WATER + 1 - taken <= LOW_WATER < HIGH_WATER + 1 - taken + len(piece)
    assert calls == ["pause", "resume"]


def test_body_stream_hands_out_each_piece_as_it_came():
    """read() returns the pushed pieces one at a time, the same objects (never a join,
    which would copy them and take a larger buffer), then b"" at the end."""
    body = BodyStream()
    pieces = [b"a" * 10, b"b" * 20, b"c" * 30]
    for piece in pieces:
        body.push(piece)
    body.finish()
    got = [Deferred.fromCoroutine(body.read()).result for _ in range(4)]
    assert all(g is p for g, p in zip(got, pieces, strict=False)) and got[3] == b""


def test_body_stream_read_raises_after_disconnect():
    """A reader waiting on the stream gets ClientDisconnected when the connection drops."""
    body = BodyStream()
    d = Deferred.fromCoroutine(body.read())
    body.fail(Failure(ConnectionError("gone")))
    failure = []
    d.addErrback(failure.append)
    assert failure and failure[0].check(ClientDisconnected)


def test_http_channel_keeps_the_request_line_until_the_body_is_complete():
    """twisted.web's HTTPChannel still holds _command, _path and _version at gotLength
    (the private attributes StreamingRequest relies on)."""
    from twisted.internet.testing import StringTransport
    from twisted.web import http

    seen = {}

    class Probe(http.Request):
        def gotLength(self, length):
            seen["line"] = (self.channel._command, self.channel._path, self.channel._version)
            super().gotLength(length)

    channel = http.HTTPChannel()
    channel.requestFactory = Probe
    channel.makeConnection(StringTransport())
    channel.dataReceived(b"POST /files?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
    assert seen["line"] == (b"POST", b"/files?a=1", b"HTTP/1.1")
    channel.connectionLost(Failure(ConnectionError("done")))


#: chunk sizes below and above SMALL, and how much body the gateway may have read when
#: every write slot is stalled: below SMALL a chunk takes its slot once it is complete (IN_FLIGHT
#: being written, one waiting, the chunker's pieces, the stream's buffer and socket reads);
#: above, when it takes its own buffer, so the one being filled counts among the IN_FLIGHT
#: (no more than IN_FLIGHT chunks, SMALL bytes of pieces, the stream's 1 MiB and a read)
STALL_CASES = [(1_000_000, 16_000_000),
               (8 * 1024 * 1024, IN_FLIGHT * 8 * 1024 * 1024 + 3 * 1024 * 1024)]


@pytest.mark.parametrize(("chunk_size", "bound"), STALL_CASES)
@pytest_twisted.ensureDeferred
async def test_stalled_nodes_pause_the_client_and_memory_stays_bounded(bodies, chunk_size, bound):
    """While the nodes don't take chunks, the gateway stops reading the body (the
    transport is paused) after a bounded amount; once they resume the upload completes."""
    from gateway.conftest import start_gateway
    from twisted.internet import reactor

    replicas = 2
    running, pool = await start_gateway(chunk_size=chunk_size, max_file_size=10**9,
                                        replicas=replicas)
    try:
        gate = asyncio.Event()
        for node in running.nodes.values():
            node.gate = gate
        size = 64_000_000
        head, tail = head_of(size)
        raw = await connect_raw(running.url)
        raw.transport.write(
            f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n".encode() + head)
        piece = bytes(1_000_000)
        for _ in range(size // len(piece)):
            raw.transport.write(piece)  # the client's own buffer takes what we don't read

        def stalled_and_paused() -> bool:
            stalled = sum(n.stalled for n in running.nodes.values())
            return bool(bodies) and bodies[0].paused and stalled == IN_FLIGHT * replicas

        # Every write slot waits at the gate and the stream holds the client paused:
        # nothing reads the body any more until the nodes take chunks again.
        await poll_until(stalled_and_paused, what="every write slot to stall, client paused")
        (body,) = bodies
        first = body.received
        assert body.transport not in reactor.getReaders()  # paused: the socket isn't read
        await turns(20)  # turns of the loop in which a reading transport would read on
        assert body.received == first  # paused: nothing more is read
        assert first < bound
        gate.set()
        raw.transport.write(tail)
        await raw.wait_for(b'"status": "completed"', timeout=60)
        assert body.received == len(head) + size + len(tail)
        raw.transport.loseConnection()
    finally:
        await running.port.stopListening()
        await running.gateway.pool.close()
        pool.stop()
