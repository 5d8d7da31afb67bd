#!/usr/bin/env python3
"""
Throughput of the pure core's hot paths: the chunker and the checksums.

Run ``python3 bench/core_bench.py [--mib N]``.  Prints MiB/s for cutting a
stream into 8 MiB chunks from 64 KiB and 1 KiB feeds (the sizes a web server
hands over), and for each built-in checksum over 8 MiB buffers.
"""

from __future__ import annotations

import argparse
import time

from s3node.core.checksums import BUILTIN_ALGORITHMS
from s3node.core.chunking import DEFAULT_CHUNK_SIZE, Chunker


def chunker_rate(total: int, feed_size: int) -> float:
    """MiB/s of a Chunker fed ``total`` bytes in ``feed_size`` pieces."""
    piece = bytes(feed_size)
    chunker = Chunker(DEFAULT_CHUNK_SIZE)
    produced = 0
    start = time.perf_counter()
    for _ in range(total // feed_size):
        for chunk in chunker.feed(piece):
            produced += len(chunk)
    last = chunker.finish()
    produced += len(last) if last else 0
    elapsed = time.perf_counter() - start
    assert produced == total // feed_size * feed_size
    return produced / elapsed / 2**20


def checksum_rate(name: str, total: int) -> float:
    """MiB/s of one built-in checksum over 8 MiB buffers."""
    buffer = bytes(DEFAULT_CHUNK_SIZE)
    hasher = BUILTIN_ALGORITHMS[name]()
    start = time.perf_counter()
    for _ in range(total // len(buffer)):
        hasher.update(buffer)
    hasher.hexdigest()
    return total // len(buffer) * len(buffer) / (time.perf_counter() - start) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--mib", type=int, default=512, help="bytes to push through, in MiB")
    total = parser.parse_args().mib * 2**20
    for feed in (64 * 1024, 1024):
        print(f"chunker, {feed:>6}-byte feeds: {chunker_rate(total, feed):8.0f} MiB/s")
    for name in sorted(BUILTIN_ALGORITHMS):
        print(f"checksum {name:8}:            {checksum_rate(name, total):8.0f} MiB/s")


if __name__ == "__main__":
    main()
