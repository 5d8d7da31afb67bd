"""Fixtures for the chunk store and storage node tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import pytest_twisted
from support.chunks import NODE_MAX_CHUNK

from s3node.config import StorageConfig
from s3node.plugins import checksum_algorithms, get_plugin_manager


@pytest.fixture(scope="session")
def algorithms():
    """Every built-in checksum algorithm, by name."""
    return checksum_algorithms(get_plugin_manager(load_entry_points=False))


#: the worker threads of the ``executor`` fixture
WORKERS = 2


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """A small worker pool, shut down after the test."""
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="test-store")
    yield pool
    pool.shutdown(wait=True)


@pytest_twisted.async_yield_fixture
async def node(tmp_path, algorithms):
    """A started storage node on a free loopback port."""
    config = StorageConfig(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "node",
        node_id="node-a",
        max_chunk_size=NODE_MAX_CHUNK,
        fsync=False,
        shutdown_grace=2.0,
    )
    from twisted.internet import reactor

    from s3node.storage.service import StorageNodeService

    service = StorageNodeService(config, reactor, algorithms=algorithms)
    service.startService()
    await service.when_listening()
    yield service
    await service.stopService()


