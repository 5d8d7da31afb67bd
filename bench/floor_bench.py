"""
How fast any server could take a large upload on this machine: the work an
acknowledged upload needs and nothing else, next to ``dd`` and s3node, in one run.

The "floor" server does only what s3node's guarantees need per byte, in C
calls from Python threads, pipelined as well as two threads allow, with no
HTTP, no metadata, no second process and no copy it can avoid:

- receive the body from one loopback TCP stream (a client process sends it
  in 1 MiB pieces, as ``sbs_client.py`` does) with ``recv_into`` straight
  into 32 MiB chunk buffers (three, reused);
- the whole body's SHA-256 (the file's digest), in order, on one thread;
- each chunk's BLAKE3 (the chunk digest) and CRC-32C (the transfer check),
  and its write to one file, on another, then one ``fdatasync`` at the end
  (as ``dd conv=fdatasync`` does: no file per chunk, no sidecar, no commit),
  each 1 MiB handed to the disk as it is written and the pages dropped at
  the end, as a node does (``s3node.storage.pagecache``: on this kind of
  virtual machine, a write into pages the guest has not touched lately
  costs several times one into pages just let go).

With ``--direct``, a second floor server writes each chunk with ``O_DIRECT``
(page-aligned buffers, no page cache at all), the other way out of that cost.

Each round measures ``dd if=/dev/zero bs=1M conv=fdatasync`` into the same
folder, then the floor server, then (unless ``--no-s3node``) one s3node
standalone (replicas 1, started once) taking the same upload through its
REST API, then ``dd`` again; the ratios are against the mean of the round's
two ``dd`` figures.  Each line gives MB/s and the CPU seconds per GB of the
server and of the client.

    python3 bench/floor_bench.py                      # 1 GiB, 3 rounds
    python3 bench/floor_bench.py --rounds 5 --no-s3node
    python3 bench/floor_bench.py --rounds 6 --direct

Not a test: it asserts nothing and is not run by the README's command.
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import multiprocessing
import os
import queue
import resource
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blake3
import vs_swift
from awscrt.checksums import crc32c
from sbs_client import BLOCK, pattern_digest
from sbs_servers import S3nodeServer
from sbs_system import ProcessTree, dd_rate, median

from s3node.config import parse_size
from s3node.storage.pagecache import drop_pages, start_writeback

MiB = 1024 * 1024
CHUNK = 32 * MiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _send(port: int, size: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """The client: ``size`` bytes of the pattern in 1 MiB sends; reports its CPU."""
    cpu = _cpu_seconds()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        left = size
        while left:
            left -= sock.send(BLOCK[: min(left, MiB)])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the server's one-byte acknowledgement
    out.put(_cpu_seconds() - cpu)


def _serve(listener: socket.socket, folder: str, size: int,
           out: multiprocessing.Queue, direct: bool) -> None:  # type: ignore[type-arg]
    """The floor server: one upload, received, hashed, written and fdatasynced."""
    free: queue.Queue[memoryview] = queue.Queue()
    for _ in range(3):
        # page-aligned (an anonymous mapping) for O_DIRECT
        free.put(memoryview(mmap.mmap(-1, CHUNK) if direct else bytearray(CHUNK)))
    to_hash: queue.Queue[memoryview | None] = queue.Queue()
    to_write: queue.Queue[memoryview | None] = queue.Queue()
    lock = threading.Lock()
    #: how many of the two threads still read each buffer, by its id
    users: dict[int, int] = {}
    sha = hashlib.sha256()
    fd = os.open(os.path.join(folder, "floor.bin"),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0))

    def release(view: memoryview) -> None:
        with lock:
            users[id(view.obj)] -= 1
            if not users[id(view.obj)]:
                free.put(memoryview(view.obj))

    def hasher() -> None:
        while (view := to_hash.get()) is not None:
            sha.update(view)
            release(view)

    def writer() -> None:
        position = 0
        while (view := to_write.get()) is not None:
            blake3.blake3(view).digest()
            crc32c(view)
            # a node's 1 MiB pieces through the page cache; a whole chunk at a time
            # direct (the device takes large writes faster: 912 against 789 MB/s)
            step = len(view) if direct else MiB
            for start in range(0, len(view), step):
                piece = rest = view[start : start + step]
                while rest:
                    rest = rest[os.write(fd, rest) :]
                if not direct:
                    start_writeback(fd, position, len(piece))
                position += len(piece)
            release(view)
        os.fdatasync(fd)
        if not direct:
            drop_pages(fd)

    threads = [threading.Thread(target=hasher), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    conn, _ = listener.accept()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    received = 0
    while received < size:
        buffer = free.get()
        got = 0
        while got < len(buffer) and received < size:
            n = conn.recv_into(buffer[got:], min(len(buffer) - got, size - received))
            if not n:
                raise ConnectionError("the client went away")
            got += n
            received += n
        chunk = buffer[:got]
        with lock:
            users[id(chunk.obj)] = 2
        to_hash.put(chunk)
        to_write.put(chunk)
    to_hash.put(None)
    to_write.put(None)
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    os.close(fd)
    conn.send(b"k")
    conn.close()
    out.put((received, seconds, _cpu_seconds() - cpu, sha.hexdigest()))


def floor_run(folder: Path, size: int, direct: bool = False) -> dict:
    """One upload to the floor server; its MB/s and both sides' CPU per GB."""
    ctx = multiprocessing.get_context("fork")
    listener = socket.create_server(("127.0.0.1", 0))
    served, sent = ctx.Queue(), ctx.Queue()
    server = ctx.Process(target=_serve, args=(listener, str(folder), size, served, direct))
    client = ctx.Process(target=_send, args=(listener.getsockname()[1], size, sent))
    server.start()
    client.start()
    try:
        received, seconds, server_cpu, digest = served.get(timeout=600)
        client_cpu = sent.get(timeout=600)
    finally:
        for p in (client, server):
            p.join(30)
            if p.is_alive():
                p.kill()
        listener.close()
        (folder / "floor.bin").unlink(missing_ok=True)
    if received != size or digest != pattern_digest(size, "sha256"):
        raise RuntimeError(f"the floor server got {received} bytes, digest {digest}")
    return {"MBps": size / seconds / 1e6, "server_s_per_GB": server_cpu / (size / 1e9),
            "client_s_per_GB": client_cpu / (size / 1e9)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=parse_size, default="1GiB")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-s3node", action="store_true", help="only dd and the floor server")
    p.add_argument("--direct", action="store_true",
                   help="also a floor server that writes with O_DIRECT (no page cache)")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()),
                   help="where dd, the floor server and s3node write")
    args = p.parse_args()
    size = args.size
    if args.direct and size % mmap.PAGESIZE:
        p.error(f"--direct writes whole pages: --size must be a multiple of {mmap.PAGESIZE}")
    folder = Path(tempfile.mkdtemp(prefix="floor-", dir=args.dir))
    pool = multiprocessing.Pool(1)
    digests = {size: {"sha256": pattern_digest(size, "sha256")}}
    server = None if args.no_s3node else S3nodeServer(folder, 1, [])
    rows: list[dict] = []
    try:
        phases = None
        if server is not None:
            target, roots = server.start()
            phases = vs_swift.Phases(pool, target, ProcessTree(roots), digests)
        for n in range(args.rounds):
            row: dict = {}
            os.sync()
            dd = [dd_rate(folder, size) / 1e6]
            os.sync()
            row["floor"] = floor_run(folder, size)
            if args.direct:
                os.sync()
                row["floor-direct"] = floor_run(folder, size, direct=True)
            if phases is not None:
                name = [f"floor-{n}-{time.time_ns()}"]
                _, wall, cpu = phases._parallel(vs_swift.put_many,
                                                [(phases.target, name, size, digests[size])])
                row["s3node"] = {"MBps": size / wall / 1e6,
                                 "server_s_per_GB": cpu / (size / 1e9)}
            os.sync()
            dd.append(dd_rate(folder, size) / 1e6)
            row["dd"] = sum(dd) / 2
            rows.append(row)
            print(f"round {n + 1}: dd {dd[0]:.0f} and {dd[1]:.0f} MB/s; " + "; ".join(
                f"{k} {v['MBps']:.0f} MB/s ({v['MBps'] / row['dd']:.2f}x dd), server "
                f"{v['server_s_per_GB']:.2f} s/GB"
                + (f", client {v['client_s_per_GB']:.2f}" if "client_s_per_GB" in v else "")
                for k, v in row.items() if k != "dd"), flush=True)
    finally:
        if server is not None:
            server.stop()
        pool.terminate()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"medians of {len(rows)}: dd {median(r['dd'] for r in rows):.0f} MB/s; " + "; ".join(
        f"{k} {median(r[k]['MBps'] for r in rows):.0f} MB/s, "
        f"{median(r[k]['MBps'] / r['dd'] for r in rows):.2f}x dd, "
        f"{median(r[k]['server_s_per_GB'] for r in rows):.2f} s/GB"
        for k in rows[0] if k != "dd"))


if __name__ == "__main__":
    main()
