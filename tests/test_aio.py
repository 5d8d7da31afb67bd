"""``OneBehind``: calls run in order, the caller at most one call ahead; ``run_cpu``."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred

from s3node._aio import INLINE_BYTES, OneBehind, run_cpu


class ManualRunner:
    """A CpuRunner whose calls run only when the test says so."""

    def __init__(self) -> None:
        self.pending: list[tuple[Deferred[Any], Any, tuple[Any, ...]]] = []

    def __call__(self, f: Any, *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.pending.append((d, f, args))
        return d

    def run_next(self) -> None:
        d, f, args = self.pending.pop(0)
        try:
            d.callback(f(*args))
        except Exception as e:  # noqa: BLE001 - handed to the Deferred
            d.errback(e)


@pytest_twisted.ensureDeferred
async def test_a_submit_waits_for_the_call_before_it_and_not_for_its_own() -> None:
    runner, done = ManualRunner(), []
    serial = OneBehind(runner)
    await serial.submit(done.append, 1)  # returns at once: nothing under way
    assert len(runner.pending) == 1 and done == []
    second = Deferred.fromCoroutine(serial.submit(done.append, 2))
    assert not second.called and len(runner.pending) == 1  # waits for the first
    runner.run_next()
    assert second.called and done == [1] and len(runner.pending) == 1
    drained = Deferred.fromCoroutine(serial.drain())
    assert not drained.called
    runner.run_next()
    assert drained.called and done == [1, 2] and runner.pending == []
    await serial.drain()  # nothing under way: returns at once


@pytest_twisted.ensureDeferred
async def test_a_failed_call_raises_from_the_next_submit() -> None:
    runner = ManualRunner()
    serial = OneBehind(runner)
    await serial.submit(lambda: 1 / 0)
    nxt = Deferred.fromCoroutine(serial.submit(print, "never"))
    runner.run_next()
    failure = []
    nxt.addErrback(failure.append)
    assert failure and failure[0].check(ZeroDivisionError)
    assert runner.pending == []


@pytest_twisted.ensureDeferred
async def test_small_work_runs_on_the_calling_thread_and_large_work_on_the_pool() -> None:
    runner = ManualRunner()
    assert await run_cpu(runner, INLINE_BYTES, len, b"abc") == 3  # at once, not on the runner
    assert runner.pending == []
    large = run_cpu(runner, INLINE_BYTES + 1, len, b"abcd")
    assert not large.called and len(runner.pending) == 1
    runner.run_next()
    assert await large == 4
    failed = run_cpu(runner, 0, lambda: 1 / 0)  # an error comes in the Deferred, not raised
    failure: list[Any] = []
    failed.addErrback(failure.append)
    assert failure and failure[0].check(ZeroDivisionError)


@pytest_twisted.ensureDeferred
async def test_a_small_submit_runs_in_order_after_the_call_under_way() -> None:
    runner, done = ManualRunner(), []
    serial = OneBehind(runner)
    await serial.submit(done.append, 1, size=INLINE_BYTES + 1)  # on the pool
    small = Deferred.fromCoroutine(serial.submit(done.append, 2, size=10))
    assert not small.called and done == []  # waits for the large call first
    runner.run_next()
    assert small.called and done == [1, 2] and runner.pending == []  # then ran at once
