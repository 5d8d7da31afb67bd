"""
An open stored chunk, read by position (on a worker thread, like everything
in :mod:`s3node.storage.diskfiles`), hashing what it reads.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from s3node.errors import ConfigurationError
from s3node.storage.diskfiles import Layout, sidecar_for
from s3node.storage.pagecache import drop_pages, drops
from s3node.storage.types import ChunkInfo

__all__ = ["ChunkFile"]


class ChunkFile:
    """An open stored chunk, read by position, hashing what it reads."""

    def __init__(self, fd: int, info: ChunkInfo, inode: tuple[int, int], hasher: Any) -> None:
        self.info = info
        #: (st_dev, st_ino) of the open file, to recognise it later
        self.inode = inode
        self._fd: int | None = fd
        self._hasher = hasher
        self._lock = threading.Lock()
        # Closes the file if nobody calls close() (a read abandoned before it began).
        self._finalizer = weakref.finalize(self, os.close, fd)

    @classmethod
    def open(cls, layout: Layout, chunk_id: str, hasher_for: Callable[[str], Any]) -> ChunkFile:
        """
        Open a stored chunk.

        :raises FileNotFoundError: when there is no such chunk.
        :raises BrokenChunk: when its sidecar is missing, unreadable or
            disagrees with the data file.
        :raises ConfigurationError: when it names an algorithm no plugin provides.
        """
        fd = os.open(layout.data_path(chunk_id), os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            info = sidecar_for(layout, chunk_id, st.st_size)
            hasher = hasher_for(info.algorithm)
            if hasher is None:
                # The data may be fine: the algorithm's plugin is gone (INTERNAL, no quarantine).
                raise ConfigurationError(
                    f"chunk {chunk_id} was stored with checksum algorithm {info.algorithm!r}, "
                    "which this node no longer provides"
                )
            return cls(fd, info, (st.st_dev, st.st_ino), hasher)
        except BaseException:
            os.close(fd)
            raise

    def read_at(self, pos: int, n: int, *, hash: bool) -> bytes:
        """Read up to ``n`` bytes at ``pos`` (fewer only at end of file)."""
        with self._lock:
            if self._fd is None:
                raise ValueError("read of a closed chunk")
            parts = []
            got = 0
            while got < n:
                data = os.pread(self._fd, n - got, pos + got)
                if not data:
                    break
                parts.append(data)
                got += len(data)
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            if hash:
                self._hasher.update(data)
            return data

    def send_to(self, out_fd: int, pos: int, n: int) -> int:
        """
        Write up to ``n`` bytes from ``pos`` at the start of ``out_fd`` with
        ``sendfile`` (no copy in user space, nothing hashed); how many were
        (fewer only at end of file).
        """
        with self._lock:
            if self._fd is None:
                raise ValueError("read of a closed chunk")
            os.lseek(out_fd, 0, os.SEEK_SET)
            sent = 0
            while sent < n:
                count = os.sendfile(out_fd, self._fd, pos + sent, n - sent)
                if not count:
                    break
                sent += count
            return sent

    def hexdigest(self) -> str:
        """The digest of everything hashed so far."""
        return str(self._hasher.hexdigest())

    def close(self) -> None:
        """Release the file (idempotent), dropping a large chunk's pages (:mod:`.pagecache`)."""
        with self._lock:
            if self._fd is not None:
                if drops(self.info.size):
                    drop_pages(self._fd)
                self._finalizer()
                self._fd = None
