"""The C allocator's pinned thresholds (:mod:`s3node._malloc`), seen through glibc's mallinfo2."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from s3node import _malloc

GLIBC = platform.libc_ver()[0] == "glibc"

#: in a fresh interpreter: free one large block (glibc's dynamic rule raises its
#: mmap threshold past that size), then take three of the same size and count
#: the blocks that have their own mapping
PROBE = """
import ctypes, sys
from s3node._malloc import MMAP_THRESHOLD, pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else False
first = bytes(2 * MMAP_THRESHOLD)
del first
before = libc.mallinfo2().hblks
held = [bytes(2 * MMAP_THRESHOLD) for _ in range(3)]
print(pinned, libc.mallinfo2().hblks - before)
"""


def probe(mode: str, **env: str) -> tuple[str, int]:
    """Run :data:`PROBE` (``pin`` or not) in a fresh interpreter: pinned?, mapped blocks."""
    clean = {k: v for k, v in os.environ.items() if k not in _malloc.OVERRIDES}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, timeout=60, env={**clean, **env}).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_large_blocks_keep_their_own_mappings_once_pinned() -> None:
    """Pinned, every chunk-sized block is mmapped (and so unmapped when freed) even after
    one was freed; unpinned, glibc's dynamic threshold serves the next ones from its heap."""
    assert probe("pin") == ("True", 3)
    assert probe("default") == ("False", 0)


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_glibc_environment_settings_win() -> None:
    """An operator's MALLOC_MMAP_THRESHOLD_ is left as it is: nothing is pinned over it, and
    its 16 MiB keep the 8 MiB blocks in the heap."""
    assert probe("pin", MALLOC_MMAP_THRESHOLD_=str(16 * 1024 * 1024)) == ("False", 0)


def test_pinning_is_harmless_where_it_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux the allocator is left alone, and the call says so."""
    monkeypatch.setattr(_malloc.sys, "platform", "darwin")
    assert _malloc.pin_mmap_threshold() is False
