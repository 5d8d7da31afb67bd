"""
Free space counts the puts in flight: a put reserves its declared size before
it reads a byte, the check of the next put and the ``free`` a store reports
both subtract what is reserved, and puts that together exceed the free space
are refused up front (``InsufficientStorage``, ``RESOURCE_EXHAUSTED`` on the
wire) instead of failing half-written.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
import pytest_twisted
from support.aio import aio_test, as_deferred
from support.chunks import collect, new_chunk
from twisted.internet import reactor

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node._proto.storage.v1 import storage_pb2_grpc as pb_grpc
from s3node.errors import InsufficientStorage, SizeMismatch
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.ledger import DiskSpace, Ledger
from s3node.storage.memorystore import MemoryChunkStore
from s3node.storage.servicer import StorageServicer

MiB = 1024 * 1024


class _GatedPuts:
    """Concurrent puts whose data waits for one gate; records which ones began reading."""

    def __init__(self, store, count: int, size: int) -> None:
        self.store = store
        self.gate = asyncio.Event()
        self.reading: set[str] = set()
        self.chunks: dict[str, bytes] = {}
        self.tasks = [self._start(size) for _ in range(count)]

    def _start(self, size: int) -> asyncio.Future:
        chunk_id, data, digest = new_chunk(size)
        self.chunks[chunk_id] = data

        async def body():
            self.reading.add(chunk_id)
            await self.gate.wait()
            yield data

        return asyncio.ensure_future(
            self.store.put(chunk_id, size=size, algorithm="sha256", digest=digest, data=body())
        )

    async def refusals(self, until) -> list[BaseException | None]:
        """Wait until every put is either reading or refused; the refusals."""
        await until(
            lambda: len(self.reading) + sum(t.done() for t in self.tasks) == len(self.tasks),
            "every put to be either reading or refused",
        )
        return [t.exception() for t in self.tasks if t.done()]

    async def finish(self) -> list:
        """Open the gate; the results of the puts that were reading."""
        self.gate.set()
        return [await t for t in self.tasks if not t.done() or not t.exception()]


@pytest.fixture(params=["disk", "memory"])
def small_store(request, algorithms, fake_disk_store):
    """
    A store with 10 MiB free: a disk store whose file system reports 10 MiB
    free (no capacity set), or a memory store of 10 MiB capacity.
    """
    if request.param == "memory":
        return MemoryChunkStore(algorithms=algorithms, max_chunk_size=64 * MiB, capacity=10 * MiB)
    return fake_disk_store(free=10 * MiB, total=100 * MiB)


@aio_test
async def test_concurrent_puts_beyond_free_space_are_refused_up_front(small_store, until):
    """
    Four concurrent 4 MiB puts into 10 MiB of free space: two reserve their
    room, the other two are refused with InsufficientStorage before reading
    any data, and Health's free shows the reservations until the two finish.
    """
    puts = _GatedPuts(small_store, 4, 4 * MiB)
    refused = await puts.refusals(until)
    assert len(refused) == 2 and all(isinstance(e, InsufficientStorage) for e in refused)
    assert len(puts.reading) == 2
    assert (await small_store.usage()).free == 2 * MiB
    stored = await puts.finish()
    assert {r.chunk_id for r in stored} == puts.reading
    for chunk_id in puts.reading:
        assert await collect((await small_store.read(chunk_id)).pieces) == puts.chunks[chunk_id]
    usage = await small_store.usage()
    assert (usage.chunk_count, usage.used) == (2, 8 * MiB)


@aio_test
async def test_a_failed_put_gives_its_reservation_back(small_store):
    """A put that fails (size mismatch) releases what it reserved: the space is free again."""
    chunk_id, data, digest = new_chunk(MiB)

    async def short():
        yield data[:-1]

    with pytest.raises(SizeMismatch):
        await small_store.put(
            chunk_id, size=len(data), algorithm="sha256", digest=digest, data=short()
        )
    assert (await small_store.usage()).free == 10 * MiB


@aio_test
async def test_on_a_real_small_disk_the_excess_put_never_starts(tiny_fs, algorithms, executor,
                                                                until):
    """
    Three concurrent 3 MiB puts on an 8 MiB file system: the third is refused
    before it reads or writes a byte (no ENOSPC half-way), the other two are
    stored whole and no temp file is left.
    """
    store = DiskChunkStore(
        tiny_fs / "node", algorithms=algorithms, executor=executor, max_chunk_size=64 * MiB
    )
    store.open()
    try:
        puts = _GatedPuts(store, 3, 3 * MiB)
        refused = await puts.refusals(until)
        assert len(refused) == 1 and isinstance(refused[0], InsufficientStorage)
        assert all(r.created for r in await puts.finish())
        assert list(store.layout.tmp.iterdir()) == []
        assert len((await store.list()).chunk_ids) == 2
    finally:
        store.close()


def test_free_subtracts_what_reserved_puts_have_yet_to_write():
    """
    The ledger's free space is the smaller of capacity minus stored and
    reserved bytes and disk free minus reserved bytes not yet on disk.
    """
    ledger = Ledger(capacity=None, used=10, reserved=30)
    disk = DiskSpace(total=1000, free=100)
    assert ledger.free(disk) == 70
    assert ledger.free(disk, written=20) == 90
    assert Ledger(capacity=50, used=10, reserved=30).free(disk) == 10
    assert Ledger(capacity=None, reserved=300).free(disk) == 0
    with pytest.raises(InsufficientStorage, match="30 reserved"), ledger.reserve(71, disk):
        pass
    with ledger.reserve(70, disk):
        assert ledger.reserved == 100
    assert ledger.reserved == 30


@pytest_twisted.async_yield_fixture
async def full_node(fake_disk_store, serve):
    """A node serving a disk store whose file system reports 6 MiB free."""
    store = fake_disk_store(free=6 * MiB, total=100 * MiB)
    yield store, await as_deferred(serve(StorageServicer(store, node_id="full", clock=reactor)))


@aio_test
async def test_the_excess_put_is_resource_exhausted_on_the_wire(full_node, until):
    """While a 4 MiB put holds its reservation, a second one gets RESOURCE_EXHAUSTED at once."""
    store, address = full_node
    gate = asyncio.Event()
    chunks = [new_chunk(4 * MiB) for _ in range(2)]

    def requests(chunk_id, data, digest, *, gated):
        async def stream():
            header = pb.PutChunkHeader(
                chunk_id=chunk_id, size=len(data), checksum_algorithm="sha256", digest=digest
            )
            yield pb.PutChunkRequest(header=header)
            if gated:
                await gate.wait()
            yield pb.PutChunkRequest(data=data)

        return stream()

    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.StorageStub(channel)
        first = asyncio.ensure_future(stub.PutChunk(requests(*chunks[0], gated=True), timeout=30))
        await until(lambda: store._ledger.reserved, "the first put to reserve its room")
        with pytest.raises(grpc.RpcError) as e:
            await stub.PutChunk(requests(*chunks[1], gated=False), timeout=30)
        code = dict(e.value.trailing_metadata() or ()).get("s3node-error-code")
        assert (e.value.code(), code) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "insufficient_storage",
        )
        assert "reserved by puts in progress" in e.value.details()
        gate.set()
        assert (await first).created
