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
from twisted.python.failure import Failure

__all__ = ["CpuRunner", "OneBehind", "aio", "shielded"]

T = TypeVar("T")

#: runs a CPU-bound function off the reactor thread: ``await cpu(f, *args)``
CpuRunner = Callable[..., "Deferred[Any]"]


def aio(aw: Awaitable[T]) -> Deferred[T]:
    """A Deferred that fires with the result of the asyncio awaitable ``aw``."""
    return Deferred.fromFuture(asyncio.ensure_future(aw))


def shielded(d: Deferred[T]) -> Deferred[T]:
    """
    A Deferred that fires with ``d``'s result, and whose cancellation does not
    reach ``d``.

    Klein cancels a handler's Deferred when the client's connection drops.  Work
    that must finish anyway (an upload recording the chunks it wrote and marking
    its file failed) runs behind this shield; a result that arrives after the
    shield was cancelled is dropped (the work logs its own errors).
    """
    out: Deferred[T] = Deferred()

    def forward(result: Any) -> None:
        if out.called:
            return
        if isinstance(result, Failure):
            out.errback(result)
        else:
            out.callback(result)
        return

    d.addBoth(forward)
    return out


class OneBehind:
    """
    Calls run on a :data:`CpuRunner` one at a time and in order, the caller
    running at most one call ahead: :meth:`submit` waits for the call before
    it, starts its own and returns without waiting for it.  For a running
    digest fed piece by piece while the next piece is being read.
    """

    def __init__(self, cpu: CpuRunner) -> None:
        self._cpu = cpu
        self._running: Deferred[Any] | None = None

    @property
    def running(self) -> Deferred[Any] | None:
        """The call under way (the last one submitted, until :meth:`drain`)."""
        return self._running

    async def submit(self, f: Callable[..., Any], *args: Any) -> None:
        """Wait for the call under way, then start ``f(*args)`` on the pool."""
        await self.drain()
        self._running = self._cpu(f, *args)

    async def drain(self) -> None:
        """Wait for the call under way, if any (its error is raised)."""
        running, self._running = self._running, None
        if running is not None:
            await running
