"""
The side-by-side benchmark's view of the machine: process trees, ceilings, statistics.

- :class:`ProcessTree` sums CPU seconds and RSS over root processes and every
  descendant (read from ``/proc``), so a server's figure covers all of it:
  s3node's ``twistd`` and any child it starts; Swift's servers, their forked
  workers and memcached.  :class:`RssSampler` samples the summed RSS in a
  thread and keeps the peak.
- The ceilings: :func:`dd_rate` (``dd conv=fdatasync`` on a given folder),
  :func:`loopback_rate` (one TCP stream over 127.0.0.1 between two
  processes, Python on both ends), :func:`hash_rate` (per core).
- :func:`median` and :func:`percentile`, pure.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Self

__all__ = [
    "ProcessTree",
    "RssSampler",
    "dd_rate",
    "hash_rate",
    "loopback_rate",
    "median",
    "percentile",
    "proc_stat",
    "process_label",
    "rate_from_dd",
]

MiB = 1024 * 1024
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def median(values: Iterable[float]) -> float | None:
    """The median (the mean of the middle two for an even count); ``None`` when empty."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation; ``None`` when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return out


def proc_stat(path: str) -> tuple[str, list[str]] | None:
    """
    A ``/proc`` ``stat`` file (a process's or a thread's): its command name and
    the fields after it (``[0]`` the state, ``[7]`` minor faults, ``[11]`` and
    ``[12]`` user and system ticks); ``None`` once it is gone.
    """
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def _stat_fields(pid: int) -> list[str] | None:
    stat = proc_stat(f"/proc/{pid}/stat")
    return None if stat is None else stat[1]


class ProcessTree:
    """Root processes and all their descendants, found afresh at every reading."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)

    def pids(self) -> list[int]:
        seen: list[int] = []
        todo = [p for p in self.roots if Path(f"/proc/{p}").exists()]
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.append(pid)
            todo += _children(pid)
        return seen

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process, plus what they reaped of their children."""
        total = 0
        for pid in self.pids():
            f = _stat_fields(pid)
            if f is not None:  # fields 14-17 of stat: utime stime cutime cstime
                total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        return total / _TICK

    def rss_bytes(self) -> int:
        """The summed resident set of every live process."""
        total = 0
        for pid in self.pids():
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                continue
        return total

    def hwm_bytes(self) -> int:
        """The sum of every live process's own peak RSS (VmHWM): an upper bound of the peak."""
        return sum(hwm for _, hwm in self.hwm_by_process())

    def hwm_by_process(self) -> list[tuple[str, int]]:
        """Each live process's peak RSS (VmHWM), named by its command line (shortened)."""
        peaks = []
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            for line in status:
                if line.startswith("VmHWM:"):
                    peaks.append((process_label(argv), int(line.split()[1]) * 1024))
        return peaks


class RssSampler:
    """Sample a :class:`ProcessTree`'s summed RSS every ``interval`` seconds; keep the peak."""

    def __init__(self, tree: ProcessTree, interval: float = 0.1) -> None:
        self.tree = tree
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.tree.rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, self.tree.rss_bytes())


_DD = re.compile(r"^(\d+) bytes .* copied, ([\d.]+) s", re.MULTILINE)


def rate_from_dd(stderr: str) -> float:
    """Bytes per second from dd's summary line (``N bytes (...) copied, S s, ...``)."""
    match = _DD.search(stderr)
    if match is None:
        raise ValueError(f"no dd summary in {stderr!r}")
    return int(match.group(1)) / float(match.group(2))


def dd_rate(folder: Path, size: int) -> float:
    """Durable sequential write rate (bytes/s) of ``dd conv=fdatasync`` in ``folder``."""
    target = folder / "dd-ceiling.bin"
    try:
        done = subprocess.run(
            ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={size // MiB}",
             "conv=fdatasync"], capture_output=True, text=True, check=True, timeout=600)
        return rate_from_dd(done.stderr)
    finally:
        target.unlink(missing_ok=True)


def _receive(listener: socket.socket, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    conn, _ = listener.accept()
    buf = memoryview(bytearray(MiB))
    total = 0
    start = None
    while n := conn.recv_into(buf):
        if start is None:
            start = time.perf_counter()
        total += n
    queue.put((total, time.perf_counter() - (start or time.perf_counter())))


def _send(port: int, size: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    block = memoryview(bytearray(MiB))
    for _ in range(size // MiB):
        sock.sendall(block)
    sock.close()


def loopback_rate(size: int) -> float:
    """One TCP stream over loopback between two processes (1 MiB sends and reads), bytes/s."""
    ctx = multiprocessing.get_context("fork")
    listener = socket.create_server(("127.0.0.1", 0))
    queue = ctx.Queue()
    receiver = ctx.Process(target=_receive, args=(listener, queue))
    sender = ctx.Process(target=_send, args=(listener.getsockname()[1], size))
    receiver.start()
    sender.start()
    try:
        total, seconds = queue.get(timeout=300)
    finally:
        sender.join(30)
        receiver.join(30)
        listener.close()
        for p in (sender, receiver):
            if p.is_alive():
                p.kill()
    return total / seconds


def hash_rate(algorithm: str, size: int) -> float:
    """Bytes per second of one core hashing ``size`` bytes in 1 MiB updates."""
    block = bytes(MiB)
    if algorithm == "crc32c":
        from awscrt.checksums import crc32c  # what s3node.core.checksums uses

        start = time.perf_counter()
        crc = 0
        for _ in range(size // MiB):
            crc = crc32c(block, crc)
        return size / (time.perf_counter() - start)
    h = hashlib.new(algorithm)
    start = time.perf_counter()
    for _ in range(size // MiB):
        h.update(block)
    return size / (time.perf_counter() - start)


def process_label(argv: list[bytes]) -> str:
    """A short name for a server process: its role words and node id, without paths."""
    words = [a.decode(errors="replace") for a in argv if a and not a.startswith(b"/")]
    keep = [w for w in words if w in ("standalone", "gateway", "storage", "--node-id")
            or w.startswith(("node-", "swift-", "proxy", "object", "container", "account"))]
    return " ".join(keep) or (words[0] if words else "?")
