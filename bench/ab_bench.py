"""
Two s3node trees measured interleaved: both standalones run at once, and each
round measures one, then the other, in alternating order (A B, B A, A B...).

On a shared 2-core machine the drift between two runs a few minutes apart (the
host's other jobs, the file system's recently freed inodes, the page cache) is
often larger than the change being measured: in one run of ``vs_swift.py`` a
tree could look 10-25% slower on big GETs in every repeat, and the same two
trees interleaved here came out the other way round (docs/performance.md).
Here both servers see the same drift, and each round is a pair.

For every round and tree (standalone, fsync on, ``--replicas``):

- ``small``: 16 clients PUT 100 objects of 4 KiB each, then GET them;
- ``mid``: 8 clients PUT 16 objects of 4 MiB each, then GET them;
- ``big``: one 1 GiB PUT, then its GET.

It prints each round's figures, then per figure the medians and in how many
rounds B did better than A::

    git clone -q . /tmp/base && git -C /tmp/base checkout -q HEAD~1
    python3 bench/ab_bench.py --a /tmp/base --b . --rounds 4
    python3 bench/ab_bench.py --a /tmp/base --b . --phases small --rounds 6
    python3 bench/ab_bench.py --a . --a-arg=--no-bulk --b . --phases big,mid

Everything it starts is stopped, and its temp folder removed, at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sbs_client import pattern_digest
from sbs_servers import S3nodeServer
from sbs_system import ProcessTree, median
from vs_swift import Phases, _worker_init

MiB = 1024 * 1024
#: phase: (clients, objects per client, object size); ``big`` is one stream
PHASES = {"small": (16, 100, 4096), "mid": (8, 16, 4 * MiB), "big": (1, 1, 1024 * MiB)}
#: figures where less is better
LOWER_IS_BETTER = ("cpu", "p50", "p99", "ttfb")


def measure(phase: str, phases: Phases) -> dict:
    """One phase on one server: its figures, named ``PHASE_put_...``, ``PHASE_get_...``."""
    clients, ops, size = PHASES[phase]
    figures: dict = {}
    if phase == "big":
        phases.transfer("big", 1, size, figures)
        return figures
    phases.small(clients, ops, size, figures)
    out = {}
    for key, value in figures.items():  # small_put_ops, small_get_p50_ms...
        name = phase + key.removeprefix("small")
        out[name] = value
        if name.endswith("_ops") and size >= MiB:
            out[name.removesuffix("_ops") + "_MBps"] = value * size / 1e6
    return out


def better(key: str, a: float, b: float) -> bool:
    """Whether ``b`` is better than ``a`` for figure ``key``."""
    return b < a if any(word in key for word in LOWER_IS_BETTER) else b > a


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True, help="the first tree (e.g. the base)")
    p.add_argument("--b", required=True, help="the second tree (e.g. the change)")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--phases", default="small,mid,big", help=f"of {','.join(PHASES)}")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--dir", default=None, help="where data goes (default: a temp folder)")
    p.add_argument("--a-arg", action="append", default=[], dest="a_args",
                   help="an extra standalone option for A (repeat; e.g. --a-arg=--no-bulk)")
    p.add_argument("--b-arg", action="append", default=[], dest="b_args",
                   help="an extra standalone option for B (repeat)")
    args = p.parse_args(argv)
    args.phase_list = args.phases.split(",")
    unknown = set(args.phase_list) - set(PHASES)
    if unknown:
        p.error(f"unknown phases {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="ab-bench-", dir=args.dir))
    sizes = {PHASES[p][2] for p in args.phase_list}
    digests = {s: {"md5": pattern_digest(s, "md5"), "sha256": pattern_digest(s, "sha256")}
               for s in sizes}
    pool = multiprocessing.get_context("fork").Pool(
        max(PHASES[p][0] for p in args.phase_list), initializer=_worker_init)
    servers: dict[str, S3nodeServer] = {}
    rounds: dict[str, list[dict]] = {"A": [], "B": []}
    try:
        runners = {}
        for label, source, extra in (("A", args.a, args.a_args), ("B", args.b, args.b_args)):
            server = S3nodeServer(base, args.replicas, extra, Path(source).resolve(), label)
            servers[label] = server
            target, roots = server.start()
            runners[label] = Phases(pool, target, ProcessTree(roots), digests)
        for n in range(args.rounds):
            order = ("A", "B") if n % 2 == 0 else ("B", "A")
            figures: dict[str, dict] = {label: {} for label in order}
            for phase in args.phase_list:
                for label in order:
                    figures[label].update(measure(phase, runners[label]))
            for label in ("A", "B"):
                rounds[label].append(figures[label])
                shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(figures[label].items()))
                print(f"# round {n + 1} {label}: {shown}", flush=True)
    finally:
        for server in servers.values():
            server.close()
        pool.terminate()
        shutil.rmtree(base, ignore_errors=True)
    print(f"A = {args.a}, B = {args.b}; medians of {args.rounds} interleaved rounds")
    print(f"{'figure':<24}{'A':>10}{'B':>10}{'B/A':>8}  B better in")
    for key in sorted(rounds["A"][0]):
        a = median(r[key] for r in rounds["A"])
        b = median(r[key] for r in rounds["B"])
        wins = sum(better(key, ra[key], rb[key]) for ra, rb in zip(rounds["A"], rounds["B"]))
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{key:<24}{a:>10.2f}{b:>10.2f}{ratio:>8}  {wins} of {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
