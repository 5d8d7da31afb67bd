"""
Bridges between asyncio awaitables (grpc.aio, the storage client) and Twisted.

Under the asyncio reactor a coroutine run by :meth:`Deferred.fromCoroutine`
cannot await an asyncio future directly; :func:`aio` wraps one in a
:class:`~twisted.internet.defer.Deferred`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

__all__ = ["CpuRunner", "aio"]

T = TypeVar("T")

#: runs a CPU-bound function off the reactor thread: ``await cpu(f, *args)``
CpuRunner = Callable[..., "Deferred[Any]"]


def aio(aw: Awaitable[T]) -> Deferred[T]:
    """A Deferred that fires with the result of the asyncio awaitable ``aw``."""
    return Deferred.fromFuture(asyncio.ensure_future(aw))
