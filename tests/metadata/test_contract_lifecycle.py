"""The MetadataStore contract for deletion, sweeping, nodes and repair, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from support.metadata import make_chunk, upload
from twisted.internet.task import Clock

from s3node.errors import Conflict, FileNotFound, InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.records import (
    DurabilityCounts,
    FileStatus,
    NodeRecord,
    NodeState,
    ReplicaRecord,
    ReplicaState,
)

STORED = ReplicaState.STORED


@pytest_twisted.ensureDeferred
async def test_start_and_finish_delete(store: MetadataStore) -> None:
    """start_delete marks a file deleting (once); finish_delete removes it with its chunks."""
    record = await upload(store, chunks=2)
    deleting = await store.start_delete(record.file_id)
    assert deleting.status is FileStatus.DELETING
    assert deleting.updated_at >= record.updated_at
    with pytest.raises(FileNotFound):
        await store.start_delete(record.file_id)
    await store.finish_delete(record.file_id)
    with pytest.raises(FileNotFound):
        await store.get_file_with_chunks(record.file_id)
    with pytest.raises(FileNotFound):
        await store.finish_delete(record.file_id)
    assert await store.under_replicated_chunks(target=5, limit=10) == []


@pytest_twisted.ensureDeferred
async def test_finish_delete_refuses_a_completed_file(store: MetadataStore) -> None:
    """A completed file must go through start_delete before finish_delete removes it."""
    record = await upload(store, chunks=1)
    with pytest.raises(Conflict):
        await store.finish_delete(record.file_id)
    assert (await store.get_file(record.file_id)).status is FileStatus.COMPLETED


@pytest_twisted.ensureDeferred
async def test_finish_delete_of_failed_and_abandoned_uploads(store: MetadataStore) -> None:
    """Failed and still-uploading files can be removed directly (the sweeper does)."""
    failed = await upload(store, chunks=1, complete=False)
    await store.fail_file(failed.file_id)
    abandoned = await upload(store, chunks=2, complete=False)
    for record in (failed, abandoned):
        await store.finish_delete(record.file_id)
        with pytest.raises(FileNotFound):
            await store.get_file(record.file_id)


@pytest_twisted.ensureDeferred
async def test_files_to_sweep(open_store) -> None:  # type: ignore[no-untyped-def]
    """
    Failed and deleting files are swept at once; uploads only once claimed as stale
    (claim_stale_uploads), however old; completed files never.
    """
    clock = Clock()
    clock.advance(1_700_000_000)
    s = open_store(clock=clock)
    await s.migrate()
    completed = await upload(s, chunks=1)
    failed = await upload(s, chunks=2, complete=False)
    await s.fail_file(failed.file_id)
    deleting = await upload(s, chunks=1)
    await s.start_delete(deleting.file_id)
    clock.advance(100)
    fresh = await upload(s, chunks=1, complete=False)
    now = datetime.fromtimestamp(clock.seconds(), UTC)
    old = now - timedelta(seconds=50)

    swept = await s.files_to_sweep(now=now, limit=10)
    ids = {f.file.file_id for f in swept}
    assert ids == {failed.file_id, deleting.file_id}
    by_id = {f.file.file_id: f for f in swept}
    assert [c.index for c in by_id[failed.file_id].chunks] == [0, 1]
    assert by_id[failed.file_id].chunks[0].nodes_with() == ("node-a", "node-b")

    later = now + timedelta(days=365)
    ids = {f.file.file_id for f in await s.files_to_sweep(now=later, limit=10)}
    assert ids == {failed.file_id, deleting.file_id}
    assert await s.claim_stale_uploads(stale_before=old, limit=10) == 0
    assert await s.claim_stale_uploads(stale_before=now + timedelta(seconds=1), limit=10) == 1
    ids = {f.file.file_id for f in await s.files_to_sweep(now=later, limit=10)}
    assert ids == {failed.file_id, deleting.file_id, fresh.file_id}
    assert completed.file_id not in ids
    assert len(await s.files_to_sweep(now=later, limit=2)) == 2


@pytest_twisted.ensureDeferred
async def test_files_to_sweep_checks_arguments(store: MetadataStore) -> None:
    """files_to_sweep wants an aware datetime and a limit from 1 to 1000."""
    with pytest.raises(InvalidRequest):
        await store.files_to_sweep(now=datetime(2020, 1, 1), limit=10)
    with pytest.raises(InvalidRequest):
        await store.files_to_sweep(now=datetime.now(UTC), limit=0)
    with pytest.raises(InvalidRequest):
        await store.files_to_sweep(now=datetime.now(UTC), limit=1001)


@pytest_twisted.ensureDeferred
async def test_nodes(store: MetadataStore) -> None:
    """Nodes are registered, updated (address, weight, zone only) and listed by id; the health
    of an unknown node is ignored."""
    assert await store.list_nodes() == []
    await store.upsert_node(NodeRecord("node-b", "127.0.0.1:2", weight=2.5, zone="z2"))
    await store.upsert_node(NodeRecord("node-a", "127.0.0.1:1"))
    nodes = await store.list_nodes()
    assert [n.node_id for n in nodes] == ["node-a", "node-b"]
    assert nodes[1] == NodeRecord("node-b", "127.0.0.1:2", 2.5, "z2", NodeState.ACTIVE)

    seen = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    await store.update_node_health(
        "node-a", state=NodeState.ACTIVE, capacity=1000, used=10, last_seen=seen
    )
    await store.update_node_health("node-a", state=NodeState.DOWN)
    await store.upsert_node(NodeRecord("node-a", "127.0.0.1:9", weight=3.0, zone="z9"))
    a = (await store.list_nodes())[0]
    assert a == NodeRecord("node-a", "127.0.0.1:9", 3.0, "z9", NodeState.DOWN, 1000, 10, seen)
    assert a.last_seen is not None and a.last_seen.utcoffset() == timedelta(0)
    # a node forgotten meanwhile: not an error, and nothing is registered
    await store.update_node_health("nope", state=NodeState.DOWN, now=seen)
    assert [n.node_id for n in await store.list_nodes()] == ["node-a", "node-b"]


@pytest.mark.parametrize(
    "node",
    [
        NodeRecord("", "127.0.0.1:1"),
        NodeRecord("n" * 64, "127.0.0.1:1"),
        NodeRecord("n", ""),
        NodeRecord("n", "127.0.0.1:1", weight=-1),
        NodeRecord("n", "127.0.0.1:1", weight=float("nan")),
        NodeRecord("n", "127.0.0.1:1", weight=10**400),
        NodeRecord("n", "127.0.0.1:1", capacity=-1),
        NodeRecord("n", "127.0.0.1:1", last_seen=datetime(2020, 1, 1)),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_nodes_are_refused(store: MetadataStore, node: NodeRecord) -> None:
    """A malformed node record raises InvalidRequest and registers nothing."""
    with pytest.raises(InvalidRequest):
        await store.upsert_node(node)
    assert await store.list_nodes() == []


@pytest_twisted.ensureDeferred
async def test_under_replicated_chunks(store: MetadataStore) -> None:
    """Only chunks of completed files with fewer than target stored replicas are reported."""
    healthy = await upload(store, chunks=2, nodes=("n1", "n2"))
    weak = await upload(store, chunks=3, nodes=("n1", "n2"))
    await store.set_replica_state(
        file_id=weak.file_id, index=1, node_id="n2", state=ReplicaState.CORRUPT
    )
    await store.set_replica_state(
        file_id=weak.file_id, index=2, node_id="n1", state=ReplicaState.MISSING
    )
    uploading = await upload(store, chunks=1, nodes=("n1",), complete=False)

    found = await store.under_replicated_chunks(target=2, limit=100)
    assert {(c.file_id, c.index) for c in found} == {(weak.file_id, 1), (weak.file_id, 2)}
    one = next(c for c in found if c.index == 1)
    assert one.replicas == (ReplicaRecord("n1", STORED), ReplicaRecord("n2", ReplicaState.CORRUPT))
    assert one.chunk_id == make_chunk(weak.file_id, 1).chunk_id
    three = await store.under_replicated_chunks(target=3, limit=100)
    assert len(three) == 5
    assert uploading.file_id not in {c.file_id for c in three}
    assert healthy.file_id in {c.file_id for c in three}
    assert len(await store.under_replicated_chunks(target=3, limit=2)) == 2
    assert await store.under_replicated_chunks(target=1, limit=100) == []


@pytest_twisted.ensureDeferred
async def test_durability_counts(store: MetadataStore) -> None:
    """
    Chunks of completed files are counted by their stored replicas (missing and
    corrupt ones don't count; unfinished files' chunks are left out), and files by status.
    """
    assert await store.durability_counts() == DurabilityCounts({}, {})
    await upload(store, chunks=2, nodes=("n1", "n2"))
    weak = await upload(store, chunks=3, nodes=("n1", "n2"))
    await store.set_replica_state(
        file_id=weak.file_id, index=1, node_id="n2", state=ReplicaState.CORRUPT
    )
    for node_id in ("n1", "n2"):
        await store.set_replica_state(
            file_id=weak.file_id, index=2, node_id=node_id, state=ReplicaState.MISSING
        )
    await upload(store, chunks=1, nodes=("n1",), complete=False)
    failed = await upload(store, chunks=1, complete=False)
    await store.fail_file(failed.file_id)
    deleted = await upload(store, chunks=1)
    await store.start_delete(deleted.file_id)

    counts = await store.durability_counts()
    assert counts.chunks_by_stored_replicas == {2: 3, 1: 1, 0: 1}
    assert counts.bytes_by_stored_replicas == {2: 300, 1: 100, 0: 100}
    assert counts.damaged_files == 0
    assert counts.files_by_status == {
        FileStatus.COMPLETED: 2, FileStatus.UPLOADING: 1, FileStatus.FAILED: 1,
        FileStatus.DELETING: 1,
    }
