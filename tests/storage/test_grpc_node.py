"""
The storage node's gRPC edge, in process: a StorageNodeService on a loopback
port and the real StorageClient (or the raw stub, to see exact statuses).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import pytest_twisted
from support.aio import aio_test, as_deferred
from support.chunks import NODE_MAX_CHUNK, collect, new_chunk, sha256_hex
from support.waiting import poll_until
from twisted.internet import reactor

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node._proto.storage.v1 import storage_pb2_grpc as pb_grpc
from s3node.config import StorageConfig
from s3node.core.chunking import FRAME_SIZE
from s3node.core.ids import new_chunk_id
from s3node.errors import (
    ChecksumMismatch,
    ChunkExists,
    ChunkNotFound,
    ConfigurationError,
    CorruptChunk,
    InvalidChunkId,
    InvalidRange,
    InvalidRequest,
    S3NodeError,
    SizeMismatch,
    TooLarge,
    Unavailable,
)
from s3node.storage.client import StorageClient
from s3node.storage.memorystore import MemoryChunkStore
from s3node.storage.service import StorageNodeService
from s3node.storage.servicer import StorageServicer

MAX_CHUNK = NODE_MAX_CHUNK


async def _status_of(awaitable) -> tuple[grpc.StatusCode, str, str | None]:
    with pytest.raises(grpc.RpcError) as e:
        await awaitable
    code = dict(e.value.trailing_metadata() or ()).get("s3node-error-code")
    return e.value.code(), e.value.details(), code


def _put_requests(chunk_id: str, data: bytes, digest: str, *, size=None, algorithm="sha256"):
    header = pb.PutChunkHeader(
        chunk_id=chunk_id,
        size=len(data) if size is None else size,
        checksum_algorithm=algorithm,
        digest=digest,
    )
    return [pb.PutChunkRequest(header=header), pb.PutChunkRequest(data=data)]


@aio_test
async def test_round_trip_through_the_client(client, node):
    """Put, stat, get (whole, ranged, awaited form), list, health and delete all work end to end."""
    chunk_id, data, digest = new_chunk(3 * FRAME_SIZE + 11)
    result = await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    assert (result.created, result.size, result.digest) == (True, len(data), digest)
    again = await client.put_chunk(chunk_id, memoryview(data), algorithm="sha256", digest=digest)
    assert again.created is False
    stat = await client.stat_chunk(chunk_id)
    assert (stat.size, stat.algorithm, stat.digest) == (len(data), "sha256", digest)
    assert await collect(client.get_chunk(chunk_id)) == data
    stream = await client.get_chunk(chunk_id, offset=FRAME_SIZE - 5, length=10)
    assert (await stream.start()).size == len(data)
    assert await collect(stream) == data[FRAME_SIZE - 5 : FRAME_SIZE + 5]
    page = await client.list_chunks(page_size=10)
    assert page.chunk_ids == (chunk_id,) and page.next_page_token == ""
    health = await client.health(timeout=5)
    assert (health.node_id, health.chunk_count, health.used) == ("node-a", 1, len(data))
    assert health.free <= health.capacity and health.version
    assert await client.delete_chunk(chunk_id) is True
    assert await client.delete_chunk(chunk_id) is False
    with pytest.raises(ChunkNotFound):
        await client.stat_chunk(chunk_id)


@aio_test
async def test_put_chunk_stream_splits_large_frames(client):
    """put_chunk_stream accepts frames larger than the message limit and splits them."""
    chunk_id, data, digest = new_chunk(9 * 1024 * 1024)

    async def frames():
        yield data[:1000]
        yield data[1000:]  # ~9 MiB in one frame: more than the node's 4 MiB message limit

    result = await client.put_chunk_stream(chunk_id, len(data), "sha256", digest, frames())
    assert result.created
    assert await collect(client.get_chunk(chunk_id)) == data


@aio_test
async def test_client_raises_mapped_errors(client, node):
    """Each failure reaches the client as the s3node error class the node raised."""
    chunk_id, data, digest = new_chunk(1000)
    with pytest.raises(ChunkNotFound):
        await collect(client.get_chunk(chunk_id))
    with pytest.raises(InvalidChunkId):
        await client.stat_chunk("../../etc/passwd")
    with pytest.raises(ChecksumMismatch):
        await client.put_chunk(chunk_id, data, algorithm="sha256", digest=sha256_hex(b"no"))
    await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    with pytest.raises(ChunkExists):
        await client.put_chunk(
            chunk_id, data[:-1], algorithm="sha256", digest=sha256_hex(data[:-1])
        )
    with pytest.raises(InvalidRange):
        await collect(client.get_chunk(chunk_id, offset=999, length=2))
    with pytest.raises(InvalidRequest, match="blake2b"):
        await client.put_chunk(new_chunk_id(), data, algorithm="md5", digest=digest)
    with pytest.raises(TooLarge):
        await client.put_chunk_stream(new_chunk_id(), MAX_CHUNK + 1, "sha256", digest, _none())
    path = node.store.layout.data_path(chunk_id)
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    with pytest.raises(CorruptChunk):
        await collect(client.get_chunk(chunk_id))
    assert not path.exists()
    assert len(list(node.store.layout.quarantine.iterdir())) == 3  # data, sidecar, reason


async def _none():
    return
    yield b""


@aio_test
async def test_statuses_on_the_wire(stub):
    """The node answers bad requests with the documented gRPC status and error code."""
    chunk_id, data, digest = new_chunk(100)
    cases = [
        (stub.PutChunk(aiter_list(_put_requests("../../x", data, digest))), "INVALID_ARGUMENT"),
        (
            stub.PutChunk(aiter_list(_put_requests(chunk_id, data, digest, size=99))),
            "INVALID_ARGUMENT",
        ),
        (
            stub.PutChunk(aiter_list(_put_requests(chunk_id, data, digest, size=101))),
            "INVALID_ARGUMENT",
        ),
        (stub.PutChunk(aiter_list(_put_requests(chunk_id, data, "0" * 64))), "DATA_LOSS"),
        (stub.PutChunk(aiter_list([])), "INVALID_ARGUMENT"),
        (stub.PutChunk(aiter_list([pb.PutChunkRequest(data=data)])), "INVALID_ARGUMENT"),
        (stub.PutChunk(aiter_list(_put_requests(chunk_id, data, digest) * 2)), "INVALID_ARGUMENT"),
        (stub.StatChunk(pb.StatChunkRequest(chunk_id=chunk_id)), "NOT_FOUND"),
        (stub.ListChunks(pb.ListChunksRequest(page_size=20_000)), "INVALID_ARGUMENT"),
    ]
    for call, expected in cases:
        status, details, code = await _status_of(call)
        assert status.name == expected, (expected, details)
        assert details and code
    status, details, code = await _status_of(stub.StatChunk(pb.StatChunkRequest(chunk_id="A" * 40)))
    assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_chunk_id")
    # After all that, the node still has nothing and still answers.
    assert (await stub.Health(pb.HealthRequest())).chunk_count == 0


async def aiter_list(items):
    """An async iterator over a list of messages."""
    for item in items:
        yield item


@aio_test
async def test_size_errors_map_to_size_mismatch(client):
    """A declared size that disagrees with the data reaches the client as SizeMismatch."""
    chunk_id, data, digest = new_chunk(100)

    async def frames():
        yield data

    with pytest.raises(SizeMismatch):
        await client.put_chunk_stream(chunk_id, 50, "sha256", digest, frames())


@aio_test
async def test_unreachable_node_is_unavailable():
    """A client of a port nobody listens on raises Unavailable within its timeout."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = StorageClient(f"127.0.0.1:{port}")
    try:
        with pytest.raises(Unavailable):
            await client.health(timeout=2)
        with pytest.raises(Unavailable):
            await collect(client.get_chunk(new_chunk_id(), timeout=2))
    finally:
        await client.close()


class _BrokenStore(MemoryChunkStore):
    """A store whose stat fails unexpectedly (a bug, not an s3node error)."""

    async def stat(self, chunk_id):
        raise RuntimeError("disk controller on fire")


@pytest_twisted.async_yield_fixture
async def broken_server(algorithms):
    """A gRPC server over a store with a bug."""
    store = _BrokenStore(algorithms=algorithms, max_chunk_size=MAX_CHUNK)
    server = grpc.aio.server()
    pb_grpc.add_StorageServicer_to_server(StorageServicer(store, node_id="broken", clock=reactor), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await as_deferred(server.start())
    yield f"127.0.0.1:{port}"
    await as_deferred(server.stop(0))


@aio_test
async def test_unexpected_errors_become_internal(broken_server):
    """A bug in the store answers INTERNAL with a message, and the node keeps serving."""
    async with StorageClient(broken_server) as client:
        with pytest.raises(S3NodeError, match="internal error") as e:
            await client.stat_chunk(new_chunk_id())
        assert type(e.value) is S3NodeError
        assert (await client.health(timeout=5)).node_id == "broken"


@aio_test
async def test_abandoned_read_does_not_disturb_the_node(client):
    """A client that stops reading halfway and closes the stream leaves the node serving."""
    chunk_id, data, digest = new_chunk(6 * FRAME_SIZE)
    await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    async with client.get_chunk(chunk_id) as stream:
        first = await anext(aiter(stream))
        assert first == data[: len(first)]
    assert await collect(client.get_chunk(chunk_id)) == data
    assert (await client.health(timeout=5)).chunk_count == 1


def test_make_storage_service_builds_a_node(tmp_path):
    """make_storage_service returns a MultiService node that resolved every built-in algorithm."""
    from twisted.application.service import IServiceCollection

    from s3node.storage.service import make_storage_service

    config = StorageConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "n", node_id="n1")
    service = make_storage_service(config, reactor)
    assert IServiceCollection.providedBy(service)
    assert {"sha256", "blake2b", "crc32c"} <= set(service._algorithms)
    assert service.port is None and not (tmp_path / "n").exists()  # nothing happens before start


@aio_test
async def test_a_busy_port_fails_the_start_at_once(node, tmp_path, algorithms):
    """Starting a node on a port in use raises ConfigurationError synchronously and unlocks its dir."""
    config = StorageConfig(
        host="127.0.0.1", port=node.port, data_dir=tmp_path / "other", node_id="node-b"
    )
    other = StorageNodeService(config, reactor, algorithms=algorithms)
    with pytest.raises(ConfigurationError, match="cannot listen"):
        other.startService()
    # The data dir was unlocked again: a node on a free port can use it.
    retry = StorageNodeService(
        StorageConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "other", node_id="node-b"),
        reactor,
        algorithms=algorithms,
    )
    retry.startService()
    assert await _deferred_to_future(retry.when_listening())
    await _deferred_to_future(retry.stopService())


def _deferred_to_future(d):
    import asyncio

    return d.asFuture(asyncio.get_running_loop())


@aio_test
async def test_early_refusals_arrive_intact(client):
    """Puts refused while the client is still sending report the node's error, every time."""
    chunk_id, data, digest = new_chunk(4 * FRAME_SIZE)
    await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    other = bytes(reversed(data))
    for _ in range(10):
        with pytest.raises(ChunkExists):
            await client.put_chunk(chunk_id, other, algorithm="sha256", digest=sha256_hex(other))
        with pytest.raises(TooLarge):
            await client.put_chunk(
                new_chunk_id(), bytes(MAX_CHUNK + 1), algorithm="sha256", digest=digest
            )


@aio_test
async def test_refused_endless_put_is_cut_off(client):
    """A refused put whose client keeps sending is cut off after the node's drain limit."""
    from s3node.storage.putstream import DRAIN_LIMIT

    sent = 0

    async def endless():
        nonlocal sent
        while sent < 4 * DRAIN_LIMIT:
            sent += FRAME_SIZE
            yield bytes(FRAME_SIZE)

    with pytest.raises(S3NodeError):
        await client.put_chunk_stream(
            new_chunk_id(), 1 << 40, "sha256", "0" * 64, endless(), timeout=60
        )
    assert sent <= DRAIN_LIMIT + 16 * FRAME_SIZE


@aio_test
async def test_a_failing_frame_source_raises_its_own_error(node):
    """When the frames of put_chunk_stream fail, the caller gets that error, not CancelledError."""
    chunk_id, data, digest = new_chunk(3 * 1024 * 1024 // 4)

    async def frames():
        yield data[:1000]
        raise OSError("the upload source broke")

    client = StorageClient(node.address)
    try:
        with pytest.raises(OSError, match="upload source broke"):
            await client.put_chunk_stream(chunk_id, len(data), "sha256", digest, frames(), timeout=10)
        # The node stored nothing and still serves.
        assert (await client.health(timeout=10)).chunk_count == 0
    finally:
        await client.close()
    await poll_until(lambda: not list(node.store.layout.tmp.iterdir()),
                     what="the node to remove the cancelled put's temp file")
    assert list(node.store.layout.tmp.iterdir()) == []


_STOP_WHILE_STARTING = """
import pathlib, sys
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import reactor
from s3node.config import StorageConfig
from s3node.storage.service import make_storage_service

service = make_storage_service(StorageConfig(
    host="127.0.0.1", port=0, data_dir=pathlib.Path(sys.argv[1]), node_id="n1", fsync=False),
    reactor)
outcome = []

def go():
    service.startService()
    stopped = service.stopService()  # in the same turn: the gRPC server is still starting
    stopped.addBoth(lambda result: (outcome.append(result), reactor.stop()))

reactor.callWhenRunning(go)
reactor.run()
print("stopped cleanly" if outcome == [None] else f"stopped with {outcome!r}")
"""


def test_a_node_stopped_while_starting_stops_cleanly(tmp_path: Path) -> None:
    """
    A storage node told to stop while its gRPC server is still starting (a
    SIGTERM during start-up) lets the start finish, then stops cleanly; it used
    to crash the process with a segmentation fault (run in a child process).
    """
    result = subprocess.run(
        [sys.executable, "-c", _STOP_WHILE_STARTING, str(tmp_path / "node")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "stopped cleanly" in result.stdout
