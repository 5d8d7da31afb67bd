"""
s3node and OpenStack Swift side by side, with the machine's ceilings, in one run.

For every repeat: the ceilings (``dd conv=fdatasync`` on the folder the data
goes to, one loopback TCP stream, sha256/crc32c per core), then for each server
in turn (Swift with one replica and fsync on, from ``peers/swift/``; s3node
standalone at replicas 1 and 2, fsync on) a fresh start and these phases:

- ``1 GiB`` single-stream PUT, then GET of it (MB/s, GET time to first byte);
- ``8 x 128 MiB`` concurrent PUT, then GET (aggregate MB/s);
- ``4 KiB`` objects from 16 clients, PUT then GET (ops/s, p50/p99 latency);
- server CPU seconds per GB of the single-stream and concurrent phases, and
  peak RSS, both summed over every server process (s3node: ``twistd`` and its
  children; Swift: proxy/object/container/account servers, their workers,
  memcached), read from ``/proc``.

Clients run in their own processes (forked once, before any server starts),
speak raw HTTP/1.1 with 1 MiB sends and ``recv_into`` (``sbs_client.py``), and
use the same code for both servers.  Figures are medians over ``--repeat``
runs; the report ends with each "Done when" ratio of issue 8.

    python3 bench/vs_swift.py --out results.json               # full sizes, 1 repeat
    python3 bench/vs_swift.py --repeat 3 --out results.json    # what issue 8 asks
    python3 bench/vs_swift.py --quick                          # small sizes, a smoke run
    python3 bench/vs_swift.py --servers s3node-r1 --header 'X-Trace: bench'

Each server starts on a settled file system: the data of the one before is
removed, written out (``sync``) and ``--settle`` seconds (65) pass before
the next starts.  On ext4 without a journal (this kind of machine's root file
system) the inode allocator passes over every inode freed in the last 60
seconds, reading its deletion time for each new file; right after the last
server's thousands of files were removed, s3node's two files per chunk paid
for that (docs/performance.md, "A settled file system for each server").

s3node's requests carry the admin key each standalone saves in its data dir on
its first start (an ``Authorization`` given with ``--header`` replaces it).

Everything it starts is stopped, and its temp folder removed, on success,
failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sbs_client import (
    Connection,
    Target,
    get_object,
    parse_header,
    pattern_digest,
    put_object,
)
from sbs_report import markdown, report
from sbs_servers import ROOT, S3nodeServer, SwiftServer
from sbs_system import (
    ProcessTree,
    RssSampler,
    dd_rate,
    hash_rate,
    loopback_rate,
    median,
    percentile,
)

from s3node.config import parse_size

MiB = 1024 * 1024


# -- client workers (run in the forked pool) -------------------------------------------

def _wait_until(start_at: float) -> None:
    while (left := start_at - time.time()) > 0:
        time.sleep(min(left, 0.05))


def _timed_on_one_connection(target: Target, start_at: float,
                             calls: list[Callable[[Connection], dict]]) -> list[dict]:
    """Make ``calls`` one after the other on one connection, from ``start_at`` (wall
    clock); each result gets its ``start`` and ``end`` times."""
    _wait_until(start_at)
    conn = Connection(target)
    try:
        out = []
        for call in calls:
            result = call(conn)
            result["start"] = time.time() - result["seconds"]
            result["end"] = time.time()
            out.append(result)
        return out
    finally:
        conn.close()


def put_many(target: Target, names: list[str], size: int, digests: dict[str, str],
             start_at: float) -> list[dict]:
    """PUT ``names`` one after the other on one connection, from ``start_at`` (wall clock)."""
    return _timed_on_one_connection(target, start_at, [
        functools.partial(put_object, name=name, size=size, digests=digests) for name in names])


def get_many(target: Target, refs: list[str], size: int, start_at: float) -> list[dict]:
    """GET ``refs`` one after the other on one connection, from ``start_at``."""
    return _timed_on_one_connection(target, start_at, [
        functools.partial(get_object, ref=ref, size=size) for ref in refs])


# -- phases ----------------------------------------------------------------------------

class Phases:
    """Runs the phases against one started server, measuring its process tree."""

    def __init__(self, pool: multiprocessing.pool.Pool, target: Target, tree: ProcessTree,
                 digests: dict[int, dict[str, str]]) -> None:
        self.pool = pool
        self.target = target
        self.tree = tree
        self.digests = digests

    def _parallel(self, fn: object, jobs: list[tuple]) -> tuple[list[list[dict]], float, float]:
        """
        Run ``jobs`` at once; return their results, wall seconds and server CPU
        seconds.  Dirty pages left by what ran before (the last phase, the
        previous server's data being removed, ``dd``) are written out first,
        so that their writeback does not land on this phase's clock.
        """
        os.sync()
        start_at = time.time() + 0.3
        cpu0 = self.tree.cpu_seconds()
        results = self.pool.starmap(fn, [(*job, start_at) for job in jobs])  # type: ignore[arg-type]
        cpu1 = self.tree.cpu_seconds()
        flat = [r for rs in results for r in rs]
        wall = max(r["end"] for r in flat) - min(r["start"] for r in flat)
        return results, wall, cpu1 - cpu0

    def transfer(self, label: str, streams: int, size: int, figures: dict) -> None:
        """``streams`` objects of ``size`` at once: PUT, then GET them."""
        names = [[f"{label}-{i}-{time.time_ns()}"] for i in range(streams)]
        digests = self.digests[size]
        results, wall, cpu = self._parallel(
            put_many, [(self.target, n, size, digests) for n in names])
        total = streams * size
        figures[f"{label}_put_MBps"] = total / wall / 1e6
        figures[f"{label}_put_cpu_s_per_GB"] = cpu / (total / 1e9)
        refs = [[r["ref"] for r in rs] for rs in results]
        results, wall, cpu = self._parallel(get_many, [(self.target, r, size) for r in refs])
        figures[f"{label}_get_MBps"] = total / wall / 1e6
        figures[f"{label}_get_cpu_s_per_GB"] = cpu / (total / 1e9)
        figures[f"{label}_get_ttfb_ms"] = 1000 * median(
            r["ttfb"] for rs in results for r in rs)

    def small(self, clients: int, ops: int, size: int, figures: dict) -> None:
        """``clients`` connections each PUT ``ops`` objects of ``size``, then GET them."""
        stamp = time.time_ns()
        names = [[f"small-{c}-{i}-{stamp}" for i in range(ops)] for c in range(clients)]
        digests = self.digests[size]
        results, wall, cpu = self._parallel(
            put_many, [(self.target, n, size, digests) for n in names])
        flat = [r for rs in results for r in rs]
        figures["small_put_ops"] = len(flat) / wall
        figures["small_put_cpu_ms_per_op"] = 1000 * cpu / len(flat)
        figures["small_put_p50_ms"] = 1000 * percentile([r["seconds"] for r in flat], 50)
        figures["small_put_p99_ms"] = 1000 * percentile([r["seconds"] for r in flat], 99)
        refs = [[r["ref"] for r in rs] for rs in results]
        results, wall, cpu = self._parallel(get_many, [(self.target, r, size) for r in refs])
        flat = [r for rs in results for r in rs]
        figures["small_get_ops"] = len(flat) / wall
        figures["small_get_cpu_ms_per_op"] = 1000 * cpu / len(flat)
        figures["small_get_p50_ms"] = 1000 * percentile([r["seconds"] for r in flat], 50)
        figures["small_get_p99_ms"] = 1000 * percentile([r["seconds"] for r in flat], 99)
        figures["small_get_ttfb_p50_ms"] = 1000 * percentile([r["ttfb"] for r in flat], 50)


def run_server(server: SwiftServer | S3nodeServer, pool: multiprocessing.pool.Pool,
               args: argparse.Namespace, digests: dict[int, dict[str, str]]) -> dict:
    """Start ``server``, run every phase, stop it; return its figures."""
    figures: dict = {}
    try:
        target, roots = server.start(tuple(args.headers))
        tree = ProcessTree(roots)
        figures["idle_rss_MiB"] = tree.rss_bytes() / MiB
        figures["processes"] = len(tree.pids())
        phases = Phases(pool, target, tree, digests)
        with RssSampler(tree) as sampler:
            if "big" in args.phases:
                phases.transfer("big", 1, args.big, figures)
            if "conc" in args.phases:
                phases.transfer("conc", args.streams, args.stream_size, figures)
            if "small" in args.phases:
                phases.small(args.clients, args.ops, args.small_size, figures)
            if args.rss_check:
                figures["peak_rss_before_check_MiB"] = max(sampler.peak,
                                                           tree.rss_bytes()) / MiB
                phases.transfer("check", 1, args.rss_check, figures)
        figures["peak_rss_MiB"] = sampler.peak / MiB
        figures["hwm_sum_MiB"] = tree.hwm_bytes() / MiB
        figures["hwm_by_process_MiB"] = [(name, round(hwm / MiB, 1))
                                         for name, hwm in tree.hwm_by_process()]
    finally:
        server.stop()
    return figures


def settle(removed_at: float, seconds: float) -> None:
    """
    Write out what is dirty, then wait until ``seconds`` have passed since
    ``removed_at`` (``time.monotonic()``), when the last server's data was
    removed: the inodes it freed no longer slow the next server's creates.
    """
    os.sync()
    left = removed_at + seconds - time.monotonic()
    if left > 0:
        time.sleep(left)


def ceilings(base: Path, args: argparse.Namespace) -> dict:
    """The machine's ceilings, measured now."""
    out = {"dd_MBps": dd_rate(base, args.dd_size) / 1e6,
           "loopback_MBps": loopback_rate(args.loopback_size) / 1e6,
           "sha256_MBps": hash_rate("sha256", 512 * MiB) / 1e6}
    try:
        out["crc32c_MBps"] = hash_rate("crc32c", 2048 * MiB) / 1e6
    except ImportError:
        pass
    return out


def _swift_scripts() -> Path:
    """``shared/peers/swift`` beside the checkout, or beside a folder above it (a worktree)."""
    for folder in ROOT.parents:
        if (folder / "shared/peers/swift/setup.sh").exists():
            return folder / "shared/peers/swift"
    return ROOT.parent / "shared/peers/swift"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", default="swift,s3node-r1,s3node-r2",
                   help="comma-separated: swift, s3node-rN (N replicas; this checkout), "
                   "s3node-rN@LABEL (the checkout --source LABEL=DIR names), "
                   "s3node-rN+NAME (with the arguments --variant NAME=ARGS gives)")
    p.add_argument("--source", action="append", default=[], dest="source_specs",
                   help="LABEL=DIR: another s3node checkout to compare (e.g. before=/tmp/main)")
    p.add_argument("--variant", action="append", default=[], dest="variant_specs",
                   help="NAME=ARGS: s3node-rN+NAME runs with these extra arguments "
                   "(e.g. crc='--chunk-checksum crc32c')")
    p.add_argument("--phases", default="big,conc,small",
                   help="which phases run: big (single stream), conc (concurrent), small")
    p.add_argument("--repeat", type=int, default=1, help="runs; figures are medians")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (128 MiB, 4 x 16 MiB, 16 x 20 ops) for a smoke run")
    p.add_argument("--big", default="1GiB", help="the single-stream object size")
    p.add_argument("--streams", type=int, default=8, help="concurrent streams")
    p.add_argument("--stream-size", default="128MiB", help="object size of each stream")
    p.add_argument("--clients", type=int, default=16, help="small-object clients")
    p.add_argument("--ops", type=int, default=100, help="small objects per client")
    p.add_argument("--small-size", default="4KiB")
    p.add_argument("--rss-check", default="", help="one more PUT/GET of this size "
                   "(e.g. 4GiB), to see peak RSS stay flat")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds between removing a server's data and starting the next "
                   "(after a sync; 0: none; default 65, with --quick 0)")
    p.add_argument("--dd-size", default="1GiB")
    p.add_argument("--loopback-size", default="4GiB")
    p.add_argument("--s3node-arg", action="append", default=[], dest="s3node_args",
                   help="extra argument for 'twistd s3node standalone' (repeat it)")
    p.add_argument("--header", action="append", default=[], dest="header_lines",
                   help="'Name: value' sent with every s3node request (its own "
                   "'Authorization' replaces the admin key's)")
    p.add_argument("--swift-scripts", default=str(_swift_scripts()),
                   help="folder of Swift's setup.sh/start.sh/stop.sh (default: the first "
                   "shared/peers/swift beside this checkout or a folder above it)")
    p.add_argument("--dir", default=None, help="where data goes (default: the temp folder)")
    p.add_argument("--out", default=None, help="write every figure as JSON here")
    p.add_argument("--markdown", action="store_true", help="also print the table in Markdown")
    p.add_argument("--report", default=None,
                   help="print the report of an earlier --out JSON file (runs nothing)")
    args = p.parse_args(argv)
    if args.settle is None:
        args.settle = 0.0 if args.quick else 65.0
    if args.quick:
        args.big, args.stream_size, args.streams, args.ops = "128MiB", "16MiB", 4, 20
        args.dd_size, args.loopback_size = "256MiB", "1GiB"
    for name in ("big", "stream_size", "small_size", "dd_size", "loopback_size"):
        setattr(args, name, parse_size(getattr(args, name)))
    args.rss_check = parse_size(args.rss_check) if args.rss_check else 0
    args.headers = [parse_header(line) for line in args.header_lines]
    args.sources = dict(spec.split("=", 1) for spec in args.source_specs)
    args.variants = dict(spec.split("=", 1) for spec in args.variant_specs)
    return args


def _servers(names: list[str], base: Path, args: argparse.Namespace) -> list:
    out = []
    for name in names:
        if name == "swift":
            scripts = Path(args.swift_scripts)
            out.append(SwiftServer(base, scripts))
        elif name.startswith("s3node-r"):
            spec, _, variant = name.removeprefix("s3node-r").partition("+")
            replicas, _, label = spec.partition("@")
            source = Path(args.sources[label]) if label else None
            extra = args.s3node_args + (shlex.split(args.variants[variant]) if variant else [])
            server = S3nodeServer(base, int(replicas), extra, source, label)
            server.name = name
            out.append(server)
        else:
            raise SystemExit(f"unknown server {name!r}")
    return out


def _worker_init() -> None:
    """A client worker leaves signals to the run: SIGINT ignored, SIGTERM ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        medians = saved["medians"]
        text, _ = report(medians, argparse.Namespace(**saved["config"]))
        print(text + "\n\n" + markdown(medians))
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    base = Path(tempfile.mkdtemp(prefix="vs-swift-", dir=args.dir))
    sizes = {args.big, args.stream_size, args.small_size, args.rss_check} - {0}
    digests = {s: {"md5": pattern_digest(s, "md5"), "sha256": pattern_digest(s, "sha256")}
               for s in sizes}
    pool = multiprocessing.get_context("fork").Pool(max(args.clients, args.streams, 1),
                                                    initializer=_worker_init)
    servers: list = []
    runs: list[dict] = []
    try:
        servers = _servers(args.servers.split(","), base, args)
        removed_at = time.monotonic()  # whatever ran before this run settles too
        for repeat in range(args.repeat):
            run = {"ceilings": ceilings(base, args), "servers": {}}
            print(f"# repeat {repeat + 1}: ceilings {json.dumps(_rounded(run['ceilings']))}",
                  flush=True)
            for server in servers:
                settle(removed_at, args.settle)
                try:
                    figures = run_server(server, pool, args, digests)
                except Exception as e:  # noqa: BLE001 - one server's failure ends its row only
                    figures = {"error": f"{type(e).__name__}: {e}"}
                removed_at = time.monotonic()  # its data was removed as it stopped
                run["servers"][server.name] = figures
                print(f"# repeat {repeat + 1}: {server.name} {json.dumps(_rounded(figures))}",
                      flush=True)
            runs.append(run)
    finally:
        pool.terminate()
        pool.join()
        for server in servers:
            server.close()
        shutil.rmtree(base, ignore_errors=True)
    medians = _medians(runs)
    text, checks = report(medians, args)
    print(text)
    if args.markdown:
        print("\n" + markdown(medians))
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"argv": sys.argv, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "config": {k: v for k, v in vars(args).items() if k != "headers"},
             "runs": runs, "medians": medians, "checks": checks}, indent=1, default=str))
    return 0


def _rounded(d: dict) -> dict:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}


def _medians(runs: list[dict]) -> dict:
    """The median of every figure over the runs: ceilings and per server."""
    out: dict = {"ceilings": {}, "servers": {}}
    for key in runs[0]["ceilings"]:
        out["ceilings"][key] = median(r["ceilings"].get(key) for r in runs)
    for name in runs[0]["servers"]:
        keys = {k for r in runs for k, v in r["servers"][name].items()
                if isinstance(v, int | float)}
        out["servers"][name] = {key: median(r["servers"][name].get(key) for r in runs)
                                for key in sorted(keys)}
        errors = [r["servers"][name]["error"] for r in runs if "error" in r["servers"][name]]
        if errors:
            out["servers"][name]["errors"] = errors
    return out


if __name__ == "__main__":
    sys.exit(main())
