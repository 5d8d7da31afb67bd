"""
Storage node throughput and memory: PutChunk/GetChunk of big chunks against a
real ``twistd s3node storage`` process.

    python bench/storage_bench.py                       # 64 MiB and 1 GiB chunks, fsync on
    python bench/storage_bench.py --sizes 64MiB --no-fsync
    python bench/storage_bench.py --address HOST:PORT --size 256MiB --check-only

Prints the machine, MB/s for each put and get, and the node's peak RSS
(VmHWM), which must stay under 100 MiB whatever the chunk size (exit status 1
otherwise).  ``--check-only`` round-trips one chunk against a running node and
prints ``round trip ok`` (the integration tests use it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from s3node.config import parse_size
from s3node.core.chunking import FRAME_SIZE
from s3node.core.ids import new_chunk_id
from s3node.storage.client import StorageClient

RSS_LIMIT_KIB = 100 * 1024
MiB = 1024 * 1024


def _frame(seed: bytes, index: int) -> bytes:
    """Frame ``index`` of a chunk: a random block made distinct by its index."""
    return index.to_bytes(8, "big") + seed[8:]


def _frames_needed(size: int) -> int:
    return (size + FRAME_SIZE - 1) // FRAME_SIZE


def _digest(seed: bytes, size: int) -> str:
    h = hashlib.sha256()
    for i in range(_frames_needed(size)):
        h.update(_frame(seed, i)[: min(FRAME_SIZE, size - i * FRAME_SIZE)])
    return h.hexdigest()


async def _frames(seed: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(_frames_needed(size)):
        yield _frame(seed, i)[: min(FRAME_SIZE, size - i * FRAME_SIZE)]


async def round_trip(address: str, size: int) -> tuple[float, float]:
    """Put then get one chunk of ``size`` bytes; return (put MB/s, get MB/s)."""
    seed = os.urandom(FRAME_SIZE)
    digest = await asyncio.to_thread(_digest, seed, size)
    chunk_id = new_chunk_id()
    async with StorageClient(address) as client:
        t0 = time.perf_counter()
        result = await client.put_chunk_stream(
            chunk_id, size, "sha256", digest, _frames(seed, size), timeout=600
        )
        put_s = time.perf_counter() - t0
        assert result.created and result.size == size, result
        h = hashlib.sha256()
        got = 0
        t0 = time.perf_counter()
        async for piece in client.get_chunk(chunk_id, timeout=600):
            got += len(piece)
            h.update(piece)
        get_s = time.perf_counter() - t0
        if got != size or h.hexdigest() != digest:
            raise SystemExit(f"round trip FAILED: {got} bytes, digest {h.hexdigest()}")
        await client.delete_chunk(chunk_id)
    return size / put_s / 1e6, size / get_s / 1e6


def machine() -> str:
    """nproc, CPU model, Python."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", help="bench a running node instead of starting one")
    parser.add_argument("--sizes", default="64MiB,1GiB", help="comma-separated chunk sizes")
    parser.add_argument("--size", help="one chunk size (overrides --sizes)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per size (best is shown)")
    parser.add_argument("--no-fsync", action="store_true", help="start the node with --no-fsync")
    parser.add_argument("--check-only", action="store_true", help="one round trip, no figures")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in (args.size or args.sizes).split(",")]

    if args.check_only:
        if not args.address:
            parser.error("--check-only needs --address")
        for size in sizes:
            asyncio.run(round_trip(args.address, size))
        print("round trip ok")
        return 0

    print(f"machine: {machine()}")
    node = None
    tmp = None
    address = args.address
    if address is None:
        from support.processes import start_storage_node

        tmp = tempfile.TemporaryDirectory(prefix="s3node-bench-", dir=os.environ.get("TMPDIR"))
        node = start_storage_node(Path(tmp.name) / "node", fsync=not args.no_fsync)
        address = f"127.0.0.1:{node.port}"
        print(
            f"node: pid {node.pid} at {address}, fsync {'off' if args.no_fsync else 'on'}, "
            f"data dir on {tmp.name}"
        )
    failed = False
    try:
        for size in sizes:
            runs = [asyncio.run(round_trip(address, size)) for _ in range(args.repeat)]
            put = max(r[0] for r in runs)
            get = max(r[1] for r in runs)
            print(
                f"chunk {size // MiB:>5} MiB: PutChunk {put:7.0f} MB/s  GetChunk {get:7.0f} MB/s "
                f"(best of {args.repeat}; runs {[tuple(round(x) for x in r) for r in runs]})"
            )
        if node is not None:
            peak = node.status("VmHWM")
            failed = peak >= RSS_LIMIT_KIB
            print(
                f"node peak RSS (VmHWM): {peak / 1024:.1f} MiB "
                f"({'FAIL' if failed else 'ok'}: limit {RSS_LIMIT_KIB // 1024} MiB)"
            )
    finally:
        if node is not None:
            node.stop()
        if tmp is not None:
            tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
