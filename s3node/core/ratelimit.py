"""
A token bucket: how long a background worker waits before it spends more of
a byte budget.

Pure arithmetic over times the caller passes in (seconds on any clock), so the
waiting itself happens elsewhere, on an injected clock: the storage node's
scrubber (:mod:`s3node.storage.scrubber`) waits with the reactor's
``callLater``, and tests drive it with :class:`twisted.internet.task.Clock`.

The bucket fills at ``rate`` tokens a second up to ``capacity``.  Spending
never waits and may leave the bucket in debt; a caller that spends only once
:meth:`TokenBucket.delay` is 0 spends, over any span of ``T`` seconds, at most
``capacity + rate * T`` plus its single largest spend.  With ``capacity`` 0
nothing is saved up while the worker is idle, so it never bursts.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """
    ``rate`` tokens a second, at most ``capacity`` saved up; starts full at ``now``.

    :raises ValueError: for a ``rate`` that is not positive or a negative ``capacity``.
    """

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        if not rate > 0:
            raise ValueError(f"a token bucket's rate must be positive, not {rate!r}")
        if capacity < 0:
            raise ValueError(f"a token bucket's capacity cannot be negative, not {capacity!r}")
        self.rate = rate
        self.capacity = capacity
        #: tokens in the bucket (negative: debt to be paid off by waiting)
        self.tokens = float(capacity)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def spend(self, amount: float, now: float) -> None:
        """Take ``amount`` tokens at ``now``, going into debt if there are fewer."""
        self._refill(now)
        self.tokens -= amount

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until the bucket is out of debt (0 when it is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
