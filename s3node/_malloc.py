"""
The C allocator's settings that keep a streaming process's memory flat.

Every body byte crosses the gateway in large, short-lived buffers: socket
reads and sends (:data:`s3node.gateway.http.SOCKET_READ_SIZE` and
``SOCKET_SEND_SIZE``, 1 MiB each), 1 MiB gRPC frames, 8 MiB chunks.  glibc's
``malloc`` serves a block of at least ``M_MMAP_THRESHOLD`` bytes with its own
``mmap`` and unmaps it when it is freed; smaller blocks come from a heap,
where freed memory stays resident unless it is at the heap's top and more
than ``M_TRIM_THRESHOLD`` bytes.  Both thresholds start at 128 KiB and
256 KiB but are *dynamic*: each time an mmapped block is freed, the mmap
threshold rises to that block's size (up to 32 MiB) and the trim threshold
to twice that.  So after the first chunk, every chunk of a transfer came
from a heap too, and chunks and smaller buffers freed in another order than
they were taken left holes that the next chunk did not fit: the resident
heap grew with the length of the transfer.  Measured with ``malloc_stats()``
in the gateway of a standalone process after a 2 GiB PutObject and
GetObject: the main heap held 38 to 42 MiB for 14 MiB in use, and four
thread arenas 4 to 6 MiB each for almost nothing (docs/s3.md, "Memory with
2 GiB").

:func:`tune` fixes that for a role's :class:`Profile` (``mallopt`` turns the
dynamic adjustment off):

- blocks of the profile's mmap threshold or more (every chunk, in the
  gateway) always get their own mapping, which goes back to the kernel when
  the block is freed, while the 1 MiB I/O buffers keep coming from the heap,
  where same-sized blocks reuse each other's room without page faults;
- the trim threshold at twice the gateway's mmap threshold is glibc's own
  rule, frozen: lower, the heap's top is given back and faulted in again for
  every 1 MiB buffer (a GetObject cost twice the system time); higher, more
  free memory stays resident;
- one arena in the gateway: the reactor, the hashing threads and gRPC's
  poller thread share one heap, instead of each thread's arena keeping its
  own holes (the GetObject's peak stopped rising with the transfer's
  length; no more CPU was measured);
- and :func:`give_back`, which the upload pipeline calls for every chunk it
  has written, runs ``malloc_trim(0)`` once :data:`TRIM_EVERY` bytes have
  gone through since the last time (and :func:`give_back_now` when a large
  upload starts): the heap's free pages, wherever they are, go back to the
  kernel, so the holes freed socket reads and gRPC frames leave do not pile
  up over a long upload.  Downloads are not trimmed: with one arena their
  peak stayed flat without it, and trimming them cost speed.

Elsewhere than glibc (musl, macOS) nothing is changed and :func:`give_back`
does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

__all__ = ["GATEWAY", "MMAP_THRESHOLD", "NODE", "TRIM_EVERY", "Profile", "Trimmer", "give_back",
           "give_back_now", "tune"]

#: allocations of at least this many bytes get their own ``mmap`` in the gateway (4 MiB:
#: every chunk of the default 8 MiB, none of the socket buffers and gRPC frames)
MMAP_THRESHOLD = 4 * 1024 * 1024
#: the bytes of chunks written between two ``malloc_trim(0)`` calls (four 8 MiB chunks;
#: one trim per chunk, on downloads too, cost a tenth of the speed in one bench run)
TRIM_EVERY = 32 * 1024 * 1024
#: glibc's ``mallopt`` parameter numbers (``<malloc.h>``)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: glibc's own environment settings of these thresholds, which win over ours
OVERRIDES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX",
             "GLIBC_TUNABLES")


@dataclass(frozen=True)
class Profile:
    """One role's allocator settings."""

    #: blocks of this many bytes or more get their own mapping
    mmap_threshold: int
    #: free memory at the heap's top past this many bytes goes back to the kernel
    trim_threshold: int
    #: how many heaps (arenas) the process's threads share
    arenas: int
    #: whether :func:`give_back` trims the heaps as chunks go through
    trims: bool


#: the gateway (and standalone's main process): chunks mmapped, one heap, trimmed
GATEWAY = Profile(MMAP_THRESHOLD, 2 * MMAP_THRESHOLD, arenas=1, trims=True)
#: a storage node: its 1 MiB read buffers and gRPC frames from the heap (reused there
#: without page faults), two arenas; measured on 1 GiB puts and gets (docs/storage-node.md)
NODE = Profile(2 * 1024 * 1024, 2 * MMAP_THRESHOLD, arenas=2, trims=False)


class Trimmer:
    """
    Calls ``trim`` once every ``every`` bytes noted (:meth:`note`), while
    enabled.
    """

    def __init__(self, trim: Callable[[], object], every: int = TRIM_EVERY) -> None:
        self._trim = trim
        self.every = every
        self.enabled = False
        self._since = 0
        #: how many times ``trim`` ran
        self.trims = 0

    def now(self) -> None:
        """Trim now (while enabled), and count afresh."""
        if self.enabled:
            self._since = 0
            self.trims += 1
            self._trim()

    def note(self, nbytes: int) -> None:
        """``nbytes`` more went through; trim if :attr:`every` bytes have since the last time."""
        if not self.enabled:
            return
        self._since += nbytes
        if self._since >= self.every:
            self.now()


@cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def _libc() -> ctypes.CDLL | None:
    """The C library, if it is one whose allocator these settings are for (Linux's)."""
    return _glibc() if sys.platform.startswith("linux") else None


def _trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


#: the process's trimmer, enabled by :func:`tune` with a profile that trims
_TRIMMER = Trimmer(_trim)


def give_back(nbytes: int) -> None:
    """
    ``nbytes`` of data went through this process: give the heaps' free
    pages back to the kernel once :data:`TRIM_EVERY` bytes have since the
    last time (only after :func:`tune` with a profile that trims).
    """
    _TRIMMER.note(nbytes)


def give_back_now() -> None:
    """Give the heaps' free pages back to the kernel now (after :func:`tune`, as :func:`give_back`)."""
    _TRIMMER.now()


def tune(profile: Profile) -> bool:
    """
    Apply ``profile`` to this process's allocator; whether it was applied
    (``False`` off glibc, or when the environment sets glibc's own
    :data:`OVERRIDES`: an operator's choice, or a test's, is left alone).

    Call it before the process starts threads: a thread that already took
    an arena keeps it.
    """
    if any(name in os.environ for name in OVERRIDES):
        return False
    libc = _libc()
    if libc is None:
        return False
    applied = (bool(libc.mallopt(_M_MMAP_THRESHOLD, profile.mmap_threshold))
               and bool(libc.mallopt(_M_TRIM_THRESHOLD, profile.trim_threshold))
               and bool(libc.mallopt(_M_ARENA_MAX, profile.arenas)))
    _TRIMMER.enabled = applied and profile.trims
    return applied
