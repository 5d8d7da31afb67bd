"""
Which stored chunks a node leaves in the kernel's page cache.

A chunk is written once and read rarely, mostly soon after it was written
(a download of what was just uploaded, a repair, a check).  Left to the
kernel, every chunk written stays cached until memory runs short, so a node
that writes fast fills memory with pages nobody reads; on the virtual
machines this project measures on, the cache then grows into memory the
machine never touched before, and each first touch made the write's copy into
the cache about three times dearer after a few GiB (docs/storage-node.md).
Dropping each chunk's pages as soon as it is written (Swift's way) ends that,
but sends every read to the disk.

So a node keeps a window: the chunks it wrote last, up to :data:`WINDOW`
bytes, stay cached; older ones are dropped (``POSIX_FADV_DONTNEED``), and
the next writes reuse their pages.  Only fsynced chunks are dropped: the
kernel does not drop dirty pages.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

__all__ = ["WINDOW", "WriteWindow", "drop_cached"]

#: bytes of the most recently written chunks a node leaves cached
WINDOW = 512 * 1024 * 1024


class WriteWindow:
    """
    The chunks written last, up to ``limit`` bytes: :meth:`written` says
    which ones leave it.
    """

    def __init__(self, limit: int = WINDOW) -> None:
        self.limit = limit
        self._recent: deque[tuple[Path, int]] = deque()
        #: bytes of the chunks in the window
        self.cached = 0

    def written(self, path: Path, size: int) -> list[Path]:
        """
        The chunk at ``path`` (``size`` bytes) was just written and synced;
        return the chunks that leave the window, oldest first (``path``
        itself when it alone is larger than the window).
        """
        self._recent.append((path, size))
        self.cached += size
        leaving = []
        while self.cached > self.limit:
            old, old_size = self._recent.popleft()
            self.cached -= old_size
            leaving.append(old)
        return leaving


def drop_cached(path: Path) -> None:
    """
    Drop ``path``'s clean pages from the page cache (blocking: a worker's
    job); nothing when it is gone (deleted or quarantined since) or where
    ``posix_fadvise`` does not exist.
    """
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
