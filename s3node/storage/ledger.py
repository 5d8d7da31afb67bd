"""
A chunk store's counts, and the one rule that decides whether a new chunk fits.

The disk and the memory chunk store each keep a :class:`Ledger`: the chunks
and bytes stored, the bytes reserved by puts in progress and the quarantined
entries.  A put reserves its declared size before it reads any data
(:meth:`Ledger.reserve`) and gives it back when it ends, stored or not.  The
free space a store reports (:meth:`Ledger.free`, shown by ``Health``) and the
check a put must pass are the same computation, so a node never accepts a
chunk it reports no room for, and puts in flight can never together promise
more than there is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from s3node.errors import InsufficientStorage

__all__ = ["DiskSpace", "Ledger"]


@dataclass(frozen=True)
class DiskSpace:
    """What the file system holding a store says (``statvfs``), in bytes."""

    total: int
    #: bytes an unprivileged writer may still use (``f_bavail``)
    free: int

    @classmethod
    def of(cls, path: Path) -> DiskSpace:
        """The space of the file system holding ``path`` (blocking: one ``statvfs``)."""
        st = os.statvfs(path)
        return cls(st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)


@dataclass
class Ledger:
    """
    The counts of one chunk store.

    :param capacity: the bytes the store may hold; ``None``: the size of the
        file system (then every call must pass ``disk``)
    """

    capacity: int | None
    chunk_count: int = 0
    #: bytes of stored chunks
    used: int = 0
    #: bytes promised to puts in progress
    reserved: int = 0
    #: quarantined entries kept by the store
    quarantined: int = 0

    def stored(self, size: int) -> None:
        """Count a chunk that became visible."""
        self.chunk_count += 1
        self.used += size

    def removed(self, size: int) -> None:
        """Uncount a chunk that was deleted or quarantined."""
        self.chunk_count -= 1
        self.used -= size

    def moved_to_quarantine(self, size: int) -> None:
        """Uncount a stored chunk that became a quarantine entry."""
        self.removed(size)
        self.quarantined += 1

    def effective_capacity(self, disk: DiskSpace | None = None) -> int:
        """The configured capacity, else the file system's size."""
        if self.capacity is not None:
            return self.capacity
        if disk is None:
            raise ValueError("a ledger without a capacity needs the file system's size")
        return disk.total

    def free(self, disk: DiskSpace | None = None, written: int = 0) -> int:
        """
        The bytes a new chunk may take: the capacity minus what is stored and
        reserved, and, with ``disk``, at most the file system's free bytes minus
        what reserved puts have yet to write.

        :param written: bytes that puts holding a reservation already wrote to
            the file system (its free bytes exclude them already)
        """
        free = self.effective_capacity(disk) - self.used - self.reserved
        if disk is not None:
            free = min(free, disk.free - max(0, self.reserved - written))
        return max(0, free)

    @contextmanager
    def reserve(self, size: int, disk: DiskSpace | None = None, written: int = 0) -> Iterator[None]:
        """
        Hold ``size`` bytes for the duration of the ``with`` block.

        :raises s3node.errors.InsufficientStorage: when ``size`` exceeds
            :meth:`free` (nothing is reserved then).
        """
        free = self.free(disk, written)
        if size > free:
            raise InsufficientStorage(
                f"chunk of {size} bytes does not fit: {free} bytes free "
                f"({self.used} stored, {self.reserved} reserved by puts in progress)"
            )
        self.reserved += size
        try:
            yield
        finally:
            self.reserved -= size
