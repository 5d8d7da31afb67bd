"""
The numbered SQL migrations in ``sql/<backend>/NNNN_name.sql``, and the one
runner that applies them on every SQL backend.

An installed s3node reads them from the package (``s3node/_sql/<backend>``,
copied there by ``setup.py``'s ``build_py``); a checkout reads ``<repo>/sql``.

:func:`run_migrations` holds the whole procedure, once: take the migration
lock, make sure :data:`SCHEMA_TABLE` exists, read what it records, refuse a
database that a newer s3node migrated or whose applied migrations no longer
match their files (by sha256), then apply the pending ones in order and
record each.  A backend supplies only its dialect, a
:class:`MigrationSession`: run a statement or a script inside the one
transaction the backend opened, and take the lock (PostgreSQL an advisory
lock, so gateways starting together queue; SQLite already holds its write
lock from ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from twisted.logger import Logger

import s3node
from s3node.errors import ConfigurationError

__all__ = [
    "ADVISORY_LOCK_KEY",
    "BACKENDS",
    "SCHEMA_TABLE",
    "Migration",
    "MigrationSession",
    "load_migrations",
    "migrations_root",
    "pending",
    "run_migrations",
    "run_to_completion",
    "sql_dir",
    "verify_applied",
]

log = Logger()
T = TypeVar("T")

#: the table recording applied migrations (one row per version)
SCHEMA_TABLE = "s3node_schema_version"
#: the PostgreSQL advisory lock key held while migrating ("s3nodeMi" as int64)
ADVISORY_LOCK_KEY = int.from_bytes(b"s3nodeMi", "big") & 0x7FFF_FFFF_FFFF_FFFF
BACKENDS = ("postgresql", "sqlite")

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str
    #: where the text was read from (for messages)
    path: Path | None = field(default=None, compare=False)

    @property
    def sha256(self) -> str:
        """The digest of the file's text (recorded beside the version)."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def filename(self) -> str:
        """``NNNN_name.sql``."""
        return f"{self.version:04d}_{self.name}.sql"


def migrations_root() -> Path:
    """
    The folder holding ``postgresql/`` and ``sqlite/``: the packaged copy
    (``s3node/_sql``) when s3node is installed, else the checkout's ``sql/``.
    """
    packaged = importlib.resources.files("s3node") / "_sql"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(s3node.__file__).resolve().parent.parent / "sql"
    if checkout.is_dir():
        return checkout
    raise ConfigurationError(
        f"the SQL migrations are missing: neither {packaged} nor {checkout} exists"
    )


def sql_dir(backend: str) -> Path:
    """The folder of ``backend``'s migrations (see :func:`migrations_root`)."""
    if backend not in BACKENDS:
        raise ConfigurationError(f"no migrations for backend {backend!r}")
    folder = migrations_root() / backend
    if not folder.is_dir():
        raise ConfigurationError(f"the {backend} migrations are missing from {folder}")
    return folder


def load_migrations(backend: str, folder: Path | None = None) -> tuple[Migration, ...]:
    """
    Every migration of ``backend`` in version order.

    The versions must run 1, 2, 3... with no gap or duplicate, so a missing
    file is noticed rather than skipped.
    """
    folder = folder if folder is not None else sql_dir(backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m is None:
            continue
        text = entry.read_text(encoding="utf-8")
        found.append(Migration(int(m.group(1)), m.group(2), text, entry))
    found.sort(key=lambda mig: mig.version)
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise ConfigurationError(
                f"{backend} migrations must be numbered 0001, 0002, ... without gaps; "
                f"expected {expected:04d}, found {mig.version:04d}_{mig.name}.sql"
            )
    if not found:
        raise ConfigurationError(f"no {backend} migrations in {folder}")
    return tuple(found)


def pending(migrations: Iterable[Migration], applied: Iterable[int]) -> list[Migration]:
    """
    The migrations not yet applied, in order.

    A database at a version newer than every known migration was migrated by
    a newer s3node: refuse it rather than run against a schema we do not know.
    """
    migrations = list(migrations)
    applied = set(applied)
    known = {m.version for m in migrations}
    newer = sorted(applied - known)
    if newer:
        raise ConfigurationError(
            f"the metadata database has schema version {newer[-1]}, newer than this "
            f"s3node knows ({max(known)}); upgrade s3node"
        )
    return [m for m in migrations if m.version not in applied]


def verify_applied(
    migrations: Iterable[Migration], recorded: Mapping[int, str | None]
) -> list[Migration]:
    """
    Check the applied migrations against their files; return those to adopt.

    ``recorded`` maps each applied version to the sha256 the database
    recorded for it.  A file whose text no longer has that digest was edited
    after it ran on this database: applying the edit would need a new
    migration, and running on would leave the schema differing from what the
    files say, so it is refused with a :class:`ConfigurationError` naming the
    file.  An applied migration with no digest recorded (an empty value) is
    returned: its file's digest is adopted as it is now.
    """
    adopt: list[Migration] = []
    for mig in migrations:
        if mig.version not in recorded:
            continue
        digest = recorded[mig.version]
        if not digest:
            adopt.append(mig)
        elif digest != mig.sha256:
            raise ConfigurationError(
                f"migration {mig.path or mig.filename} has changed since it was applied to "
                f"this database (sha256 recorded {digest}, the file's now {mig.sha256}); "
                "an applied migration must never be edited: restore the file and put the "
                "change in a new migration"
            )
    return adopt


class MigrationSession(Protocol):
    """
    One SQL dialect, inside the single transaction a migration runs in.

    The backend opens and ends the transaction (committed when
    :func:`run_migrations` returns, rolled back when it raises); the session
    runs statements in it.  Every method is a coroutine function; SQLite's
    blocking driver implements them without ever suspending, and runs
    :func:`run_migrations` with :func:`run_to_completion` on its worker thread.
    """

    #: the backend's folder under ``sql/``
    backend: str
    #: the driver's parameter placeholder (``%s``, ``?``)
    mark: str
    #: the column definitions of :data:`SCHEMA_TABLE` in this dialect
    schema_columns: str

    async def lock(self) -> None:
        """Wait until no other migrator works on this database; held until the transaction ends."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (none for DDL and writes)."""

    async def script(self, sql: str) -> None:
        """Run the statements of one migration file, in order."""


async def run_migrations(session: MigrationSession, migrations: Sequence[Migration]) -> int:
    """
    Bring the database behind ``session`` to the last of ``migrations``; return that version.

    Under the session's lock: create :data:`SCHEMA_TABLE` if missing, read
    the versions and digests it records, refuse a newer database
    (:func:`pending`) or an edited migration (:func:`verify_applied`), record
    the digests of applied migrations that had none, then run each pending
    migration and record it.  A second run finds nothing to do.
    """
    p = session.mark
    await session.lock()
    await session.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} ({session.schema_columns})")
    rows = await session.execute(f"SELECT version, sha256 FROM {SCHEMA_TABLE}")
    recorded: dict[int, str | None] = {int(version): sha for version, sha in rows}
    todo = pending(migrations, recorded)
    for mig in verify_applied(migrations, recorded):
        log.info(
            "recording the sha256 of {backend} migration {file}, applied before digests were",
            backend=session.backend, file=mig.filename,
        )
        await session.execute(
            f"UPDATE {SCHEMA_TABLE} SET sha256 = {p} WHERE version = {p}", (mig.sha256, mig.version)
        )
    for mig in todo:
        log.info("applying {backend} migration {file}", backend=session.backend, file=mig.filename)
        await session.script(mig.sql)
        await session.execute(
            f"INSERT INTO {SCHEMA_TABLE} (version, name, sha256) VALUES ({p}, {p}, {p})",
            (mig.version, mig.name, mig.sha256),
        )
    return max([*recorded, *(mig.version for mig in todo)])


def run_to_completion(coroutine: Coroutine[Any, Any, T]) -> T:
    """
    The result of a coroutine that never suspends, computed on the calling thread.

    For a :class:`MigrationSession` whose methods block instead of awaiting
    (SQLite's, on its worker thread): :func:`run_migrations` over it finishes
    in one step.  A coroutine that does suspend is closed and refused.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a migration step suspended: this session must not await anything")
