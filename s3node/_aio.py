"""
Bridges between asyncio awaitables (grpc.aio, the storage client) and Twisted.

Under the asyncio reactor a coroutine run by :meth:`Deferred.fromCoroutine`
cannot await an asyncio future directly; :func:`aio` wraps one in a
:class:`~twisted.internet.defer.Deferred`.  :func:`run_cpu` hands CPU work to
the pool unless it is too small to be worth the trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure

__all__ = ["INLINE_BYTES", "CpuRunner", "OneBehind", "aio", "run_cpu", "shielded"]

T = TypeVar("T")

#: runs a CPU-bound function off the reactor thread: ``await cpu(f, *args)``
CpuRunner = Callable[..., "Deferred[Any]"]

#: the most bytes hashed on the calling thread instead of on the pool: a trip to
#: the pool and back costs 50-100 µs of CPU here, more than SHA-256 spends on
#: 64 KiB (about 37 µs), and blocks the reactor no longer (bench/trips_bench.py)
INLINE_BYTES = 64 * 1024


def run_cpu(cpu: CpuRunner, size: int, f: Callable[..., T], *args: Any) -> Deferred[T]:
    """
    ``f(*args)``, working on ``size`` bytes: on ``cpu``'s pool, or on this
    thread when ``size`` is at most :data:`INLINE_BYTES`; either way a
    Deferred with its result or its error.
    """
    if size <= INLINE_BYTES:
        return maybeDeferred(f, *args)
    d: Deferred[T] = cpu(f, *args)
    return d


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

    async def submit(self, f: Callable[..., Any], *args: Any, size: int | None = None) -> None:
        """
        Wait for the call under way, then start ``f(*args)`` on the pool; a
        call on ``size`` bytes runs on this thread when :func:`run_cpu` says so.
        """
        await self.drain()
        self._running = self._cpu(f, *args) if size is None else run_cpu(self._cpu, size, f, *args)

    async def drain(self) -> None:
        """Wait for the call under way, if any (its error is raised)."""
        running, self._running = self._running, None
        if running is not None:
            await running
