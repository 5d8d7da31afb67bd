"""
Which stored chunks a node leaves in the kernel's page cache: the small ones.

A large chunk is written once and read rarely, and then whole, in one
sequential pass that the kernel's read-ahead serves well from the disk.
Left to the kernel, every chunk written or read stays cached until memory
runs short, pushing out what is read often; and on the virtual machines this
project measures on (whose balloon device hands the guest's free pages back
to the host), each page the cache grows into is a page the guest must fault
in from the host again, which made a node's copy into the cache three to
five times dearer than a copy into a page just let go (docs/storage-node.md,
"The page cache").

So, like Swift's object server, a node drops a chunk's pages
(``POSIX_FADV_DONTNEED``) once it has written and fsynced it and once a read
of it ends, when the chunk is at least :data:`DROP_AT` bytes; the next write
or read takes the pages just dropped.  Smaller chunks stay cached: their
bytes cost little memory, and a small read served from the disk costs a
whole disk round trip.  Without fsync nothing is dropped after a write (the
kernel does not drop dirty pages; it would start writing them back).

While a large chunk arrives, each piece written is handed to the disk at
once (:func:`start_writeback`), so that the fsync at the end waits for the
last pieces only, not for all of them: the disk writes while the network
delivers.  (Linux starts writeback of a range's dirty pages when it is
advised ``POSIX_FADV_DONTNEED`` for it, without waiting; the pages stay
cached until written, and the drop after the fsync takes them.)
"""

from __future__ import annotations

import os

__all__ = ["DROP_AT", "drop_pages", "drops", "start_writeback"]

#: chunks of at least this many bytes leave the page cache once written and once read
DROP_AT = 1024 * 1024


def drops(size: int) -> bool:
    """Whether a chunk of ``size`` bytes leaves the page cache after a write or a read."""
    return size >= DROP_AT


def drop_pages(fd: int) -> None:
    """
    Drop the open file ``fd``'s clean pages from the page cache (blocking: a
    worker's job); nothing where ``posix_fadvise`` does not exist, and no
    error where the file system refuses the advice (it is only advice).
    """
    _dont_need(fd, 0, 0)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """
    Start writing ``length`` bytes of ``fd`` from ``offset`` back to the disk,
    without waiting for them (blocking only while the I/O is submitted: a
    worker's job); clean pages of the range are dropped.  No error where the
    advice does not exist or is refused.
    """
    _dont_need(fd, offset, length)


def _dont_need(fd: int, offset: int, length: int) -> None:
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    try:
        fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
