"""
What only the disk chunk store does: its on-disk layout, start-up recovery,
the data dir lock, running out of space, quarantine of broken files, and
cancellations (also those that land while disk work runs on a worker thread).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import threading
from contextlib import asynccontextmanager

import pytest
from storage.conftest import WORKERS
from storage.conftest import open_disk_store as _store
from support.aio import aio_test
from support.chunks import aiter_of, collect, new_chunk, sha256_hex
from support.waiting import DEFAULT_TIMEOUT, poll_until, within

from s3node.errors import ConfigurationError, CorruptChunk, InsufficientStorage
from s3node.storage import diskfiles
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.locks import KeyedLocks

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path, algorithms, executor):
    """An open disk store in a temp dir."""
    s = _store(tmp_path / "node", algorithms, executor)
    yield s
    s.close()


async def _put(store, chunk_id, data, digest):
    return await store.put(
        chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data)
    )


@aio_test
async def test_layout_and_sidecar(store):
    """A chunk lives at chunks/ab/cd/<id> with a JSON sidecar naming its format, size and digest."""
    chunk_id, data, digest = new_chunk(1234)
    await _put(store, chunk_id, data, digest)
    path = store.layout.root / "chunks" / chunk_id[:2] / chunk_id[2:4] / chunk_id
    assert path.read_bytes() == data
    meta = json.loads(path.with_name(chunk_id + ".meta").read_bytes())
    assert meta["format"] == 1
    assert (meta["chunk_id"], meta["size"], meta["algorithm"], meta["digest"]) == (
        chunk_id,
        1234,
        "sha256",
        digest,
    )
    assert list(store.layout.tmp.iterdir()) == []


@aio_test
async def test_reopen_cleans_leftovers_and_recounts(tmp_path, algorithms, executor):
    """Opening a data dir removes temp files and orphan sidecars and counts the stored chunks."""
    store = _store(tmp_path / "node", algorithms, executor)
    stored = []
    for size in (100, 200):
        chunk_id, data, digest = new_chunk(size)
        await _put(store, chunk_id, data, digest)
        stored.append(chunk_id)
    store.close()
    (store.layout.tmp / "leftover.part").write_bytes(b"half a chunk")
    orphan = store.layout.meta_path("ab" * 16)
    orphan.parent.mkdir(parents=True)
    orphan.write_text("{}")
    reopened = _store(tmp_path / "node", algorithms, executor)
    try:
        assert list(reopened.layout.tmp.iterdir()) == []
        assert not orphan.exists()
        usage = await reopened.usage()
        assert (usage.chunk_count, usage.used) == (2, 300)
        assert (await reopened.list()).chunk_ids == tuple(sorted(stored))
    finally:
        reopened.close()


def test_one_process_per_data_dir(tmp_path, algorithms, executor):
    """A second store on a data dir in use fails with ConfigurationError."""
    first = _store(tmp_path / "node", algorithms, executor)
    try:
        with pytest.raises(ConfigurationError, match="in use"):
            _store(tmp_path / "node", algorithms, executor)
    finally:
        first.close()
    _store(tmp_path / "node", algorithms, executor).close()


@aio_test
async def test_disk_full_while_writing(tmp_path, algorithms, executor):
    """ENOSPC during a write raises InsufficientStorage and leaves no temp file and no chunk."""
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    store = _store(tmp_path / "node", algorithms, executor, write=full_disk)
    try:
        chunk_id, data, digest = new_chunk(3 * MiB)
        with pytest.raises(InsufficientStorage):
            await store.put(
                chunk_id,
                size=len(data),
                algorithm="sha256",
                digest=digest,
                data=aiter_of(data[:MiB], data[MiB:]),
            )
        assert list(store.layout.tmp.iterdir()) == []
        assert (await store.list()).chunk_ids == ()
        assert (await store.usage()).chunk_count == 0
    finally:
        store.close()


@aio_test
async def test_capacity_is_enforced_before_reading(tmp_path, algorithms, executor):
    """A put that would exceed the configured capacity is refused without consuming data."""
    store = _store(tmp_path / "node", algorithms, executor, capacity=1000)
    try:
        chunk_id, data, digest = new_chunk(600)
        await _put(store, chunk_id, data, digest)
        consumed = []

        async def more():
            consumed.append(True)
            yield data

        with pytest.raises(InsufficientStorage):
            await store.put(
                new_chunk(1)[0], size=600, algorithm="sha256", digest=digest, data=more()
            )
        assert consumed == []
        usage = await store.usage()
        assert (usage.capacity, usage.used, usage.free) == (1000, 600, 400)
    finally:
        store.close()


@aio_test
async def test_broken_sidecar_quarantines(store):
    """A chunk whose sidecar is unreadable is quarantined on stat, with a reason file."""
    chunk_id, data, digest = new_chunk(100)
    await _put(store, chunk_id, data, digest)
    store.layout.meta_path(chunk_id).write_text("not json")
    with pytest.raises(CorruptChunk, match="sidecar"):
        await store.stat(chunk_id)
    names = sorted(p.name for p in store.layout.quarantine.iterdir())
    assert len(names) == 3 and all(n.startswith(chunk_id) for n in names)
    reason = next(p for p in store.layout.quarantine.iterdir() if p.suffix == ".reason")
    assert "sidecar" in reason.read_text()
    (entry,) = (await store.list_quarantined()).entries
    assert (entry.chunk_id, entry.size) == (chunk_id, 100) and "sidecar" in entry.reason
    # The id is free again: a good copy can be stored.
    assert (await _put(store, chunk_id, data, digest)).created


@aio_test
async def test_a_put_over_a_broken_chunk_quarantines_it_and_stores_the_new_copy(store):
    """A put that finds the id's stored copy broken moves it aside and stores its own."""
    chunk_id, data, digest = new_chunk(100)
    await _put(store, chunk_id, data, digest)
    store.layout.meta_path(chunk_id).write_text("not json")
    assert (await _put(store, chunk_id, data, digest)).created
    assert (await store.stat(chunk_id)).digest == digest
    assert await collect((await store.read(chunk_id)).pieces) == data
    (entry,) = (await store.list_quarantined()).entries
    assert entry.chunk_id == chunk_id and "sidecar" in entry.reason
    assert list(store.layout.tmp.iterdir()) == []
    usage = await store.usage()
    assert (usage.chunk_count, usage.used, usage.quarantined) == (1, 100, 1)


@aio_test
async def test_quarantine_entries_survive_a_restart_and_drop_whole(tmp_path, algorithms, executor):
    """Reopening a data dir counts its quarantine entries; dropping one removes all its files."""
    store = _store(tmp_path / "node", algorithms, executor)
    for _ in range(2):
        chunk_id, data, digest = new_chunk(100)
        await _put(store, chunk_id, data, digest)
        store.layout.meta_path(chunk_id).write_text("not json")
        with pytest.raises(CorruptChunk):
            await store.stat(chunk_id)
    store.close()
    (store.layout.quarantine / "notes.txt").write_text("an operator's file is not an entry")
    reopened = _store(tmp_path / "node", algorithms, executor)
    try:
        assert (await reopened.usage()).quarantined == 2
        entries = (await reopened.list_quarantined()).entries
        assert len(entries) == 2
        assert await reopened.drop_quarantined(entries[0].entry_id)
        left = sorted(p.name for p in reopened.layout.quarantine.iterdir())
        assert not any(name.startswith(entries[0].entry_id) for name in left)
        assert len(left) == 4  # the other entry's three files and the operator's note
        assert (await reopened.usage()).quarantined == 1
    finally:
        reopened.close()


@aio_test
async def test_truncated_data_file_is_corrupt(store):
    """A data file shorter than its sidecar says fails the read with CorruptChunk."""
    chunk_id, data, digest = new_chunk(2 * MiB)
    await _put(store, chunk_id, data, digest)
    os.truncate(store.layout.data_path(chunk_id), MiB)
    with pytest.raises(CorruptChunk):
        await collect((await store.read(chunk_id)).pieces)
    assert not store.layout.data_path(chunk_id).exists()


@aio_test
async def test_cancelled_put_leaves_nothing(store):
    """A put cancelled mid-stream removes its temp file and stores nothing."""
    chunk_id, data, digest = new_chunk(2 * MiB)
    gate = asyncio.Event()
    asked_for_more = asyncio.Event()

    async def slow():
        yield data[:MiB]
        asked_for_more.set()  # the first piece is written
        await gate.wait()
        yield data[MiB:]

    task = asyncio.ensure_future(
        store.put(chunk_id, size=len(data), algorithm="sha256", digest=digest, data=slow())
    )
    await within(asked_for_more.wait(), what="the put to write its first piece")
    assert list(store.layout.tmp.iterdir()), "the put never started writing"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(store.layout.tmp.iterdir()) == []
    assert not store.layout.data_path(chunk_id).exists()


class _Creates:
    """Wraps ``os.open`` and notes the thread that creates each temp file (``*.part``)."""

    def __init__(self, monkeypatch):
        self.threads: list[str] = []
        self._open = os.open
        monkeypatch.setattr(diskfiles.os, "open", self)

    def __call__(self, path, flags, *args, **kwargs):
        if str(path).endswith(".part") and flags & os.O_CREAT:
            self.threads.append(threading.current_thread().name)
        return self._open(path, flags, *args, **kwargs)


@aio_test
async def test_a_put_creates_its_temp_file_on_a_worker_thread(store, monkeypatch):
    """Creating a file can wait for the journal: no put creates one on the event loop's
    thread, an empty chunk's included."""
    creates = _Creates(monkeypatch)
    for size in (0, 4096, 2 * MiB):
        chunk_id, data, digest = new_chunk(size)
        await _put(store, chunk_id, data, digest)
        assert store.layout.data_path(chunk_id).read_bytes() == data
    loop_thread = threading.current_thread().name
    assert len(creates.threads) == 3
    assert loop_thread not in creates.threads, creates.threads


def test_a_discarded_put_creates_no_file_afterwards(store):
    """A write that reaches a worker after the put was discarded (cancelled) is refused and
    leaves no temp file."""
    chunk_id, data, _ = new_chunk(100)
    writer = diskfiles.TempWriter(store.layout, chunk_id, len(data), hashlib.sha256(),
                                  fsync=False)
    assert not writer.path.exists()  # nothing on disk until the first write
    writer.discard()
    with pytest.raises(ValueError, match="finished or discarded"):
        writer.write(data)
    with pytest.raises(ValueError, match="finished or discarded"):
        writer.finish(sha256_hex(data))
    assert list(store.layout.tmp.iterdir()) == []


# Cancellations that land while the store's blocking work already runs on a
# worker thread (a gRPC client hanging up, or a deadline expiring, during a
# put's commit or a delete): the store's counts must still match the disk, and
# the chunk's lock must be held until the disk work is over.


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


def _gate_fsync(monkeypatch) -> _Gate:
    """Make the first folder fsync from now on wait at a gate (call it in the test's loop)."""
    gate = _Gate(diskfiles.fsync_dir)
    monkeypatch.setattr(diskfiles, "fsync_dir", gate)
    return gate


async def _cancel_during(task: asyncio.Task, gate: _Gate) -> None:
    """Cancel ``task`` once it waits for the gated call to return."""
    await within(gate.entered.wait(), what="the store to reach the gated call")
    task.cancel()
    # cancel() wakes the task before anything scheduled after it: one turn of
    # the loop delivers the cancellation while the gated call still runs.
    await asyncio.sleep(0)


async def _cancelled_at_the_gate(task: asyncio.Task, gate: _Gate, executor) -> None:
    """Cancel ``task`` during the gated call, open the gate, and wait for all to end."""
    await _cancel_during(task, gate)
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _workers_idle(executor)


@aio_test
async def test_put_cancelled_during_commit_keeps_counts_true(store, executor, monkeypatch):
    """A put cancelled while its commit fsyncs still counts the chunk it stored."""
    chunk_id, data, digest = new_chunk(MiB)
    gate = _gate_fsync(monkeypatch)
    task = asyncio.ensure_future(
        store.put(chunk_id, size=len(data), algorithm="sha256", digest=digest, data=aiter_of(data))
    )
    await _cancelled_at_the_gate(task, gate, executor)
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
    gate = _gate_fsync(monkeypatch)
    task = asyncio.ensure_future(store.delete(chunk_id))
    await _cancelled_at_the_gate(task, gate, executor)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == _on_disk(store) == (0, 0)


@aio_test
async def test_cancelled_put_holds_the_lock_until_its_commit_ends(store, executor, monkeypatch):
    """A delete issued after a put was cancelled mid-commit waits for the commit to end."""
    chunk_id, data, digest = new_chunk(MiB)
    locks = store._locks = _WatchedLocks()
    gate = _gate_fsync(monkeypatch)
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


@aio_test
async def test_real_disk_full(tiny_fs, algorithms, executor):
    """On a real full file system puts fail with InsufficientStorage and leave no temp files."""
    store = _store(tiny_fs / "node", algorithms, executor, fsync=True)
    try:
        # Too big for the free space: refused up front.
        chunk_id, data, digest = new_chunk(9 * MiB)
        with pytest.raises(InsufficientStorage):
            await _put(store, chunk_id, data, digest)
        # Two that each fit alone but not together: the second is refused up front,
        # since the first one's reservation counts against the free space.
        chunks = [new_chunk(5 * MiB) for _ in range(2)]
        results = await asyncio.gather(
            *(
                store.put(
                    c,
                    size=len(d),
                    algorithm="sha256",
                    digest=h,
                    data=aiter_of(*(d[i : i + MiB] for i in range(0, len(d), MiB))),
                )
                for c, d, h in chunks
            ),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, Exception)]
        assert len(failures) == 1 and isinstance(failures[0], InsufficientStorage), results
        assert list(store.layout.tmp.iterdir()) == []
        stored = (await store.list()).chunk_ids
        assert len(stored) == 2 - len(failures)
        for chunk_id in stored:
            data = {c: d for c, d, _ in chunks}[chunk_id]
            assert await collect((await store.read(chunk_id)).pieces) == data
        # The space the failed puts took is free again.
        small_id, small, small_digest = new_chunk(MiB)
        assert (await _put(store, small_id, small, small_digest)).created
        assert sha256_hex(small) == (await store.stat(small_id)).digest
    finally:
        store.close()


@aio_test
async def test_reads_racing_deletes_never_report_corruption(store):
    """Stats and reads that race a delete see the chunk or ChunkNotFound, never CorruptChunk."""
    from s3node.errors import ChunkNotFound

    outcomes = set()
    for _ in range(40):
        chunk_id, data, digest = new_chunk(4096)
        await _put(store, chunk_id, data, digest)

        async def read(cid=chunk_id):
            return await collect((await store.read(cid)).pieces)

        results = await asyncio.gather(
            store.delete(chunk_id), store.stat(chunk_id), read(), return_exceptions=True
        )
        assert results[0] is True
        for r in results[1:]:
            assert not isinstance(r, Exception) or isinstance(r, ChunkNotFound), r
            outcomes.add(type(r).__name__)
    assert list(store.layout.quarantine.iterdir()) == []


@aio_test
async def test_chunk_of_a_vanished_algorithm_is_not_quarantined(store):
    """A chunk recorded with an algorithm no plugin provides fails to read but stays in place."""
    chunk_id, data, digest = new_chunk(100)
    await _put(store, chunk_id, data, digest)
    meta = store.layout.meta_path(chunk_id)
    doc = json.loads(meta.read_bytes())
    doc["algorithm"] = "gone-plugin"
    meta.write_text(json.dumps(doc))
    with pytest.raises(ConfigurationError, match="gone-plugin"):
        await store.read(chunk_id)
    assert store.layout.data_path(chunk_id).exists()
    assert list(store.layout.quarantine.iterdir()) == []


@aio_test
async def test_reads_never_leak_file_descriptors(store):
    """Reads finished, abandoned midway or never started all release their file."""
    chunk_id, data, digest = new_chunk(3 * MiB)
    await _put(store, chunk_id, data, digest)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert await collect((await store.read(chunk_id)).pieces) == data
        half = await store.read(chunk_id)
        await anext(aiter(half.pieces))
        await half.aclose()
        untouched = await store.read(chunk_id, offset=5, length=5)
        await untouched.aclose()
    assert len(os.listdir("/proc/self/fd")) <= before + 2
