"""
Cancellations that land while the disk store's blocking work is already
running on a worker thread (a gRPC client hanging up, or a deadline expiring,
during a put's commit or a delete): the store's counts must still match the
disk, and the chunk's lock must be held until the disk work is over.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager

import pytest
from storage.conftest import WORKERS
from support.aio import aio_test
from support.chunks import aiter_of, collect, new_chunk
from support.waiting import DEFAULT_TIMEOUT, poll_until, within

from s3node.storage import diskfiles
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.locks import KeyedLocks

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
    """
    Wraps a blocking function so that its first call waits until released.

    Make it inside the test's event loop: :attr:`entered` is an asyncio event,
    set from the worker thread when the first call arrives.
    """

    def __init__(self, fn):
        self.fn = fn
        self.entered = asyncio.Event()
        self.release = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._first = True

    def __call__(self, *args, **kwargs):
        if self._first:
            self._first = False
            self._loop.call_soon_threadsafe(self.entered.set)
            assert self.release.wait(DEFAULT_TIMEOUT), "the gate was never released"
        return self.fn(*args, **kwargs)


class _WatchedLocks(KeyedLocks):
    """Per-key locks that note every key asked for and every key granted."""

    def __init__(self):
        super().__init__()
        self.asked: list[str] = []
        self.granted: list[str] = []

    @asynccontextmanager
    async def __call__(self, key):
        self.asked.append(key)
        async with super().__call__(key):
            self.granted.append(key)
            yield


def _on_disk(store: DiskChunkStore) -> tuple[int, int]:
    files = [
        p for p in store.layout.chunks.rglob("*") if p.is_file() and not p.name.endswith(".meta")
    ]
    return len(files), sum(p.stat().st_size for p in files)


async def _workers_idle(executor) -> None:
    """Wait until every worker thread is idle: each takes a job that waits for all the others."""
    everyone = threading.Barrier(WORKERS)
    loop = asyncio.get_running_loop()
    jobs = [loop.run_in_executor(executor, everyone.wait, DEFAULT_TIMEOUT) for _ in range(WORKERS)]
    await asyncio.gather(*jobs)


async def _cancel_during(task: asyncio.Task, gate: _Gate) -> None:
    """Cancel ``task`` once it waits for the gated call to return."""
    await within(gate.entered.wait(), what="the store to reach the gated call")
    task.cancel()
    # cancel() wakes the task before anything scheduled after it: one turn of
    # the loop delivers the cancellation while the gated call still runs.
    await asyncio.sleep(0)


@aio_test
async def test_put_cancelled_during_commit_keeps_counts_true(store, executor, monkeypatch):
    """A put cancelled while its commit fsyncs still counts the chunk it stored."""
    chunk_id, data, digest = new_chunk(MiB)
    gate = _Gate(diskfiles.fsync_dir)
    monkeypatch.setattr(diskfiles, "fsync_dir", gate)
    task = asyncio.ensure_future(
        store.put(chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data))
    )
    await _cancel_during(task, gate)
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _workers_idle(executor)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == _on_disk(store)
    if store.layout.data_path(chunk_id).exists():
        assert await collect((await store.read(chunk_id)).pieces) == data
        assert await store.delete(chunk_id)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == (0, 0)


@aio_test
async def test_delete_cancelled_while_removing_keeps_counts_true(store, executor, monkeypatch):
    """A delete cancelled while it fsyncs the folder still uncounts the chunk it removed."""
    chunk_id, data, digest = new_chunk(MiB)
    await store.put(
        chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data)
    )
    gate = _Gate(diskfiles.fsync_dir)
    monkeypatch.setattr(diskfiles, "fsync_dir", gate)
    task = asyncio.ensure_future(store.delete(chunk_id))
    await _cancel_during(task, gate)
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _workers_idle(executor)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == _on_disk(store) == (0, 0)


@aio_test
async def test_cancelled_put_holds_the_lock_until_its_commit_ends(store, executor, monkeypatch):
    """A delete issued after a put was cancelled mid-commit waits for the commit to end."""
    chunk_id, data, digest = new_chunk(MiB)
    locks = store._locks = _WatchedLocks()
    gate = _Gate(diskfiles.fsync_dir)
    monkeypatch.setattr(diskfiles, "fsync_dir", gate)
    task = asyncio.ensure_future(
        store.put(chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data))
    )
    await _cancel_during(task, gate)
    deleting = asyncio.ensure_future(store.delete(chunk_id))
    await poll_until(lambda: locks.asked.count(chunk_id) == 2,
                     what="the delete to ask for the chunk's lock")
    assert locks.granted.count(chunk_id) == 1, "the delete got the lock during the put's commit"
    assert not deleting.done(), "the delete ran while the put's commit was still on disk"
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await deleting is True
    await _workers_idle(executor)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == _on_disk(store) == (0, 0)
