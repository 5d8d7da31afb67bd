"""
The C allocator's settings that keep a streaming process's memory flat.

Every body byte crosses the gateway in large, short-lived buffers: socket
reads and sends (:data:`s3node.gateway.http.SOCKET_READ_SIZE`, 256 KiB, and
``SOCKET_SEND_SIZE``, 1 MiB), 1 MiB gRPC frames, 8 MiB chunks.  glibc's ``malloc`` serves a block of at least
``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and unmaps it when it is
freed; smaller blocks come from a heap, where freed memory stays resident
unless it is at the heap's top and more than ``M_TRIM_THRESHOLD`` bytes.
Both thresholds start at 128 KiB and 256 KiB but are *dynamic*: each time an
mmapped block is freed, the mmap threshold rises to that block's size (up to
32 MiB) and the trim threshold to twice that.  So after the first chunk,
every chunk of a transfer came from a heap too, and chunks and smaller
buffers freed in another order than they were taken left holes that the
next chunk did not fit: the resident heap grew with the length of the
transfer.  Measured with ``malloc_stats()`` in the gateway of a standalone
process after a 2 GiB PutObject and GetObject: the main heap held 38 to
42 MiB for 14 MiB in use, and four thread arenas 4 to 6 MiB each for
almost nothing (docs/s3.md, "Memory with 2 GiB").

:func:`pin_mmap_threshold` fixes both (``mallopt`` turns the dynamic
adjustment off): blocks of :data:`MMAP_THRESHOLD` bytes or more (every
chunk) always get their own mapping, which goes back to the kernel when
the chunk is freed, while the 1 MiB I/O buffers keep coming from the heap,
where same-sized blocks reuse each other's room without page faults.  The
trim threshold at twice the mmap threshold is glibc's own rule, frozen:
lower, the heap's top is given back and faulted in again for every 1 MiB
buffer (a GetObject cost twice the system time); higher, more free memory
stays resident.  Elsewhere than glibc (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MMAP_THRESHOLD", "pin_mmap_threshold"]

#: allocations of at least this many bytes get their own ``mmap`` (4 MiB: every
#: chunk of the default 8 MiB, none of the socket buffers and gRPC frames)
MMAP_THRESHOLD = 4 * 1024 * 1024
#: glibc's ``mallopt`` parameter numbers (``<malloc.h>``)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's own environment settings of these thresholds, which win over ours
OVERRIDES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """
    Fix glibc's mmap threshold at ``threshold`` bytes and its trim threshold at
    twice that; whether they were set (``False`` off Linux, where the C
    library has no such settings, or when the environment sets glibc's own
    :data:`OVERRIDES`: an operator's choice, or a test's, is left alone).
    """
    if not sys.platform.startswith("linux") or any(name in os.environ for name in OVERRIDES):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2 * threshold))
