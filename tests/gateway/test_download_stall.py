"""
The download's write-stall timeout: a client that accepts no data for
``write_timeout`` seconds loses its connection and the download lets go of
its chunks; a slow client that keeps reading is never cut off.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest_twisted
from gateway.gateway_fakes import FakeNode
from support.auth import AUTH
from support.waiting import poll_until, turns
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from s3node.records import (
    ChunkRecord,
    FileRecord,
    FileStatus,
    FileWithChunks,
    NodeRecord,
    ReplicaRecord,
    ReplicaState,
)

TIMEOUT = 60.0


class Client:
    """
    The request side of a download: takes every write, and pauses the producer
    (as a full transport does, from inside ``write``) once it holds a byte count
    listed in ``pause_at``.
    """

    def __init__(self, *pause_at: int) -> None:
        self.pause_at = set(pause_at)
        self.producer: Any = None
        self.received = bytearray()
        self.aborted = 0
        self.channel = self  # the request's channel, and the channel's transport
        self.transport = self

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming and self.producer is None
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.received += data
        if len(self.received) in self.pause_at:
            self.producer.pauseProducing()

    def abortConnection(self) -> None:
        self.aborted += 1


def place_chunks(file_id: uuid.UUID,
                 pieces: list[tuple[list[FakeNode], bytes]]) -> list[ChunkRecord]:
    """Store piece ``i`` as chunk ``i`` on its nodes; the chunk records that say so."""
    records = []
    for index, (nodes, data) in enumerate(pieces):
        chunk_id = uuid.uuid4().hex
        for node in nodes:
            node.chunks[chunk_id] = data
        records.append(ChunkRecord(
            file_id, index, chunk_id, len(data), "sha256", hashlib.sha256(data).hexdigest(),
            tuple(ReplicaRecord(n.node_id, ReplicaState.STORED) for n in nodes)))
    return records


def stored_file(chunks: list[tuple[FakeNode, bytes]]) -> FileWithChunks:
    """A completed file whose chunk ``i`` is stored (only) on the node paired with it."""
    file_id = uuid.uuid4()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    size = sum(len(d) for _, d in chunks)
    record = FileRecord(file_id, "f.bin", "application/octet-stream", size, "sha256", "0" * 64,
                        1000, FileStatus.COMPLETED, now, now)
    return FileWithChunks(record, tuple(place_chunks(file_id, [([n], d) for n, d in chunks])))


def pipeline(clock: Clock, *nodes: FakeNode) -> Any:
    """A download pipeline over ``nodes`` whose stall timer runs on ``clock``."""
    from s3node.gateway.download import DownloadPipeline
    from s3node.gateway.nodes import NodePool
    from s3node.metadata.memory import MemoryMetadataStore
    from s3node.plugins import checksum_algorithms, get_plugin_manager

    by_address = {f"{n.node_id}:1": n for n in nodes}
    store = MemoryMetadataStore(clock=clock)
    pool = NodePool(store, [NodeRecord(n.node_id, f"{n.node_id}:1") for n in nodes],
                    by_address.__getitem__, clock, health_interval=5)
    algorithms = checksum_algorithms(get_plugin_manager())
    return DownloadPipeline(store, pool, algorithms.__getitem__, lambda f, *a: succeed(f(*a)),
                            clock=clock, write_timeout=TIMEOUT)


@pytest_twisted.ensureDeferred
async def test_a_client_paused_for_the_write_timeout_is_aborted_and_the_reads_closed():
    """A connection that stays paused for write_timeout seconds is aborted (once, with an
    info log line); the read of the next chunk under way is closed and the stream ends."""
    clock = Clock()
    n1, n2 = FakeNode("n1"), FakeNode("n2")
    n2.read_gate = asyncio.Event()  # the second chunk's read hangs until closed
    fwc = stored_file([(n1, bytes(range(256)) * 800), (n2, b"y" * 1000)])
    client = Client(204_800)  # the connection fills with the first chunk
    with capturedLogs() as events:
        done = Deferred.fromCoroutine(pipeline(clock, n1, n2).stream(client, fwc, None))
        await poll_until(lambda: len(client.received) == 204_800 and n2.open_reads == 1,
                         what="the first chunk written, the second being read")
        clock.advance(TIMEOUT - 1)
        assert client.aborted == 0 and not done.called
        clock.advance(1)
        assert client.aborted == 1
        await poll_until(lambda: done.called and n2.open_reads == 0,
                         what="the stream to end and the node read to be closed")
        failures: list[Any] = []
        done.addErrback(failures.append)
        assert failures and failures[0].check(CancelledError)
    assert client.producer is None and clock.getDelayedCalls() == []
    (line,) = [e for e in events if "accepted no data" in e.get("log_format", "")]
    assert line["log_level"].name == "info" and line["file_id"] == fwc.file.file_id


@pytest_twisted.ensureDeferred
async def test_a_slow_client_that_keeps_reading_is_never_aborted():
    """Pauses shorter than write_timeout, however many, never abort the download; the
    stream ends only once the client has taken its last bytes."""
    clock = Clock()
    n1 = FakeNode("n1")
    data = [bytes([i]) * 100_000 for i in range(3)]
    fwc = stored_file([(n1, d) for d in data])
    client = Client(100_000, 200_000, 300_000)  # the connection fills at each chunk's end
    done = Deferred.fromCoroutine(pipeline(clock, n1).stream(client, fwc, None))
    for chunks in (1, 2, 3):
        await poll_until(lambda chunks=chunks: len(client.received) == 100_000 * chunks,
                         what=f"{chunks} chunks written")
        clock.advance(TIMEOUT - 1)
        assert not done.called  # the last bytes too must be taken before the end
        client.producer.resumeProducing()
    await done
    assert client.aborted == 0 and bytes(client.received) == b"".join(data)
    assert client.producer is None and clock.getDelayedCalls() == []


@pytest_twisted.ensureDeferred
async def test_a_paused_client_holds_two_chunks_and_no_more():
    """While its connection is paused, a download holds the chunk after the one it
    wrote, waiting for room, and reads one more, then waits: a slow client holds two
    chunks, never the file.  Resumed, it gets every chunk, each read once."""
    clock = Clock()
    n1 = FakeNode("n1")
    data = [uuid.uuid4().bytes * 64 for _ in range(6)]  # 1024-byte chunks
    fwc = stored_file([(n1, d) for d in data])
    client = Client(1024)  # the connection fills with the first chunk
    done = Deferred.fromCoroutine(pipeline(clock, n1).stream(client, fwc, None))
    await poll_until(lambda: len(client.received) == 1024
                     and sum(n1.unhashed_reads.values()) == 3 and n1.open_reads == 0,
                     what="the first chunk written and two more read")
    await turns(50)  # a download that did not stop would read on meanwhile
    assert sum(n1.unhashed_reads.values()) == 3
    client.producer.resumeProducing()
    await done
    assert bytes(client.received) == b"".join(data)
    assert sorted(n1.unhashed_reads.values()) == [1] * len(data)


@pytest_twisted.ensureDeferred
async def test_a_fast_client_has_read_ahead_reads_in_flight():
    """A client that takes every byte at once has READ_AHEAD chunk reads in flight
    once a chunk is handed to its connection (a chunk usually comes from a node's
    disk), and never more; the first chunk is read alone."""
    from s3node.gateway.download import READ_AHEAD

    clock = Clock()
    n1 = FakeNode("n1")
    n1.message_size = 256  # each read takes a few turns of the event loop
    data = [uuid.uuid4().bytes * 64 for _ in range(READ_AHEAD + 4)]
    fwc = stored_file([(n1, d) for d in data])
    client = Client()
    started = Deferred.fromCoroutine(pipeline(clock, n1).stream(client, fwc, None))
    assert sum(n1.asked.values()) == 1
    await started
    assert bytes(client.received) == b"".join(data)
    assert n1.most_open_reads == READ_AHEAD


@pytest_twisted.ensureDeferred
async def test_with_more_than_deep_up_to_downloads_each_reads_one_chunk_ahead():
    """While more than DEEP_UP_TO downloads run, a new one keeps one read in flight
    (they overlap each other's reads, and each read holds buffers)."""
    from s3node.gateway.download import DEEP_UP_TO

    clock = Clock()
    busy, n1 = FakeNode("busy"), FakeNode("n1")
    n1.message_size = 256
    pipe = pipeline(clock, busy, n1)
    paused = []
    for _ in range(DEEP_UP_TO):  # downloads that stay, their clients full
        client = Client(1024)
        fwc = stored_file([(busy, uuid.uuid4().bytes * 64) for _ in range(4)])
        paused.append((client, Deferred.fromCoroutine(pipe.stream(client, fwc, None))))
    data = [uuid.uuid4().bytes * 64 for _ in range(6)]
    client = Client()
    await Deferred.fromCoroutine(
        pipe.stream(client, stored_file([(n1, d) for d in data]), None))
    assert bytes(client.received) == b"".join(data)
    assert n1.most_open_reads == 1
    for client, done in paused:
        client.producer.resumeProducing()
        await done


@pytest_twisted.ensureDeferred
async def test_a_client_that_stops_reading_loses_its_connection_over_a_real_socket():
    """A real client that stops reading a download (over loopback) has its connection
    closed after --write-timeout; the download's slot is given back and its node reads
    closed, and the client got only part of the file."""
    from gateway.conftest import running_gateway

    async with running_gateway(chunk_size=1 << 20, max_file_size=1 << 26,
                               write_timeout=0.5) as running:
        data = bytes(range(256)) * (16 << 12)  # 16 MiB: far more than the socket buffers
        record = await running.store.create_file(
            filename="big", content_type="a/b", checksum_algorithm="sha256",
            chunk_size=1 << 20)
        await _store_chunks(running, record.file_id, data, 1 << 20)
        slots = running.gateway.download_slots
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
            sock.connect(("127.0.0.1", running.port.getHost().port))
            sock.sendall(f"GET /files/{record.file_id} HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
            await poll_until(lambda: slots.active == 1, what="the download to start")
            # The client reads nothing from here on.
            await poll_until(lambda: slots.active == 0, what="the stalled download to end")
            assert sum(n.open_reads for n in running.nodes.values()) == 0
            sock.setblocking(False)
            got = bytearray()

            def closed() -> bool:
                try:
                    more = sock.recv(1 << 16)
                except BlockingIOError:
                    return False
                except ConnectionResetError:
                    return True
                got.extend(more)
                return not more

            await poll_until(closed, what="the gateway to close the connection", timeout=10)
        assert got.startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(got) < len(data)


async def _store_chunks(running: Any, file_id: uuid.UUID, data: bytes, size: int) -> None:
    """Put ``data`` on the first two nodes in chunks of ``size`` and complete the file."""
    nodes = list(running.nodes.values())[:2]
    pieces = [(nodes, data[i:i + size]) for i in range(0, len(data), size)]
    for chunk in place_chunks(file_id, pieces):
        await running.store.record_chunk(chunk)
    await running.store.complete_file(file_id=file_id, size=len(data),
                                      checksum=hashlib.sha256(data).hexdigest(), replicas=2)
