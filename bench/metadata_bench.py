"""
Metadata store benchmark: both backends, printed figures.

For SQLite (a temp file) and PostgreSQL (a throwaway cluster, or ``--pg-url``):

* record a 10,000-chunk file (2 replicas per chunk), one ``record_chunk`` per chunk;
* ``get_file_with_chunks`` of that file;
* bulk-load 1,000,000 file rows (a fast path inside the bench, not the store API);
* list-page latency: numbered page 1, a numbered page deep in the listing
  (OFFSET), keyset page 1 and a keyset page at the same depth (cursor).

Run: ``python3 bench/metadata_bench.py [--files 1000000] [--backends sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from twisted.internet import asyncioreactor

asyncioreactor.install()

from support.metadata import digest, make_chunk
from twisted.internet import defer, task, threads

from s3node.metadata import _records as records
from s3node.metadata import open_metadata_store
from s3node.records import FileStatus

PAGE = 50


def machine() -> str:
    """CPU, cores, memory, OS and Python, in one line."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    except OSError:
        mem = 0
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """Median and max milliseconds of ``runs`` calls (after one warm-up)."""
    await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def bulk_load_sqlite(path: str, n: int) -> None:
    """Insert ``n`` file rows in one transaction (90 % completed, one per millisecond)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        """
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
        INSERT INTO files (id, filename, content_type, size, checksum_algorithm, checksum,
                           chunk_size, status, created_at, updated_at)
        SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3)
                     || '-8' || substr(h, 18, 3) || '-' || substr(h, 21, 12)),
               'file-' || i, 'application/octet-stream',
               CASE WHEN i % 10 = 0 THEN NULL ELSE i END, 'sha256',
               CASE WHEN i % 10 = 0 THEN NULL ELSE randomblob(32) END, 8388608,
               CASE WHEN i % 10 = 0 THEN 'uploading' ELSE 'completed' END,
               1700000000000000 + i * 1000, 1700000000000000 + i * 1000
        FROM (SELECT i, hex(randomblob(16)) AS h FROM s)
        """,
        (n,),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def bulk_load_postgres(url: str, n: int) -> None:
    """Insert ``n`` file rows with generate_series (90 % completed, one per millisecond)."""
    import psycopg2

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO files (id, filename, content_type, size, checksum_algorithm, checksum,
                               chunk_size, status, created_at, updated_at)
            SELECT gen_random_uuid(), 'file-' || i, 'application/octet-stream',
                   CASE WHEN i %% 10 = 0 THEN NULL ELSE i END, 'sha256',
                   CASE WHEN i %% 10 = 0 THEN NULL ELSE sha256(i::text::bytea) END, 8388608,
                   CASE WHEN i %% 10 = 0 THEN 'uploading' ELSE 'completed' END,
                   t, t
            FROM generate_series(1, %s) AS i,
                 LATERAL (SELECT timestamptz '2023-11-14 22:13:20+00'
                                 + i * interval '1 millisecond' AS t) AS ts
            """,
            (n,),
        )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE files")
    conn.close()


async def bench_backend(name: str, url: str, reactor: Any, n_files: int, chunks: int) -> None:
    """Run every measurement on one backend and print it."""
    store = open_metadata_store(url, reactor=reactor)
    await store.migrate()
    print(f"\n== {name} ==")

    record = await store.create_file(
        filename="big", content_type="", checksum_algorithm="sha256", chunk_size=8 << 20
    )
    fid = record.file_id
    start = time.perf_counter()
    for i in range(chunks):
        await store.record_chunk(make_chunk(fid, i, size=8 << 20))
    took = time.perf_counter() - start
    print(f"record_chunk x {chunks} (one at a time): {took:.2f} s, {chunks / took:,.0f} chunks/s")

    other = await store.create_file(
        filename="big2", content_type="", checksum_algorithm="sha256", chunk_size=8 << 20
    )
    sem = defer.DeferredSemaphore(8)
    start = time.perf_counter()
    await defer.gatherResults([
        sem.run(lambda i=i: defer.Deferred.fromCoroutine(
            store.record_chunk(make_chunk(other.file_id, i, size=8 << 20))))
        for i in range(chunks)
    ])
    took = time.perf_counter() - start
    print(f"record_chunk x {chunks} (8 concurrent):   {took:.2f} s, {chunks / took:,.0f} chunks/s")
    await store.complete_file(
        file_id=fid, size=chunks * (8 << 20), checksum=digest("f"), replicas=2
    )

    med, worst = await timed(lambda: store.get_file_with_chunks(fid), 10)
    print(f"get_file_with_chunks ({chunks} chunks, 2 replicas each): median {med:.1f} ms, "
          f"max {worst:.1f} ms")
    med, worst = await timed(lambda: store.get_file(fid), 50)
    print(f"get_file: median {med:.2f} ms, max {worst:.2f} ms")

    start = time.perf_counter()
    if name == "sqlite":
        await threads.deferToThread(bulk_load_sqlite, url.removeprefix("sqlite:"), n_files)
    else:
        await threads.deferToThread(bulk_load_postgres, url, n_files)
    print(f"bulk load of {n_files:,} file rows: {time.perf_counter() - start:.1f} s")

    deep_page = (n_files // 2) // PAGE
    for status in (None, FileStatus.COMPLETED):
        label = "all" if status is None else status.value
        med, worst = await timed(
            lambda s=status: store.list_files(page=1, per_page=PAGE, status=s), 10)
        print(f"[{label}] list_files page 1 (+count): median {med:.1f} ms, max {worst:.1f} ms")
        med, worst = await timed(
            lambda s=status: store.list_files(page=deep_page, per_page=PAGE, status=s), 5)
        print(f"[{label}] list_files page {deep_page:,} (OFFSET): median {med:.1f} ms, "
              f"max {worst:.1f} ms")
        med, worst = await timed(
            lambda s=status: store.list_files_after(cursor=None, limit=PAGE, status=s), 20)
        print(f"[{label}] list_files_after first page: median {med:.2f} ms, max {worst:.2f} ms")
        # a cursor half-way down the listing, found by walking a numbered page once
        mid = (await store.list_files(page=deep_page, per_page=PAGE, status=status)).files[-1]
        cursor = records.encode_cursor(mid.created_at, mid.file_id)
        page = await store.list_files_after(cursor=cursor, limit=PAGE, status=status)
        assert len(page.files) == PAGE
        med, worst = await timed(
            lambda s=status, c=cursor: store.list_files_after(cursor=c, limit=PAGE, status=s), 20)
        print(f"[{label}] list_files_after at row {deep_page * PAGE:,} (cursor): "
              f"median {med:.2f} ms, max {worst:.2f} ms")
    med, worst = await timed(lambda: store.under_replicated_chunks(target=3, limit=100), 3)
    print(f"under_replicated_chunks(target=3, limit=100): median {med:.1f} ms")
    await store.close()


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """Run the chosen backends."""
    print("machine:", machine())
    print(f"files: {args.files:,}; chunks: {args.chunks:,}; page size: {PAGE}")
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="s3node-bench-") as tmp:
        if "sqlite" in backends:
            await bench_backend("sqlite", f"sqlite:{tmp}/metadata.sqlite3", reactor,
                                args.files, args.chunks)
        if "postgresql" in backends:
            cluster = None
            url = args.pg_url
            if url is None:
                from support.postgres import PostgresCluster

                cluster = PostgresCluster()
                cluster.start()
                url = cluster.create_database("bench")
                conn = cluster.connect()
                print(f"\nPostgreSQL {conn.server_version} (throwaway cluster, fsync=off)")
                conn.close()
            try:
                await bench_backend("postgresql", url, reactor, args.files, args.chunks)
            finally:
                if cluster is not None:
                    cluster.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=None, help="an existing empty database instead")
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, parser.parse_args())))
