"""
The storage node's scrubber: the rate it achieves at a few ``--scrub-rate``
settings, idle and under GET load, and what it costs client GETs, against a
real ``twistd s3node storage`` process holding N chunks.

    python bench/scrub_bench.py                              # 32 x 4 MiB, rates 8MiB,64MiB,100GiB
    python bench/scrub_bench.py --chunks 64 --chunk-size 8MiB --rates 8MiB,32MiB --window 60

For each setting the node is restarted on the same data dir with
``--scrub-rate RATE --scrub-interval 0.001`` (so passes follow each other); the
achieved rate is the bytes over the seconds of the passes the node logs
(``scrub pass finished: ... (B bytes) ... in T s``): one pass while idle (with
the node's CPU use meanwhile, from ``/proc``), then
every pass that ran wholly inside a ``--window``-second run of whole-chunk
GetChunk calls (``--streams`` at once, not hashed by the client: the node
verifies every whole read).  The first row is the same GET load with the
scrubber off.  Nothing is asserted; it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from storage_bench import machine
from support.chunks import sha256_hex
from support.processes import TwistdProcess, start_storage_node
from support.waiting import wait_until

from s3node.config import format_size, parse_size
from s3node.core.ids import new_chunk_id
from s3node.storage.client import StorageClient

MiB = 1024 * 1024
STARTED = "scrub pass started"
FINISHED = re.compile(r"scrub pass finished: (\d+) chunks \((\d+) bytes\).* in ([\d.]+) s")


async def fill(address: str, count: int, size: int) -> list[str]:
    """Store ``count`` random chunks of ``size`` bytes; their ids."""
    ids = []
    async with StorageClient(address) as client:
        for _ in range(count):
            data = os.urandom(size)
            chunk_id = new_chunk_id()
            await client.put_chunk(chunk_id, data, algorithm="sha256", digest=sha256_hex(data),
                                   timeout=120)
            ids.append(chunk_id)
    return ids


async def get_load(address: str, ids: list[str], seconds: float, streams: int) -> float:
    """Whole-chunk GETs, ``streams`` at once, for ``seconds``; MB/s received."""
    received = 0
    async with StorageClient(address) as client:
        deadline = time.perf_counter() + seconds

        async def stream(k: int) -> None:
            nonlocal received
            i = k
            while time.perf_counter() < deadline:
                async for piece in client.get_chunk(ids[i % len(ids)], timeout=120):
                    received += len(piece)
                i += streams

        t0 = time.perf_counter()
        await asyncio.gather(*(stream(k) for k in range(streams)))
        elapsed = time.perf_counter() - t0
    return received / elapsed / 1e6


def passes(proc: TwistdProcess, start: int, end: int | None = None) -> list[tuple[int, float]]:
    """(bytes, seconds) of every pass that started and finished within output lines [start, end)."""
    lines = proc.output().splitlines()[start:end]
    found, open_pass = [], False
    for line in lines:
        if STARTED in line:
            open_pass = True
        m = FINISHED.search(line)
        if m and open_pass:
            found.append((int(m.group(2)), float(m.group(3))))
            open_pass = False
    return found


def rate_of(found: list[tuple[int, float]]) -> str:
    """Bytes over seconds of ``found``, in MB/s ("-" when no pass ran)."""
    seconds = sum(s for _, s in found)
    return f"{sum(b for b, _ in found) / seconds / 1e6:.1f}" if found and seconds else "-"


def start(data_dir: Path, rate: int, fsync: bool) -> TwistdProcess:
    """A node on ``data_dir`` scrubbing at ``rate`` with back-to-back passes."""
    return start_storage_node(data_dir, "--scrub-rate", str(rate), "--scrub-interval", "0.001",
                              fsync=fsync)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(data_dir: Path, rate: int, ids: list[str], args: argparse.Namespace) -> tuple:
    """One row: the scrub rate achieved idle (and the node's CPU then) and under GETs,
    and the GETs' MB/s."""
    proc = start(data_dir, rate, args.fsync)
    try:
        address = f"127.0.0.1:{proc.port}"
        # one whole pass while idle (the one under way at start may be a resumed part)
        mark = proc.line_count()
        cpu, t0 = cpu_seconds(proc.pid), time.perf_counter()
        idle = wait_until(lambda: passes(proc, mark), what="a whole pass", timeout=900)
        cpu = (cpu_seconds(proc.pid) - cpu) / (time.perf_counter() - t0)
        mark = proc.line_count()
        gets = asyncio.run(get_load(address, ids, args.window, args.streams))
        loaded = passes(proc, mark, proc.line_count())
    finally:
        proc.stop()
    return format_size(rate), rate_of(idle), f"{100 * cpu:.0f}%", rate_of(loaded), gets


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=32, help="chunks the node holds")
    parser.add_argument("--chunk-size", default="4MiB")
    parser.add_argument("--rates", default="8MiB,64MiB,100GiB", help="--scrub-rate settings")
    parser.add_argument("--window", type=float, default=40.0, help="seconds of GET load each")
    parser.add_argument("--streams", type=int, default=2, help="concurrent GetChunk calls")
    parser.add_argument("--fsync", action="store_true", help="start the node with fsync on")
    args = parser.parse_args()
    size = parse_size(args.chunk_size)
    rates = [parse_size(r) for r in args.rates.split(",")]

    print(f"machine: {machine()}")
    print(f"data: {args.chunks} chunks of {format_size(size)}; GET load: {args.streams} streams "
          f"for {args.window:g} s per row")
    with tempfile.TemporaryDirectory(prefix="s3node-scrub-bench-",
                                     dir=os.environ.get("TMPDIR")) as tmp:
        data_dir = Path(tmp) / "node"
        rows = []
        proc = start(data_dir, 0, args.fsync)
        try:
            address = f"127.0.0.1:{proc.port}"
            ids = asyncio.run(fill(address, args.chunks, size))
            gets = asyncio.run(get_load(address, ids, args.window, args.streams))
            rows.append(("off", "-", "-", "-", gets))
        finally:
            proc.stop()
        for rate in rates:
            rows.append(measure(data_dir, rate, ids, args))
    print()
    print("| --scrub-rate | scrub MB/s, idle | node CPU, idle (of one core) "
          "| scrub MB/s, under GETs | GetChunk MB/s |")
    print("|---|---|---|---|---|")
    for setting, idle, cpu, loaded, gets in rows:
        print(f"| {setting} | {idle} | {cpu} | {loaded} | {gets:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
