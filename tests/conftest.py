"""
Fixtures shared by every test directory: the throwaway PostgreSQL cluster.

``postgres_cluster`` starts one cluster per test session (skipped without
PostgreSQL binaries, failed instead under ``CI=true``); ``postgres_db``
gives each test a fresh empty database on it and drops it afterwards.
Tests marked ``postgresql`` are deselected when ``S3NODE_TEST_BACKENDS``
excludes PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from support.postgres import PostgresCluster, require_postgres, selected_backends


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One running throwaway PostgreSQL cluster for the whole session."""
    cluster = PostgresCluster(require_postgres())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def postgres_db(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The ``postgresql://`` URL of a fresh, empty database, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_cluster.create_database(name)
    try:
        yield url
    finally:
        postgres_cluster.drop_database(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect PostgreSQL-only tests when S3NODE_TEST_BACKENDS leaves PostgreSQL out."""
    if "postgresql" in selected_backends():
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("postgresql") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
