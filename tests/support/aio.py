"""
Running asyncio coroutines as pytest-twisted tests on the asyncio reactor.

A Twisted coroutine cannot await asyncio futures (``run_in_executor``,
``asyncio.Lock``, grpc.aio calls); :func:`aio_test` runs the test body as an
asyncio task instead and hands pytest-twisted a Deferred of it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred

__all__ = ["aio_test", "as_deferred"]


def as_deferred(awaitable: Awaitable[Any]) -> Deferred[Any]:
    """A Deferred of an asyncio awaitable (run as a task on the running loop)."""
    return Deferred.fromFuture(asyncio.ensure_future(awaitable))


def aio_test(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Decorate an ``async def`` test whose body is asyncio code."""

    @functools.wraps(fn)
    async def body(*args: Any, **kwargs: Any) -> Any:
        return await as_deferred(fn(*args, **kwargs))

    return pytest_twisted.ensureDeferred(body)
