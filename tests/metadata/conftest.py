"""
Fixtures for the metadata store tests, parametrized over the backends that
``S3NODE_TEST_BACKENDS`` selects (SQLite, PostgreSQL and memory by default).

A test module marked ``sql_only`` (``pytestmark = pytest.mark.sql_only``,
with the reason beside it) runs on the SQL backends alone: the in-memory
store has no database another connection could open, no schema and no
migrations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from support.postgres import selected_backends

from s3node.interfaces import MetadataStore
from s3node.metadata import open_metadata_store

BACKEND_PARAMS = [
    pytest.param(b, marks=[pytest.mark.postgresql] if b == "postgresql" else [], id=b)
    for b in selected_backends()
]

OpenStore = Callable[..., MetadataStore]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses a store on every selected backend (SQL ones if ``sql_only``)."""
    if "backend" not in metafunc.fixturenames:
        return
    params = BACKEND_PARAMS
    if metafunc.definition.get_closest_marker("sql_only") is not None:
        params = [p for p in params if p.id != "memory"]
    metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """
    A URL of a fresh, empty metadata database of the backend under test
    (``memory:`` opens a new empty store each time).
    """
    if backend == "sqlite":
        return f"sqlite:{tmp_path / 'data' / 'metadata.sqlite3'}"
    if backend == "memory":
        return "memory:"
    return str(request.getfixturevalue("postgres_db"))


@pytest_twisted.async_yield_fixture
async def open_store(db_url: str) -> AsyncIterator[OpenStore]:
    """Open more stores on the test's database; all are closed afterwards."""
    from twisted.internet import reactor

    opened: list[MetadataStore] = []

    def make(**options: Any) -> MetadataStore:
        store = open_metadata_store(db_url, reactor=reactor, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest_twisted.async_yield_fixture
async def store(open_store: OpenStore) -> AsyncIterator[MetadataStore]:
    """A migrated store on a fresh database."""
    s = open_store()
    await s.migrate()
    yield s
