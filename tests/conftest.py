"""
Fixtures shared by every test directory: the throwaway PostgreSQL cluster,
and treq calls that carry the suite's admin key.

``postgres_cluster`` starts one cluster per test session (skipped without
PostgreSQL binaries, failed instead under ``CI=true``); ``postgres_db``
gives each test a fresh empty database on it and drops it afterwards.
Tests marked ``postgresql`` are deselected when ``S3NODE_TEST_BACKENDS``
excludes PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from support.auth import authenticated_treq
from support.postgres import PostgresCluster, require_postgres, selected_backends


@pytest.fixture(autouse=True)
def _treq_sends_the_admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every gateway the tests start knows the suite's admin key; treq sends it
    (``support.auth``; ``auth=ANONYMOUS`` sends none)."""
    authenticated_treq(monkeypatch)


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


_postgres_tests: set[str] = set()
_postgres_outcomes: Counter[str] = Counter()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect PostgreSQL-only tests when S3NODE_TEST_BACKENDS leaves PostgreSQL out;
    remember the ones that stay, to report what became of them."""
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("postgresql") else keep).append(item)
    if drop and "postgresql" not in selected_backends():
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    else:
        _postgres_tests.update(item.nodeid for item in drop)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the outcome of each PostgreSQL-backed test (a skip or error in setup counts too)."""
    if report.nodeid in _postgres_tests and (report.when == "call" or not report.passed):
        _postgres_outcomes[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many PostgreSQL-backed tests ran, so a report shows that half was exercised."""
    if _postgres_tests:
        o = _postgres_outcomes
        terminalreporter.write_line(
            f"PostgreSQL-backed tests run: {len(_postgres_tests)} selected "
            f"({o['passed']} passed, {o['failed']} failed, {o['skipped']} skipped)"
        )
