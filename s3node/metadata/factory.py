"""Open the metadata store a ``--db`` URL names."""

from __future__ import annotations

from typing import Any

from s3node.errors import ConfigurationError
from s3node.interfaces import MetadataStore

__all__ = ["open_metadata_store"]


def open_metadata_store(
    url: str, *, reactor: Any, synchronous: str | None = None, **options: Any
) -> MetadataStore:
    """
    The store for ``url``: ``sqlite:PATH`` (``sqlite::memory:`` for a
    private in-memory SQLite database), ``postgresql://user@host:port/dbname``
    or ``memory:`` (a :class:`~s3node.metadata.memory.MemoryMetadataStore`:
    dicts, no SQL, gone with the process).

    Nothing connects yet: the first operation (normally
    :meth:`~s3node.interfaces.MetadataStore.migrate`) does, and raises
    :class:`~s3node.errors.MetadataUnavailable` if the database does not
    answer.  ``options`` go to the store's constructor (``pool_size`` for
    PostgreSQL, ``max_threads`` or ``threadpool`` for SQLite, ``clock`` for
    every store).  ``synchronous`` (``"full"`` or ``"normal"``) is SQLite's
    ``PRAGMA synchronous``, ``"full"`` when ``None``; the other stores ignore
    it (PostgreSQL's durability is the server's, ``memory:`` has none).

    :raises ConfigurationError: for any other URL
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"the metadata database URL must be text, not {url!r}")
    if url.startswith("sqlite:"):
        from s3node.metadata._sqlite_db import parse_sqlite_url
        from s3node.metadata.sqlite import SQLiteMetadataStore

        if synchronous is not None:
            options["synchronous"] = synchronous
        return SQLiteMetadataStore(parse_sqlite_url(url), reactor=reactor, **options)
    if url.startswith(("postgresql://", "postgres://")):
        from s3node.metadata.postgres import PostgresMetadataStore

        return PostgresMetadataStore(url, reactor=reactor, **options)
    if url.startswith("memory:"):
        if url != "memory:":
            raise ConfigurationError(f"memory: takes nothing after the colon, not {url!r}")
        from s3node.metadata.memory import MemoryMetadataStore

        return MemoryMetadataStore(reactor=reactor, **options)
    scheme = url.partition(":")[0] if ":" in url else url
    raise ConfigurationError(
        f"unsupported metadata database {scheme!r}: use sqlite:PATH, postgresql://... or memory:"
    )
