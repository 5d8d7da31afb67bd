"""
:class:`Periodic`: a background job run every so many seconds, as a Twisted service.

The gateway's background workers — node health checks, the sweeper, the
reconciler — are each one :class:`Periodic`, a child of the role's service, so
they start and stop with it and in order.  A run is a
:class:`~twisted.internet.task.LoopingCall` tick on the injected clock; a tick
is skipped while the previous run is still going; a failed run is logged and
the next tick tries again; stopping the service waits for the run under way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["Periodic"]

log = Logger()


class Periodic(Service):
    """Call ``job`` every ``interval`` seconds on ``clock``, never two runs at once."""

    def __init__(
        self,
        name: str,
        job: Callable[[], Awaitable[Any]],
        clock: IReactorTime,
        interval: float,
        *,
        now: bool = False,
    ) -> None:
        self.setName(name)
        self._job = job
        self._clock = clock
        self.interval = interval
        self._now = now
        self._loop: LoopingCall | None = None
        self._running: Deferred[None] | None = None

    def startService(self) -> None:
        """Run every ``interval`` seconds, the first time one interval from now (or now)."""
        super().startService()
        self._loop = LoopingCall(self.tick)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=self._now).addErrback(
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

    def stopService(self) -> Deferred[None]:
        """Stop the ticks; fire once the run under way (if any) has ended."""
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        running = self._running
        if running is None:
            return succeed(None)
        done: Deferred[None] = Deferred()
        running.addBoth(lambda _: done.callback(None))
        return done
