"""
The MetadataStore contract for what the sweeper and the reconciler do to
replicas and leases, on every backend: dropping replica rows, setting a
replica's state by chunk id, walking a node's replicas in byte order, and
the background lease.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from support.metadata import make_chunk, spread_over_nodes, upload

from s3node.errors import Conflict, FileNotFound, InvalidChunkId, InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.records import (
    ChunkRecord,
    FileStatus,
    NodeReplica,
    ReplicaRecord,
    ReplicaState,
)

STORED = ReplicaState.STORED
T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _with_id(chunk: ChunkRecord, chunk_id: str) -> ChunkRecord:
    return replace(chunk, chunk_id=chunk_id)


# -- drop_replica and finish_delete ------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_drop_replica_removes_one_row(store: MetadataStore) -> None:
    """drop_replica removes the one replica row named; dropping it again, or a row of an
    unknown file or chunk, is not an error."""
    record = await upload(store, chunks=2, complete=False)
    await store.drop_replica(file_id=record.file_id, index=0, node_id="node-a")
    fwc = await store.get_file_with_chunks(record.file_id)
    assert [c.nodes_with() for c in fwc.chunks] == [("node-b",), ("node-a", "node-b")]
    await store.drop_replica(file_id=record.file_id, index=0, node_id="node-a")
    await store.drop_replica(file_id=record.file_id, index=9, node_id="node-a")
    await store.drop_replica(file_id=uuid.uuid4(), index=0, node_id="node-a")
    assert await store.get_file_with_chunks(record.file_id) == fwc
    with pytest.raises(InvalidRequest):
        await store.drop_replica(file_id=record.file_id, index=-1, node_id="node-a")


@pytest_twisted.ensureDeferred
async def test_finish_delete_after_every_replica_was_dropped(store: MetadataStore) -> None:
    """A failed file whose replicas were all dropped is removed by finish_delete, chunks and
    all; a completed file stays refused even with no replica left."""
    failed = await upload(store, chunks=2, complete=False)
    completed = await upload(store, chunks=1)
    for record, chunks in ((failed, 2), (completed, 1)):
        for index in range(chunks):
            for node in ("node-a", "node-b"):
                await store.drop_replica(file_id=record.file_id, index=index, node_id=node)
    await store.fail_file(failed.file_id)
    (swept,) = await store.files_to_sweep(now=datetime.now(UTC) + timedelta(days=1), limit=10)
    assert [c.replicas for c in swept.chunks] == [(), ()]
    await store.finish_delete(failed.file_id)
    with pytest.raises(FileNotFound):
        await store.get_file_with_chunks(failed.file_id)
    with pytest.raises(Conflict):
        await store.finish_delete(completed.file_id)
    assert (await store.get_file(completed.file_id)).status is FileStatus.COMPLETED


@pytest_twisted.ensureDeferred
async def test_drop_node_replicas_forgets_a_lost_node(store: MetadataStore) -> None:
    """drop_node_replicas removes every replica row on one node, counts them, and leaves
    the other nodes' rows alone."""
    a = await upload(store, chunks=2, nodes=("lost", "kept"))
    b = await upload(store, chunks=1, nodes=("lost",), complete=False)
    assert await store.drop_node_replicas("lost") == 3
    assert await store.drop_node_replicas("lost") == 0
    assert [c.replicas for c in (await store.get_file_with_chunks(a.file_id)).chunks] == [
        (ReplicaRecord("kept", STORED),), (ReplicaRecord("kept", STORED),)
    ]
    assert [c.replicas for c in (await store.get_file_with_chunks(b.file_id)).chunks] == [()]
    assert await store.node_replicas(node_id="lost", after="", upto=None, limit=10) == []
    with pytest.raises(InvalidRequest):
        await store.drop_node_replicas("")


# -- set_replica_state_by_chunk -------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_set_replica_state_by_chunk(store: MetadataStore) -> None:
    """
    Issue 7, finding 4: a node's report about a chunk id sets the state of that chunk's
    replica on that node only, and says how many rows changed (0 for a chunk the
    metadata has no replica of on that node, or one already in that state).
    """
    record = await upload(store, chunks=2)
    chunk = make_chunk(record.file_id, 1)
    changed = await store.set_replica_state_by_chunk(
        chunk_id=chunk.chunk_id, node_id="node-b", state=ReplicaState.CORRUPT
    )
    assert changed == 1
    fwc = await store.get_file_with_chunks(record.file_id)
    assert [c.replicas for c in fwc.chunks] == [
        (ReplicaRecord("node-a", STORED), ReplicaRecord("node-b", STORED)),
        (ReplicaRecord("node-a", STORED), ReplicaRecord("node-b", ReplicaState.CORRUPT)),
    ]
    for node_id, chunk_id in (("node-b", chunk.chunk_id), ("node-z", chunk.chunk_id),
                              ("node-b", "f" * 64)):
        assert await store.set_replica_state_by_chunk(
            chunk_id=chunk_id, node_id=node_id, state=ReplicaState.CORRUPT
        ) == 0
    assert await store.get_file_with_chunks(record.file_id) == fwc
    with pytest.raises(InvalidChunkId):
        await store.set_replica_state_by_chunk(
            chunk_id="NOT-HEX", node_id="node-b", state=ReplicaState.MISSING
        )


@pytest_twisted.ensureDeferred
async def test_set_replica_state_by_chunk_covers_every_file_using_the_id(
    store: MetadataStore,
) -> None:
    """A chunk id recorded by two files has its replica on the node updated in both."""
    shared = "ab" * 16
    one = await upload(store, chunks=0, complete=False)
    two = await upload(store, chunks=0, complete=False)
    for record in (one, two):
        await store.record_chunk(_with_id(make_chunk(record.file_id, 0, nodes=("n1",)), shared))
    assert await store.set_replica_state_by_chunk(
        chunk_id=shared, node_id="n1", state=ReplicaState.MISSING
    ) == 2
    replicas = await store.node_replicas(node_id="n1", after="", upto=None, limit=10)
    assert {(r.file_id, r.state) for r in replicas} == {
        (one.file_id, ReplicaState.MISSING), (two.file_id, ReplicaState.MISSING)
    }


# -- node_replicas ----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_node_replicas_pages_in_byte_order(store: MetadataStore) -> None:
    """
    node_replicas walks one node's replicas in ascending chunk id (byte order, as the
    nodes list them), a page of at most limit after ``after``, with each replica's file,
    index, state and the file's status.
    """
    ids, done, busy = await spread_over_nodes(store)
    seen: list[NodeReplica] = []
    after = ""
    while True:
        page = await store.node_replicas(node_id="n1", after=after, upto=None, limit=4)
        assert len(page) <= 4
        seen += page
        if len(page) < 4:
            break
        after = page[-1].chunk_id
    assert [r.chunk_id for r in seen] == ids
    first = seen[0]
    assert first == NodeReplica("0" * 32, done, 0, STORED, FileStatus.COMPLETED)
    writing = next(r for r in seen if r.chunk_id == "f" * 32)
    assert writing == NodeReplica("f" * 32, busy, 0, ReplicaState.WRITING, FileStatus.UPLOADING)
    n2 = await store.node_replicas(node_id="n2", after="", upto=None, limit=10)
    assert [r.chunk_id for r in n2] == ["0" * 32, "a" * 40, "f" * 32]


@pytest_twisted.ensureDeferred
async def test_node_replicas_bounds_compare_bytes(store: MetadataStore) -> None:
    """
    ``after`` is exclusive and ``upto`` inclusive, compared byte by byte: "F" sorts
    after every digit and before every lowercase letter (a locale's collation would
    put it among the f's).
    """
    ids, _, _ = await spread_over_nodes(store)
    upto = await store.node_replicas(node_id="n1", after="0" * 32, upto="a" * 32, limit=10)
    assert [r.chunk_id for r in upto] == ["0a" + "b" * 30, "9" * 64, "a" * 32]
    letters = await store.node_replicas(node_id="n1", after="F", upto=None, limit=10)
    assert [r.chunk_id for r in letters] == [i for i in ids if i[0] in "abcdef"]
    digits = await store.node_replicas(node_id="n1", after="", upto="F", limit=10)
    assert [r.chunk_id for r in digits] == [i for i in ids if i[0].isdigit()]
    assert await store.node_replicas(node_id="nobody", after="", upto=None, limit=10) == []
    for bad in ({"limit": 0}, {"after": None}, {"upto": ""}, {"node_id": ""}):
        args = {"node_id": "n1", "after": "", "upto": None, "limit": 10, **bad}
        with pytest.raises(InvalidRequest):
            await store.node_replicas(**args)  # type: ignore[arg-type]


# -- leases -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_try_lease_one_holder_at_a_time(store: MetadataStore) -> None:
    """
    A lease is taken by the first holder; another holder is refused until it expires
    (now + ttl), then takes it over; its holder renews it at any time.
    """
    assert await store.try_lease(name="background", holder="gw-1", now=T, ttl=30) is True
    assert await store.try_lease(name="background", holder="gw-2", now=T, ttl=30) is False
    later = T + timedelta(seconds=20)
    assert await store.try_lease(name="background", holder="gw-1", now=later, ttl=30) is True
    # renewed until T+50: still held at T+49.999999
    almost = T + timedelta(seconds=50) - timedelta(microseconds=1)
    assert await store.try_lease(name="background", holder="gw-2", now=almost, ttl=30) is False
    expired = T + timedelta(seconds=50)
    assert await store.try_lease(name="background", holder="gw-2", now=expired, ttl=30) is True
    assert await store.try_lease(name="background", holder="gw-1", now=expired, ttl=30) is False
    assert await store.try_lease(name="other", holder="gw-1", now=expired, ttl=30) is True


@pytest_twisted.ensureDeferred
async def test_release_lease(store: MetadataStore) -> None:
    """Only the holder's release frees a lease; another holder may take it at once after."""
    assert await store.try_lease(name="background", holder="gw-1", now=T, ttl=30)
    await store.release_lease(name="background", holder="gw-2")
    assert not await store.try_lease(name="background", holder="gw-2", now=T, ttl=30)
    await store.release_lease(name="background", holder="gw-1")
    await store.release_lease(name="background", holder="gw-1")
    assert await store.try_lease(name="background", holder="gw-2", now=T, ttl=30)
    await store.release_lease(name="never-taken", holder="gw-1")


@pytest.mark.parametrize(
    "bad",
    [
        {"name": ""},
        {"holder": ""},
        {"holder": "x" * 256},
        {"now": datetime(2026, 1, 1)},
        {"ttl": 0},
        {"ttl": -1.0},
        {"ttl": float("inf")},
        {"ttl": float("nan")},
        {"ttl": True},
    ],
)
@pytest_twisted.ensureDeferred
async def test_try_lease_checks_arguments(store: MetadataStore, bad: dict) -> None:
    """Bad lease arguments raise InvalidRequest and take nothing."""
    args = {"name": "background", "holder": "gw-1", "now": T, "ttl": 30.0, **bad}
    with pytest.raises(InvalidRequest):
        await store.try_lease(**args)
    assert await store.try_lease(name="background", holder="gw-2", now=T, ttl=30) is True
