"""The sweeper and node health checks, driven by a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_twisted
from gateway.gateway_fakes import FakeNode
from support.waiting import poll_until
from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from s3node.metadata.memory import MemoryMetadataStore
from s3node.records import ChunkRecord, NodeRecord, ReplicaRecord, ReplicaState


def cpu(f: Any, *args: Any) -> Any:
    return succeed(f(*args))


def lease(store: MemoryMetadataStore, clock: Clock) -> Any:
    """The background lease, as one gateway holds it."""
    from s3node.gateway.lease import BACKGROUND, Lease

    return Lease(store, clock, name=BACKGROUND, holder="test", ttl=90)


def make_pool(store: MemoryMetadataStore, clock: Clock, count: int = 3):
    from s3node.gateway.nodes import NodePool

    nodes = {f"n{i}": FakeNode(f"n{i}") for i in range(1, count + 1)}
    records = [NodeRecord(n, f"{n}:1") for n in nodes]
    pool = NodePool(store, records, lambda a: nodes[a.split(":")[0]], clock,
                    health_interval=5, health_timeout=1)
    return pool, nodes


async def add_file(store: MemoryMetadataStore, nodes: dict[str, FakeNode], status: str) -> Any:
    record = await store.create_file(filename="f", content_type="a/b",
                                     checksum_algorithm="sha256", chunk_size=10)
    for index, (a, b) in enumerate((("n1", "n2"), ("n2", "n3"))):
        chunk_id = f"{index:032x}{record.file_id.hex[:8]}"
        for n in (a, b):
            nodes[n].chunks[chunk_id] = b"data"
        await store.record_chunk(ChunkRecord(
            record.file_id, index, chunk_id, 4, "sha256", "00",
            (ReplicaRecord(a, ReplicaState.STORED), ReplicaRecord(b, ReplicaState.STORED))))
    if status == "failed":
        await store.fail_file(record.file_id)
    elif status == "deleting":
        await store.start_delete(record.file_id)
    return record


@pytest_twisted.ensureDeferred
async def test_sweeper_removes_failed_and_deleted_files_on_its_interval():
    """On each interval the sweeper deletes the chunks of failed and deleted files from
    every node and drops their records, leaving uploading files alone."""
    from s3node.gateway.sweeper import Sweeper

    clock = Clock()
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    failed = await add_file(store, nodes, "failed")
    deleting = await add_file(store, nodes, "deleting")
    busy = await add_file(store, nodes, "uploading")
    sweeper = Sweeper(store, pool, clock, lease(store, clock), interval=30, stale_after=3600)
    service = sweeper.service()
    service.startService()
    clock.advance(29)
    assert failed.file_id in store.files
    clock.advance(1)
    # the fake nodes answer on the real event loop
    await poll_until(lambda: failed.file_id not in store.files
                     and deleting.file_id not in store.files, what="the sweep to end")
    assert failed.file_id not in store.files and deleting.file_id not in store.files
    assert busy.file_id in store.files
    assert sum(len(n.chunks) for n in nodes.values()) == 4  # only the busy file's
    await service.stopService()
    await pool.close()


@pytest_twisted.ensureDeferred
async def test_sweeper_retries_when_a_node_is_down():
    """
    A sweep deletes and drops every replica it can reach; the file, with the
    replica of the unreachable node left, is retried only after its backoff,
    and removed once that node answers.
    """
    from s3node.gateway.sweeper import Sweeper

    clock = Clock()
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    failed = await add_file(store, nodes, "failed")
    nodes["n3"].down = True
    sweeper = Sweeper(store, pool, clock, lease(store, clock), interval=30, stale_after=3600)
    assert await sweeper.sweep() == 0
    left = await store.get_file_with_chunks(failed.file_id)
    assert [(c.index, r.node_id) for c in left.chunks for r in c.replicas] == [(1, "n3")]
    assert nodes["n1"].chunks == {} and nodes["n2"].chunks == {}
    nodes["n3"].down = False
    assert await sweeper.sweep() == 0  # not due before its backoff
    assert failed.file_id in store.files
    clock.advance(30)
    assert await sweeper.sweep() == 1
    assert failed.file_id not in store.files
    assert nodes["n3"].chunks == {}


@pytest_twisted.ensureDeferred
async def test_sweeper_takes_stale_uploads():
    """An upload not updated for stale_after seconds is swept as abandoned."""
    from s3node.gateway.sweeper import Sweeper

    clock = Clock()
    clock.advance(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    await add_file(store, nodes, "uploading")
    clock.advance(timedelta(hours=2).total_seconds())
    sweeper = Sweeper(store, pool, clock, lease(store, clock), interval=30, stale_after=3600)
    assert await sweeper.sweep() == 1
    assert store.files == {}


@pytest_twisted.ensureDeferred
async def test_health_checks_mark_nodes_down_and_up():
    """A node that stops answering is marked down at the next check and up again after."""
    clock = Clock()
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    checks = pool.service()
    checks.startService()
    assert [n.node_id for n in pool.live_nodes()] == ["n1", "n2", "n3"]
    nodes["n2"].down = True
    clock.advance(5)
    await poll_until(lambda: len(pool.live_nodes()) == 2, what="a node marked down")
    assert [n.node_id for n in pool.live_nodes()] == ["n1", "n3"]
    assert store.nodes["n2"].state.value == "down"
    nodes["n2"].down = False
    clock.advance(5)
    await poll_until(lambda: len(pool.live_nodes()) == 3, what="the node marked up")
    assert [n.node_id for n in pool.live_nodes()] == ["n1", "n2", "n3"]
    assert store.nodes["n2"].capacity == 10**9
    await checks.stopService()
    await pool.close()


@pytest_twisted.ensureDeferred
async def test_health_check_survives_a_database_outage():
    """Health checks keep running and keep the in-memory view while the DB is down."""
    clock = Clock()
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    checks = pool.service()
    checks.startService()
    store.down = True
    nodes["n1"].down = True
    clock.advance(5)
    await poll_until(lambda: len(pool.live_nodes()) == 2, what="a node marked down")
    assert [n.node_id for n in pool.live_nodes()] == ["n2", "n3"]
    await checks.stopService()
    await pool.close()


def test_periodic_keeps_ticking_after_a_run_that_ends_at_once():
    """A run that ends without waiting for anything (the database failed at once) does
    not stop the next ticks: each interval runs the job again."""
    from s3node.gateway.periodic import Periodic

    clock = Clock()
    runs = []

    async def job() -> None:
        runs.append(clock.seconds())
        raise RuntimeError("the database does not answer")

    periodic = Periodic("job", job, clock, 1)
    periodic.startService()
    for _ in range(3):
        clock.advance(1)
    assert runs == [1, 2, 3]
    periodic.stopService()


@pytest_twisted.ensureDeferred
async def test_sweeper_sweeps_again_after_a_database_outage():
    """The sweeper, whose rounds fail at once while the database is down, sweeps again
    on the first interval after it is back."""
    from s3node.gateway.sweeper import Sweeper

    clock = Clock()
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    failed = await add_file(store, nodes, "failed")
    sweeper = Sweeper(store, pool, clock, lease(store, clock), interval=30, stale_after=3600)
    service = sweeper.service()
    service.startService()
    store.down = True
    clock.advance(30)
    clock.advance(30)
    store.down = False
    clock.advance(30)
    await poll_until(lambda: failed.file_id not in store.files, what="the file to be swept")
    await service.stopService()
    await pool.close()


@pytest_twisted.ensureDeferred
async def test_sweeper_aborts_multipart_uploads_left_unfinished_past_their_expiry():
    """An S3 multipart upload older than upload_expiry is aborted and its parts swept;
    a younger one is left alone."""
    from s3node.gateway.sweeper import Sweeper

    clock = Clock()
    clock.advance(1_000_000)
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    await store.create_bucket("old-uploads")
    old = await store.create_multipart("old-uploads", "k", content_type="a/b")
    part = await add_file(store, nodes, "uploading")
    await store.complete_part(file_id=part.file_id, size=8, checksum="00", replicas=2,
                              upload_id=old.upload_id, part_number=1, etag="0" * 32)
    clock.advance(7200)
    young = await store.create_multipart("old-uploads", "k2", content_type="a/b")
    sweeper = Sweeper(store, pool, clock, lease(store, clock), interval=30, stale_after=3600,
                      upload_expiry=3600)
    assert await sweeper.sweep() == 1  # the aborted upload's part file
    assert part.file_id not in store.files
    assert not any(part.file_id.hex[:8] in c for n in nodes.values() for c in n.chunks)
    assert list(store.uploads) == [young.upload_id]
