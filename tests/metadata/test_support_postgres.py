"""The test-support rules: PostgreSQL is skipped only outside CI, and backends are selectable."""

from __future__ import annotations

import pytest
import support.postgres as pgsupport


def test_missing_postgres_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PostgreSQL binaries a test is skipped with a reason naming what to install."""
    monkeypatch.setattr(pgsupport, "find_bindir", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the 'postgresql' package"):
        pgsupport.require_postgres()


def test_missing_postgres_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CI=true a missing PostgreSQL fails the test instead of skipping it."""
    monkeypatch.setattr(pgsupport, "find_bindir", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        pgsupport.require_postgres()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ("sqlite", "postgresql", "memory")),
        ("sqlite", ("sqlite",)),
        ("postgresql", ("postgresql",)),
        ("memory", ("memory",)),
        ("postgresql, sqlite", ("sqlite", "postgresql")),
        ("memory sqlite", ("sqlite", "memory")),
    ],
)
def test_backend_selection(monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple) -> None:
    """S3NODE_TEST_BACKENDS picks the metadata backends under test; unset means all three."""
    monkeypatch.setenv("S3NODE_TEST_BACKENDS", value)
    assert pgsupport.selected_backends() == expected


def test_unknown_backend_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt backend name is reported rather than silently testing nothing."""
    monkeypatch.setenv("S3NODE_TEST_BACKENDS", "postgres")
    with pytest.raises(ValueError, match="unknown backends"):
        pgsupport.selected_backends()


@pytest.mark.postgresql
def test_cluster_is_removed_after_cleanup() -> None:
    """A cluster's directory and server are gone after cleanup."""
    cluster = pgsupport.PostgresCluster(pgsupport.require_postgres())
    cluster.start()
    pid = cluster.postmaster_pid()
    assert pid is not None and cluster.root.exists()
    cluster.cleanup()
    assert not cluster.root.exists()
    assert not pgsupport._alive(pid)
