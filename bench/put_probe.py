"""
Where a large upload waits: concurrent PUTs against one standalone, with the
machine's and every thread's CPU, page faults and the chunk put timings.

For each round, ``--streams`` clients (the side-by-side bench's own raw HTTP
clients, ``bench/sbs_client.py``) each PUT one object of ``--size`` at once;
then it prints:

- the aggregate MB/s and the server's CPU seconds per GB (every process);
- the machine's time split (``/proc/stat``: user, system, idle, iowait,
  softirq, steal, in percent of all cores): a large idle share says the
  transfer waits rather than computes;
- every busy thread of the server (``/proc/PID/task/TID/stat``): its share of
  one core and its seconds of CPU per GB;
- minor page faults per process, and each process's peak RSS;
- from the gateway's ``/metrics`` (which relays the nodes'): how many chunk
  puts there were and their mean duration, as the gateway saw them
  (``s3node_chunk_put_duration_seconds``) and as the nodes did
  (``s3node_storage_call_duration_seconds``), the nodes' fsync steps and
  the gateway's metadata operations (``s3node_metadata_query_duration_seconds``);
- with ``--names``, the CPU per GB summed by Python thread name (the gateway's
  and the nodes' ``MainThread``, their pools), named by ``py-spy dump``.

::

    python3 bench/put_probe.py                          # 8 x 128 MiB, 2 rounds
    python3 bench/put_probe.py --streams 1 --size 1GiB  # one 1 GiB upload
    python3 bench/put_probe.py --source /tmp/base       # another checkout
    python3 bench/put_probe.py --streams 1 --size 1GiB --names --threads 0

Not a test: it asserts nothing and is not run by the README's command.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vs_swift
from sbs_client import Target, pattern_digest
from sbs_servers import S3nodeServer
from sbs_system import ProcessTree, proc_stat, process_label

from s3node.config import parse_size

MiB = 1024 * 1024
#: the metrics read before and after a round (their _sum and _count series)
TIMED = ("s3node_chunk_put_duration_seconds", "s3node_storage_call_duration_seconds",
         "s3node_metadata_query_duration_seconds",
         "s3node_storage_fsync_duration_seconds")
_SERIES = re.compile(r"(?P<name>s3node_\w+?)_(?P<kind>sum|count)(?P<labels>\{[^}]*\})? (?P<value>\S+)")


def machine_ticks() -> list[int]:
    """The machine's CPU ticks: user, nice, system, idle, iowait, irq, softirq, steal."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _label(pid: int) -> str:
    try:
        return process_label(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))
    except OSError:
        return "?"


def thread_ticks(tree: ProcessTree) -> dict[tuple[str, int, str, str], tuple[int, int]]:
    """(process label, pid, thread name, tid) -> (user, system) ticks, for every thread."""
    out = {}
    for pid in tree.pids():
        label = _label(pid)
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            stat = proc_stat(f"/proc/{pid}/task/{tid}/stat")
            if stat is not None:
                name, fields = stat
                out[(label, pid, name, tid)] = (int(fields[11]), int(fields[12]))
    return out


def python_thread_names(pids: list[int]) -> dict[tuple[int, str], str]:
    """
    (pid, tid) -> the Python thread's name, pool numbers folded (``s3node-bulk_N``),
    from ``py-spy dump`` (beside this interpreter or on PATH); empty without py-spy.
    """
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                        f"{os.environ.get('PATH', '')}")
    out: dict[tuple[int, str], str] = {}
    for pid in pids if spy else []:
        dump = subprocess.run([spy, "dump", "--pid", str(pid)], check=False,
                              capture_output=True, text=True, timeout=60).stdout
        for m in re.finditer(r'Thread (0x[0-9A-Fa-f]+|\d+) \(\w+\): "([^"]+)"', dump):
            tid = int(m[1], 16) if m[1].startswith("0x") else int(m[1])
            out[(pid, str(tid))] = re.sub(r"([_-])\d+$", r"\1N", m[2])
    return out


def minor_faults(tree: ProcessTree) -> dict[int, int]:
    out = {}
    for pid in tree.pids():
        stat = proc_stat(f"/proc/{pid}/stat")
        if stat is not None:
            out[pid] = int(stat[1][7])
    return out


def timings(target: Target) -> dict[tuple[str, str, str], float]:
    """(metric, labels, sum|count) -> value, for the :data:`TIMED` metrics."""
    request = urllib.request.Request(f"http://127.0.0.1:{target.port}/metrics",
                                     headers=dict(target.headers))
    with urllib.request.urlopen(request, timeout=30) as reply:
        text = reply.read().decode()
    out = {}
    for line in text.splitlines():
        m = _SERIES.fullmatch(line)
        if m and m["name"] in TIMED:
            out[(m["name"], m["labels"] or "", m["kind"])] = float(m["value"])
    return out


def report_timings(before: dict, after: dict) -> None:
    sums: dict[tuple[str, str], list[float]] = {}
    for (name, labels, kind), value in after.items():
        delta = value - before.get((name, labels, kind), 0.0)
        # one line per metric and method/step, the nodes summed
        key = (name, ",".join(p for p in labels.strip("{}").split(",")
                              if p.startswith(("method=", "step=", "result=", "operation="))))
        pair = sums.setdefault(key, [0.0, 0.0])
        pair[0 if kind == "sum" else 1] += delta
    for (name, labels), (total, count) in sorted(sums.items()):
        if count:
            print(f"   {name}{{{labels}}}: {count:.0f}, mean {1000 * total / count:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--size", type=parse_size, default="128MiB", help="each stream's object")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--source", type=Path, help="the checkout to run (default: this one)")
    p.add_argument("--s3node-arg", dest="s3node_args", action="append", default=[],
                   help="an extra standalone option (repeat it)")
    p.add_argument("--names", action="store_true",
                   help="sum the threads' CPU by Python thread name (needs py-spy)")
    p.add_argument("--threads", type=int, default=16, help="busy threads listed per round")
    args = p.parse_args()
    size, moved = args.size, args.size * args.streams
    pool = multiprocessing.Pool(args.streams)
    digests = {size: {"sha256": pattern_digest(size, "sha256"), "md5": pattern_digest(size, "md5")}}
    server = S3nodeServer(Path(tempfile.gettempdir()), args.replicas, args.s3node_args,
                          source=args.source)
    try:
        target, roots = server.start()
        tree = ProcessTree(roots)
        phases = vs_swift.Phases(pool, target, tree, digests)
        for n in range(args.rounds):
            os.sync()
            metrics0, faults0 = timings(target), minor_faults(tree)
            threads0, machine0 = thread_ticks(tree), machine_ticks()
            names = [[f"probe-{i}-{time.time_ns()}"] for i in range(args.streams)]
            _, wall, cpu = phases._parallel(
                vs_swift.put_many, [(target, names[i], size, digests[size])
                                    for i in range(args.streams)])
            threads1, machine1 = thread_ticks(tree), machine_ticks()
            faults1, metrics1 = minor_faults(tree), timings(target)
            spent = [b - a for a, b in zip(machine0, machine1, strict=True)]
            cores = 100 * (os.cpu_count() or 1) / max(1, sum(spent))
            print(f"round {n + 1}: {moved / wall / 1e6:.0f} MB/s, server CPU "
                  f"{cpu / (moved / 1e9):.2f} s/GB; machine %: user {spent[0] * cores:.0f} "
                  f"system {spent[2] * cores:.0f} idle {spent[3] * cores:.0f} iowait "
                  f"{spent[4] * cores:.0f} softirq {spent[6] * cores:.0f} steal "
                  f"{spent[7] * cores:.0f} (of {100 * (os.cpu_count() or 1)})")
            busy = []
            for key, (user, system) in threads1.items():
                user0, system0 = threads0.get(key, (0, 0))
                busy.append((user - user0 + system - system0, key, user - user0, system - system0))
            hz = os.sysconf("SC_CLK_TCK")
            if args.names:
                kinds: dict[str, float] = {}
                named = python_thread_names(tree.pids())
                for ticks, key, _, _ in busy:
                    role = "gateway" if key[1] == roots[0] else "nodes"
                    kind = f"{role} {named.get((key[1], key[3]), key[2])}"
                    kinds[kind] = kinds.get(kind, 0.0) + ticks / hz / (moved / 1e9)
                print("   by thread, s/GB:", ", ".join(
                    f"{kind} {v:.2f}" for kind, v in sorted(kinds.items(), key=lambda kv: -kv[1])
                    if v >= 0.01))
            for ticks, key, user, system in sorted(busy, reverse=True)[: args.threads]:
                print(f"   {key[0][:24]:24} {key[2]:28} user {100 * user / hz / wall:5.1f}% "
                      f"system {100 * system / hz / wall:5.1f}%  {ticks / hz / (moved / 1e9):.2f} s/GB")
            print("   minor faults:", {f"{_label(pid)} {pid}": faults1[pid] - faults0.get(pid, 0)
                                        for pid in faults1})
            print("   peak RSS MiB:", [(label, round(v / MiB)) for label, v in tree.hwm_by_process()])
            report_timings(metrics0, metrics1)
    finally:
        server.stop()
        pool.close()


if __name__ == "__main__":
    main()
