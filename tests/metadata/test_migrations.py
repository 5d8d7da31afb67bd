"""Migrations: located, validated, applied once, and safe against concurrent migrators."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from s3node.errors import ConfigurationError
from s3node.metadata._sqlite_db import split_statements
from s3node.metadata.migrations import (
    SCHEMA_TABLE,
    load_migrations,
    migrations_root,
    pending,
    sql_dir,
)

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
    query = f"SELECT version FROM {SCHEMA_TABLE} ORDER BY version"
    if backend == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:"))
        try:
            return [row[0] for row in conn.execute(query)]
        finally:
            conn.close()
    import psycopg2

    pg = psycopg2.connect(url)
    try:
        with pg.cursor() as cur:
            cur.execute(query)
            return [row[0] for row in cur.fetchall()]
    finally:
        pg.close()
