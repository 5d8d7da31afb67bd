"""
What the in-memory metadata store adds to the contract suite (which it passes
like the SQL stores): how it is opened, its outage switch, closing, and the
records it keeps for tests to read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk, upload
from twisted.internet.task import Clock

from s3node.errors import ConfigurationError, InvalidRequest, MetadataUnavailable
from s3node.metadata import open_metadata_store
from s3node.metadata.memory import MemoryMetadataStore
from s3node.records import (
    FileStatus,
    NodeAdmin,
    NodeRecord,
    NodeState,
    RepairReason,
    RepairTask,
    ReplicaState,
)

Call = Callable[[], Coroutine[Any, Any, Any]]


def _every_call(store: MemoryMetadataStore, file_id: uuid.UUID) -> list[Call]:
    """One well-formed call of each MetadataStore method."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        store.migrate,
        store.ping,
        lambda: store.create_file(
            filename="f", content_type="", checksum_algorithm="sha256", chunk_size=1
        ),
        lambda: store.record_chunk(make_chunk(file_id, 1)),
        lambda: store.touch_file(file_id),
        lambda: store.set_replica_state(
            file_id=file_id, index=0, node_id="n1", state=ReplicaState.STORED
        ),
        lambda: store.set_replica_state_by_chunk(
            chunk_id=make_chunk(file_id, 0).chunk_id, node_id="node-a", state=ReplicaState.MISSING
        ),
        lambda: store.drop_replica(file_id=file_id, index=0, node_id="node-a"),
        lambda: store.drop_node_replicas("node-a"),
        lambda: store.node_replicas(node_id="node-a", after="", upto=None, limit=10),
        lambda: store.complete_file(file_id=file_id, size=300, checksum=digest(), replicas=1),
        lambda: store.fail_file(file_id),
        lambda: store.claim_stale_uploads(stale_before=now, limit=10),
        lambda: store.get_file(file_id),
        lambda: store.get_file_with_chunks(file_id),
        lambda: store.list_files(page=1, per_page=10),
        lambda: store.list_files_after(cursor=None, limit=10),
        lambda: store.start_delete(file_id),
        lambda: store.finish_delete(file_id),
        lambda: store.files_to_sweep(now=now, limit=10),
        lambda: store.defer_sweep(file_id, until=now, attempts=1),
        lambda: store.upsert_node(NodeRecord("n1", "127.0.0.1:1")),
        lambda: store.update_node_health("n1", state=NodeState.DOWN),
        store.list_nodes,
        lambda: store.try_lease(name="background", holder="gw", now=now, ttl=30),
        lambda: store.release_lease(name="background", holder="gw"),
        lambda: store.under_replicated_chunks(target=2, limit=10),
        lambda: store.durability_counts(unhealthy_nodes={"n1"}),
        lambda: store.add_node(NodeRecord("n9", "127.0.0.1:9")),
        lambda: store.get_node("n1"),
        lambda: store.set_node_admin("n1", NodeAdmin.DRAINING),
        lambda: store.forget_node("n1", lost=True),
        lambda: store.node_usage("n1"),
        lambda: store.scan_chunks(after=None, limit=10),
        lambda: store.get_completed_chunk(file_id, 0),
        lambda: store.begin_replica(file_id=file_id, index=0, node_id="n3"),
        lambda: store.set_file_damaged(file_id, True),
        lambda: store.enqueue_repairs([(file_id, 0, RepairReason.DEGRADED, 0)], now=now),
        lambda: store.due_repairs(now=now, limit=10),
        lambda: store.finish_repair(file_id, 0),
        lambda: store.defer_repair(file_id, 0, until=now, attempts=1, error="x"),
        lambda: store.repair_queue_length(now=now),
        lambda: store.add_counters({"repairs": 1}),
        store.read_counters,
    ]


@pytest_twisted.ensureDeferred
async def test_opened_from_a_memory_url() -> None:
    """open_metadata_store("memory:") gives a new, empty in-memory store timed by the reactor."""
    clock = Clock()
    clock.advance(42)
    store = open_metadata_store("memory:", reactor=clock)
    assert isinstance(store, MemoryMetadataStore)
    assert store.files == {} and store.chunks == {} and store.nodes == {}
    assert open_metadata_store("memory:", reactor=clock) is not store
    record = await upload(store, chunks=0, complete=False)
    assert record.created_at == datetime.fromtimestamp(42, UTC)


@pytest.mark.parametrize("url", ["memory:x", "memory://", "memory::memory:"])
def test_memory_url_takes_no_path(url: str) -> None:
    """Anything after ``memory:`` is a ConfigurationError, not silently ignored."""
    with pytest.raises(ConfigurationError, match="memory:"):
        open_metadata_store(url, reactor=Clock())


def test_needs_a_clock() -> None:
    """Without a clock or a reactor there is nothing to stamp records with: TypeError."""
    with pytest.raises(TypeError, match="clock"):
        MemoryMetadataStore()


@pytest_twisted.ensureDeferred
async def test_migrate_has_no_schema() -> None:
    """migrate() succeeds at once and reports schema version 0: there is no schema."""
    assert await MemoryMetadataStore(clock=Clock()).migrate() == 0


@pytest_twisted.ensureDeferred
async def test_down_switch_makes_every_call_unavailable() -> None:
    """
    While ``down`` is set every method raises MetadataUnavailable and changes nothing;
    cleared, the same store answers again with its records intact.
    """
    store = MemoryMetadataStore(clock=Clock())
    record = await upload(store, chunks=3, complete=False)
    await store.upsert_node(NodeRecord("n1", "127.0.0.1:1"))
    await store.try_lease(name="background", holder="gw", now=datetime.now(UTC), ttl=30)
    await store.enqueue_repairs(
        [(record.file_id, 1, RepairReason.MISPLACED, 2)], now=datetime.now(UTC)
    )
    await store.add_counters({"repairs": 3})

    def snapshot() -> tuple:
        return (dict(store.files), {k: dict(v) for k, v in store.chunks.items()},
                dict(store.nodes), dict(store.sweeps), dict(store.leases),
                dict(store.repairs), dict(store.counters))

    before = snapshot()
    store.down = True
    calls = _every_call(store, record.file_id)
    assert len(calls) == 44
    for call in calls:
        with pytest.raises(MetadataUnavailable, match="down"):
            await call()
    assert snapshot() == before
    store.down = False
    await store.ping()
    assert await store.get_file(record.file_id) == record
    assert (await store.complete_file(
        file_id=record.file_id, size=300, checksum=digest(), replicas=1
    )).status is FileStatus.COMPLETED


@pytest_twisted.ensureDeferred
async def test_arguments_are_checked_before_the_outage() -> None:
    """Bad arguments are InvalidRequest even while down, as the SQL stores check before any I/O."""
    store = MemoryMetadataStore(clock=Clock())
    store.down = True
    with pytest.raises(InvalidRequest):
        await store.list_files(page=0, per_page=10)
    with pytest.raises(InvalidRequest):
        await store.get_file("not-a-uuid")  # type: ignore[arg-type]


@pytest_twisted.ensureDeferred
async def test_closed_store_is_unavailable() -> None:
    """After close() every call raises MetadataUnavailable; closing twice is harmless."""
    store = MemoryMetadataStore(clock=Clock())
    record = await upload(store, chunks=1)
    await store.close()
    await store.close()
    for call in _every_call(store, record.file_id):
        with pytest.raises(MetadataUnavailable, match="closed"):
            await call()


@pytest_twisted.ensureDeferred
async def test_public_records_mirror_the_methods() -> None:
    """``files``, ``chunks``, ``nodes``, ``sweeps``, ``leases``, ``repairs`` and ``counters``
    hold exactly what the methods recorded."""
    store = MemoryMetadataStore(clock=Clock())
    record = await upload(store, chunks=2, nodes=("n2", "n1"))
    await store.upsert_node(NodeRecord("n1", "127.0.0.1:1"))
    fwc = await store.get_file_with_chunks(record.file_id)
    assert store.files == {record.file_id: record}
    assert tuple(store.chunks[record.file_id].values()) == fwc.chunks
    assert [r.node_id for r in store.chunks[record.file_id][0].replicas] == ["n1", "n2"]
    assert list(store.nodes.values()) == list(await store.list_nodes())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert await store.try_lease(name="background", holder="gw", now=now, ttl=1.5)
    assert store.leases == {"background": ("gw", datetime(2026, 1, 1, 0, 0, 1, 500000, UTC))}
    await store.start_delete(record.file_id)
    await store.defer_sweep(record.file_id, until=now, attempts=2)
    assert store.sweeps == {record.file_id: (now, 2)}
    await store.enqueue_repairs([(record.file_id, 1, RepairReason.DEGRADED, 0)], now=now)
    assert store.repairs == {
        (record.file_id, 1): RepairTask(record.file_id, 1, RepairReason.DEGRADED, 0, 0, now)
    }
    await store.add_counters({"repairs": 2})
    assert store.counters == {"repairs": 2}
    await store.finish_delete(record.file_id)
    assert store.files == {} and store.chunks == {} and store.sweeps == {}
    assert store.repairs == {}
