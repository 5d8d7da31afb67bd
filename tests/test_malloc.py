"""The C allocator's settings (:mod:`s3node._malloc`), seen through glibc's own reports."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from s3node import _malloc
from s3node._malloc import Trimmer

GLIBC = platform.libc_ver()[0] == "glibc"

#: in a fresh interpreter: free one large block (glibc's dynamic rule raises its
#: mmap threshold past that size), then take three of the same size and count
#: the blocks that have their own mapping
PROBE = """
import ctypes, sys
from s3node import _malloc

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
tuned = _malloc.tune(_malloc.GATEWAY) if sys.argv[1] == "tune" else False
first = bytes(2 * _malloc.MMAP_THRESHOLD)
del first
before = libc.mallinfo2().hblks
held = [bytes(2 * _malloc.MMAP_THRESHOLD) for _ in range(3)]
print(tuned, libc.mallinfo2().hblks - before)
"""

#: in a fresh interpreter: a second thread allocates, then glibc's malloc_stats()
#: reports every arena on stderr ("Arena 0:", "Arena 1:"...)
ARENAS = """
import ctypes, sys, threading
from s3node import _malloc

tuned = _malloc.tune(_malloc.GATEWAY) if sys.argv[1] == "tune" else False
kept = []
worker = threading.Thread(target=lambda: kept.extend(bytes(65536) for _ in range(64)))
worker.start()
worker.join()
print(tuned, flush=True)
ctypes.CDLL(None).malloc_stats()
"""


def run(program: str, mode: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``program`` (``tune`` or not) in a fresh interpreter, without glibc's settings."""
    clean = {k: v for k, v in os.environ.items() if k not in _malloc.OVERRIDES}
    return subprocess.run([sys.executable, "-c", program, mode], capture_output=True, text=True,
                          check=True, timeout=60, env={**clean, **env})


def probe(mode: str, **env: str) -> tuple[str, int]:
    """:data:`PROBE`'s answer: tuned?, mapped blocks."""
    out = run(PROBE, mode, **env).stdout.split()
    return out[0], int(out[1])


def arenas(mode: str) -> tuple[str, int]:
    """:data:`ARENAS`' answer: tuned?, how many arenas glibc reports."""
    done = run(ARENAS, mode)
    return done.stdout.strip(), done.stderr.count("Arena ")


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_large_blocks_keep_their_own_mappings_once_tuned() -> None:
    """Tuned, every chunk-sized block is mmapped (and so unmapped when freed) even after
    one was freed; untuned, glibc's dynamic threshold serves the next ones from its heap."""
    assert probe("tune") == ("True", 3)
    assert probe("default") == ("False", 0)


@pytest.mark.skipif(not GLIBC, reason="the arenas are glibc's")
def test_the_gateway_threads_share_one_arena() -> None:
    """Tuned as the gateway, a second thread allocates from the main arena; untuned, glibc
    gives it an arena of its own."""
    assert arenas("tune") == ("True", 1)
    assert arenas("default") == ("False", 2)


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
@pytest.mark.parametrize("name", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX"])
def test_glibc_environment_settings_win(name: str) -> None:
    """An operator's glibc setting is left as it is: nothing is tuned over it (with a
    16 MiB threshold, the 8 MiB blocks stay in the heap)."""
    assert probe("tune", **{name: str(16 * 1024 * 1024)}) == ("False", 0)


def test_tuning_is_harmless_where_it_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux the allocator is left alone, the call says so, and nothing is trimmed."""
    monkeypatch.setattr(_malloc.sys, "platform", "darwin")
    assert _malloc.tune(_malloc.GATEWAY) is False
    assert _malloc.tune(_malloc.NODE) is False


def test_the_trimmer_trims_once_every_so_many_bytes() -> None:
    """Enabled, the trimmer calls trim when the bytes noted since the last trim reach
    ``every``; ``now`` trims at once and counts afresh; disabled, it never trims."""
    calls: list[int] = []
    trimmer = Trimmer(lambda: calls.append(1), every=100)
    trimmer.note(1000)
    assert calls == []  # not enabled
    trimmer.enabled = True
    trimmer.note(60)
    assert calls == []
    trimmer.note(40)
    assert len(calls) == 1
    trimmer.note(99)
    trimmer.now()
    assert len(calls) == 2
    trimmer.note(99)  # counted afresh after now()
    assert len(calls) == 2
    trimmer.note(1)
    assert len(calls) == trimmer.trims == 3
