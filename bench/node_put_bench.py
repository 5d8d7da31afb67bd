"""
What one bulk put costs a storage node: CPU and context switches per put.

Starts a ``twistd s3node storage`` process (fsync on, a bulk port) from each
``--source`` checkout, then puts ``--puts`` chunks of ``--size`` to it over
its bulk port, ``--concurrency`` at a time, from this process (the gateway's
own client, :class:`~s3node.storage.client.StorageClient`, BLAKE3 digests
with the CRC-32C transfer check, as an upload sends them).  It prints, for
each source and round, the node process's CPU (user and system, from
``/proc``) and context switches (all its threads) per put, and the MB/s; the
sources take turns, round after round, so that they share the machine's
drift.  Small chunks make the per-put part of the cost stand out (a 2 MiB
put carries as much of it as an 8 MiB one).  Before each round the file
system settles (``--settle``, as in ``vs_swift.py``): the last round's
chunk files, just removed, would otherwise slow this round's file creates
on ext4 without a journal.

::

    python3 bench/node_put_bench.py                                  # this checkout
    python3 bench/node_put_bench.py --source /tmp/base --source .    # before and after
    python3 bench/node_put_bench.py --size 8MiB --puts 100 --rounds 2

Not a test: it asserts nothing and is not run by the README's command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT), str(ROOT / "tests")]

import blake3
from sbs_system import ProcessTree
from support.processes import start_storage_node
from vs_swift import settle

from s3node.config import parse_size
from s3node.core.checksums import CRC32C, hexdigest_of
from s3node.core.ids import new_chunk_id
from s3node.storage.client import StorageClient

#: puts before the measured ones (connections, thread pools, fan-out folders)
WARM_UP = 8


def context_switches(pid: int) -> int:
    """The voluntary and involuntary context switches of the process's live threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            lines = (task / "status").read_text().splitlines()
        except OSError:  # the thread ended meanwhile
            continue
        total += sum(int(line.split()[1]) for line in lines if "ctxt_switches" in line)
    return total


async def measure(port: int, pid: int, args: argparse.Namespace, data: bytes) -> dict:
    """Put ``args.puts`` chunks of ``data``; the node's cost per put and the rate."""
    digest = blake3.blake3(data).hexdigest()
    crc = hexdigest_of(CRC32C, data)
    async with StorageClient(f"127.0.0.1:{port}") as client:
        await client.health()  # names the bulk port
        if not client.bulk.port:
            raise SystemExit("the node offers no bulk port")
        slots = asyncio.Semaphore(args.concurrency)

        async def put() -> None:
            async with slots:
                await client.put_chunk(new_chunk_id(), data, algorithm="blake3", digest=digest,
                                       transfer_crc32c=crc, timeout=120)

        await asyncio.gather(*(put() for _ in range(WARM_UP)))
        node = ProcessTree([pid])
        cpu, switches, start = node.cpu_seconds(), context_switches(pid), time.perf_counter()
        await asyncio.gather(*(put() for _ in range(args.puts)))
        seconds = time.perf_counter() - start
        return {"cpu_ms": 1000 * (node.cpu_seconds() - cpu) / args.puts,
                "switches": (context_switches(pid) - switches) / args.puts,
                "MBps": args.puts * len(data) / seconds / 1e6}


def one_round(source: Path, args: argparse.Namespace, data: bytes) -> dict:
    """A fresh node from ``source``, measured once, stopped."""
    with tempfile.TemporaryDirectory(prefix="s3node-nodeput-") as tmp:
        node = start_storage_node(Path(tmp) / "node", "--bulk-port", "0", fsync=True, cwd=source)
        try:
            return asyncio.run(measure(node.port, node.pid, args, data))
        finally:
            node.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", action="append", type=Path, default=[],
                   help="a checkout whose node to measure (repeat it; default: this one)")
    p.add_argument("--size", type=parse_size, default="2MiB", help="each chunk's size")
    p.add_argument("--puts", type=int, default=300, help="measured puts per round")
    p.add_argument("--concurrency", type=int, default=2, help="puts in progress at once")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settle", type=float, default=65.0,
                   help="seconds from the last round's removal to this round's start (0: none)")
    args = p.parse_args(argv)
    args.source = [s.resolve() for s in args.source or [ROOT]]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = os.urandom(args.size)
    results: dict[Path, list[dict]] = {s: [] for s in args.source}
    removed_at = time.monotonic()
    for n in range(args.rounds):
        for source in args.source if n % 2 == 0 else reversed(args.source):
            # the node runs the source's code: twistd finds s3node on PYTHONPATH
            os.environ["PYTHONPATH"] = str(source)
            settle(removed_at, args.settle)
            r = one_round(source, args, data)
            removed_at = time.monotonic()
            results[source].append(r)
            print(f"round {n + 1} {source}: {r['cpu_ms']:.2f} ms of node CPU per put, "
                  f"{r['switches']:.0f} context switches per put, {r['MBps']:.0f} MB/s",
                  flush=True)
    print(f"medians of {args.rounds} rounds, {args.puts} puts of {args.size} bytes each, "
          f"{args.concurrency} at a time:")
    for source, runs in results.items():
        med = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
        print(f"  {source}: {med['cpu_ms']:.2f} ms CPU, {med['switches']:.0f} switches, "
              f"{med['MBps']:.0f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
