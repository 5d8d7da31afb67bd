"""Failure behaviour: a database that goes away, comes back, is locked or is misconfigured."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import pytest_twisted
from support.postgres import PostgresCluster, require_postgres
from support.waiting import poll_until
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.python.threadpool import ThreadPool

from s3node.errors import ConfigurationError, MetadataUnavailable
from s3node.metadata import open_metadata_store
from s3node.metadata.migrations import ADVISORY_LOCK_KEY, load_migrations

reactor: object = _reactor


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster this test may kill and restart."""
    cluster = PostgresCluster(require_postgres())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.mark.postgresql
@pytest_twisted.ensureDeferred
async def test_postgres_killed_and_restarted(own_cluster: PostgresCluster) -> None:
    """
    With the server killed, calls fail with MetadataUnavailable; after a restart the same store
    works again.
    """
    url = own_cluster.create_database("meta")
    store = open_metadata_store(url, reactor=reactor, pool_size=3, retry_max=0.5)
    try:
        await store.migrate()
        before = await store.create_file(
            filename="kept", content_type="", checksum_algorithm="sha256", chunk_size=1
        )
        own_cluster.kill()

        async def failing() -> bool:
            try:
                await store.ping()
            except MetadataUnavailable as e:
                assert "does not answer" in e.message
                return True
            return False

        await poll_until(failing, what="calls to fail", timeout=5, interval=0.05)
        for call in (
            store.get_file(before.file_id),
            store.create_file(filename="x", content_type="", checksum_algorithm="a", chunk_size=1),
            store.list_files(page=1, per_page=10),
        ):
            with pytest.raises(MetadataUnavailable):
                await call

        own_cluster.start()

        async def working() -> bool:
            try:
                await store.ping()
            except MetadataUnavailable:
                return False
            return True

        started = time.monotonic()
        await poll_until(working, what="the store to work again", timeout=10, interval=0.05)
        assert time.monotonic() - started < 10
        # every pooled connection came back, not just one
        async def all_back() -> bool:
            try:
                await gatherResults([Deferred.fromCoroutine(store.ping()) for _ in range(9)])
            except Exception:  # noqa: BLE001 - FirstError wrapping MetadataUnavailable
                return False
            return True

        await poll_until(all_back, what="every pooled connection", timeout=10, interval=0.05)
        assert await store.get_file(before.file_id) == before
        assert (await store.list_files(page=1, per_page=10)).total == 1
    finally:
        await store.close()


@pytest.mark.postgresql
@pytest_twisted.ensureDeferred
async def test_postgres_down_at_start_then_up(own_cluster: PostgresCluster) -> None:
    """
    A store opened while the server is down raises MetadataUnavailable, then works once it is up.
    """
    url = own_cluster.create_database("meta")
    own_cluster.stop()
    store = open_metadata_store(url, reactor=reactor, pool_size=2, retry_max=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(MetadataUnavailable, match="does not answer"):
            await store.migrate()
        assert time.monotonic() - started < 5
        with pytest.raises(MetadataUnavailable):
            await store.ping()
        own_cluster.start()

        async def migrated() -> bool:
            try:
                return await store.migrate() == load_migrations("postgresql")[-1].version
            except MetadataUnavailable:
                return False

        await poll_until(migrated, what="a migration once the server is up", timeout=10,
                         interval=0.05)
    finally:
        await store.close()


@pytest.mark.postgresql
@pytest_twisted.ensureDeferred
async def test_migrate_waits_for_the_advisory_lock(postgres_db: str) -> None:
    """migrate() waits while another session holds the migration advisory lock."""
    holder = psycopg2.connect(postgres_db)
    holder.autocommit = True
    store = open_metadata_store(postgres_db, reactor=reactor)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        d = Deferred.fromCoroutine(store.migrate())

        def migrate_waits() -> bool:
            with holder.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
                    (ADVISORY_LOCK_KEY >> 32, ADVISORY_LOCK_KEY & 0xFFFF_FFFF),
                )
                return bool(cur.fetchone()[0])

        await poll_until(migrate_waits, what="migrate() to wait for the advisory lock",
                         interval=0.05)
        assert not d.called
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        assert await d == load_migrations("postgresql")[-1].version
    finally:
        holder.close()
        await store.close()


@pytest_twisted.ensureDeferred
async def test_postgres_nothing_listening() -> None:
    """
    A PostgreSQL URL where nothing listens gives MetadataUnavailable naming the server, promptly.
    """
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_metadata_store(f"postgresql://u@127.0.0.1:{port}/db", reactor=reactor)
    try:
        started = time.monotonic()
        with pytest.raises(MetadataUnavailable, match=f"127.0.0.1:{port}/db"):
            await store.ping()
        assert time.monotonic() - started < 5
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_sqlite_lock_does_not_block_the_reactor(tmp_path: Path) -> None:
    """
    While another process holds SQLite's lock the reactor keeps running, and the write then
    succeeds.
    """
    path = tmp_path / "m.sqlite3"
    threads = ThreadPool(minthreads=0, maxthreads=1, name="test-sqlite")
    threads.start()
    store = open_metadata_store(
        f"sqlite:{path}", reactor=reactor, busy_timeout=5.0, threadpool=threads
    )
    try:
        await store.migrate()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        write = Deferred.fromCoroutine(store.create_file(
            filename="late", content_type="", checksum_algorithm="sha256", chunk_size=1
        ))
        # This poll runs on the reactor while the worker thread waits for the lock.
        await poll_until(lambda: threads.working, what="the write to reach its worker thread")
        assert not write.called
        other.execute("ROLLBACK")
        record = await write
        other.close()
        assert (await store.get_file(record.file_id)).filename == "late"
    finally:
        await store.close()
        threads.stop()


@pytest_twisted.ensureDeferred
async def test_sqlite_locked_too_long_is_unavailable(tmp_path: Path) -> None:
    """
    A lock held past the busy timeout gives MetadataUnavailable, and the store works once it is
    released.
    """
    path = tmp_path / "m.sqlite3"
    store = open_metadata_store(f"sqlite:{path}", reactor=reactor, busy_timeout=0.2)
    try:
        await store.migrate()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(MetadataUnavailable, match="locked"):
            await store.create_file(
                filename="x", content_type="", checksum_algorithm="sha256", chunk_size=1
            )
        other.execute("ROLLBACK")
        other.close()
        assert (await store.list_files(page=1, per_page=5)).total == 0
        await store.create_file(
            filename="y", content_type="", checksum_algorithm="sha256", chunk_size=1
        )
        assert (await store.list_files(page=1, per_page=5)).total == 1
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_sqlite_uses_wal(tmp_path: Path) -> None:
    """The SQLite database is in WAL mode with foreign keys enforced."""
    path = tmp_path / "m.sqlite3"
    store = open_metadata_store(f"sqlite:{path}", reactor=reactor)
    try:
        await store.migrate()
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_sqlite_memory_database() -> None:
    """sqlite::memory: gives a private working in-memory store."""
    store = open_metadata_store("sqlite::memory:", reactor=reactor)
    try:
        assert await store.migrate() == load_migrations("sqlite")[-1].version
        await store.create_file(filename="m", content_type="", checksum_algorithm="a", chunk_size=1)
        assert (await store.list_files(page=1, per_page=5)).total == 1
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    """Calls on a closed store raise MetadataUnavailable; closing twice is harmless."""
    store = open_metadata_store(f"sqlite:{tmp_path / 'm.db'}", reactor=reactor)
    await store.migrate()
    await store.close()
    await store.close()
    with pytest.raises(MetadataUnavailable, match="closed"):
        await store.get_file(uuid.uuid4())


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x/y",
        "sqlite:",
        "",
        "postgresql://",
        "postgresql://host:notaport/db",
        "file:///tmp/x",
    ],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    """Unsupported or malformed database URLs raise ConfigurationError at once."""
    with pytest.raises(ConfigurationError):
        open_metadata_store(url, reactor=reactor)


def test_sqlite_folder_that_cannot_exist(tmp_path: Path) -> None:
    """A SQLite path below a regular file raises ConfigurationError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError):
        open_metadata_store(f"sqlite:{blocker / 'sub' / 'm.db'}", reactor=reactor)


@pytest.mark.postgresql
@pytest_twisted.ensureDeferred
async def test_terminated_backends_reconnect(postgres_db: str) -> None:
    """Connections whose backends an administrator terminates reconnect by themselves."""
    store = open_metadata_store(postgres_db, reactor=reactor, pool_size=3, retry_max=0.3)
    admin = psycopg2.connect(postgres_db)
    admin.autocommit = True

    def backends() -> list[int]:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 's3node'"
                " AND datname = current_database()"
            )
            return [row[0] for row in cur.fetchall()]

    try:
        await store.migrate()
        before = backends()
        assert len(before) == 3, before
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (before,))

        async def recovered() -> bool:
            now = backends()
            return len(now) == 3 and not set(now) & set(before)

        await poll_until(recovered, what="three new backends", timeout=10, interval=0.05)
        results = await gatherResults([Deferred.fromCoroutine(store.ping()) for _ in range(6)])
        assert results == [None] * 6
    finally:
        admin.close()
        await store.close()
