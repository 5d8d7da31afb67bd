"""
The self-healing rules hold when several stores share one database (several
gateways on one PostgreSQL, or on one SQLite file): two repairs never both
start the same copy, a queue entry is added once, a deletion racing an
enqueue never lets a foreign key error escape, counters lose no increment,
and a node's forget and admin changes queue behind each other.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk
from twisted.internet.defer import Deferred, gatherResults

from s3node.errors import NodeInUse, NodeNotFound
from s3node.interfaces import MetadataStore
from s3node.records import FileRecord, NodeAdmin, NodeRecord, RepairReason, ReplicaState

# SQL only: the racers are separate stores on one database, which the in-memory
# store cannot share (each memory: store is its own database).
pytestmark = pytest.mark.sql_only

T = datetime(2026, 6, 1, tzinfo=UTC)
ROUNDS = 12


def _all(coros) -> Deferred:  # type: ignore[no-untyped-def]
    return gatherResults([Deferred.fromCoroutine(c) for c in coros], consumeErrors=True)


async def _stores(open_store) -> list[MetadataStore]:  # type: ignore[no-untyped-def]
    stores: list[MetadataStore] = [open_store(), open_store()]
    for s in stores:
        await s.migrate()
    return stores


async def _file(store: MetadataStore, chunks: int, *, complete: bool = True) -> FileRecord:
    record = await store.create_file(
        filename="f", content_type="", checksum_algorithm="sha256", chunk_size=10
    )
    for index in range(chunks):
        await store.record_chunk(make_chunk(record.file_id, index, size=10, nodes=("n1",)))
    if complete:
        record = await store.complete_file(
            file_id=record.file_id, size=10 * chunks, checksum=digest(record.file_id), replicas=1
        )
    return record


@pytest_twisted.ensureDeferred
async def test_two_repairs_of_one_chunk_onto_one_node(open_store) -> None:  # type: ignore[no-untyped-def]
    """Of several begin_replica calls on two stores for the same chunk and node at once,
    exactly one returns True, for a node without a row and for one whose copy went missing."""
    stores = await _stores(open_store)
    record = await _file(stores[0], ROUNDS)
    for index in range(ROUNDS):
        node = f"t{index % 3}"
        if index % 2:
            await stores[0].set_replica_state(
                file_id=record.file_id, index=index, node_id=node, state=ReplicaState.MISSING
            )
        won = await _all(
            stores[n % 2].begin_replica(file_id=record.file_id, index=index, node_id=node)
            for n in range(4)
        )
        assert won.count(True) == 1, (index, won)


@pytest_twisted.ensureDeferred
async def test_concurrent_enqueues_add_each_entry_once(open_store) -> None:  # type: ignore[no-untyped-def]
    """Several enqueue_repairs of overlapping chunks on two stores at once: every chunk is
    queued once, counted new by exactly one caller, with the lowest priority given."""
    stores = await _stores(open_store)
    record = await _file(stores[0], ROUNDS)
    batches = [
        [(record.file_id, index, RepairReason.DEGRADED, n) for index in range(ROUNDS)][n::2]
        + [(record.file_id, index, RepairReason.DEGRADED, n) for index in range(ROUNDS)]
        for n in range(4)
    ]
    added = await _all(stores[n % 2].enqueue_repairs(b, now=T) for n, b in enumerate(batches))
    assert sum(added) == ROUNDS
    queued = await stores[0].due_repairs(now=T, limit=100)
    assert sorted(t.index for t in queued) == list(range(ROUNDS))
    assert {t.priority for t in queued} == {0}


@pytest_twisted.ensureDeferred
async def test_enqueue_racing_the_deletion_of_its_files(open_store) -> None:  # type: ignore[no-untyped-def]
    """enqueue_repairs of chunks whose files finish_delete removes at the same moment raises
    nothing (a chunk gone is skipped), and no entry outlives its chunk."""
    stores = await _stores(open_store)
    files = [await _file(stores[0], 3, complete=False) for _ in range(ROUNDS)]
    for record in files:
        await stores[0].fail_file(record.file_id)
    calls = []
    for record in files:
        tasks = [(record.file_id, i, RepairReason.DEGRADED, 0) for i in range(3)]
        calls += [stores[1].enqueue_repairs(tasks, now=T), stores[0].finish_delete(record.file_id)]
    outcomes = await _all(calls)
    assert all(0 <= n <= 3 for n in outcomes[::2])
    assert await stores[0].repair_queue_length(now=T) == (0, 0)


@pytest_twisted.ensureDeferred
async def test_concurrent_counter_increments_all_count(open_store) -> None:  # type: ignore[no-untyped-def]
    """Many add_counters on two stores at once, new counters included: no increment is lost."""
    stores = await _stores(open_store)
    await _all(
        stores[n % 2].add_counters({"repairs": 1, "bytes": n, f"only_{n % 3}": 2})
        for n in range(20)
    )
    assert await stores[1].read_counters() == {
        "repairs": 20, "bytes": sum(range(20)), "only_0": 14, "only_1": 14, "only_2": 12
    }


@pytest_twisted.ensureDeferred
async def test_forget_racing_admin_changes(open_store) -> None:  # type: ignore[no-untyped-def]
    """A forget racing a drain on another store: either the drain came first (then the
    forget's refusal says so), or the forget did (then the drain finds no node); never both
    succeed, and a drained empty node forgotten twice at once goes once."""
    stores = await _stores(open_store)
    for round_ in range(ROUNDS):
        node = f"n{round_}"
        await stores[0].add_node(NodeRecord(node, "127.0.0.1:1"))
        await stores[0].set_node_admin(node, NodeAdmin.DRAINED)
        outcomes = await _all([
            _outcome(stores[0].forget_node(node, lost=False)),
            _outcome(stores[1].set_node_admin(node, NodeAdmin.ACTIVE)),
        ])
        assert sorted(outcomes) in (["NodeInUse", "ok"], ["NodeNotFound", "ok"]), outcomes
        if outcomes[0] == "ok":
            assert outcomes[1] == "NodeNotFound"
        await stores[1].add_node(NodeRecord(f"d{round_}", "127.0.0.1:1"))
        await stores[1].set_node_admin(f"d{round_}", NodeAdmin.DRAINED)
        twice = await _all([
            _outcome(stores[n].forget_node(f"d{round_}", lost=False)) for n in (0, 1)
        ])
        assert sorted(twice) == ["NodeNotFound", "ok"], twice


async def _outcome(call) -> str:  # type: ignore[no-untyped-def]
    """``ok``, or the name of the NodeInUse/NodeNotFound error ``call`` raised."""
    try:
        await call
    except (NodeInUse, NodeNotFound) as e:
        return type(e).__name__
    return "ok"
