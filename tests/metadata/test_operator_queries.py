"""The operator queries printed in docs/metadata.md run on PostgreSQL and answer correctly."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg2
import pytest
import pytest_twisted
from support.metadata import upload
from twisted.internet import reactor
from twisted.internet.task import Clock

from s3node.metadata import open_metadata_store
from s3node.metadata.migrations import load_migrations
from s3node.records import ReplicaState

DOC = Path(__file__).resolve().parents[2] / "docs" / "metadata.md"


def operator_queries() -> list[str]:
    """The ```sql blocks of the doc's "Operator queries (PostgreSQL)" section, in order."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Operator queries (PostgreSQL)", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)


def test_the_doc_has_the_queries() -> None:
    """The doc carries the six operator queries this test checks."""
    assert len(operator_queries()) == 6


@pytest.mark.postgresql
@pytest_twisted.ensureDeferred
async def test_operator_queries(postgres_db: str) -> None:
    """
    Largest files, per-node totals, under-replicated chunks, status totals, stale uploads, version.
    """
    past = Clock()
    past.advance(time.time() - 7200)
    old_store = open_metadata_store(postgres_db, reactor=reactor, clock=past)
    store = open_metadata_store(postgres_db, reactor=reactor)
    try:
        await store.migrate()
        small = await upload(store, chunks=1, chunk_size=10, nodes=("n1", "n2"), filename="small")
        big = await upload(store, chunks=3, chunk_size=1000, nodes=("n1", "n2"), filename="big")
        mid = await upload(store, chunks=2, chunk_size=300, nodes=("n2", "n3"), filename="mid")
        await store.set_replica_state(
            file_id=big.file_id, index=2, node_id="n2", state=ReplicaState.MISSING
        )
        stale = await upload(old_store, chunks=1, complete=False, filename="stale")
        fresh = await upload(store, chunks=1, complete=False, filename="fresh")
        expected_under = await store.under_replicated_chunks(target=2, limit=100)
    finally:
        await old_store.close()
        await store.close()

    largest, per_node, under, by_status, stale_rows, version = (
        _run(postgres_db, q) for q in operator_queries()
    )
    assert [row[1] for row in largest] == ["big", "mid", "small"]
    assert largest[0][2] == 3000 and largest[0][3] == "3000 bytes"
    assert per_node == [
        ("n1", 2, 4, 3010), ("n2", 3, 5, 2610), ("n3", 1, 2, 600),
        ("node-a", 2, 2, 200), ("node-b", 2, 2, 200),
    ]
    assert [(str(r[0]), r[1], r[3]) for r in under] == [(str(big.file_id), 2, 1)]
    assert [(c.file_id, c.index) for c in expected_under] == [(big.file_id, 2)]
    assert by_status == [("completed", 3, 3610), ("uploading", 2, 0)]
    assert [str(r[0]) for r in stale_rows] == [str(stale.file_id)]
    assert str(fresh.file_id) not in {str(r[0]) for r in stale_rows}
    assert [(v, n) for v, n, _ in version] == [
        (m.version, m.name) for m in load_migrations("postgresql")
    ]
    assert small.file_id and mid.file_id


def _run(url: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(row) for row in cur.fetchall()]
    finally:
        conn.close()


def sqlite_variant(sql: str) -> str:
    """The documented SQLite spelling of an operator query."""
    return sql.replace(", pg_size_pretty(size) AS pretty", "").replace(
        "now() - interval '1 hour'", "(strftime('%s', 'now') - 3600) * 1000000"
    )


@pytest_twisted.ensureDeferred
async def test_operator_queries_on_sqlite(tmp_path: Path) -> None:
    """The documented SQLite spellings of the operator queries run and answer correctly."""
    import sqlite3

    path = tmp_path / "m.sqlite3"
    past = Clock()
    past.advance(time.time() - 7200)
    old_store = open_metadata_store(f"sqlite:{path}", reactor=reactor, clock=past)
    store = open_metadata_store(f"sqlite:{path}", reactor=reactor)
    try:
        await store.migrate()
        await upload(store, chunks=3, chunk_size=1000, nodes=("n1",), filename="big")
        await upload(store, chunks=1, chunk_size=10, nodes=("n1",), filename="small")
        stale = await upload(old_store, chunks=1, complete=False, filename="stale")
    finally:
        await old_store.close()
        await store.close()
    conn = sqlite3.connect(path)
    try:
        largest, per_node, under, by_status, stale_rows, version = (
            conn.execute(sqlite_variant(q)).fetchall() for q in operator_queries()
        )
    finally:
        conn.close()
    assert [row[1] for row in largest] == ["big", "small"]
    assert ("n1", 2, 4, 3010) in per_node
    assert len(under) == 4  # every completed chunk has 1 stored replica, fewer than 2
    assert by_status == [("completed", 2, 3010), ("uploading", 1, 0)]
    assert [row[0] for row in stale_rows] == [str(stale.file_id)]
    assert [(v, n) for v, n, _ in version] == [
        (m.version, m.name) for m in load_migrations("sqlite")
    ]
