"""
Concurrent writers never corrupt or lose updates, nor slip a change inside
complete_file's transaction; big files round-trip, on every backend.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk, upload
from support.waiting import wait_until
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults

from s3node.errors import Conflict
from s3node.interfaces import MetadataStore
from s3node.metadata import _records
from s3node.records import FileStatus, NodeRecord, NodeState, ReplicaState

STORED = ReplicaState.STORED


def _all(coros) -> Deferred:  # type: ignore[no-untyped-def]
    return gatherResults([Deferred.fromCoroutine(c) for c in coros], consumeErrors=True)


@pytest_twisted.ensureDeferred
async def test_fifty_concurrent_writers(store: MetadataStore) -> None:
    """
    50 uploads written at once (chunks, replica updates, completion, node health) all land intact.
    """
    await store.upsert_node(NodeRecord("node-a", "127.0.0.1:1"))

    async def writer(n: int) -> uuid.UUID:
        record = await store.create_file(
            filename=f"w{n}", content_type="x/y", checksum_algorithm="sha256", chunk_size=10
        )
        fid = record.file_id
        await _all(
            store.record_chunk(make_chunk(fid, i, size=10, nodes=("node-a",),
                                          state=ReplicaState.WRITING))
            for i in range(4)
        )
        await _all(
            store.set_replica_state(file_id=fid, index=i, node_id=node, state=STORED)
            for i in range(4) for node in ("node-a", "node-b")
        )
        await store.update_node_health("node-a", state=NodeState.ACTIVE, used=n)
        await store.complete_file(file_id=fid, size=40, checksum=digest(n), replicas=2)
        return fid

    ids = await _all(writer(n) for n in range(50))
    assert len(set(ids)) == 50
    listed = await store.list_files(page=1, per_page=100, status=FileStatus.COMPLETED)
    assert listed.total == 50 and {f.file_id for f in listed.files} == set(ids)
    for fid in ids:
        fwc = await store.get_file_with_chunks(fid)
        assert fwc.file.size == 40
        assert [c.index for c in fwc.chunks] == [0, 1, 2, 3]
        assert all(c.nodes_with() == ("node-a", "node-b") for c in fwc.chunks)
    assert await store.under_replicated_chunks(target=2, limit=100) == []
    (node,) = await store.list_nodes()
    assert node.used is not None and 0 <= node.used < 50


@pytest_twisted.ensureDeferred
async def test_concurrent_chunks_and_replicas_of_one_file(store: MetadataStore) -> None:
    """Many writers adding chunks and replicas to the same file at once lose none of them."""
    record = await store.create_file(
        filename="one", content_type="", checksum_algorithm="sha256", chunk_size=10
    )
    fid = record.file_id
    await _all(store.record_chunk(make_chunk(fid, i, nodes=())) for i in range(60))
    await _all(
        store.set_replica_state(file_id=fid, index=i % 3, node_id=f"n{i:02d}", state=STORED)
        for i in range(60)
    )
    fwc = await store.get_file_with_chunks(fid)
    assert [c.index for c in fwc.chunks] == list(range(60))
    assert sum(len(c.replicas) for c in fwc.chunks) == 60
    assert len(fwc.chunks[0].replicas) == 20


@pytest_twisted.ensureDeferred
async def test_complete_racing_delete_is_consistent(store: MetadataStore) -> None:
    """
    complete_file racing start_delete ends with the file deleting; the loser gets a clear error.
    """
    for _ in range(10):
        record = await store.create_file(
            filename="race", content_type="", checksum_algorithm="sha256", chunk_size=10
        )
        await store.record_chunk(make_chunk(record.file_id, 0, size=10))
        results = await gatherResults(
            [
                Deferred.fromCoroutine(store.complete_file(
                    file_id=record.file_id, size=10, checksum=digest(), replicas=1)
                ).addErrback(lambda f: f.trap(Conflict)),
                Deferred.fromCoroutine(store.start_delete(record.file_id)),
            ]
        )
        after = await store.get_file(record.file_id)
        assert after.status is FileStatus.DELETING
        if results[0] is not Conflict:
            assert after.size == 10


# complete_file is one transaction (s3node.interfaces.MetadataStore): no other
# writer may change a replica's state between its replica check and its commit.


def _demote_replica(db_url: str, file_id: str, refused: threading.Event) -> None:
    """
    Mark the replica of chunk 0 on node-a missing, from another connection (blocking).

    The first attempt does not wait for locks: when a lock refuses it,
    ``refused`` is set and the update is made again, waiting for the lock.
    """
    sql = (
        "UPDATE chunk_replicas SET state = 'missing'"
        " WHERE file_id = {p} AND chunk_index = 0 AND node_id = 'node-a'"
    )
    if db_url.startswith("sqlite:"):
        conn = sqlite3.connect(db_url[len("sqlite:") :], timeout=0, isolation_level=None)
        try:
            try:
                conn.execute(sql.format(p="?"), (file_id,))
            except sqlite3.OperationalError as e:
                if "locked" not in str(e):
                    raise
                refused.set()
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute(sql.format(p="?"), (file_id,))
        finally:
            conn.close()
        return
    import psycopg2
    from psycopg2.errors import LockNotAvailable

    conn = psycopg2.connect(db_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = 1")  # ms: any wait for a lock is a refusal
            try:
                cur.execute(sql.format(p="%s::uuid"), (file_id,))
            except LockNotAvailable:
                refused.set()
                cur.execute("SET lock_timeout = 0")
                cur.execute(sql.format(p="%s::uuid"), (file_id,))
    finally:
        conn.close()


# SQL only: the racing writer is a second connection to the database, which the
# in-memory store does not have (its calls never yield, so nothing can race them).
@pytest.mark.sql_only
@pytest_twisted.ensureDeferred
async def test_no_replica_change_commits_inside_complete_file(
    store: MetadataStore, db_url: str, monkeypatch
) -> None:
    """A replica demoted while complete_file checks replicas waits until the completion commits."""
    record = await upload(store, chunks=1, nodes=("node-a",), complete=False)
    check = _records.check_completion
    seen: dict[str, bool] = {}
    refused = threading.Event()
    writer = threading.Thread(
        target=_demote_replica, args=(db_url, str(record.file_id), refused)
    )

    def check_then_race(*args, **kwargs):  # type: ignore[no-untyped-def]
        check(*args, **kwargs)
        writer.start()
        # The writer's update either went through at once or a lock refused it.
        wait_until(lambda: refused.is_set() or not writer.is_alive(),
                   what="the writer to be refused or done")
        # Still waiting means the check's view is protected until the commit.
        seen["committed_inside"] = not writer.is_alive()

    monkeypatch.setattr(_records, "check_completion", check_then_race)
    done = await store.complete_file(
        file_id=record.file_id, size=100, checksum=digest("file", record.file_id), replicas=1
    )
    writer.join(30)
    assert not writer.is_alive()
    assert done.status is FileStatus.COMPLETED
    assert seen == {"committed_inside": False}


@pytest_twisted.ensureDeferred
async def test_ten_thousand_chunk_file(store: MetadataStore) -> None:
    """A 10,000-chunk file is recorded, read back in index order and completed."""
    record = await store.create_file(
        filename="big", content_type="", checksum_algorithm="sha256", chunk_size=1
    )
    fid = record.file_id
    sem = DeferredSemaphore(16)
    await gatherResults(
        [sem.run(lambda i=i: Deferred.fromCoroutine(store.record_chunk(make_chunk(fid, i, size=1))))
         for i in reversed(range(10_000))]
    )
    fwc = await store.get_file_with_chunks(fid)
    assert [c.index for c in fwc.chunks] == list(range(10_000))
    assert fwc.chunks[1234].chunk_id == make_chunk(fid, 1234).chunk_id
    assert all(len(c.replicas) == 2 for c in fwc.chunks)
    done = await store.complete_file(file_id=fid, size=10_000, checksum=digest(), replicas=2)
    assert done.status is FileStatus.COMPLETED
