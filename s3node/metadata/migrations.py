"""
The numbered SQL migrations in ``sql/<backend>/NNNN_name.sql``.

An installed s3node reads them from the package (``s3node/_sql/<backend>``,
copied there by ``setup.py``'s ``build_py``); a checkout reads ``<repo>/sql``.
Each backend applies the pending ones in order, in one transaction that also
records them in :data:`SCHEMA_TABLE`; PostgreSQL holds an advisory lock for
that transaction, SQLite a ``BEGIN IMMEDIATE`` write lock, so two migrators
never race and applying twice changes nothing.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import s3node
from s3node.errors import ConfigurationError

__all__ = [
    "ADVISORY_LOCK_KEY",
    "BACKENDS",
    "SCHEMA_TABLE",
    "Migration",
    "load_migrations",
    "migrations_root",
    "pending",
    "sql_dir",
]

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

    @property
    def sha256(self) -> str:
        """The digest of the file's text (recorded beside the version)."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


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
        found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
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
