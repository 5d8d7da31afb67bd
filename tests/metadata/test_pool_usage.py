"""The SQL stores report their pool for the gateway's metrics (``pool_usage``)."""

from __future__ import annotations

import pytest
import pytest_twisted
from support.metadata import upload
from support.waiting import poll_until
from twisted.internet.defer import Deferred, gatherResults

from s3node.records import PoolUsage

# the in-memory store has no pool of connections or threads
pytestmark = pytest.mark.sql_only


@pytest_twisted.ensureDeferred
async def test_pool_usage_at_rest_and_under_load(store) -> None:  # type: ignore[no-untyped-def]
    """
    At rest the pool has its size and nothing in use or waiting; while more
    operations run than it has connections or threads, some of them wait.
    """
    def at_rest() -> PoolUsage | None:
        usage = store.pool_usage()
        return usage if usage.in_use == 0 and usage.waiting == 0 else None

    # the store's own start-up work may still be handing its last thread back
    idle = await poll_until(at_rest, what="the new store's pool at rest")
    assert isinstance(idle, PoolUsage)
    assert idle.size >= 1 and idle.in_use == 0 and idle.waiting == 0
    seen: list[PoolUsage] = []
    work = [Deferred.fromCoroutine(upload(store, chunks=2)) for _ in range(idle.size * 3)]
    seen.append(store.pool_usage())
    await gatherResults(work)
    assert seen[0].in_use + seen[0].waiting >= 1
    # a worker thread hands its result over before it counts as idle again
    await poll_until(lambda: store.pool_usage() == PoolUsage(idle.size, 0, 0),
                     what="the pool back at rest")
