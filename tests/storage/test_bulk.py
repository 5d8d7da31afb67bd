"""
The bulk data path: a chunk put on a node's bulk port, beside gRPC
(:mod:`s3node.storage.bulkserver`, :mod:`s3node.storage.bulkclient`).

Real nodes on loopback with the cluster secret; real sockets for what a
hostile peer sends.  Idle timeouts run on a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from storage.conftest import started_bulk_node
from support.aio import aio_test
from support.chunks import NODE_MAX_CHUNK, collect, new_chunk
from support.nodeauth import TEST_SECRET
from support.scrape import parse
from support.waiting import poll_until, turns, within
from twisted.internet import task

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.core.checksums import CRC32C, hexdigest_of
from s3node.core.chunking import FRAME_SIZE
from s3node.errors import (
    ChecksumMismatch,
    ChunkExists,
    NodeAuthFailed,
    NodeBusy,
    S3NodeError,
    TimedOut,
    TooLarge,
)
from s3node.storage.bulkclient import bulk_put
from s3node.storage.bulkserver import BulkPutServer, listening_socket
from s3node.storage.bulkwire import MAGIC, PREFIX, REPLY_PREFIX, framed_head
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.errors import status_for
from s3node.storage.service import StorageNodeService
from s3node.storage.servicer import StorageServicer

NODE = {"node": "bulk"}
SECRET = TEST_SECRET.encode("ascii")


@pytest.fixture
def senders() -> Iterator[ThreadPoolExecutor]:
    """The threads the test's own bulk puts run on (StorageClient has its own)."""
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-bulk")
    yield pool
    pool.shutdown(wait=True)


def header_for(chunk_id: str, data: bytes, digest: str) -> pb.PutChunkHeader:
    return pb.PutChunkHeader(chunk_id=chunk_id, size=len(data), checksum_algorithm="sha256",
                             digest=digest)


def _future(d):  # type: ignore[no-untyped-def]
    return d.asFuture(asyncio.get_running_loop())


def fake_clock_node(tmp_path, algorithms, executor, *, write=os.write,  # type: ignore[no-untyped-def]
                    secrets=(SECRET,), max_connections=4, **servicer_options):
    """
    A store (no fsync; ``write`` writes its chunk data), a servicer and a
    started bulk server on a fake clock, idle timeout 30 s: the store, the
    clock, the servicer and the server (stop it, then close the store).
    """
    store = DiskChunkStore(tmp_path / "store", algorithms=algorithms, executor=executor,
                           max_chunk_size=NODE_MAX_CHUNK, fsync=False, write=write)
    store.open()
    clock = task.Clock()
    servicer = StorageServicer(store, node_id="bulk", clock=clock, put_idle_timeout=30,
                               **servicer_options)
    server = BulkPutServer(servicer, listening_socket("127.0.0.1", 0), secrets=secrets,
                           clock=clock, idle_timeout=30, max_connections=max_connections)
    server.start()
    return store, clock, servicer, server


def temp_files(service: StorageNodeService) -> list[str]:
    assert service.store is not None
    return sorted(p.name for p in service.store.layout.tmp.iterdir())


async def scrape(service: StorageNodeService):  # type: ignore[no-untyped-def]
    body, _ = await service.metrics.exposition(None)
    return parse(body)


async def raw_exchange(port: int, *parts: bytes, shut: bool = True) -> bytes:
    """Send ``parts`` to ``port``, half-close, and read until the node closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for part in parts:
            writer.write(part)
        await writer.drain()
        if shut:
            writer.write_eof()
        return await within(reader.read(), what="the node to close the connection")
    finally:
        writer.close()


def reply_of(data: bytes) -> pb.BulkPutReply:
    (length,) = REPLY_PREFIX.unpack(data[: REPLY_PREFIX.size])
    assert len(data) == REPLY_PREFIX.size + length
    return pb.BulkPutReply.FromString(data[REPLY_PREFIX.size:])


@aio_test
async def test_health_names_the_bulk_port_and_large_puts_take_it(bulk_node, bulk_client):
    """
    Health tells the port; a chunk over 1 MiB goes there (counted as BulkPut,
    no PutChunk call), is stored with its digest and reads back byte-exact on
    gRPC; a small one still goes in one PutSmallChunk.
    """
    health = await bulk_client.health()
    assert health.bulk_port == bulk_node.bulk.port == bulk_client.bulk.port > 0
    chunk_id, data, digest = new_chunk(3 * FRAME_SIZE + 12345)
    crc = hexdigest_of(CRC32C, data)
    result = await bulk_client.put_chunk(chunk_id, data, algorithm="sha256",
                                                     digest=digest, transfer_crc32c=crc)
    assert (result.chunk_id, result.size, result.digest, result.created) == (
        chunk_id, len(data), digest, True)
    small_id, small, small_digest = new_chunk(1000)
    await bulk_client.put_chunk(small_id, small, algorithm="sha256",
                                            digest=small_digest)
    assert await collect(bulk_client.get_chunk(chunk_id, verify=True)) == data
    again = await bulk_client.put_chunk(chunk_id, data, algorithm="sha256",
                                                    digest=digest)
    assert again.created is False
    samples = await scrape(bulk_node)
    calls = {m: samples.get("s3node_storage_calls_total", method=m, code="OK", **NODE)
             for m in ("BulkPut", "PutChunk", "PutSmallChunk")}
    assert calls == {"BulkPut": 2, "PutChunk": 0, "PutSmallChunk": 1}
    assert samples.get("s3node_storage_received_bytes_total", **NODE) == 2 * len(data) + len(small)
    assert temp_files(bulk_node) == []


@aio_test
async def test_the_nodes_errors_come_back_as_on_grpc(bulk_node, bulk_client):
    """
    Bytes that miss the sender's CRC, other content under a stored id and a
    chunk over the node's limit raise what PutChunk raises; nothing is kept.
    """
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
    bent = bytearray(data)
    bent[FRAME_SIZE + 5] ^= 1
    with pytest.raises(ChecksumMismatch, match="crc32c"):
        await bulk_client.put_chunk(chunk_id, bytes(bent), algorithm="sha256",
                                                digest=digest,
                                                transfer_crc32c=hexdigest_of(CRC32C, data))
    with pytest.raises(ChecksumMismatch):
        await bulk_client.put_chunk(chunk_id, bytes(bent), algorithm="sha256",
                                                digest=digest)
    await bulk_client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    _, other, other_digest = new_chunk(2 * FRAME_SIZE)
    with pytest.raises(ChunkExists):
        await bulk_client.put_chunk(chunk_id, other, algorithm="sha256",
                                                digest=other_digest)
    big_id, big, big_digest = new_chunk(NODE_MAX_CHUNK + 1)
    with pytest.raises(TooLarge, match=str(NODE_MAX_CHUNK)) as too_large:
        await bulk_client.put_chunk(big_id, big, algorithm="sha256", digest=big_digest)
    assert await collect(bulk_client.get_chunk(chunk_id)) == data
    samples = await scrape(bulk_node)

    def calls(error: S3NodeError | None) -> float:
        code = "OK" if error is None else status_for(error).name
        return samples.get("s3node_storage_calls_total", method="BulkPut", code=code, **NODE)

    assert calls(None) == 1
    assert calls(ChecksumMismatch("")) == 2
    assert calls(ChunkExists("")) == 1
    assert calls(too_large.value) == 1
    assert samples.get("s3node_storage_calls_total", method="PutChunk", code="OK", **NODE) == 0
    assert temp_files(bulk_node) == []


@aio_test
async def test_a_wrong_or_missing_secret_is_refused(bulk_node, senders):
    """Without the cluster secret nothing is stored, and the node says why."""
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
    for secret in (b"", b"x" * 40, SECRET + b"!"):
        with pytest.raises(NodeAuthFailed, match="secret"):
            await bulk_put("127.0.0.1", bulk_node.bulk.port, secret,
                                       header_for(chunk_id, data, digest), memoryview(data),
                                       where="test", executor=senders)
    assert bulk_node.store is not None
    assert (await bulk_node.store.list()).chunk_ids == ()


@aio_test
async def test_what_a_hostile_peer_sends_fails_only_its_own_put(bulk_node, bulk_client):
    """
    Another protocol, a head past 16 KiB, a head that does not decode, a body
    cut short, more bytes than announced and random noise: each gets an
    error or a closed connection (a reset, where the node did not read all
    that came), no temp file stays, and the node goes on storing chunks.
    """
    port = bulk_node.bulk.port
    # each exactly as long as the node reads before it answers, so no reset
    assert reply_of(await raw_exchange(port, b"GET / HTTP/1")).error_code == "bad_request"
    assert "16384" in reply_of(await raw_exchange(port, PREFIX.pack(MAGIC, 1 << 30))).message
    assert reply_of(await raw_exchange(port, PREFIX.pack(MAGIC, 5), b"\xff" * 5)).error_code \
        == "bad_request"
    chunk_id, data, digest = new_chunk(3 * FRAME_SIZE)
    head = framed_head(SECRET, header_for(chunk_id, data, digest))
    cut = reply_of(await raw_exchange(port, head, data[: FRAME_SIZE + 100]))
    assert cut.error_code == "bad_request" and "ended" in cut.message
    with contextlib.suppress(ConnectionError):  # the node may close on the unread extra bytes
        await raw_exchange(port, head, data + b"trailing", shut=False)
    assert await collect(bulk_client.get_chunk(chunk_id, verify=True)) == data
    for _ in range(50):
        noise = os.urandom(int.from_bytes(os.urandom(2), "big") % 200)
        for sent in (noise, PREFIX.pack(MAGIC, len(noise)) + noise):
            with contextlib.suppress(ConnectionError):
                await raw_exchange(port, sent)
    assert temp_files(bulk_node) == []
    next_id, more, more_digest = new_chunk(2 * FRAME_SIZE)
    await bulk_client.put_chunk(next_id, more, algorithm="sha256",
                                            digest=more_digest)
    assert await collect(bulk_client.get_chunk(next_id)) == more


@aio_test
async def test_a_client_that_stops_talking_is_dropped_on_the_idle_timeout(tmp_path, algorithms,
                                                                          executor):
    """
    A peer silent past the idle timeout, before its head or in its data, is
    answered ``put_stalled`` and its temp file removed (a fake clock).
    """
    store, clock, _, server = fake_clock_node(tmp_path, algorithms, executor)
    try:
        chunk_id, data, digest = new_chunk(3 * FRAME_SIZE)
        head = framed_head(SECRET, header_for(chunk_id, data, digest))
        for sent, reads_data in ((b"", False), (head[:5], False),
                                 (head + data[: FRAME_SIZE + 7], True)):
            exchange = asyncio.ensure_future(raw_exchange(server.port, sent, shut=False))

            def waiting(reads_data: bool = reads_data) -> bool:
                # the node waits on its idle timer: for the head, or for the second
                # piece once the first is written
                written = [p.stat().st_size for p in store.layout.tmp.iterdir()]
                return bool(clock.getDelayedCalls()) and (
                    not reads_data or written == [FRAME_SIZE])

            await poll_until(waiting, what="the node to wait")
            clock.advance(29)
            await turns(20)
            assert not exchange.done()
            clock.advance(2)
            answer = reply_of(await exchange)
            assert answer.error_code == "put_stalled", answer
            assert "30 s" in answer.message
            await poll_until(lambda: not server.connections, what="the connection to end")
            assert sorted(store.layout.tmp.iterdir()) == []
    finally:
        await server.stop(1)
        store.close()


@aio_test
async def test_the_idle_time_counts_from_the_last_piece(tmp_path, algorithms, executor):
    """
    The idle timeout is the peer's silence since its last piece, not the time
    since the put began: a piece 20 s in moves the deadline to 50 s (a fake
    clock; the thread tells the loop nothing as pieces come).
    """
    store, clock, _, server = fake_clock_node(tmp_path, algorithms, executor)
    try:
        chunk_id, data, digest = new_chunk(3 * FRAME_SIZE)
        head = framed_head(SECRET, header_for(chunk_id, data, digest))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

        def written() -> list[int]:
            return [p.stat().st_size for p in store.layout.tmp.iterdir()]

        writer.write(head + data[:FRAME_SIZE])
        await poll_until(lambda: written() == [FRAME_SIZE] and clock.getDelayedCalls(),
                         what="the first piece to be written")
        clock.advance(20)
        writer.write(data[FRAME_SIZE : 2 * FRAME_SIZE])
        await poll_until(lambda: written() == [2 * FRAME_SIZE], what="the second piece")
        await turns(20)
        for step in (15, 14):  # 35 s, then 49 s: within 30 s of the second piece
            clock.advance(step)
            await turns(20)
            assert server.connections and not reader.at_eof()
        clock.advance(2)  # 51 s: 31 s after it
        answer = reply_of(await within(reader.read(), what="the reply"))
        writer.close()
        assert answer.error_code == "put_stalled", answer
        await poll_until(lambda: not server.connections, what="the connection to end")
        assert written() == []
    finally:
        await server.stop(1)
        store.close()


@aio_test
async def test_a_slow_store_write_is_not_the_peers_silence(tmp_path, algorithms, executor):
    """
    The idle timer runs out while the node's own write of a piece is stuck
    (a slow disk): the peer is not blamed, and the put completes once the
    write goes on (a fake clock).
    """
    release = threading.Event()
    writes: list[int] = []

    def slow_write(fd: int, data) -> int:  # type: ignore[no-untyped-def]
        writes.append(len(data))
        if len(writes) == 1:
            release.wait(30)  # the first piece's write hangs until the test lets it go
        return os.write(fd, data)

    store, clock, _, server = fake_clock_node(tmp_path, algorithms, executor, write=slow_write)
    try:
        chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
        head = framed_head(SECRET, header_for(chunk_id, data, digest))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head + data[:FRAME_SIZE])  # the first piece only: its write hangs
        await writer.drain()
        await poll_until(lambda: writes and clock.getDelayedCalls(), what="the write to hang")
        clock.advance(31)  # past the idle timeout, the node's own write still hanging
        await turns(20)
        release.set()
        await poll_until(lambda: len(writes) == 1 and clock.getDelayedCalls(),
                         what="the node to wait for the second piece")
        writer.write(data[FRAME_SIZE:])  # the peer goes on: its put completes
        await writer.drain()
        answer = reply_of(await within(reader.read(), what="the reply"))
        writer.close()
        assert answer.error_code == "" and answer.result.created, answer
        read = await store.read(chunk_id, verify=True)
        assert await collect(read.pieces) == data
    finally:
        release.set()
        await server.stop(1)
        store.close()


@aio_test
async def test_connections_past_the_cap_are_closed_and_busy_slots_refuse(tmp_path, algorithms,
                                                                         executor, senders):
    """
    Beyond ``max_connections`` a connection is closed at once; with every
    call slot taken a put is answered ``node_busy`` after its data is read.
    """
    store, _, servicer, server = fake_clock_node(tmp_path, algorithms, executor, secrets=(),
                                                 max_connections=2, max_concurrent_calls=1)
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
    try:
        await poll_until(lambda: len(server.connections) == 2, what="two connections")
        assert await raw_exchange(server.port, b"") == b""  # closed unread
        for s in held:
            s.close()
        await poll_until(lambda: not server.connections, what="the connections to end")
        servicer.calls.acquire("a test")  # the only slot
        chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
        with pytest.raises(NodeBusy):
            await bulk_put("127.0.0.1", server.port, b"",
                                       header_for(chunk_id, data, digest), memoryview(data),
                                       where="test", executor=senders)
        servicer.calls.release()
        result = await bulk_put("127.0.0.1", server.port, b"",
                                            header_for(chunk_id, data, digest),
                                            memoryview(data), where="test", executor=senders)
        assert result is not None and result.created
    finally:
        for s in held:
            s.close()
        await server.stop(1)
        store.close()


@aio_test
async def test_a_stopping_node_cancels_a_put_in_progress_and_keeps_nothing(tmp_path, algorithms):
    """A put still sending when the node stops is cancelled; its temp file is removed."""
    service = started_bulk_node(tmp_path, algorithms)
    await _future(service.when_listening())
    stopped = False
    try:
        chunk_id, data, digest = new_chunk(3 * FRAME_SIZE)
        head = framed_head(SECRET, header_for(chunk_id, data, digest))
        reader, writer = await asyncio.open_connection("127.0.0.1", service.bulk.port)
        writer.write(head + data[: 2 * FRAME_SIZE])
        await writer.drain()
        await poll_until(lambda: temp_files(service), what="the put's temp file")
        await _future(service.stopService())
        stopped = True
        assert sorted((tmp_path / "node" / "tmp").iterdir()) == []
        try:
            rest = await within(reader.read(), what="the node to close the connection")
        except ConnectionError:  # closed with the data it had not read yet: a reset
            rest = b""
        assert rest == b""
        writer.close()
    finally:
        if not stopped:
            await _future(service.stopService())


@aio_test
async def test_the_client_falls_back_to_grpc_when_the_port_is_gone(bulk_node, bulk_client):
    """
    A bulk port nothing listens on (a restarted node) costs one refused
    connect: the put goes on PutChunk, and the client forgets the port
    until the next Health.
    """
    spare = listening_socket("127.0.0.1", 0)
    closed_port = spare.getsockname()[1]
    spare.close()
    bulk_client.bulk.port = closed_port
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
    await bulk_client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    assert bulk_client.bulk.port == 0
    samples = await scrape(bulk_node)
    assert samples.get("s3node_storage_calls_total", method="PutChunk", code="OK", **NODE) == 1
    await bulk_client.health()
    assert bulk_client.bulk.port == bulk_node.bulk.port


@aio_test
async def test_a_bulk_port_another_node_took_never_takes_the_chunk(tmp_path, algorithms,
                                                                   bulk_node, bulk_client):
    """
    A client whose node restarted on another bulk port, and whose old port
    another node of the cluster took since, sends there: that node answers
    ``node_not_found`` and keeps nothing, and the put goes to the right node
    on gRPC.  A head naming another node is refused the same way.
    """
    other = started_bulk_node(tmp_path / "other", algorithms, node_id="other")
    await _future(other.when_listening())
    try:
        bulk_client.bulk.port = other.bulk.port  # the port the client knew is now other's
        chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
        result = await bulk_client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
        assert result.created and bulk_client.bulk.port == 0
        assert (await other.store.list()).chunk_ids == ()
        assert (await bulk_node.store.list()).chunk_ids == (chunk_id,)
        samples = await scrape(bulk_node)
        assert samples.get("s3node_storage_calls_total", method="PutChunk", code="OK",
                           **NODE) == 1
        head = framed_head(SECRET, header_for(chunk_id, data, digest), node_id="bulk")
        answer = reply_of(await raw_exchange(other.bulk.port, head, data, shut=False))
        assert answer.error_code == "node_not_found" and "other" in answer.message
        assert (await other.store.list()).chunk_ids == ()
        assert temp_files(other) == []
    finally:
        await _future(other.stopService())


@aio_test
async def test_a_node_that_never_answers_times_the_put_out(senders):
    """A listener that takes the connection and never replies: TimedOut after ``timeout``."""
    mute = listening_socket("127.0.0.1", 0)
    taken: list[socket.socket] = []

    async def take() -> None:
        conn, _ = await asyncio.get_running_loop().sock_accept(mute)
        taken.append(conn)

    accepting = asyncio.ensure_future(take())
    chunk_id, data, digest = new_chunk(1000)
    try:
        with pytest.raises(TimedOut, match="bulk put"):
            await bulk_put("127.0.0.1", mute.getsockname()[1], b"",
                                       header_for(chunk_id, data, digest), memoryview(data),
                                       where="test", executor=senders, timeout=0.5)
    finally:
        accepting.cancel()
        for conn in taken:
            conn.close()
        mute.close()


@aio_test
async def test_a_cancelled_put_ends_its_thread_before_it_returns():
    """
    A put cancelled while its thread is blocked sending (the node reads
    nothing) ends that thread before the cancellation returns: the caller's
    buffer is never read after, and the thread is free for the next job.
    """
    mute = listening_socket("127.0.0.1", 0)
    taken: list[socket.socket] = []
    one = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-bulk-one")

    async def take() -> None:
        conn, _ = await asyncio.get_running_loop().sock_accept(mute)
        taken.append(conn)

    accepting = asyncio.ensure_future(take())
    chunk_id, data, digest = new_chunk(64 * FRAME_SIZE)  # far more than the socket buffers
    try:
        put = asyncio.ensure_future(bulk_put(
            "127.0.0.1", mute.getsockname()[1], b"", header_for(chunk_id, data, digest),
            memoryview(data), where="test", executor=one))
        await poll_until(lambda: taken, what="the connection")
        await turns(20)
        assert not put.done()  # blocked: the node reads nothing
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await within(put, what="the cancellation")
        # the pool's only thread runs the next job at once: the send ended with the put
        ran = asyncio.wrap_future(one.submit(lambda: "ran"))
        assert await within(ran, what="the next job") == "ran"
    finally:
        accepting.cancel()
        for conn in taken:
            conn.close()
        mute.close()
        one.shutdown(wait=True)


def test_the_framing_is_as_documented():
    """Magic, big-endian head length, head; the reply's length first."""
    chunk_id, data, digest = new_chunk(10)
    framed = framed_head(b"s", header_for(chunk_id, data, digest))
    magic, length = struct.unpack(">8sI", framed[:12])
    assert magic == b"S3NBULK1" and length == len(framed) - 12
    head = pb.BulkPutHead.FromString(framed[12:])
    assert (head.secret, head.header.chunk_id, head.header.size) == (b"s", chunk_id, 10)
