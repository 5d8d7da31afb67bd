"""
The blocking file operations of the disk chunk store.

Everything here runs on a worker thread (:class:`s3node.storage.diskstore.DiskChunkStore`
calls it through its executor), never on the reactor thread.

Layout under the data dir::

    chunks/ab/cd/abcd...      a chunk's bytes, exactly as received
    chunks/ab/cd/abcd....meta its sidecar: JSON {format, chunk_id, size, algorithm, digest, created}
    tmp/                      puts in progress (emptied at startup)
    quarantine/               chunks that failed verification, with a .reason file each
    lock                      flock()ed while a node uses the data dir
    node_id                   the node's id (s3node.storage.nodeid)

A chunk exists when its data file exists under ``chunks/``.  A put writes
``tmp/<id>.<random>.part``, then fsyncs it while (on another thread) its
sidecar is written and fsynced as ``tmp/<id>.<random>.part.meta``: the two
fsyncs overlap, so the file system can make both durable in one journal
commit.  Then the sidecar is renamed into place, the data file is
``link()``\\ed to its final name (which fails rather than replace an
existing chunk) and the directory is fsynced.  A sidecar without a
data file is a leftover of a crash between the two steps and is ignored (and
removed at startup).
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from s3node.core.checksums import digest_matches
from s3node.errors import (
    ChecksumMismatch,
    InsufficientStorage,
    SizeMismatch,
)
from s3node.storage.pagecache import drop_pages, drops, start_writeback
from s3node.storage.quarantine import entry_id
from s3node.storage.types import ChunkInfo

__all__ = [
    "FORMAT_VERSION",
    "BrokenChunk",
    "Layout",
    "TempWriter",
]

#: the sidecar format this code writes and reads
FORMAT_VERSION = 1
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class BrokenChunk(Exception):
    """A stored chunk is unreadable or inconsistent with its sidecar."""


def no_space(e: OSError) -> bool:
    """Whether ``e`` means the disk (or quota) is full."""
    return e.errno in _NO_SPACE


def fsync_dir(path: Path) -> None:
    """fsync a directory, so the names created or removed in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Layout:
    """Where each file of a data dir lives."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.chunks = root / "chunks"
        self.tmp = root / "tmp"
        self.quarantine = root / "quarantine"
        self.lock = root / "lock"

    def chunk_dir(self, chunk_id: str) -> Path:
        """The folder of a (validated) chunk id."""
        return self.chunks / chunk_id[:2] / chunk_id[2:4]

    def data_path(self, chunk_id: str) -> Path:
        """A chunk's data file."""
        return self.chunk_dir(chunk_id) / chunk_id

    def meta_path(self, chunk_id: str) -> Path:
        """A chunk's sidecar."""
        return self.chunk_dir(chunk_id) / f"{chunk_id}.meta"


def encode_meta(info: ChunkInfo) -> bytes:
    """The sidecar of ``info``."""
    doc = {
        "format": FORMAT_VERSION,
        "chunk_id": info.chunk_id,
        "size": info.size,
        "algorithm": info.algorithm,
        "digest": info.digest,
        "created": info.created.isoformat(),
    }
    return json.dumps(doc, sort_keys=True).encode("ascii") + b"\n"


def decode_meta(raw: bytes, chunk_id: str) -> ChunkInfo:
    """
    Parse a sidecar.

    :raises BrokenChunk: when it is not a sidecar of this format for ``chunk_id``.
    """
    try:
        doc = json.loads(raw)
        if doc["format"] != FORMAT_VERSION or doc["chunk_id"] != chunk_id:
            raise ValueError("format or chunk id differs")
        size, algorithm, digest = doc["size"], doc["algorithm"], doc["digest"]
        if not (isinstance(size, int) and isinstance(algorithm, str) and isinstance(digest, str)):
            raise TypeError("wrong field types")
        created = datetime.fromisoformat(doc["created"])
    except (ValueError, KeyError, TypeError) as e:
        raise BrokenChunk(f"unreadable sidecar: {e}") from None
    return ChunkInfo(chunk_id, size, algorithm, digest, created)


def read_info(layout: Layout, chunk_id: str) -> ChunkInfo | None:
    """
    The record of a stored chunk, or ``None`` when there is none.

    :raises BrokenChunk: when the data file exists but its sidecar is missing,
        unreadable or disagrees with the data file's size.
    """
    try:
        st = os.stat(layout.data_path(chunk_id))
    except FileNotFoundError:
        return None
    return sidecar_for(layout, chunk_id, st.st_size)


def sidecar_for(layout: Layout, chunk_id: str, data_size: int) -> ChunkInfo:
    """
    The sidecar of a chunk whose data file has ``data_size`` bytes.

    :raises BrokenChunk: when the sidecar is missing, unreadable or gives
        another size.
    """
    try:
        raw = layout.meta_path(chunk_id).read_bytes()
    except FileNotFoundError:
        raise BrokenChunk("sidecar missing") from None
    info = decode_meta(raw, chunk_id)
    if data_size != info.size:
        raise BrokenChunk(f"data file has {data_size} bytes, sidecar says {info.size}")
    return info


class TempWriter:
    """
    A put in progress: bytes go to a temp file while they are counted and hashed.

    Making one does no I/O (the store makes it on the event loop): the temp
    file is created by the first :meth:`write`, or by :meth:`finish` for an
    empty chunk, on a worker thread, where a create that waits for the
    journal holds up no other call.  Every method takes an internal lock, so
    :meth:`discard` (called from another thread after a cancelled put) never
    closes the file under a write, and a write that comes after it creates
    nothing.
    """

    def __init__(
        self,
        layout: Layout,
        chunk_id: str,
        size: int,
        hasher: Any,
        *,
        fsync: bool,
        write: Callable[[int, Any], int] = os.write,
    ) -> None:
        self.chunk_id = chunk_id
        self.size = size
        self.written = 0
        self._discarded = False
        self.path = layout.tmp / f"{chunk_id}.{uuid.uuid4().hex}.part"
        #: where :func:`write_sidecar` puts the sidecar before the commit
        self.meta_path = self.path.with_name(self.path.name + ".meta")
        self._hasher = hasher
        self._fsync = fsync
        self._write = write
        self._lock = threading.Lock()
        self._fd: int | None = None
        #: whether the temp file was created (it is closed again once finished)
        self._created = False

    def _open(self) -> int:
        """The temp file's descriptor, creating the file on first use (under the lock).

        :raises ValueError: when the put is finished or discarded.
        :raises InsufficientStorage: when the disk is full.
        """
        if self._fd is not None:
            return self._fd
        if self._created or self._discarded:
            raise ValueError(f"put of chunk {self.chunk_id} is finished or discarded")
        try:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644
            )
        except OSError as e:
            if no_space(e):
                raise InsufficientStorage(f"no space left for chunk {self.chunk_id}") from e
            raise
        self._created = True
        return self._fd

    @property
    def on_disk(self) -> int:
        """The bytes its temp file holds on disk (0 once discarded)."""
        return 0 if self._discarded else self.written

    def write(self, data: bytes | memoryview) -> None:
        """Hash and append ``data``.

        :raises SizeMismatch: when it goes past the declared size.
        :raises InsufficientStorage: when the disk is full.
        """
        with self._lock:
            fd = self._open()
            if self.written + len(data) > self.size:
                raise SizeMismatch(
                    f"received more than the declared {self.size} bytes of chunk {self.chunk_id}"
                )
            self._hasher.update(data)
            view = memoryview(data)
            try:
                while view:
                    view = view[self._write(fd, view) :]
            except OSError as e:
                if no_space(e):
                    raise InsufficientStorage(f"no space left for chunk {self.chunk_id}") from e
                raise
            if self._fsync and drops(self.size):
                # the disk writes this piece while the next ones arrive (s3node.storage.pagecache)
                start_writeback(fd, self.written, len(data))
            self.written += len(data)

    def finish(self, expected_digest: str) -> None:
        """Check the size and digest, then fsync and close the temp file.

        :raises SizeMismatch: when fewer bytes than declared arrived.
        :raises ChecksumMismatch: when the digest differs.
        """
        with self._lock:
            fd = self._open()  # an empty chunk's file is created here
            if self.written != self.size:
                raise SizeMismatch(
                    f"received {self.written} of the declared {self.size} bytes "
                    f"of chunk {self.chunk_id}"
                )
            actual = self._hasher.hexdigest()
            if not digest_matches(expected_digest, actual):
                raise ChecksumMismatch(
                    f"chunk {self.chunk_id}: {self._hasher.name} digest is {actual}, "
                    f"expected {expected_digest}"
                )
            try:
                if self._fsync:
                    os.fsync(fd)
                    if drops(self.size):
                        drop_pages(fd)  # clean now: the next write reuses them
            except OSError as e:
                if no_space(e):
                    raise InsufficientStorage(f"no space left for chunk {self.chunk_id}") from e
                raise
            finally:
                os.close(fd)
                self._fd = None

    def discard(self) -> None:
        """Close and remove the temp file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self.path.unlink(missing_ok=True)
            self.meta_path.unlink(missing_ok=True)
            self._discarded = True

    @property
    def discarded(self) -> bool:
        """Whether :meth:`discard` ran (nothing of the put is left under ``tmp/``)."""
        return self._discarded


def commit(
    layout: Layout, writer: TempWriter, info: ChunkInfo, *, fsync: bool
) -> tuple[ChunkInfo | None, int | None]:
    """
    Make a finished put visible under its chunk id (its sidecar written by
    :func:`write_sidecar`), then remove its temp name (:meth:`TempWriter.discard`;
    not when another chunk was there already: the caller discards it then).

    The caller holds the chunk id's lock.  A broken chunk found under the id
    is quarantined first.

    :return: ``(existing, quarantined)``: ``existing`` is ``None`` when the
        chunk was stored now, else the record of the chunk already stored under
        the id (nothing is changed then); ``quarantined`` is the size of a
        broken chunk moved aside, if any.
    :raises InsufficientStorage: when the disk fills up meanwhile.
    """
    chunk_id = info.chunk_id
    quarantined = None
    try:
        existing = read_info(layout, chunk_id)
    except BrokenChunk as e:
        quarantined = quarantine(layout, chunk_id, None, f"broken, replaced: {e}", fsync=fsync)
        existing = None
    if existing is not None:
        return existing, quarantined
    folder = layout.chunk_dir(chunk_id)
    created_dirs = [d for d in (folder.parent, folder) if not d.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(writer.meta_path, layout.meta_path(chunk_id))
        data_path = layout.data_path(chunk_id)
        os.link(writer.path, data_path)
        if fsync:
            fsync_dir(folder)
            for d in created_dirs:
                fsync_dir(d.parent)
    except OSError as e:
        writer.meta_path.unlink(missing_ok=True)
        if no_space(e):
            raise InsufficientStorage(f"no space left for chunk {chunk_id}") from e
        raise
    writer.discard()  # the temp name goes; the data stays under its final one
    return None, quarantined


def write_sidecar(writer: TempWriter, info: ChunkInfo, *, fsync: bool) -> None:
    """
    Write (and fsync) ``info`` as the sidecar of ``writer``'s put, still under
    its temporary name; :func:`commit` renames it into place.

    :raises InsufficientStorage: when the disk is full.
    """
    try:
        fd = os.open(writer.meta_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, encode_meta(info))
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        writer.meta_path.unlink(missing_ok=True)
        if no_space(e):
            raise InsufficientStorage(f"no space left for chunk {info.chunk_id}") from e
        raise


def remove(layout: Layout, chunk_id: str, *, fsync: bool) -> int | None:
    """
    Remove a chunk (data file first, so it stops existing at once, then its sidecar).

    The caller holds the chunk id's lock.

    :return: the size it had, or ``None`` when there was no such chunk.
    """
    data = layout.data_path(chunk_id)
    try:
        size = os.stat(data).st_size
        data.unlink()
    except FileNotFoundError:
        layout.meta_path(chunk_id).unlink(missing_ok=True)
        return None
    layout.meta_path(chunk_id).unlink(missing_ok=True)
    if fsync:
        fsync_dir(data.parent)
    return size


def quarantine(
    layout: Layout, chunk_id: str, inode: tuple[int, int] | None, reason: str, *, fsync: bool
) -> int | None:
    """
    Move a chunk (and its sidecar) into ``quarantine/`` with a ``.reason`` file,
    as one entry (:mod:`s3node.storage.diskquarantine`).

    The caller holds the chunk id's lock.  When ``inode`` is given, the chunk is
    moved only if its data file is still that file (a concurrent delete and
    re-put is left alone).

    :return: the size of the moved data file, or ``None`` when nothing was moved.
    """
    data = layout.data_path(chunk_id)
    try:
        st = os.stat(data)
    except FileNotFoundError:
        return None
    if inode is not None and (st.st_dev, st.st_ino) != inode:
        return None
    name = entry_id(chunk_id, time.time_ns())
    layout.quarantine.mkdir(exist_ok=True)
    (layout.quarantine / f"{name}.reason").write_text(reason + "\n", encoding="utf-8")
    os.rename(data, layout.quarantine / name)
    try:
        os.rename(layout.meta_path(chunk_id), layout.quarantine / f"{name}.meta")
    except FileNotFoundError:
        pass
    if fsync:
        fsync_dir(data.parent)
        fsync_dir(layout.quarantine)
    return st.st_size


def now() -> datetime:
    """The current time, UTC, to the microsecond."""
    return datetime.now(UTC)
