"""Tests for :mod:`s3node.core.ratelimit`."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3node.core.ratelimit import TokenBucket


def _run(rate: float, capacity: float, steps: list[tuple[int, float]]) -> list[tuple[float, int]]:
    """Spend each amount once the bucket is out of debt, idling ``gap`` seconds first."""
    now = 0.0
    bucket = TokenBucket(rate, capacity, now)
    spent = []
    for amount, gap in steps:
        now += gap
        now += bucket.delay(now)
        spent.append((now, amount))
        bucket.spend(amount, now)
    return spent


@given(
    rate=st.floats(min_value=1.0, max_value=1e9),
    capacity=st.sampled_from([0.0, 1.0, 4096.0, 1e6]),
    steps=st.lists(
        st.tuples(st.integers(0, 10**7), st.sampled_from([0.0, 0.0, 0.001, 0.5, 3.0])),
        min_size=1,
        max_size=60,
    ),
)
def test_spending_stays_within_rate_plus_capacity_plus_one_spend(rate, capacity, steps):
    """A caller that spends only when the bucket is out of debt spends, in any span of T
    seconds, at most capacity + rate x T plus its largest single spend."""
    spent = _run(rate, capacity, steps)
    largest = max(amount for _, amount in spent)
    for i, (start, _) in enumerate(spent):
        total = 0
        for at, amount in spent[i:]:
            total += amount
            bound = capacity + rate * (at - start) + largest
            assert total <= bound * (1 + 1e-9) + 1e-6


def test_debt_is_paid_off_at_the_rate():
    """Spending 3 MiB from an empty bucket at 1 MiB/s means waiting 3 s, then none."""
    mib = 1024 * 1024
    bucket = TokenBucket(mib, 0, now=10.0)
    assert bucket.delay(10.0) == 0
    bucket.spend(3 * mib, 10.0)
    assert bucket.delay(10.0) == pytest.approx(3.0)
    assert bucket.delay(12.0) == pytest.approx(1.0)
    assert bucket.delay(13.0) == 0


def test_idle_time_saves_up_at_most_the_capacity():
    """An idle bucket fills to its capacity and no further, so a burst after idling is bounded."""
    bucket = TokenBucket(100, 250, now=0.0)
    bucket.spend(250, 0.0)
    bucket.spend(1000, 1000.0)  # 1000 s idle saved only 250
    assert bucket.delay(1000.0) == pytest.approx(7.5)


@pytest.mark.parametrize("rate, capacity", [(0, 0), (-1, 0), (1, -1)])
def test_nonsense_settings_are_refused(rate, capacity):
    """A rate that is not positive or a negative capacity is a ValueError."""
    with pytest.raises(ValueError, match="token bucket"):
        TokenBucket(rate, capacity, 0.0)
