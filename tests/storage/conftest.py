"""Fixtures for the chunk store tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from s3node.plugins import checksum_algorithms, get_plugin_manager


@pytest.fixture(scope="session")
def algorithms():
    """Every built-in checksum algorithm, by name."""
    return checksum_algorithms(get_plugin_manager(load_entry_points=False))


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """A small worker pool, shut down after the test."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-store")
    yield pool
    pool.shutdown(wait=True)
