"""An upload whose client disconnects still finishes its own bookkeeping."""

from __future__ import annotations

import asyncio

import pytest_twisted
from support.auth import AUTH_LINE
from support.raw_http import connect_raw
from support.waiting import poll_until
from twisted.internet.defer import CancelledError, Deferred

from s3node.records import FileStatus


def test_shielded_forwards_results_and_keeps_cancellation_out() -> None:
    """Cancelling a shielded Deferred fails only the shield; the work goes on and
    a later result is dropped, while an uncancelled shield forwards result and failure."""
    from s3node._aio import shielded

    work: Deferred[int] = Deferred()
    shield = shielded(work)
    errors: list[object] = []
    shield.addErrback(errors.append)
    shield.cancel()
    assert errors and errors[0].check(CancelledError)  # type: ignore[attr-defined]
    assert not work.called
    work.callback(7)  # arrives after the cancel: dropped, no AlreadyCalledError

    ok: Deferred[int] = Deferred()
    results: list[object] = []
    shielded(ok).addCallback(results.append)
    ok.callback(5)
    assert results == [5]

    bad: Deferred[int] = Deferred()
    failures: list[object] = []
    shielded(bad).addErrback(failures.append)
    bad.errback(ValueError("boom"))
    assert failures and failures[0].check(ValueError)  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred
async def test_disconnect_during_a_chunk_write_fails_the_file_and_records_the_chunk(gw, bodies):
    """A client that drops while a chunk write is under way: the write still completes,
    the chunk is recorded (so the sweeper can find it) and the file ends failed."""
    gate = asyncio.Event()
    for node in gw.nodes.values():
        node.gate = gate
    boundary = "b0undary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="gone.bin"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
    client = await connect_raw(gw.url)
    client.transport.write(
        b"POST /files HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE
        + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
        + f"Content-Length: {len(head) + 100_000}\r\n\r\n".encode() + head + b"x" * 2500)
    # 2500 bytes of 1000-byte chunks: two chunks are written, each to 2 replicas.
    await poll_until(lambda: sum(n.stalled for n in gw.nodes.values()) == 2 * 2,
                     what="the first chunk writes to reach the gate and wait there")
    assert sum(n.puts for n in gw.nodes.values()) == 0
    client.transport.abortConnection()
    # The disconnect reaches the gateway: the body fails (and Klein cancels the handler).
    await poll_until(lambda: bodies[0].complete, what="the disconnect to reach the gateway")
    gate.set()
    (file_id,) = gw.store.files
    await poll_until(lambda: gw.store.files[file_id].status is FileStatus.FAILED,
                     what="the file to be marked failed")
    recorded = gw.store.chunks[file_id]
    assert recorded, "the chunks written before the disconnect are recorded"
    for chunk in recorded.values():
        holders = [n for n in gw.nodes.values() if chunk.chunk_id in n.chunks]
        assert {r.node_id for r in chunk.replicas} == {n.node_id for n in holders}
