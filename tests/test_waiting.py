"""The shared waiting helpers (tests/support/waiting.py) themselves, in both coroutine worlds."""

from __future__ import annotations

import asyncio
import threading

import pytest
import pytest_twisted
from support.aio import aio_test
from support.waiting import WaitTimeout, poll_until, turns, wait_until, within
from twisted.internet.defer import Deferred


@pytest_twisted.ensureDeferred
async def test_poll_until_in_a_twisted_coroutine_returns_the_first_true_value():
    """In a Twisted coroutine, poll_until checks plain and async predicates until one is true
    and returns that value."""
    calls = []

    def plain():
        calls.append(1)
        return len(calls) >= 3 and "ready"

    async def deferred_check():
        await Deferred.fromCoroutine(turns())
        return len(calls) >= 4 and "also ready"

    assert await poll_until(plain, what="three calls") == "ready"
    assert await poll_until(lambda: (calls.append(1), deferred_check())[1],
                            what="four calls") == "also ready"


@aio_test
async def test_poll_until_in_an_asyncio_task_returns_the_first_true_value():
    """In an asyncio task, poll_until lets asyncio work run between checks."""
    done = asyncio.Event()
    asyncio.get_running_loop().call_soon(done.set)

    async def is_done():
        await asyncio.sleep(0)
        return done.is_set()

    assert await poll_until(done.is_set, what="the event") is True
    assert await poll_until(is_done, what="the event again") is True


@pytest_twisted.ensureDeferred
async def test_poll_until_names_what_it_waited_for_when_the_bound_is_hit():
    """A predicate that never holds fails the wait with a WaitTimeout (an AssertionError)
    naming what was awaited."""
    with pytest.raises(AssertionError, match="waiting for the impossible") as e:
        await poll_until(lambda: False, what="the impossible", timeout=0.05)
    assert isinstance(e.value, WaitTimeout)


def test_wait_until_wakes_on_the_condition():
    """wait_until with a condition returns as soon as a thread changes the state and notifies."""
    changed = threading.Condition()
    state = []

    def change():
        with changed:
            state.append("set")
            changed.notify_all()

    worker = threading.Thread(target=change)
    worker.start()
    try:
        # interval is far beyond the timeout: only the notification can end the wait in time
        assert wait_until(lambda: state, what="the state", condition=changed,
                          interval=3600) == ["set"]
    finally:
        worker.join()
    with pytest.raises(WaitTimeout, match="never"):
        wait_until(lambda: False, what="never", timeout=0.05)


@pytest_twisted.ensureDeferred
async def test_within_bounds_a_deferred():
    """within returns what a Deferred fires with, or fails naming the event it waited for."""
    from twisted.internet import reactor

    fired: Deferred[str] = Deferred()
    reactor.callLater(0, fired.callback, "fired")  # type: ignore[attr-defined]
    assert await within(fired, what="the callback") == "fired"
    with pytest.raises(WaitTimeout, match="a Deferred nobody fires"):
        await within(Deferred(), what="a Deferred nobody fires", timeout=0.05)


@aio_test
async def test_within_bounds_an_asyncio_event():
    """In an asyncio task, within waits for an asyncio event, or fails naming it."""
    event = asyncio.Event()
    asyncio.get_running_loop().call_soon(event.set)
    assert await within(event.wait(), what="the event") is True
    with pytest.raises(WaitTimeout, match="an event nobody sets"):
        await within(asyncio.Event().wait(), what="an event nobody sets", timeout=0.05)


@aio_test
async def test_turns_counts_loop_iterations():
    """turns(n) lets callbacks scheduled now run, without waiting on the clock."""
    ran = []
    asyncio.get_running_loop().call_soon(ran.append, "soon")
    await turns(1)
    assert ran == ["soon"]
