"""
Migrations: located, validated, applied once by the one runner on every SQL
backend, checked against their files' digests, and safe against concurrent
migrators.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from s3node.errors import ConfigurationError
from s3node.metadata._sqlite_db import split_statements
from s3node.metadata.migrations import (
    SCHEMA_TABLE,
    Migration,
    load_migrations,
    migrations_root,
    pending,
    run_to_completion,
    sql_dir,
    verify_applied,
)
from s3node.records import NodeAdmin, NodeRecord, NodeState, RepairReason, ReplicaState

# SQL only: the in-memory store has no schema and no migrations to apply.
pytestmark = pytest.mark.sql_only


def test_both_backends_ship_the_same_versions() -> None:
    """PostgreSQL and SQLite have the same numbered migrations, starting at 0001."""
    pg = [(m.version, m.name) for m in load_migrations("postgresql")]
    lite = [(m.version, m.name) for m in load_migrations("sqlite")]
    assert pg == lite
    assert pg[0] == (1, "initial")


def test_locator_finds_the_checkout_folder() -> None:
    """In a checkout (editable install) the migrations are read from <repo>/sql."""
    root = migrations_root()
    assert (root / "postgresql").is_dir() and (root / "sqlite").is_dir()
    assert sql_dir("sqlite") == root / "sqlite"
    with pytest.raises(ConfigurationError):
        sql_dir("oracle")


def test_gaps_and_empty_folders_are_refused(tmp_path: Path) -> None:
    """A numbering gap or a folder without migrations raises ConfigurationError."""
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.raises(ConfigurationError, match="expected 0002"):
        load_migrations("sqlite", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="no sqlite migrations"):
        load_migrations("sqlite", empty)


def test_pending_refuses_a_newer_database() -> None:
    """A database migrated by a newer s3node (unknown version) is refused."""
    migrations = load_migrations("sqlite")
    assert pending(migrations, []) == list(migrations)
    assert pending(migrations, [m.version for m in migrations]) == []
    with pytest.raises(ConfigurationError, match="newer"):
        pending(migrations, [1, 99])


def test_split_statements() -> None:
    """
    The SQLite script splitter yields whole statements, keeps quoted semicolons, drops comments.
    """
    script = (
        "-- c1\nCREATE TABLE t (x TEXT DEFAULT ';');\n\n-- end\n"
        "INSERT INTO t VALUES ('a;b');\n"
    )
    assert list(split_statements(script)) == [
        "CREATE TABLE t (x TEXT DEFAULT ';');",
        "INSERT INTO t VALUES ('a;b');",
    ]
    for mig in load_migrations("sqlite"):
        for statement in split_statements(mig.sql):
            assert sqlite3.complete_statement(statement)


@pytest_twisted.ensureDeferred
async def test_migrate_from_empty_then_again(open_store, backend: str, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """Migrating an empty database reaches the latest version; migrating again changes nothing."""
    latest = load_migrations(backend)[-1].version
    s = open_store()
    assert await s.migrate() == latest
    assert await s.migrate() == latest
    other = open_store()
    assert await other.migrate() == latest
    assert _versions(backend, db_url) == list(range(1, latest + 1))


@pytest_twisted.ensureDeferred
async def test_concurrent_migrators(open_store, backend: str, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """
    Several stores migrating one empty database at once all succeed and apply each migration once.
    """
    latest = load_migrations(backend)[-1].version
    stores = [open_store() for _ in range(4)]
    results = await gatherResults([Deferred.fromCoroutine(s.migrate()) for s in stores])
    assert results == [latest] * 4
    assert _versions(backend, db_url) == list(range(1, latest + 1))
    await stores[0].ping()


def _versions(backend: str, url: str) -> list[int]:
    """The versions recorded in the schema table (read with a blocking driver)."""
    rows = _query(backend, url, f"SELECT version FROM {SCHEMA_TABLE} ORDER BY version")
    return [row[0] for row in rows]


def _digests(backend: str, url: str) -> dict[int, str]:
    """The sha256 recorded for each applied version."""
    return dict(_query(backend, url, f"SELECT version, sha256 FROM {SCHEMA_TABLE}"))


def _query(backend: str, url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement with a blocking driver, committed; return its rows."""
    if backend == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:"), isolation_level=None)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    import psycopg2

    pg = psycopg2.connect(url)
    try:
        pg.autocommit = True
        with pg.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description is not None else []
    finally:
        pg.close()


def _copy_migrations(backend: str, tmp_path: Path) -> Path:
    """A private copy of ``backend``'s migrations, for a test to edit."""
    folder = tmp_path / "sql" / backend
    shutil.copytree(sql_dir(backend), folder)
    return folder


@pytest_twisted.ensureDeferred
async def test_fresh_migrate_records_each_files_digest(  # type: ignore[no-untyped-def]
    open_store, backend: str, db_url: str
) -> None:
    """A fresh database records, beside each applied version, the sha256 of its file's text."""
    s = open_store()
    await s.migrate()
    assert _digests(backend, db_url) == {m.version: m.sha256 for m in load_migrations(backend)}


@pytest_twisted.ensureDeferred
async def test_edited_migration_is_refused(  # type: ignore[no-untyped-def]
    open_store, backend: str, db_url: str, tmp_path: Path
) -> None:
    """
    A migration file edited after it was applied makes migrate() raise ConfigurationError naming
    the file, and the database stays as it was; restored, the file is accepted again.
    """
    folder = _copy_migrations(backend, tmp_path)
    latest = load_migrations(backend, folder)[-1].version
    assert await open_store(migrations_dir=folder).migrate() == latest
    before = _digests(backend, db_url)
    first = folder / "0001_initial.sql"
    original = first.read_text(encoding="utf-8")
    first.write_text(original + "\n-- an innocent-looking comment\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"0001_initial\.sql has changed since it"):
        await open_store(migrations_dir=folder).migrate()
    assert _digests(backend, db_url) == before
    first.write_text(original, encoding="utf-8")
    assert await open_store(migrations_dir=folder).migrate() == latest


@pytest_twisted.ensureDeferred
async def test_missing_digest_is_adopted(  # type: ignore[no-untyped-def]
    open_store, backend: str, db_url: str
) -> None:
    """
    An applied migration recorded without a digest keeps working: the next start records its
    file's digest, and from then on an edit of that file is noticed.
    """
    latest = load_migrations(backend)[-1].version
    assert await open_store().migrate() == latest
    _query(backend, db_url, f"UPDATE {SCHEMA_TABLE} SET sha256 = ''")
    assert set(_digests(backend, db_url).values()) == {""}
    assert await open_store().migrate() == latest
    assert _digests(backend, db_url) == {m.version: m.sha256 for m in load_migrations(backend)}
    assert _versions(backend, db_url) == list(range(1, latest + 1))


@pytest_twisted.ensureDeferred
async def test_a_new_migration_is_applied_on_the_next_start(  # type: ignore[no-untyped-def]
    open_store, backend: str, db_url: str, tmp_path: Path
) -> None:
    """
    A migration added after the database was migrated is applied and recorded by the next
    migrate(), once; the ones already applied are only checked.
    """
    folder = _copy_migrations(backend, tmp_path)
    latest = load_migrations(backend, folder)[-1].version
    await open_store(migrations_dir=folder).migrate()
    added = folder / f"{latest + 1:04d}_runner_test.sql"
    added.write_text("CREATE TABLE runner_test (x integer NOT NULL);\n", encoding="utf-8")
    s = open_store(migrations_dir=folder)
    assert await s.migrate() == latest + 1
    assert await s.migrate() == latest + 1
    assert _versions(backend, db_url) == list(range(1, latest + 2))
    want = {m.version: m.sha256 for m in load_migrations(backend, folder)}
    assert _digests(backend, db_url) == want
    assert _query(backend, db_url, "SELECT count(*) FROM runner_test") == [(0,)]


#: literals of each backend for rows written straight into a version-1 database
_V1_LITERALS = {
    "sqlite": {"at": "1000000", "digest": "X'00'"},
    "postgresql": {"at": "'1970-01-01T00:00:01Z'", "digest": "'\\x00'::bytea"},
}


@pytest_twisted.ensureDeferred
async def test_0002_upgrades_a_version_1_database_with_data(  # type: ignore[no-untyped-def]
    open_store, backend: str, db_url: str, tmp_path: Path
) -> None:
    """
    Migration 0002 on a database already holding files copies each replica's chunk id from
    its chunk, and leaves every file due for sweeping with no attempt yet.
    """
    folder = _copy_migrations(backend, tmp_path)
    for later in folder.glob("*.sql"):
        if not later.name.startswith("0001_"):
            later.unlink()
    assert await open_store(migrations_dir=folder).migrate() == 1
    lit = _V1_LITERALS[backend]
    file_id, chunk_ids = "00000000-0000-4000-8000-000000000001", ["b" * 32, "a" * 64]
    _query(backend, db_url,
           "INSERT INTO files (id, filename, content_type, checksum_algorithm, chunk_size,"
           f" status, created_at, updated_at) VALUES ('{file_id}', 'f', '', 'sha256', 10,"
           f" 'failed', {lit['at']}, {lit['at']})")
    for index, chunk_id in enumerate(chunk_ids):
        _query(backend, db_url,
               "INSERT INTO chunks (file_id, chunk_index, chunk_id, size, checksum_algorithm,"
               f" checksum) VALUES ('{file_id}', {index}, '{chunk_id}', 10, 'sha256',"
               f" {lit['digest']})")
        for node in ("n1", "n2"):
            _query(backend, db_url,
                   "INSERT INTO chunk_replicas (file_id, chunk_index, node_id, state,"
                   f" updated_at) VALUES ('{file_id}', {index}, '{node}', 'stored', {lit['at']})")

    s = open_store()
    assert await s.migrate() == load_migrations(backend)[-1].version
    on_n2 = await s.node_replicas(node_id="n2", after="", upto=None, limit=10)
    assert [(r.chunk_id, r.index) for r in on_n2] == [("a" * 64, 1), ("b" * 32, 0)]
    (due,) = await s.files_to_sweep(now=datetime.now(UTC), limit=10)
    assert (str(due.file.file_id), due.sweep_attempts) == (file_id, 0)
    assert [c.nodes_with() for c in due.chunks] == [("n1", "n2"), ("n1", "n2")]
    assert await s.set_replica_state_by_chunk(
        chunk_id="b" * 32, node_id="n1", state=ReplicaState.MISSING
    ) == 1


def _migration(version: int, sql: str) -> Migration:
    return Migration(version, f"m{version}", sql, Path(f"/x/{version:04d}_m{version}.sql"))


def test_verify_applied() -> None:
    """
    Matching digests pass, empty ones are returned for adoption, versions not applied are
    ignored, and a changed file is refused by path.
    """
    one, two, three = _migration(1, "a"), _migration(2, "b"), _migration(3, "c")
    assert verify_applied([one, two, three], {1: one.sha256, 2: ""}) == [two]
    with pytest.raises(ConfigurationError, match=r"/x/0002_m2\.sql has changed"):
        verify_applied([one, two], {1: one.sha256, 2: _migration(2, "B").sha256})


def test_run_to_completion_refuses_a_suspending_coroutine() -> None:
    """run_to_completion returns a non-suspending coroutine's value, and refuses one that awaits."""

    async def plain() -> int:
        return 7

    class Suspend:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield None

    async def suspends() -> None:
        await Suspend()

    assert run_to_completion(plain()) == 7
    with pytest.raises(RuntimeError, match="suspended"):
        run_to_completion(suspends())


@pytest_twisted.ensureDeferred
async def test_0003_upgrades_a_version_2_database_with_a_draining_node(  # type: ignore[no-untyped-def]
    open_store, backend: str, db_url: str, tmp_path: Path
) -> None:
    """
    Migration 0003 on a version-2 database: a node whose state was 'draining' becomes admin
    draining (and healthy), counting the replica rows it holds; the other nodes keep their
    health and fields, admin active, no down_since; files are not damaged; the new state
    CHECK refuses 'draining' from then on; the repair queue works on the old chunks.
    """
    folder = _copy_migrations(backend, tmp_path)
    for later in folder.glob("*.sql"):
        if not later.name.startswith(("0001_", "0002_")):
            later.unlink()
    assert await open_store(migrations_dir=folder).migrate() == 2
    lit = _V1_LITERALS[backend]
    file_id = "00000000-0000-4000-8000-000000000002"
    _query(backend, db_url,
           "INSERT INTO files (id, filename, content_type, size, checksum_algorithm, checksum,"
           f" chunk_size, status, created_at, updated_at) VALUES ('{file_id}', 'f', '', 20,"
           f" 'sha256', {lit['digest']}, 10, 'completed', {lit['at']}, {lit['at']})")
    for index, chunk_id in enumerate(["c" * 32, "d" * 32]):
        _query(backend, db_url,
               "INSERT INTO chunks (file_id, chunk_index, chunk_id, size, checksum_algorithm,"
               f" checksum) VALUES ('{file_id}', {index}, '{chunk_id}', 10, 'sha256',"
               f" {lit['digest']})")
        for node in ("drainer", "up"):
            _query(backend, db_url,
                   "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state,"
                   f" updated_at) VALUES ('{file_id}', {index}, '{chunk_id}', '{node}',"
                   f" 'stored', {lit['at']})")
    for node, state in (("drainer", "draining"), ("up", "active"), ("gone", "down")):
        _query(backend, db_url,
               "INSERT INTO storage_nodes (id, address, weight, zone, state, capacity, used,"
               f" last_seen) VALUES ('{node}', '127.0.0.1:1', 2, 'z', '{state}', 100, 5,"
               f" {lit['at']})")

    s = open_store()
    assert await s.migrate() == load_migrations(backend)[-1].version  # 0003 and any later
    seen = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    base = NodeRecord("x", "127.0.0.1:1", 2.0, "z", NodeState.ACTIVE, 100, 5, seen)
    assert list(await s.list_nodes()) == [
        replace(base, node_id="drainer", admin=NodeAdmin.DRAINING, drain_replicas=2),
        replace(base, node_id="gone", state=NodeState.DOWN),
        replace(base, node_id="up"),
    ]
    (record,) = (await s.list_files(page=1, per_page=10)).files
    assert (str(record.file_id), record.damaged) == (file_id, False)
    with pytest.raises((sqlite3.IntegrityError, _psycopg2_errors().CheckViolation)):
        _query(backend, db_url, "UPDATE storage_nodes SET state = 'draining' WHERE id = 'up'")
    tasks = [(record.file_id, 1, RepairReason.DRAINING, 1)]
    assert await s.enqueue_repairs(tasks, now=datetime.now(UTC)) == 1
    await s.update_node_health("gone", state=NodeState.DOWN, now=seen)
    assert (await s.get_node("gone")).down_since == seen


def _psycopg2_errors() -> Any:
    import psycopg2.errors

    return psycopg2.errors


@pytest_twisted.ensureDeferred
async def test_keys_made_before_permissions_become_admin(  # type: ignore[no-untyped-def]
    open_store, backend: str, db_url: str, tmp_path: Path
) -> None:
    """A key created at version 4 (when every key could do everything) is an admin key
    once 0006 is applied; keys created afterwards are user keys unless told."""
    from datetime import UTC, datetime

    from s3node.records import AccessKey

    folder = _copy_migrations(backend, tmp_path)
    for later in sorted(folder.glob("000[5-9]_*.sql")):
        later.rename(tmp_path / later.name)
    assert await open_store(migrations_dir=folder).migrate() == 4
    created = "'2020-01-01T00:00:00+00:00'" if backend != "sqlite" else "0"
    _query(backend, db_url, "INSERT INTO access_keys (id, secret, created_at) VALUES"
                            f" ('S3NODEKEY0000000OLD1', '{'s' * 40}', {created})")
    for later in sorted(tmp_path.glob("000[5-9]_*.sql")):
        later.rename(folder / later.name)
    store = open_store(migrations_dir=folder)
    assert await store.migrate() == load_migrations(backend)[-1].version
    old = await store.get_access_key("S3NODEKEY0000000OLD1")
    assert old.admin and old.grants == ()
    await store.add_access_key(AccessKey("S3NODEKEY0000000NEW1", "n" * 40, datetime.now(UTC)))
    assert not (await store.get_access_key("S3NODEKEY0000000NEW1")).admin
