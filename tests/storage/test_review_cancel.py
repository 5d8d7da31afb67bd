"""
Cancellations that land while the disk store's blocking work is already
running on a worker thread (a gRPC client hanging up, or a deadline expiring,
during a put's commit or a delete): the store's counts must still match the
disk, and the chunk's lock must be held until the disk work is over.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from support.aio import aio_test
from support.chunks import aiter_of, collect, new_chunk

from s3node.storage import diskfiles
from s3node.storage.diskstore import DiskChunkStore

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path, algorithms, executor):
    """An open disk store (with fsync on) in a temp dir."""
    s = DiskChunkStore(
        tmp_path / "node", algorithms=algorithms, executor=executor, max_chunk_size=8 * MiB
    )
    s.open()
    yield s
    s.close()


class _Gate:
    """Wraps a blocking function so that its first call waits until released."""

    def __init__(self, fn):
        self.fn = fn
        self.entered = threading.Event()
        self.release = threading.Event()
        self._first = True

    def __call__(self, *args, **kwargs):
        if self._first:
            self._first = False
            self.entered.set()
            assert self.release.wait(10), "the gate was never released"
        return self.fn(*args, **kwargs)


async def _wait_for(event: threading.Event) -> None:
    for _ in range(500):
        if event.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the store never reached the gated call")


def _on_disk(store: DiskChunkStore) -> tuple[int, int]:
    files = [
        p for p in store.layout.chunks.rglob("*") if p.is_file() and not p.name.endswith(".meta")
    ]
    return len(files), sum(p.stat().st_size for p in files)


async def _settle(store: DiskChunkStore) -> None:
    """Wait until the store's worker threads are idle."""
    for _ in range(3):
        await asyncio.get_running_loop().run_in_executor(store._executor, lambda: None)
        await asyncio.sleep(0.05)


@aio_test
async def test_put_cancelled_during_commit_keeps_counts_true(store, monkeypatch):
    """A put cancelled while its commit fsyncs still counts the chunk it stored."""
    chunk_id, data, digest = new_chunk(MiB)
    gate = _Gate(diskfiles.fsync_dir)
    monkeypatch.setattr(diskfiles, "fsync_dir", gate)
    task = asyncio.ensure_future(
        store.put(chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data))
    )
    await _wait_for(gate.entered)
    task.cancel()
    await asyncio.sleep(0.05)
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _settle(store)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == _on_disk(store)
    if store.layout.data_path(chunk_id).exists():
        assert await collect((await store.read(chunk_id)).pieces) == data
        assert await store.delete(chunk_id)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == (0, 0)


@aio_test
async def test_delete_cancelled_while_removing_keeps_counts_true(store, monkeypatch):
    """A delete cancelled while it fsyncs the folder still uncounts the chunk it removed."""
    chunk_id, data, digest = new_chunk(MiB)
    await store.put(
        chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data)
    )
    gate = _Gate(diskfiles.fsync_dir)
    monkeypatch.setattr(diskfiles, "fsync_dir", gate)
    task = asyncio.ensure_future(store.delete(chunk_id))
    await _wait_for(gate.entered)
    task.cancel()
    await asyncio.sleep(0.05)
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _settle(store)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == _on_disk(store) == (0, 0)


@aio_test
async def test_cancelled_put_holds_the_lock_until_its_commit_ends(store, monkeypatch):
    """A delete issued after a put was cancelled mid-commit waits for the commit to end."""
    chunk_id, data, digest = new_chunk(MiB)
    gate = _Gate(diskfiles.fsync_dir)
    monkeypatch.setattr(diskfiles, "fsync_dir", gate)
    task = asyncio.ensure_future(
        store.put(chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data))
    )
    await _wait_for(gate.entered)
    task.cancel()
    await asyncio.sleep(0.05)
    deleting = asyncio.ensure_future(store.delete(chunk_id))
    await asyncio.sleep(0.1)
    assert not deleting.done(), "the delete ran while the put's commit was still on disk"
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await deleting is True
    await _settle(store)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == _on_disk(store) == (0, 0)
