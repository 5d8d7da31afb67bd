"""
complete_file is one transaction (s3node.interfaces.MetadataStore): no other
writer may change a replica's state between its replica check and its commit,
on any backend.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest_twisted
from support.metadata import digest, upload
from support.waiting import wait_until

from s3node.interfaces import MetadataStore
from s3node.metadata import _records
from s3node.records import FileStatus


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
