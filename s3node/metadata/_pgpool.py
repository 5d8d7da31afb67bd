"""
A txpostgres connection pool that survives database restarts.

Each pooled :class:`txpostgres.txpostgres.Connection` carries its own
:class:`~txpostgres.reconnection.DeadConnectionDetector`.  When a connection
dies (the server restarted, a backend was killed, the network broke) the
detector marks it dead and reconnects in the background with a short capped
backoff; until then every query on it fails at once.  Every failure that
means "the database does not answer" becomes
:class:`~s3node.errors.MetadataUnavailable` here, and nowhere else.

:class:`PostgresMigrationSession` is the PostgreSQL dialect of the migration
runner (:mod:`s3node.metadata.migrations`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg2
import psycopg2.errorcodes
import psycopg2.extensions
from twisted.internet.defer import Deferred, DeferredLock, gatherResults
from twisted.internet.error import ConnectionLost
from twisted.logger import Logger
from twisted.python.failure import Failure
from txpostgres import txpostgres
from txpostgres.reconnection import ConnectionDead, DeadConnectionDetector

from s3node.errors import ConfigurationError, Conflict, MetadataUnavailable, S3NodeError
from s3node.metadata.migrations import ADVISORY_LOCK_KEY
from s3node.records import PoolUsage

__all__ = ["Cursor", "PostgresMigrationSession", "ReconnectingPool", "parse_postgres_url"]

log = Logger()
T = TypeVar("T")
#: the cursor an interaction receives (txpostgres forwards the psycopg2 API)
Cursor = Any

#: transaction conflicts PostgreSQL asks us to retry
_RETRY_CODES = frozenset({"40001", "40P01"})
_MAX_ATTEMPTS = 4


def parse_postgres_url(url: str) -> dict[str, str]:
    """
    ``postgresql://user[:password]@host:port/dbname[?param=value]`` as
    libpq keyword arguments, with s3node's connection defaults added.
    """
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigurationError(f"not a postgresql:// URL: {url.split('@')[-1]!r}")
    try:
        params = psycopg2.extensions.parse_dsn(url)
    except psycopg2.Error as e:
        raise ConfigurationError(f"invalid PostgreSQL URL: {str(e).strip()}") from None
    if not params.get("dbname"):
        raise ConfigurationError("the PostgreSQL URL must name a database: postgresql://HOST/DBNAME")
    for port in params.get("port", "5432").split(","):
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(f"invalid port {port!r} in the PostgreSQL URL")
    params.setdefault("connect_timeout", "10")
    params.setdefault("application_name", "s3node")
    # Notice a silently dead peer within about 25 s instead of hours.
    params.setdefault("keepalives", "1")
    params.setdefault("keepalives_idle", "10")
    params.setdefault("keepalives_interval", "5")
    params.setdefault("keepalives_count", "3")
    params["options"] = (params.get("options", "") + " -c timezone=UTC").strip()
    return params


def describe(params: dict[str, str]) -> str:
    """``host:port/dbname`` (never the password) for messages."""
    return f"{params.get('host', 'localhost')}:{params.get('port', '5432')}/{params['dbname']}"


def is_connection_failure(f: Failure | BaseException) -> bool:
    """Does this error mean the database (or our connection to it) is gone?"""
    exc = f.value if isinstance(f, Failure) else f
    if isinstance(
        exc, (ConnectionDead, ConnectionLost, psycopg2.InterfaceError, txpostgres.RollbackFailed)
    ):
        return True
    if isinstance(exc, psycopg2.OperationalError):
        code = exc.pgcode or ""
        # No code: libpq's own error (refused, reset, closed).  08: connection
        # exception; 57P: operator intervention (shutdown, crash, restart).
        return code == "" or code.startswith(("08", "57P"))
    return False


class _Detector(DeadConnectionDetector):
    """Reconnects one connection with a capped backoff it can stop."""

    def __init__(self, pool: ReconnectingPool, reactor: Any) -> None:
        super().__init__(deathChecker=self._is_dead, reactor=reactor)
        self._pool = pool
        self._delay = 0.0
        self._call: Any = None
        self.connection: txpostgres.Connection | None = None

    def _is_dead(self, f: Failure) -> bool:
        if self._pool.closed:
            return False
        conn = self.connection
        gone = conn is None or conn._connection is None or conn._connection.closed
        return bool(gone) or is_connection_failure(f)

    def startReconnecting(self, f: Failure) -> None:
        log.warn(  # noqa: G010 - twisted.logger.Logger spells it warn
            "metadata database connection lost ({error}); reconnecting",
            error=str(f.value).strip() or f.type.__name__,
        )
        self._delay = 0.0
        self._attempt()

    def _attempt(self) -> None:
        self._call = None
        if self._pool.closed:
            return
        d = Deferred.fromCoroutine(self._reconnect_once())
        d.addCallbacks(lambda _: self._recovered(), self._again)

    async def _reconnect_once(self) -> None:
        await self.reconnect()

    def _recovered(self) -> None:
        if self._pool.closed:  # reconnected while the pool was closing
            if self.connection is not None:
                self.connection.close()
            return
        log.info("metadata database connection re-established")
        self.connectionRecovered()

    def _again(self, f: Failure) -> None:
        if self._pool.closed:
            return
        self._delay = min(max(self._delay * 2, self._pool.retry_initial), self._pool.retry_max)
        self._call = self.reactor.callLater(self._delay, self._attempt)

    def stop(self) -> None:
        """Stop reconnecting (the pool is closing)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None


class _Connection(txpostgres.Connection):
    """A txpostgres connection that reports a dropped server without a traceback."""

    def doRead(self) -> Exception | None:
        try:
            super().doRead()
        except psycopg2.Error as e:
            # The server went away while we were idle: tell the reactor the
            # connection is lost (our detector then reconnects) instead of
            # letting it log the error as unhandled.
            return ConnectionLost(str(e).strip())
        return None


class _Pool(txpostgres.ConnectionPool):
    """A txpostgres pool whose connections reconnect."""

    def __init__(self, owner: ReconnectingPool, reactor: Any, size: int, params: dict) -> None:
        self._owner = owner
        self.reactor = reactor
        super().__init__(None, min=size, **params)

    def connectionFactory(self, reactor: Any, cooperator: Any) -> txpostgres.Connection:
        detector = _Detector(self._owner, reactor)
        conn = _Connection(reactor=reactor, cooperator=cooperator, detector=detector)
        detector.connection = conn
        return conn

    def _pick(self) -> txpostgres.Connection:
        """Take a live connection when there is one, so a half-recovered pool still serves."""
        for conn in self.connections:
            if not conn.detector.connectionIsDead:
                self.connections.remove(conn)
                return conn
        return self.connections.pop()

    # txpostgres's versions take any connection (set.pop()); these prefer live ones.
    def _runQuery(self, *args: Any, **kwargs: Any) -> Deferred:
        c = self._pick()
        return c.runQuery(*args, **kwargs).addBoth(self._putBackAndPassthrough, c)

    def _runOperation(self, *args: Any, **kwargs: Any) -> Deferred:
        c = self._pick()
        return c.runOperation(*args, **kwargs).addBoth(self._putBackAndPassthrough, c)

    def _runInteraction(self, interaction: Any, *args: Any, **kwargs: Any) -> Deferred:
        c = self._pick()
        d = c.runInteraction(interaction, *args, **kwargs)
        return d.addBoth(self._putBackAndPassthrough, c)


class ReconnectingPool:
    """
    A fixed-size pool of reconnecting txpostgres connections, opened on first
    use; methods raise :class:`MetadataUnavailable` when the database does not
    answer and work again once it does, with no new pool.
    """

    def __init__(
        self,
        url: str,
        *,
        reactor: Any,
        size: int = 5,
        retry_initial: float = 0.2,
        retry_max: float = 2.0,
    ) -> None:
        self.params = parse_postgres_url(url)
        self.where = describe(self.params)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.closed = False
        self._reactor = reactor
        self._pool = _Pool(self, reactor, size, self.params)
        self._started = False
        self._start_lock = DeferredLock()

    async def _ensure_started(self) -> None:
        if self._started:
            return
        async with self._start_lock:
            if self._started or self.closed:
                return
            attempts = []
            for conn in self._pool.connections:
                d = conn.connect(**self.params)
                # a connection that cannot connect now keeps trying in the background
                d.addErrback(conn.detector.checkForDeadConnection)
                d.addErrback(lambda f: f.value)
                attempts.append(d)
            outcomes = await gatherResults(attempts)
            self._started = True
            if self.closed:  # closed while connecting: release what just opened
                self.close()
                raise MetadataUnavailable("the metadata store is closed")
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            if len(errors) == len(outcomes):
                raise self._unavailable(errors[0])

    def _unavailable(self, exc: BaseException) -> MetadataUnavailable:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, ConnectionDead):
            text = "connection lost, reconnecting"
        return MetadataUnavailable(f"the metadata database at {self.where} does not answer: {text}")

    async def _call(
        self, method: Callable[..., Deferred], *args: Any, expect: tuple[type[BaseException], ...] = ()
    ) -> Any:
        if self.closed:
            raise MetadataUnavailable("the metadata store is closed")
        await self._ensure_started()
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                return await method(*args)
            except S3NodeError:
                raise
            except expect:
                raise
            except psycopg2.Error as e:
                if is_connection_failure(e):
                    raise self._unavailable(e) from None
                if e.pgcode in _RETRY_CODES and attempt < _MAX_ATTEMPTS:
                    log.info("retrying a transaction after {code}", code=e.pgcode)
                    continue
                text = (e.pgerror or str(e)).strip()
                if isinstance(e, psycopg2.IntegrityError):
                    raise Conflict(f"the metadata database refused a change: {text}") from e
                raise S3NodeError(f"metadata query failed: {text}") from e
            except (ConnectionDead, ConnectionLost, txpostgres.RollbackFailed) as e:
                raise self._unavailable(e) from None
        raise AssertionError("unreachable")

    async def query(
        self, sql: str, params: tuple | dict = (), *, expect: tuple[type[BaseException], ...] = ()
    ) -> list[tuple]:
        """
        Run one statement in its own transaction; return its rows.  Database
        errors listed in ``expect`` reach the caller as they are; the others
        become s3node errors.
        """
        return await self._call(  # type: ignore[no-any-return]
            self._pool.runQuery, sql, params, expect=expect
        )

    async def execute(
        self, sql: str, params: tuple | dict = (), *, expect: tuple[type[BaseException], ...] = ()
    ) -> None:
        """Run one statement that returns no rows, in its own transaction (see :meth:`query`)."""
        await self._call(self._pool.runOperation, sql, params, expect=expect)

    async def interaction(self, work: Callable[[Cursor], Awaitable[T]]) -> T:
        """
        Run ``await work(cursor)`` in one transaction: committed when it
        returns, rolled back when it raises.  A serialization failure or
        deadlock runs it again (up to a few times).
        """

        def run(cursor: Cursor) -> Deferred:
            return Deferred.fromCoroutine(work(cursor))  # type: ignore[arg-type]

        return await self._call(self._pool.runInteraction, run)  # type: ignore[no-any-return]

    def usage(self) -> PoolUsage:
        """The pool's size, connections running an operation and operations waiting, now."""
        semaphore = self._pool._semaphore  # txpostgres hands connections out through it
        return PoolUsage(semaphore.limit, semaphore.limit - semaphore.tokens,
                         len(semaphore.waiting))

    def close(self) -> None:
        """Close every connection and stop reconnecting."""
        self.closed = True
        for conn in list(self._pool.connections):
            conn.detector.stop()
            if conn._connection is not None:
                try:
                    conn.close()
                except (psycopg2.Error, OSError, ValueError) as e:
                    log.debug("closing a broken connection: {error}", error=e)


async def fetch(cursor: Cursor, sql: str, params: tuple | dict | None = ()) -> list[tuple]:
    """
    Execute on an interaction's cursor and return every row (``params=None``:
    the statement is sent as it is, ``%`` signs and all).
    """
    await cursor.execute(sql, params)
    if cursor.description is None:
        return []
    return cursor.fetchall()  # type: ignore[no-any-return]


def u(file_id: uuid.UUID) -> str:
    """A UUID as the text PostgreSQL casts with ``::uuid``."""
    return str(file_id)


class PostgresMigrationSession:
    """
    The PostgreSQL dialect of :func:`s3node.metadata.migrations.run_migrations`,
    on the cursor of one :meth:`ReconnectingPool.interaction`.
    """

    backend = "postgresql"
    mark = "%s"
    schema_columns = (
        "version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now()"
    )

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    async def lock(self) -> None:
        """
        ``pg_advisory_xact_lock``: gateways starting together against one
        database queue here, and the later ones find nothing left to do.
        """
        await self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await fetch(self._cursor, sql, tuple(params) or None)

    async def script(self, sql: str) -> None:
        await self._cursor.execute(sql)
