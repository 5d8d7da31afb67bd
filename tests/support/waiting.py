"""
Waiting in tests without racing the clock: the one place tests wait.

A test waits for an *event* fired by what it waits for whenever there is one
(a Deferred, an :class:`asyncio.Event`, a log line), bounded by :func:`within`.
Where nothing fires, it polls a predicate with :func:`poll_until` (a
coroutine) or :func:`wait_until` (blocking, for threads and processes).  A
test that checks something does *not* happen first waits for the state in
which it would have happened, then checks; :func:`turns` lets the event loop
run a few more times, counted, not timed.

Every bound here is a safety net for a hang, never part of what a test checks:
a test must pass however slow the machine is, short of the bound.  When the
bound is hit, :class:`WaitTimeout` (an :class:`AssertionError`) says what was
awaited.

The coroutines work both in a Twisted coroutine (``pytest_twisted.ensureDeferred``
tests, which await Deferreds) and in an asyncio task (``support.aio.aio_test``
tests, which await asyncio futures); they tell the two apart by
:func:`asyncio.current_task`.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["DEFAULT_TIMEOUT", "WaitTimeout", "poll_until", "turns", "wait_until", "within"]

T = TypeVar("T")

#: seconds before a wait gives up: far beyond any healthy wait on a loaded machine
DEFAULT_TIMEOUT = 30.0


class WaitTimeout(AssertionError):
    """What a test waited for did not happen within the bound."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"timed out after {timeout:g} s waiting for {what}")
        self.what = what
        self.timeout = timeout


def _in_asyncio_task() -> bool:
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no running asyncio loop: another reactor
        return False


def _pause(seconds: float) -> Awaitable[Any]:
    """Sleep without blocking, in whichever world the caller awaits in."""
    if _in_asyncio_task():
        return asyncio.sleep(seconds)
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds, lambda: None)  # type: ignore[arg-type]


async def poll_until(
    predicate: Callable[[], Any],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.01,
) -> Any:
    """
    Check ``predicate()`` (a plain or an ``async`` callable) until it is true,
    letting the event loop run ``interval`` seconds between checks.

    :returns: the predicate's first true value
    :raises WaitTimeout: naming ``what`` when ``timeout`` seconds pass first
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout)
        await _pause(interval)


def wait_until(
    predicate: Callable[[], T],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.01,
    condition: threading.Condition | None = None,
) -> T:
    """
    Block until ``predicate()`` is true: the variant for plain threads and processes.

    With ``condition`` (held while the predicate runs) it waits on it between
    checks, so a thread that calls ``notify_all`` after a change wakes it at
    once; ``interval`` then only bounds how long a change that notifies
    nobody (a process exiting) goes unseen.

    :returns: the predicate's first true value
    :raises WaitTimeout: naming ``what`` when ``timeout`` seconds pass first
    """
    deadline = time.monotonic() + timeout
    if condition is not None:
        condition.acquire()
    try:
        while True:
            result = predicate()
            if result:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(what, timeout)
            if condition is not None:
                condition.wait(min(left, interval))
            else:
                time.sleep(min(left, interval))
    finally:
        if condition is not None:
            condition.release()


async def within(awaitable: Awaitable[T], *, what: str, timeout: float = DEFAULT_TIMEOUT) -> T:
    """
    Await an event (``asyncio.Event().wait()``, a Deferred, a coroutine) for at
    most ``timeout`` seconds.

    In a Twisted coroutine ``awaitable`` is a Deferred or a coroutine that
    awaits Deferreds; in an asyncio task, anything asyncio can await.

    :raises WaitTimeout: naming ``what`` when ``timeout`` seconds pass first
        (the awaitable is cancelled)
    """
    if _in_asyncio_task():
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except TimeoutError:
            raise WaitTimeout(what, timeout) from None
    from twisted.internet import reactor
    from twisted.internet.defer import TimeoutError as TwistedTimeout
    from twisted.internet.defer import ensureDeferred

    d = ensureDeferred(awaitable)
    d.addTimeout(timeout, reactor)
    try:
        return await d
    except TwistedTimeout:
        raise WaitTimeout(what, timeout) from None


async def turns(count: int = 1) -> None:
    """
    Let the event loop run ``count`` more times (no clock involved).

    For the last step of a check that something does not happen: once the
    test waited for the state in which it would happen, the loop gets a few
    more chances to make it happen.  ``turns(1)`` in an asyncio task is
    ``asyncio.sleep(0)``.
    """
    for _ in range(count):
        await _pause(0)
