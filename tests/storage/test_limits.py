"""
The node's limits on its callers, in process with a fake clock: a PutChunk
stream that stays silent longer than the idle timeout is ended with
DEADLINE_EXCEEDED (``put_stalled``), its temp file removed and its
reservation released; calls beyond the concurrency cap are refused at once
with RESOURCE_EXHAUSTED (``node_busy``) while Health still answers.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
import pytest_twisted
from support.aio import aio_test, as_deferred
from support.chunks import collect, new_chunk
from twisted.internet.task import Clock

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node._proto.storage.v1 import storage_pb2_grpc as pb_grpc
from s3node.core.ids import new_chunk_id
from s3node.errors import ChunkNotFound, NodeBusy, PutStalled
from s3node.storage.client import StorageClient
from s3node.storage.limits import IdleTimeout
from s3node.storage.servicer import StorageServicer

MiB = 1024 * 1024
IDLE = 5.0
CAPACITY = 64 * MiB


class _Node:
    """A servicer over a disk store, served on a loopback port, timed by a fake clock."""

    def __init__(self, store, servicer: StorageServicer, clock: Clock) -> None:
        self.store = store
        self.servicer = servicer
        self.clock = clock
        self.address = ""

    def idle_timers(self) -> int:
        """How many idle timers run (one per put waiting for its next message)."""
        return sum(1 for call in self.clock.getDelayedCalls() if call.active())


@pytest_twisted.async_yield_fixture
async def limited(fake_disk_store, serve):
    """A node with a 5 s (fake) put idle timeout and at most 2 concurrent calls."""
    store = fake_disk_store(free=1 << 40, capacity=CAPACITY, max_chunk_size=16 * MiB)
    clock = Clock()
    servicer = StorageServicer(
        store, node_id="limited", clock=clock, put_idle_timeout=IDLE, max_concurrent_calls=2
    )
    node = _Node(store, servicer, clock)
    node.address = await as_deferred(serve(servicer))
    yield node


class _Stream:
    """A PutChunk request stream the test paces: each step waits for :meth:`send`."""

    def __init__(self, chunk_id: str, size: int, digest: str) -> None:
        self.header = pb.PutChunkHeader(
            chunk_id=chunk_id, size=size, checksum_algorithm="sha256", digest=digest
        )
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def send(self, data: bytes | None) -> None:
        """Send ``data`` next (``None``: end the stream)."""
        self._queue.put_nowait(data)

    async def __aiter__(self):
        yield pb.PutChunkRequest(header=self.header)
        while (data := await self._queue.get()) is not None:
            yield pb.PutChunkRequest(data=data)


async def _status(call) -> tuple[grpc.StatusCode, str | None, str]:
    with pytest.raises(grpc.RpcError) as e:
        await asyncio.wait_for(call, 10)
    code = dict(e.value.trailing_metadata() or ()).get("s3node-error-code")
    return e.value.code(), code, e.value.details()


@pytest.mark.parametrize("sent", [0, MiB], ids=["after the header", "midway"])
@aio_test
async def test_a_silent_put_is_ended_and_leaves_nothing(limited, until, sent):
    """
    A put that declared 4 MiB and then sends nothing for the idle timeout ends
    with DEADLINE_EXCEEDED (put_stalled); its temp file is gone and its
    reservation released, so free space is back where it was.
    """
    chunk_id, data, digest = new_chunk(4 * MiB)
    stream = _Stream(chunk_id, len(data), digest)
    if sent:
        stream.send(data[:sent])
    async with grpc.aio.insecure_channel(limited.address) as channel:
        stub = pb_grpc.StorageStub(channel)
        free_before = (await stub.Health(pb.HealthRequest())).free
        call = asyncio.ensure_future(stub.PutChunk(aiter(stream), timeout=30))
        store = limited.store
        await until(
            lambda: store._written() == sent and store._ledger.reserved and limited.idle_timers(),
            "the put to wait for its next message",
        )
        assert (await stub.Health(pb.HealthRequest())).free == free_before - len(data)
        limited.clock.advance(IDLE - 0.1)
        assert not call.done() and store._ledger.reserved == len(data)
        limited.clock.advance(0.1)
        status, code, details = await _status(call)
        stream.send(None)  # let the client's writer task end
        assert (status, code) == (grpc.StatusCode.DEADLINE_EXCEEDED, "put_stalled")
        assert "sent nothing for 5 s" in details
        assert store._ledger.reserved == 0
        assert list(store.layout.tmp.iterdir()) == []
        assert (await stub.Health(pb.HealthRequest())).free == free_before
    assert not store.layout.data_path(chunk_id).exists()
    assert limited.servicer.calls.in_use == 0


@aio_test
async def test_a_stream_without_a_header_is_ended_too(limited, until):
    """A PutChunk call that never sends its header is ended after the idle timeout."""

    hang = asyncio.Event()

    async def nothing():
        await hang.wait()
        yield pb.PutChunkRequest()

    async with grpc.aio.insecure_channel(limited.address) as channel:
        call = asyncio.ensure_future(pb_grpc.StorageStub(channel).PutChunk(nothing(), timeout=30))
        await until(lambda: limited.idle_timers(), "the node to wait for the header")
        limited.clock.advance(IDLE)
        status, code, _ = await _status(call)
        hang.set()
    assert (status, code) == (grpc.StatusCode.DEADLINE_EXCEEDED, "put_stalled")


@aio_test
async def test_a_slow_but_steady_put_is_not_cancelled(limited, until):
    """Pauses shorter than the idle timeout, however many, never end a put: 16 s in 4 s steps."""
    chunk_id, data, digest = new_chunk(4 * MiB)
    stream = _Stream(chunk_id, len(data), digest)
    async with StorageClient(limited.address) as client:

        async def frames():
            async for request in stream:
                if request.WhichOneof("kind") == "data":
                    yield request.data

        call = asyncio.ensure_future(
            client.put_chunk_stream(chunk_id, len(data), "sha256", digest, frames(), timeout=30)
        )
        for i in range(4):
            await until(
                lambda i=i: limited.store._written() == i * MiB and limited.idle_timers(),
                f"piece {i} to be written",
            )
            limited.clock.advance(IDLE - 1)
            stream.send(data[i * MiB : (i + 1) * MiB])
        stream.send(None)
        result = await asyncio.wait_for(call, 10)
        assert result.created
        assert await collect(client.get_chunk(chunk_id)) == data


@aio_test
async def test_the_client_raises_put_stalled(limited, until):
    """StorageClient turns the node's idle cancellation into PutStalled (an Unavailable)."""
    chunk_id, data, digest = new_chunk(MiB)
    hang = asyncio.Event()

    async def frames():
        yield data[:1000]
        await hang.wait()

    async with StorageClient(limited.address) as client:
        call = asyncio.ensure_future(
            client.put_chunk_stream(chunk_id, len(data), "sha256", digest, frames(), timeout=30)
        )
        await until(
            lambda: limited.store._written() == 1000 and limited.idle_timers(),
            "the put to wait for more data",
        )
        limited.clock.advance(IDLE)
        with pytest.raises(PutStalled, match="put-idle-timeout"):
            await asyncio.wait_for(call, 10)
        hang.set()


@aio_test
async def test_calls_beyond_the_cap_are_refused_at_once_and_health_answers(limited, until):
    """
    With both slots held by puts in progress, every further call but Health
    is refused at once with RESOURCE_EXHAUSTED (node_busy); once the puts end,
    calls are served again.
    """
    held = [new_chunk(MiB) for _ in range(2)]
    streams = [_Stream(c, len(d), h) for c, d, h in held]
    async with grpc.aio.insecure_channel(limited.address) as channel:
        stub = pb_grpc.StorageStub(channel)
        puts = [asyncio.ensure_future(stub.PutChunk(aiter(s), timeout=30)) for s in streams]
        await until(lambda: limited.servicer.calls.in_use == 2, "both puts to hold a slot")
        chunk_id, data, digest = new_chunk(4 * MiB)
        refused = [
            stub.PutChunk(aiter_of_requests(chunk_id, data, digest), timeout=10),
            stub.StatChunk(pb.StatChunkRequest(chunk_id=chunk_id), timeout=10),
            stub.DeleteChunk(pb.DeleteChunkRequest(chunk_id=chunk_id), timeout=10),
            stub.ListChunks(pb.ListChunksRequest(), timeout=10),
            _drain(stub.GetChunk(pb.GetChunkRequest(chunk_id=chunk_id), timeout=10)),
        ]
        for call in refused:
            status, code, details = await _status(call)
            assert (status, code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "node_busy")
            assert "limit of 2 concurrent calls" in details
        health = await asyncio.wait_for(stub.Health(pb.HealthRequest()), 10)
        assert health.node_id == "limited"
        async with StorageClient(limited.address) as client:
            with pytest.raises(NodeBusy):
                await client.stat_chunk(chunk_id, timeout=10)
        for stream, (_, piece, _) in zip(streams, held, strict=True):
            stream.send(piece)
            stream.send(None)
        assert all(r.created for r in await asyncio.gather(*puts))
        assert limited.servicer.calls.in_use == 0
        listed = await stub.ListChunks(pb.ListChunksRequest(), timeout=10)
        assert sorted(listed.chunk_ids) == sorted(c for c, _, _ in held)


@aio_test
async def test_slots_come_back_when_calls_fail_or_are_abandoned(limited, until):
    """Failed calls and reads a client abandons midway give their slot back."""
    chunk_id, data, digest = new_chunk(6 * MiB)
    async with StorageClient(limited.address) as client:
        await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
        for _ in range(5):
            with pytest.raises(ChunkNotFound):
                await client.stat_chunk(new_chunk_id(), timeout=10)
            async with client.get_chunk(chunk_id, timeout=10) as stream:
                await anext(aiter(stream))
        await until(lambda: limited.servicer.calls.in_use == 0, "every slot to come back")
        assert await collect(client.get_chunk(chunk_id, timeout=10)) == data


async def aiter_of_requests(chunk_id: str, data: bytes, digest: str):
    """A whole PutChunk stream: the header, then 1 MiB data messages."""
    header = pb.PutChunkHeader(
        chunk_id=chunk_id, size=len(data), checksum_algorithm="sha256", digest=digest
    )
    yield pb.PutChunkRequest(header=header)
    for i in range(0, len(data), MiB):
        yield pb.PutChunkRequest(data=data[i : i + MiB])


async def _drain(call) -> None:
    async for _ in call:
        pass


@aio_test
async def test_a_cancelled_wait_is_not_taken_for_a_stall(until):
    """
    A call cancelled while it waits for its stream (client gone, shutdown)
    ends cancelled, not with PutStalled, and leaves no timer behind.
    """
    clock = Clock()
    idle = IdleTimeout(clock, IDLE)
    never = asyncio.Event()

    async def stream():
        await never.wait()
        yield b"never"

    task = asyncio.ensure_future(idle.next(stream(), "the stream"))
    await until(lambda: clock.getDelayedCalls(), "the timer to start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.getDelayedCalls() == []


def test_the_limits_are_storage_options(tmp_path):
    """--put-idle-timeout and --max-concurrent-calls reach StorageConfig; defaults 30 s and 64."""
    from twisted.python import usage

    from s3node.tap import Options

    def config(*argv):
        options = Options()
        options.parseOptions(["storage", "--data-dir", str(tmp_path), "--node-id", "n1", *argv])
        return options.subOptions.config

    assert (config().put_idle_timeout, config().max_concurrent_calls) == (30.0, 64)
    tuned = config("--put-idle-timeout", "2.5", "--max-concurrent-calls", "8")
    assert (tuned.put_idle_timeout, tuned.max_concurrent_calls) == (2.5, 8)
    for argv, message in [
        (("--put-idle-timeout", "0"), "more than 0 seconds"),
        (("--put-idle-timeout", "soon"), "number of seconds"),
        (("--max-concurrent-calls", "0"), "at least 1"),
    ]:
        with pytest.raises(usage.UsageError, match=message):
            config(*argv)
