"""Per-key locks serialise work on one key and free themselves afterwards."""

from __future__ import annotations

import asyncio

from support.aio import aio_test

from s3node.storage.locks import KeyedLocks


@aio_test
async def test_same_key_serialises_other_keys_do_not():
    """Work under one key never overlaps; work under different keys may."""
    locks = KeyedLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    both = []

    async def work(key):
        async with locks(key):
            inside[key] += 1
            peak[key] = max(peak[key], inside[key])
            both.append(inside["a"] and inside["b"])
            await asyncio.sleep(0)  # yield: the other workers run while this one holds its key
            inside[key] -= 1

    await asyncio.gather(*(work(k) for k in "abababab"))
    assert peak == {"a": 1, "b": 1}
    assert any(both)  # a and b did overlap
    assert len(locks) == 0  # every lock was dropped


@aio_test
async def test_lock_is_released_on_error():
    """An exception inside the block releases the key."""
    locks = KeyedLocks()
    try:
        async with locks("k"):
            raise ValueError("boom")
    except ValueError:
        pass
    async with locks("k"):
        assert len(locks) == 1
    assert len(locks) == 0
