"""
:class:`Periodic`: run one background job every so many seconds, one run at a time.

The gateway's background workers (the sweeper, the reconciler) share it: a
:class:`~twisted.internet.task.LoopingCall` on the injected clock whose tick
is skipped while the previous run is still going, which logs (never raises)
a failed run, and whose :meth:`~Periodic.stop` hands back the run under way
so a shutdown can wait for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["Periodic"]

log = Logger()


class Periodic:
    """Call ``job`` every ``interval`` seconds on ``clock``, never two runs at once."""

    def __init__(
        self, name: str, job: Callable[[], Awaitable[Any]], clock: IReactorTime, interval: float
    ) -> None:
        self.name = name
        self._job = job
        self._clock = clock
        self.interval = interval
        self._loop: LoopingCall | None = None
        self._running: Deferred[None] | None = None

    def start(self, *, now: bool = False) -> None:
        """Run every ``interval`` seconds, the first time one interval from now (or now)."""
        self._loop = LoopingCall(self.tick)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=now).addErrback(
            lambda f: log.failure("{name} stopped", f, name=self.name)
        )

    def tick(self) -> Deferred[None]:
        """Start a run unless one is under way; fires when this tick's run ends."""
        if self._running is not None:
            return succeed(None)
        d = Deferred.fromCoroutine(self._run())
        # A run that never waited (a database that fails at once) has ended
        # already, its ``finally`` done: marking it under way now would skip
        # every later tick.
        if not d.called:
            self._running = d
        return d

    async def _run(self) -> None:
        try:
            await self._job()
        except Exception:  # noqa: BLE001 - logged; the next tick tries again
            log.failure("a {name} run failed", Failure(), name=self.name)
        finally:
            self._running = None

    def stop(self) -> Deferred[None] | None:
        """Stop the ticks; return a Deferred for the run under way, if any."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        running = self._running
        if running is None:
            return None
        done: Deferred[None] = Deferred()
        running.addBoth(lambda _: done.callback(None))
        return done
