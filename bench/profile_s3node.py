"""
Profile ``twistd s3node standalone`` with py-spy during one kind of transfer.

Starts standalone (fsync on, ``--replicas`` as given), then for each of
``put`` (one ``--size`` upload), ``get`` (its download) and ``small``
(``--clients`` clients storing 4 KiB objects) records the process with
``py-spy record --threads -f raw`` for exactly the transfer, and prints per
thread its share of the samples and the functions that took most of them
(inclusive, and the leaf frames).  Needs py-spy (``pip install py-spy``) and
the right to attach (root).

    python3 bench/profile_s3node.py --size 1GiB --out /tmp/prof
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sbs_client import Connection, Target, get_object, pattern_digest, put_object
from sbs_servers import S3nodeServer

from s3node.config import parse_size


def summarize(raw: Path, top: int = 12) -> str:
    """Per thread: its samples, and the heaviest functions inclusive and as leaves."""
    threads: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    leaves: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    totals: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        n = int(count)
        totals[thread] += n
        for name in {f.split(" (")[0] for f in frames}:
            threads[thread][name] += n
        if frames:
            leaves[thread][frames[-1].split(" (")[0]] += n
    all_samples = sum(totals.values()) or 1
    out = []
    for thread, n in totals.most_common(6):
        out.append(f"== {thread}: {n} samples ({100 * n / all_samples:.0f}% of all)")
        out.append("   inclusive: " + ", ".join(
            f"{name} {100 * c / n:.0f}%" for name, c in threads[thread].most_common(top)))
        out.append("   leaves:    " + ", ".join(
            f"{name} {100 * c / n:.0f}%" for name, c in leaves[thread].most_common(top)))
    return "\n".join(out)


def _small(target: Target, count: int, digests: dict) -> None:
    conn = Connection(target)
    for i in range(count):
        put_object(conn, f"small-{i}", 4096, digests)
    conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1GiB")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--ops", type=int, default=50)
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    p.add_argument("--out", default=None, help="folder for the raw profiles")
    p.add_argument("--s3node-arg", action="append", default=[], dest="s3node_args")
    p.add_argument("--phases", default="put,get,small",
                   help="comma-separated: put, get, small (get needs put)")
    p.add_argument("--subprocesses", action="store_true",
                   help="also sample the node processes standalone starts")
    args = p.parse_args()
    size = parse_size(args.size)
    out = Path(args.out or tempfile.mkdtemp(prefix="profile-"))
    out.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="profile-data-"))
    server = S3nodeServer(base, args.replicas, args.s3node_args)
    digests = {s: {"md5": pattern_digest(s, "md5"), "sha256": pattern_digest(s, "sha256")}
               for s in (size, 4096)}
    try:
        target, (pid,) = server.start()
        conn = Connection(target)
        ref: dict = {}

        def put() -> None:
            ref.update(put_object(conn, "big", size, digests[size]))

        def get() -> None:
            get_object(conn, ref["ref"], size)

        def small() -> None:
            with multiprocessing.get_context("fork").Pool(args.clients) as pool:
                pool.starmap(_small, [(target, args.ops, digests[4096])] * args.clients)

        phases = args.phases.split(",")
        extra = ["--subprocesses"] if args.subprocesses else []
        for name, work in (("put", put), ("get", get), ("small", small)):
            if name not in phases:
                continue
            raw = out / f"{name}.txt"
            spy = subprocess.Popen([args.py_spy, "record", "-p", str(pid), "--threads", "-f",
                                    "raw", "-r", "200", "--nonblocking", "-o", str(raw), *extra],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                work()
            finally:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            print(f"### {name} ({raw})\n{summarize(raw)}\n", flush=True)
        conn.close()
    finally:
        server.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
