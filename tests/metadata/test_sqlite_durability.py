"""
Issue 7, finding 5: the SQLite store commits durably (``PRAGMA synchronous =
FULL``) unless told ``normal``, on every connection of its thread pool.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults

from s3node.errors import ConfigurationError
from s3node.metadata import open_metadata_store
from s3node.metadata.sqlite import SQLiteMetadataStore

#: PRAGMA synchronous reads back as a number
_LEVELS = {"normal": 1, "full": 2}


async def _synchronous_levels(store: SQLiteMetadataStore) -> set[int]:
    """The PRAGMA synchronous of the connections that serve several reads and writes at once."""

    def level(conn):  # type: ignore[no-untyped-def]
        return conn.execute("PRAGMA synchronous").fetchone()[0]

    calls = [store._db.read(level) for _ in range(6)] + [store._db.write(level) for _ in range(3)]
    return set(await gatherResults([Deferred.fromCoroutine(c) for c in calls]))


@pytest.mark.parametrize(
    "options, expected",
    [({}, "full"), ({"synchronous": None}, "full"), ({"synchronous": "full"}, "full"),
     ({"synchronous": "normal"}, "normal")],
)
@pytest_twisted.ensureDeferred
async def test_sqlite_synchronous_reads_back(tmp_path: Path, options: dict, expected: str) -> None:
    """Every connection of a SQLite store opened with no option (or full) runs with
    synchronous FULL; with synchronous="normal", NORMAL."""
    store = open_metadata_store(f"sqlite:{tmp_path / 'm.sqlite3'}", reactor=reactor, **options)
    assert isinstance(store, SQLiteMetadataStore)
    try:
        await store.migrate()
        assert await _synchronous_levels(store) == {_LEVELS[expected]}
    finally:
        await store.close()


def test_sqlite_synchronous_refuses_other_values(tmp_path: Path) -> None:
    """An unknown synchronous setting is a ConfigurationError before anything opens."""
    with pytest.raises(ConfigurationError, match="synchronous"):
        open_metadata_store(
            f"sqlite:{tmp_path / 'm.sqlite3'}", reactor=reactor, synchronous="sometimes"
        )
