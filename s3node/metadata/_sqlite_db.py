"""
SQLite plumbing for :mod:`s3node.metadata.sqlite`: connections, threads,
transactions, error mapping, and the SQLite dialect of the migration runner
(:class:`SQLiteMigrationSession`).

SQLite calls block, so they never run on the reactor thread: each runs in a
small thread pool (one connection per thread, WAL mode, a busy timeout,
foreign keys on) and comes back as a Deferred.  Writes take the write lock up
front (``BEGIN IMMEDIATE``) so a transaction never fails half-way on a lock
upgrade; reads run in a deferred transaction and see one snapshot.

Writes are group-committed: one batch of writes runs at a time, in one
transaction, each write inside its own savepoint (a write that fails is rolled
back alone, as if it had its own transaction), and every write of the batch
learns its result only once the batch's ``COMMIT`` returned, so a write still
reports success only once it is durable (``synchronous=FULL``: one fsync per
batch instead of one per write).  Writes that arrive while a batch commits
form the next batch.  Threads of this process thus never wait on each other
through SQLite's busy handler, which sleeps between retries.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from s3node.errors import ConfigurationError, Conflict, MetadataUnavailable, S3NodeError
from s3node.records import PoolUsage

__all__ = ["SQLiteDatabase", "SQLiteMigrationSession", "parse_sqlite_url"]

T = TypeVar("T")
Connection = sqlite3.Connection

MEMORY = ":memory:"
#: the most writes one group commit holds
MAX_BATCH = 64

#: SQLite primary result codes meaning "the database cannot serve us now":
#: BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB
_UNAVAILABLE = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})


def parse_sqlite_url(url: str) -> str:
    """``sqlite:PATH`` (``sqlite:///abs/path`` too) → the path, or ``:memory:``."""
    if not url.startswith("sqlite:"):
        raise ConfigurationError(f"not a sqlite: URL: {url!r}")
    path = url[len("sqlite:"):]
    path = path.removeprefix("//")
    if not path:
        raise ConfigurationError("sqlite: needs a file path, e.g. sqlite:data/metadata.sqlite3")
    if "\x00" in path:
        raise ConfigurationError("the SQLite path contains a NUL character")
    return path


def split_statements(script: str) -> Iterator[str]:
    """The complete SQL statements of ``script`` (``executescript`` would commit)."""
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            statement = "\n".join(
                line for line in buf.splitlines() if not line.strip().startswith("--")
            ).strip()
            if statement.strip(";").strip():
                yield statement
            buf = ""


class SQLiteDatabase:
    """
    One SQLite database file used from a thread pool.

    :param path: the database file (its folder is created), or ``:memory:``
        (then one thread and one connection, so everyone sees one database)
    :param reactor: where results are delivered
    :param threadpool: a started pool to run on; by default the database
        makes its own (``max_threads`` threads) and stops it on :meth:`close`
    :param synchronous: every connection's ``PRAGMA synchronous`` (``FULL``
        by default: with WAL, ``NORMAL`` lets a power cut undo the last
        commits)
    """

    def __init__(
        self,
        path: str,
        *,
        reactor: Any,
        threadpool: ThreadPool | None = None,
        max_threads: int = 3,
        busy_timeout: float = 10.0,
        synchronous: str = "FULL",
    ) -> None:
        self.path = path
        self._reactor = reactor
        self._busy_timeout = busy_timeout
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(f"not a SQLite synchronous setting: {synchronous!r}")
        self._synchronous = synchronous.upper()
        if path != MEMORY:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigurationError(f"cannot create the folder of {path}: {e}") from None
        else:
            max_threads = 1
        self._own_pool = threadpool is None
        if threadpool is None:
            threadpool = ThreadPool(minthreads=0, maxthreads=max_threads, name="s3node-sqlite")
            threadpool.start()
            self._shutdown = reactor.addSystemEventTrigger("during", "shutdown", threadpool.stop)
        self._pool = threadpool
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        #: writes waiting for the next group commit (reactor thread only)
        self._pending: list[tuple[Callable[[Connection], Any], Deferred[Any]]] = []
        self._writing = False
        self._idle: list[Deferred[None]] = []
        self.closed = False

    # -- connections (worker threads only) -------------------------------------

    def _wal(self, conn: Connection) -> str:
        """
        (pool thread) ``PRAGMA journal_mode = WAL``, tried again for up to the
        busy timeout: while several processes or stores open a new database at
        once, switching it to WAL can answer "database is locked" at once,
        without SQLite's busy handler waiting.
        """
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)  # a pool thread, never the reactor's
            pause = min(pause * 2, 0.1)

    def _connect(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if self.path != MEMORY:
                mode = self._wal(conn)
                if mode.lower() != "wal":
                    raise MetadataUnavailable(f"{self.path} cannot use WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            conn.close()
            raise
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _guard(self, work: Callable[[Connection], T], begin: str) -> T:
        """Run ``work`` in a transaction on this thread's connection."""
        try:
            conn = self._connect()
            conn.execute(begin)
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        except Exception as e:  # noqa: BLE001 - mapped by _translate, delivered to its caller
            raise self._translate(e) from None

    def _translate(self, e: Exception) -> Exception:
        """An s3node error for what a statement raised."""
        if isinstance(e, S3NodeError):
            return e
        if isinstance(e, sqlite3.IntegrityError):
            return Conflict(f"the metadata database refused a change: {e}")
        if isinstance(e, sqlite3.DatabaseError):
            if (getattr(e, "sqlite_errorcode", 0) & 0xFF) in _UNAVAILABLE:
                return MetadataUnavailable(f"the metadata database {self.path} failed: {e}")
            error = S3NodeError(f"metadata query failed: {e}")
            error.__cause__ = e
            return error
        return e

    def _batch(self, works: list[Callable[[Connection], Any]]) -> list[tuple[bool, Any]]:
        """
        (pool thread) Run ``works`` in one write transaction, each in a
        savepoint; ``(True, result)`` or ``(False, error)`` for each.
        """
        try:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
        except Exception as e:  # noqa: BLE001 - mapped by _translate, delivered to its caller
            error = self._translate(e)
            return [(False, error)] * len(works)
        outcomes: list[tuple[bool, Any]] = []
        try:
            for work in works:
                conn.execute("SAVEPOINT write")
                try:
                    outcomes.append((True, work(conn)))
                except Exception as e:  # noqa: BLE001 - mapped by _translate, delivered to its caller
                    conn.execute("ROLLBACK TO write")
                    outcomes.append((False, self._translate(e)))
                conn.execute("RELEASE write")
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if not isinstance(e, Exception):
                raise
            error = self._translate(e)
            return [(False, error)] * len(works)
        return outcomes

    async def _run(self, work: Callable[[Connection], T], begin: str) -> T:
        if self.closed or self._pool.joined:
            raise MetadataUnavailable("the metadata store is closed")
        return await deferToThreadPool(  # type: ignore[no-any-return]
            self._reactor, self._pool, self._guard, work, begin
        )

    async def write(self, work: Callable[[Connection], T]) -> T:
        """
        Run ``work(conn)`` in a write transaction, off the reactor thread; the
        result comes once it is committed (group commit: see the module).
        """
        if self.closed or self._pool.joined:
            raise MetadataUnavailable("the metadata store is closed")
        done: Deferred[T] = Deferred()
        self._pending.append((work, done))
        if not self._writing:
            self._next_batch()
        return await done

    def _next_batch(self) -> None:
        """(reactor) Start a batch of the writes waiting, if any."""
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not batch:
            self._writing = False
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)
            return
        self._writing = True
        ran = deferToThreadPool(self._reactor, self._pool, self._batch, [w for w, _ in batch])

        def deliver(outcomes: list[tuple[bool, Any]]) -> None:
            for (ok, value), (_, done) in zip(outcomes, batch, strict=True):
                if done.called:  # its caller gave up waiting (cancelled)
                    continue
                if ok:
                    done.callback(value)
                else:
                    done.errback(Failure(value))

        def failed(reason: Failure) -> None:
            for _, done in batch:
                if not done.called:
                    done.errback(reason)

        ran.addCallbacks(deliver, failed)
        ran.addBoth(lambda _: self._next_batch())

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in a read transaction (one snapshot), off the reactor thread."""
        return await self._run(work, "BEGIN")

    def usage(self) -> PoolUsage:
        """
        The thread pool's size, busy threads and work waiting, now: waiting for
        a thread, or (a write) for the next group commit.
        """
        pool = self._pool
        return PoolUsage(pool.max, len(pool.working), pool.q.qsize() + len(self._pending))

    # -- closing ------------------------------------------------------------------

    async def close(self) -> None:
        """Wait for running work, then close every connection (and our threads)."""
        if self.closed:
            return
        self.closed = True
        if self._writing:  # let the writes already accepted commit
            idle: Deferred[None] = Deferred()
            self._idle.append(idle)
            await idle
        if self._own_pool and not self._pool.joined:
            self._reactor.removeSystemEventTrigger(self._shutdown)
            await deferToThreadPool(self._reactor, self._pool, lambda: None)
            self._pool.stop()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


class SQLiteMigrationSession:
    """
    The SQLite dialect of :func:`s3node.metadata.migrations.run_migrations`,
    on a worker thread's connection inside a ``BEGIN IMMEDIATE`` transaction.

    Its coroutine methods block and never suspend (see
    :func:`~s3node.metadata.migrations.run_to_completion`).
    """

    backend = "sqlite"
    mark = "?"
    schema_columns = (
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    )

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock(self) -> None:
        """Nothing more to take: ``BEGIN IMMEDIATE`` holds the database's one write lock."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    async def script(self, sql: str) -> None:
        for statement in split_statements(sql):
            self._conn.execute(statement)
