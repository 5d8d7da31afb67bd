"""
Per-key asyncio locks that free themselves when nobody holds or awaits them,
and :func:`run_to_end` for the work done under them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["KeyedLocks", "run_to_end"]

log = Logger()
T = TypeVar("T")


class KeyedLocks:
    """
    One :class:`asyncio.Lock` per key, created on demand.

    ``async with locks("key"):`` serialises everything done under the same
    key; the lock is dropped once its last user leaves, so memory follows the
    number of keys in use, not the number ever seen.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def __call__(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


async def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """
    Run ``coro`` to its end even when the caller is cancelled meanwhile (the
    cancellation is raised once it ended).

    For work that changes the disk under a chunk's lock: a cancelled RPC must
    neither release the lock while a worker thread still moves the chunk's
    files nor skip counting what that thread did.
    """
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.done():
            raise
        while not task.done():
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                pass
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.failure("disk work of a cancelled call failed", Failure(error))
        raise
