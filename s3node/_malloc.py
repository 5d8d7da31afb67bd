"""
The C allocator's one setting that keeps a streaming process's memory flat.

Every body byte crosses the gateway in large, short-lived buffers: 1 MiB
socket reads (:data:`s3node.gateway.http.SOCKET_IO_SIZE`), 1 MiB gRPC frames,
8 MiB chunks.  glibc's ``malloc`` serves a block of at least
``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and gives it back to the
kernel when freed; anything smaller comes from a heap, where a freed block
stays resident until the heap's top is free.  The threshold starts at
128 KiB but is *dynamic*: each time an mmapped block is freed it rises to
that block's size (up to 32 MiB).  After the first chunk, every buffer of a
transfer comes from a heap; 1, 5 and 8 MiB blocks freed in a different
order than they were taken leave holes the next ones do not fit, so the
resident heaps grow with the length of the transfer — measured through
``malloc_stats()``: after a 2 GiB PutObject the main heap held 40 MiB for
14 MiB in use, and four thread arenas 4 to 6 MiB each for nothing (docs/s3.md,
"Memory with 2 GiB").

:func:`pin_mmap_threshold` fixes the threshold (``mallopt`` turns the dynamic
adjustment off), so those buffers always come from ``mmap`` and their memory
returns when they are freed: the resident size follows what is in use.  The
cost is a page fault per 4 KiB of each new buffer, which the copies into it
dwarf.  Elsewhere than glibc (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["MMAP_THRESHOLD", "pin_mmap_threshold"]

#: allocations of at least this many bytes get their own ``mmap`` (512 KiB:
#: below every data buffer, above what the rest of the process allocates)
MMAP_THRESHOLD = 512 * 1024
#: glibc's ``mallopt`` parameter number for the mmap threshold (``<malloc.h>``)
_M_MMAP_THRESHOLD = -3


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """
    Set glibc's mmap threshold to ``threshold`` bytes, for good; whether it was set
    (``False`` off Linux, or where the C library has no such setting).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
