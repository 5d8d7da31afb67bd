"""
The limits a storage node sets on its callers: how many calls it serves at
once (:class:`CallLimiter`) and how long a request stream may stay silent
(:class:`IdleTimeout`).

Both refuse rather than wait: a call beyond the cap is answered at once with
:class:`NodeBusy` (``RESOURCE_EXHAUSTED``), and a stream that sends nothing
for too long ends with :class:`PutStalled` (``DEADLINE_EXCEEDED``), so nothing
a client does can make the node queue work or hold space without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

from s3node.errors import NodeBusy, PutStalled

__all__ = ["CallLimiter", "Clock", "IdleTimeout"]

T = TypeVar("T")
_END: Any = object()


class _Timer(Protocol):
    def active(self) -> bool: ...

    def cancel(self) -> None: ...

    def reset(self, seconds: float) -> None: ...


class Clock(Protocol):
    """
    What :class:`IdleTimeout` needs of a clock: ``callLater`` and ``seconds``
    of Twisted's ``IReactorTime`` (the reactor, or
    :class:`twisted.internet.task.Clock`).
    """

    def callLater(self, delay: float, fn: Callable[..., Any], /, *args: Any) -> _Timer: ...

    def seconds(self) -> float: ...


class CallLimiter:
    """
    At most ``limit`` holders at once; :meth:`acquire` never waits.

    :param what: names the limit in refusal messages (e.g. the option setting it)
    """

    def __init__(self, limit: int, what: str) -> None:
        if limit < 1:
            raise ValueError(f"a call limit must be at least 1, not {limit}")
        self.limit = limit
        self._what = what
        #: how many slots are held
        self.in_use = 0

    def try_acquire(self) -> bool:
        """Take a slot if one is free; whether it was."""
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def acquire(self, rpc: str) -> None:
        """
        Take a slot.

        :raises NodeBusy: when all ``limit`` are held.
        """
        if not self.try_acquire():
            raise NodeBusy(
                f"{rpc} refused: the node is serving its limit of {self.limit} concurrent "
                f"calls ({self._what}); try again later or another node"
            )

    def release(self) -> None:
        """Give a slot back."""
        assert self.in_use > 0, "release without acquire"
        self.in_use -= 1


class IdleTimeout:
    """
    Reads a stream, failing once ``seconds`` pass without a message.

    Time is measured with ``clock`` (the reactor, or a
    :class:`twisted.internet.task.Clock` in tests), which must run on the
    event loop's thread (Twisted's asyncio reactor does).
    """

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self.seconds = seconds

    async def next(self, it: AsyncIterator[T], what: str) -> T:
        """
        The next item of ``it``.

        :param what: names the stream in the error message
        :raises StopAsyncIteration: at its end.
        :raises PutStalled: when ``seconds`` pass first (the read is cancelled).
        """
        item = await self.wait(_next_or_end(it), what)
        if item is _END:
            raise StopAsyncIteration
        return item

    def stalled(self, what: str) -> PutStalled:
        """The error of a stream ``what`` names that stayed silent too long."""
        return PutStalled(
            f"{what} sent nothing for {self.seconds:g} s (the node's --put-idle-timeout); "
            "the call was cancelled and nothing was kept"
        )

    def timer(self, on_idle: Callable[[], object], seconds: float | None = None) -> _Timer:
        """
        Call ``on_idle`` once ``seconds`` (default :attr:`seconds`) pass,
        unless the timer is ``reset`` or cancelled first; for a stream read off
        the event loop, which checks the progress made when it runs out.
        """
        return self._clock.callLater(self.seconds if seconds is None else seconds, on_idle)

    def now(self) -> float:
        """The clock's time; any thread may ask (a progress mark for :meth:`timer`)."""
        return float(self._clock.seconds())

    async def wait(self, awaitable: Awaitable[T], what: str) -> T:
        """
        The result of ``awaitable``.

        :param what: names what is awaited, in the error message
        :raises PutStalled: when ``seconds`` pass first (``awaitable`` is cancelled).
        """
        read = asyncio.ensure_future(awaitable)
        timer = self._clock.callLater(self.seconds, read.cancel)
        try:
            return await read
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if timer.active() or (current is not None and current.cancelling()):
                raise  # cancelled from outside (client gone, shutdown), maybe as the timer fired
            raise self.stalled(what) from None
        finally:
            if timer.active():
                timer.cancel()


async def _next_or_end(it: AsyncIterator[T]) -> T:
    # A task cannot end with StopAsyncIteration as its exception; return a sentinel.
    try:
        return await anext(it)
    except StopAsyncIteration:
        return _END  # type: ignore[no-any-return]
