#!/usr/bin/env python3
"""
Placement figures: balance, movement and speed of the built-in strategies.

Run ``python3 bench/placement_bench.py [--keys N]``.  Prints, for each
strategy and cluster size, the busiest node's primary share over the mean,
the fraction of keys that move when one node joins (ideal: 1/(N+1)), the
time to prepare a node set and the time of one ``preference_list`` call.
It also prints how the ring's vnode count trades balance for build time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from placement_common import STRATEGIES, Tally, balance, members, ring_shares

from s3node.core.placement import HashRing


def strategy_figures(keys: list[str]) -> None:
    """Balance, movement and call cost per strategy and cluster size."""
    print(f"{'strategy':16} {'nodes':>5} {'max/mean':>9} {'moved':>7} {'ideal':>7} "
          f"{'prepare ms':>10} {'call us':>8}")
    for factory in STRATEGIES.values():
        for count in (6, 20, 100):
            strategy = factory()
            before, after = members(count), members(count + 1)
            t0 = time.perf_counter()
            strategy.preference_list(keys[0], before)
            prepare = time.perf_counter() - t0
            t0 = time.perf_counter()
            old = [strategy.preference_list(k, before)[:1] for k in keys]
            call = (time.perf_counter() - t0) / len(keys)
            tally = Tally(after[-1].node_id)
            for k, primary in zip(keys, old, strict=True):
                tally.add(primary, strategy.preference_list(k, after)[:1])
            worst, _ = balance(tally.before, before)
            print(f"{factory.name:16} {count:>5} {worst:>9.3f} {tally.moved_fraction:>7.4f} "
                  f"{1 / (count + 1):>7.4f} {prepare * 1e3:>10.1f} {call * 1e6:>8.1f}")


def vnode_figures(trials: int) -> None:
    """Exact ring shares (no key sampling) of 6 equal nodes over random node ids."""
    print(f"\n{'vnodes':>6} {'mean max/mean':>14} {'worst of ' + str(trials):>12} {'build ms':>9}")
    for vnodes in (160, 500, 1000, 2000, 4000):
        worst: list[float] = []
        build = 0.0
        for trial in range(trials):
            nodes = members(6, f"n{trial}")
            t0 = time.perf_counter()
            ring = HashRing([(n.node_id, 1.0) for n in nodes], vnodes)
            build += time.perf_counter() - t0
            worst.append(balance(ring_shares(ring, 1), nodes)[0])
        print(f"{vnodes:>6} {statistics.mean(worst):>14.3f} {max(worst):>12.3f} "
              f"{build / trials * 1e3:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args()
    keys = [f"{i:032x}" for i in range(args.keys)]
    strategy_figures(keys)
    vnode_figures(args.trials)


if __name__ == "__main__":
    main()
