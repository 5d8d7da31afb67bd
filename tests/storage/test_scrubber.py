"""
The storage node's background scrubber, over a real disk store in a temp dir
and timed by a fake clock: a pass quarantines exactly the chunks whose bytes
rotted on disk, reads at most its rate, resumes from its checkpoint after a
restart, copes with chunks deleted and stored while it runs, and runs as a
child of the node's service only when ``scrub_rate`` is not 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import random

import pytest
from storage.conftest import open_disk_store
from support.aio import aio_test
from support.chunks import aiter_of, sha256_hex
from support.waiting import poll_until
from twisted.internet.task import Clock

from s3node.config import StorageConfig
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.scrubber import CHUNK_COST, Scrubber, ScrubPass
from s3node.storage.scrubcheckpoint import CHECKPOINT_NAME
from s3node.storage.service import StorageNodeService

MiB = 1024 * 1024
KiB = 1024


def _open(root, algorithms, executor) -> DiskChunkStore:
    return open_disk_store(root, algorithms, executor, fsync=False)


@pytest.fixture
def store(tmp_path, algorithms, executor):
    """An open disk store in a temp dir, without fsync, closed after the test."""
    opened = _open(tmp_path / "node", algorithms, executor)
    yield opened
    opened.close()


def _id(n: int) -> str:
    """A chunk id that sorts by ``n``."""
    return f"{n:08x}" + "0" * 24


async def _put(store, chunk_id: str, size: int) -> str:
    data = os.urandom(size)
    await store.put(
        chunk_id, size=size, algorithm="sha256", digest=sha256_hex(data), data=aiter_of(data)
    )
    return chunk_id


def _flip(store, chunk_id: str, at: int) -> None:
    """Flip every bit of one byte of a chunk's data file, as rot would."""
    with open(store.layout.data_path(chunk_id), "r+b") as f:
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 0xFF]))


def _scrubber(store, clock, executor, **options) -> Scrubber:
    options.setdefault("rate", 64 * MiB)
    options.setdefault("interval", 3600.0)
    return Scrubber(
        store,
        clock=clock,
        executor=executor,
        checkpoint=store.layout.root / CHECKPOINT_NAME,
        fsync=False,
        **options,
    )


def _checkpoint(store) -> dict | None:
    path = store.layout.root / CHECKPOINT_NAME
    return json.loads(path.read_bytes()) if path.exists() else None


class _Recording:
    """A chunk store that records which chunks were read, and otherwise is ``store``."""

    def __init__(self, store: DiskChunkStore) -> None:
        self.store = store
        self.reads: list[str] = []

    async def read(self, chunk_id, **options):
        self.reads.append(chunk_id)
        return await self.store.read(chunk_id, **options)

    def __getattr__(self, name):
        return getattr(self.store, name)


async def _drive(clock: Clock, done, *, what: str, on_park=None) -> None:
    """
    Until ``done()``: whenever the scrubber waits on the fake clock (a delayed
    call is pending), call ``on_park()`` and advance the clock to that call.
    """

    def step() -> bool:
        if done():
            return True
        calls = clock.getDelayedCalls()
        if calls:
            if on_park is not None:
                on_park()
            clock.advance(max(0.0, min(c.getTime() for c in calls) - clock.seconds()))
        return False

    await poll_until(step, what=what, interval=0.001)


async def _one_pass(scrubber: Scrubber, clock: Clock, **drive) -> ScrubPass:
    run = asyncio.ensure_future(scrubber.scrub(ScrubPass(started=clock.seconds())))
    await _drive(clock, run.done, what="the scrub pass to end", **drive)
    return run.result()


@aio_test
async def test_a_pass_quarantines_exactly_the_rotten_chunks(store, executor):
    """
    One pass reads every chunk: those with a flipped byte (the first and the
    last ids among them) or a truncated data file are quarantined and listed
    by the store's quarantine list; every other chunk, an empty one too, is
    verified and stays.
    """
    sizes = [1, 0, 5000, 3 * MiB + 17, 200 * KiB, 64 * KiB, 1, 2 * MiB, 10, 777, 1 * MiB, 4096]
    ids = [await _put(store, _id(10 * i), size) for i, size in enumerate(sizes)]
    flipped = {ids[0]: 0, ids[3]: 3 * MiB + 16, ids[7]: MiB + 5, ids[-1]: 2048}
    for chunk_id, at in flipped.items():
        _flip(store, chunk_id, at)
    truncated = ids[4]
    os.truncate(store.layout.data_path(truncated), 1000)
    clock = Clock()

    progress = await _one_pass(_scrubber(store, clock, executor, rate=8 * MiB), clock)

    rotten = {*flipped, truncated}
    assert (progress.corrupt_found, progress.chunks_verified) == (5, len(ids) - 5)
    assert (progress.vanished, progress.errors) == (0, 0)
    assert progress.bytes_verified == sum(s for i, s in zip(ids, sizes, strict=True)
                                          if i != truncated)
    assert progress.finished == clock.seconds() and progress.last_chunk_id == ids[-1]
    entries = (await store.list_quarantined()).entries
    assert sorted(e.chunk_id for e in entries) == sorted(rotten)
    assert (await store.usage()).quarantined == 5
    assert list((await store.list()).chunk_ids) == [i for i in ids if i not in rotten]
    assert _checkpoint(store)["finished"] == progress.finished


@aio_test
async def test_the_rate_holds_in_every_simulated_second(store, executor):
    """
    At 1 MiB/s the bytes verified within any one simulated second never exceed
    1 MiB plus one chunk, and the pass takes no longer than its bytes (plus the
    per-chunk cost) at that rate and a second.
    """
    rate = MiB
    rng = random.Random(7)
    sizes = [rng.choice([16 * KiB, 100 * KiB, 600 * KiB, MiB + 300 * KiB]) for _ in range(30)]
    for i, size in enumerate(sizes):
        await _put(store, _id(i), size)
    clock = Clock()
    scrubber = _scrubber(store, clock, executor, rate=rate)
    samples: list[tuple[float, int]] = [(0.0, 0)]

    def sample() -> None:
        samples.append((clock.seconds(), scrubber.progress.bytes_verified))

    progress = await _one_pass(scrubber, clock, on_park=sample)

    samples.append((clock.seconds(), progress.bytes_verified))
    assert progress.bytes_verified == sum(sizes)
    # bytes verified in the closed window [samples[i], samples[j]]: B_j - B_(i-1)
    for i in range(1, len(samples)):
        for t, verified in samples[i:]:
            if t - samples[i][0] > 1.0:
                break
            assert verified - samples[i - 1][1] <= rate + max(sizes)
    took = progress.finished - progress.started
    assert took <= (sum(sizes) + len(sizes) * CHUNK_COST) / rate + 1
    assert took >= (sum(sizes) - max(sizes)) / rate


@pytest.mark.parametrize(
    "every", [{"save_every_chunks": 4}, {"save_every_seconds": 2.0}], ids=["chunks", "seconds"]
)
@aio_test
async def test_a_restarted_node_resumes_from_its_last_checkpoint(
    tmp_path, algorithms, executor, every
):
    """
    While a pass runs, its checkpoint is saved every N chunks (or M seconds);
    a node that died then and restarts (new store, new scrubber, same data dir)
    resumes after the checkpoint's chunk and reads none of the chunks before it;
    restarted after the pass ended, it reports that pass and reads nothing early.
    """
    root = tmp_path / "node"
    store = _open(root, algorithms, executor)
    ids = [await _put(store, _id(i), 200 * KiB) for i in range(30)]
    clock = Clock()
    scrubber = _scrubber(store, clock, executor, rate=MiB, **every)
    first_saved: list[float] = []

    def watch() -> None:
        if not first_saved and _checkpoint(store) is not None:
            first_saved.append(clock.seconds())

    scrubber.start()
    await _drive(clock, lambda: scrubber.progress and scrubber.progress.chunks_verified >= 15,
                 what="15 chunks verified", on_park=watch)
    crashed_with = (root / CHECKPOINT_NAME).read_bytes()  # what a crash now would leave
    await scrubber.stop()
    store.close()
    (root / CHECKPOINT_NAME).write_bytes(crashed_with)
    saved = json.loads(crashed_with)
    resume_at = ids.index(saved["last_chunk_id"]) + 1
    assert saved["finished"] is None and saved["chunks_verified"] == resume_at
    if "save_every_chunks" in every:
        assert resume_at % 4 == 0
    else:
        assert first_saved and first_saved[0] >= 2.0

    again = _Recording(_open(root, algorithms, executor))
    try:
        scrubber = _scrubber(again, clock, executor, rate=MiB, **every)
        scrubber.start()
        await _drive(clock, lambda: scrubber.last_pass is not None, what="the resumed pass")
        await scrubber.stop()
    finally:
        again.store.close()
    assert again.reads == ids[resume_at:]
    assert scrubber.last_pass.started == saved["started"]
    assert scrubber.last_pass.chunks_verified == len(ids)
    # once more: the finished pass is the last one again, and nothing is read before its time
    third = _Recording(_open(root, algorithms, executor))
    restarted = _scrubber(third, clock, executor, rate=MiB)
    restarted.start()
    await _drive(clock, lambda: restarted.last_pass is not None, what="the checkpoint loaded")
    await restarted.stop()
    third.store.close()
    assert restarted.last_pass == scrubber.last_pass and third.reads == []


@aio_test
async def test_a_clean_stop_saves_the_chunk_before_the_one_under_way(store, executor):
    """
    Stopping mid-chunk ends the read under way and saves the checkpoint at the
    last chunk dealt with, so the interrupted chunk is read again on resume.
    """
    ids = [await _put(store, _id(i), 3 * MiB) for i in range(3)]
    clock = Clock()
    scrubber = _scrubber(store, clock, executor, rate=MiB)
    scrubber.start()
    await _drive(clock, lambda: scrubber.chunk_id == ids[1]
                 and scrubber.progress.bytes_verified > 4 * MiB, what="the second chunk half read")
    await scrubber.stop()
    saved = _checkpoint(store)
    assert (saved["last_chunk_id"], saved["chunks_verified"], saved["finished"]) == (ids[0], 1, None)
    assert clock.getDelayedCalls() == []


@aio_test
async def test_chunks_deleted_and_stored_during_a_pass(store, executor):
    """
    A chunk deleted while it is read is read to its end and counts as verified;
    one deleted after it was listed counts as vanished; one stored ahead of
    the pass is verified in it, one stored behind it in the next pass; nothing
    is quarantined and nothing fails.
    """
    ids = [await _put(store, _id(10 * i), 5 * MiB // 2) for i in range(10)]
    clock = Clock()
    recording = _Recording(store)
    scrubber = _scrubber(recording, clock, executor, rate=MiB, interval=100.0, page_size=3)
    scrubber.start()
    await _drive(clock, lambda: scrubber.chunk_id == ids[3]
                 and scrubber.progress.bytes_verified > 3 * 5 * MiB // 2,
                 what="chunk 3 half read")
    assert await store.delete(ids[3])
    assert await store.delete(ids[5])  # listed with ids[3] (pages of 3)
    behind, ahead = await _put(store, _id(15), 1000), await _put(store, _id(85), 1000)
    await _drive(clock, lambda: scrubber.last_pass is not None, what="the pass to end")
    first = scrubber.last_pass
    assert (first.chunks_verified, first.vanished) == (10, 1)
    assert (first.corrupt_found, first.errors) == (0, 0)
    assert ahead in recording.reads and behind not in recording.reads
    recording.reads.clear()
    await _drive(clock, lambda: scrubber.last_pass is not first, what="the next pass")
    await scrubber.stop()
    assert scrubber.last_pass.started == first.started + 100.0
    assert behind in recording.reads and ids[5] not in recording.reads
    assert (await store.list_quarantined()).entries == ()


@aio_test
async def test_an_unreadable_checkpoint_starts_a_new_pass(store, executor):
    """A checkpoint that is not one the scrubber wrote is ignored: a whole new pass runs."""
    ids = [await _put(store, _id(i), 1000) for i in range(3)]
    (store.layout.root / CHECKPOINT_NAME).write_text('{"format": 99}')
    clock = Clock()
    recording = _Recording(store)
    scrubber = _scrubber(recording, clock, executor)
    scrubber.start()
    await _drive(clock, lambda: scrubber.last_pass is not None, what="a pass")
    await scrubber.stop()
    assert recording.reads == ids
    assert _checkpoint(store)["format"] == 1


def _node_config(tmp_path, **options) -> StorageConfig:
    return StorageConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", node_id="scrubbed",
                         fsync=False, shutdown_grace=1.0, **options)


@aio_test
async def test_the_node_runs_its_scrubber_as_a_child_service(tmp_path, algorithms):
    """
    A node with a scrub rate runs a ``scrubber`` child on its clock once its
    store is open: rot is quarantined and shows in the quarantine count; on
    stop the scrubber ends before the store closes and leaves its checkpoint.
    """
    clock = Clock()
    config = _node_config(tmp_path, scrub_rate=MiB, scrub_interval=10.0)
    node = StorageNodeService(config, clock, algorithms=algorithms)
    node.startService()
    try:
        await node.when_listening().asFuture(asyncio.get_running_loop())
        assert node.getServiceNamed("scrubber").running
        scrubber = node.scrubber
        ids = [await _put(node.store, _id(i), 2 * MiB) for i in range(3)]
        _flip(node.store, ids[1], 12345)
        await _drive(clock, lambda: scrubber.last_pass is not None
                     and scrubber.last_pass.chunks_verified + scrubber.last_pass.corrupt_found
                     == 3, what="a pass over the three chunks")
        assert (await node.store.usage()).quarantined == 1
        await _drive(clock, lambda: scrubber.chunk_id == ids[2], what="the next pass under way")
    finally:
        await node.stopService().asFuture(asyncio.get_running_loop())
    saved = json.loads((config.data_dir / CHECKPOINT_NAME).read_bytes())
    assert saved["finished"] is None and saved["last_chunk_id"] == ids[0]
    assert node.scrubber is None and list(node) == []
    _open(config.data_dir, algorithms, executor=None).close()  # the data dir lock was released


@aio_test
async def test_scrub_rate_0_runs_no_scrubber(tmp_path, algorithms):
    """With ``scrub_rate`` 0 a node has no scrubber child and writes no checkpoint."""
    config = _node_config(tmp_path, scrub_rate=0)
    node = StorageNodeService(config, Clock(), algorithms=algorithms)
    node.startService()
    try:
        await node.when_listening().asFuture(asyncio.get_running_loop())
        assert node.scrubber is None and list(node) == []
    finally:
        await node.stopService().asFuture(asyncio.get_running_loop())
    assert not (config.data_dir / CHECKPOINT_NAME).exists()
