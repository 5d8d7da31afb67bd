"""
The disk chunk store: chunks as files under a data dir, verified on the way in
and on the way out, with no database.

Blocking work (file I/O, fsync, hashing) runs on the executor passed in; the
coroutines here run on the event loop and only coordinate.  See
:mod:`s3node.storage.diskfiles` for the layout and the write discipline, and
``docs/storage-node.md`` for the reasoning.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, Callable, Mapping
from concurrent.futures import Executor
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from twisted.logger import Logger

from s3node.core.ids import CHUNK_ID_MAX_LENGTH, CHUNK_ID_MIN_LENGTH, validate_chunk_id
from s3node.errors import (
    ChunkNotFound,
    CorruptChunk,
)
from s3node.interfaces import ChecksumAlgorithm
from s3node.storage import diskfiles, diskquarantine, diskwalk
from s3node.storage.checks import (
    PutHeader,
    check_page,
    check_put_header,
    check_range,
    check_same,
    drain_put,
    put_result,
)
from s3node.storage.chunkfile import ChunkFile
from s3node.storage.diskfiles import BrokenChunk, Layout, TempWriter
from s3node.storage.diskread import copy_into, read_pieces
from s3node.storage.ledger import DiskSpace, Ledger
from s3node.storage.locks import KeyedLocks, run_to_end
from s3node.storage.metrics import timed_step
from s3node.storage.quarantine import check_entry_id
from s3node.storage.types import (
    ChunkInfo,
    ChunkPage,
    ChunkRead,
    PouredData,
    PutResult,
    QuarantinePage,
    StoreUsage,
)

__all__ = ["DiskChunkStore"]

log = Logger()
T = TypeVar("T")
_HEX = frozenset("0123456789abcdef")


def _is_chunk_id(name: str) -> bool:
    return CHUNK_ID_MIN_LENGTH <= len(name) <= CHUNK_ID_MAX_LENGTH and _HEX.issuperset(name)


class DiskChunkStore:
    """
    A :class:`s3node.interfaces.ChunkStore` keeping chunks under ``root``.

    Call :meth:`open` (blocking: once, at startup) before anything else and
    :meth:`close` at the end.  One process at a time may use a data dir
    (``flock`` on ``root/lock``).

    :param algorithms: the checksum algorithms clients may name, resolved once
    :param executor: where blocking work runs (size it for CPU work)
    :param capacity: bytes the store may hold; ``None``: the file system's size
    :param fsync: fsync files and folders (off only for throwaway stores)
    :param write: ``os.write``-shaped function used for chunk data (tests
        inject failures through it)
    :param disk_space: what the file system holding ``root`` says (tests
        inject a fake)
    :param on_sync: called on a worker thread with each durability step of a
        put (``"data"``, ``"commit"``) and its seconds, when ``fsync`` is on
    """

    def __init__(
        self,
        root: Path,
        *,
        algorithms: Mapping[str, ChecksumAlgorithm],
        executor: Executor,
        max_chunk_size: int,
        capacity: int | None = None,
        fsync: bool = True,
        write: Callable[[int, Any], int] = os.write,
        disk_space: Callable[[Path], DiskSpace] = DiskSpace.of,
        on_sync: Callable[[str, float], None] | None = None,
    ) -> None:
        self.layout = Layout(root)
        self._algorithms = algorithms
        self._executor = executor
        self._max_chunk_size = max_chunk_size
        self._fsync = fsync
        self._write = write
        self._disk_space = disk_space
        self._on_sync = on_sync if fsync else None
        self._locks = KeyedLocks()
        self._lock_fd: int | None = None
        #: puts in progress, discarded by close() if their coroutine never finishes
        self._writers: set[TempWriter] = set()
        self._ledger = Ledger(capacity)

    # -- life cycle ------------------------------------------------------

    def open(self) -> None:
        """
        Create the folders, lock the data dir, empty ``tmp/``, count the chunks.

        Blocking; call it once at startup (off the reactor when a scan of a big
        store matters).

        :raises s3node.errors.ConfigurationError: when another process uses the
            data dir or it cannot be created.
        """
        layout = self.layout
        self._lock_fd = diskwalk.lock_data_dir(layout)
        removed = diskwalk.clean_tmp(layout)
        if removed:
            log.info("removed {count} leftover temp files", count=removed)
        ledger = self._ledger
        ledger.chunk_count, ledger.used = diskwalk.scan(layout, _is_chunk_id)
        ledger.quarantined = diskquarantine.count(layout)
        log.info(
            "data dir {root}: {count} chunks, {used} bytes, {quarantined} quarantined",
            root=str(layout.root),
            count=ledger.chunk_count,
            used=ledger.used,
            quarantined=ledger.quarantined,
        )

    def close(self) -> None:
        """
        Remove the temp files of puts still in progress and release the data
        dir lock (idempotent).  Call it once no worker thread runs store work.
        """
        for writer in list(self._writers):
            writer.discard()
        self._writers.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run_to_end(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the executor; a cancellation of the caller does not stop it."""
        await asyncio.shield(asyncio.get_running_loop().run_in_executor(self._executor, fn))

    # -- space -------------------------------------------------------------

    def _written(self) -> int:
        """Bytes the puts in progress have in their temp files (the disk counts them already)."""
        return sum(writer.on_disk for writer in self._writers)

    async def usage(self) -> StoreUsage:
        """
        Capacity, bytes used by chunks, bytes free (minus what puts in progress
        reserved), the chunk count and the quarantine entries.

        The ``statvfs`` runs on the event loop's default executor, not on the
        store's, so a health check never waits behind chunk I/O.
        """
        loop = asyncio.get_running_loop()
        disk = await loop.run_in_executor(None, self._disk_space, self.layout.root)
        ledger = self._ledger
        return StoreUsage(
            ledger.effective_capacity(disk),
            ledger.used,
            ledger.free(disk, self._written()),
            ledger.chunk_count,
            ledger.quarantined,
        )

    # -- lookups -------------------------------------------------------------

    def _hasher_for(self, algorithm: str) -> Any:
        factory = self._algorithms.get(algorithm)
        return None if factory is None else factory()

    async def _quarantine(self, chunk_id: str, inode: tuple[int, int] | None, reason: str) -> None:
        await run_to_end(self._quarantine_now(chunk_id, inode, reason))

    async def _quarantine_now(
        self, chunk_id: str, inode: tuple[int, int] | None, reason: str
    ) -> None:
        async with self._locks(chunk_id):
            await self._move_aside(chunk_id, inode, reason)

    async def _move_aside(self, chunk_id: str, inode: tuple[int, int] | None, reason: str) -> None:
        """Quarantine a chunk and count it; the caller holds the chunk's lock."""
        size = await self._run(
            lambda: diskfiles.quarantine(self.layout, chunk_id, inode, reason, fsync=self._fsync)
        )
        if size is not None:
            self._ledger.moved_to_quarantine(size)
            log.warn(  # noqa: G010 (twisted.logger has no .warning)
                "quarantined chunk {chunk_id}: {reason}", chunk_id=chunk_id, reason=reason
            )

    async def _lookup(self, chunk_id: str) -> ChunkInfo | None:
        """The stored record, ``None`` when absent; a broken chunk is quarantined first."""
        try:
            return await self._run(diskfiles.read_info, self.layout, chunk_id)
        except BrokenChunk:
            return await self._settle_broken(chunk_id)

    async def _settle_broken(self, chunk_id: str) -> ChunkInfo | None:
        """
        Look again under the chunk's lock at a chunk that looked broken.

        Without the lock a read can race a delete (data file gone, sidecar
        not yet) or a commit; under it the files are consistent.

        :return: the record if the chunk is fine after all, ``None`` if it is gone.
        :raises CorruptChunk: when it is still broken (it is quarantined).
        """
        return await run_to_end(self._settle_broken_now(chunk_id))

    async def _settle_broken_now(self, chunk_id: str) -> ChunkInfo | None:
        async with self._locks(chunk_id):
            try:
                return await self._run(diskfiles.read_info, self.layout, chunk_id)
            except BrokenChunk as e:
                reason = str(e)
                await self._move_aside(chunk_id, None, reason)
        raise CorruptChunk(f"chunk {chunk_id} is corrupt ({reason}) and was quarantined")

    async def stat(self, chunk_id: str) -> ChunkInfo:
        """
        A chunk's record, from its sidecar (the data is not read).

        :raises ChunkNotFound: when there is no such chunk.
        :raises CorruptChunk: when its sidecar is broken (it is quarantined).
        """
        chunk_id = validate_chunk_id(chunk_id)
        info = await self._lookup(chunk_id)
        if info is None:
            raise ChunkNotFound(f"no chunk {chunk_id}")
        return info

    async def list(self, *, after: str = "", limit: int = 0) -> ChunkPage:
        """Up to ``limit`` chunk ids greater than ``after``, ascending."""
        limit, after = check_page(limit, after)
        ids, more = await self._run(diskwalk.list_ids, self.layout, after, limit, _is_chunk_id)
        return ChunkPage(tuple(ids), ids[-1] if more and ids else "")

    async def delete(self, chunk_id: str) -> bool:
        """Remove a chunk; ``False`` when there was none."""
        chunk_id = validate_chunk_id(chunk_id)
        return await run_to_end(self._delete_now(chunk_id))

    async def _delete_now(self, chunk_id: str) -> bool:
        async with self._locks(chunk_id):
            size = await self._run(
                lambda: diskfiles.remove(self.layout, chunk_id, fsync=self._fsync)
            )
            if size is None:
                return False
            self._ledger.removed(size)
        log.info("deleted chunk {chunk_id}", chunk_id=chunk_id)
        return True

    # -- quarantine ------------------------------------------------------------

    async def list_quarantined(self, *, after: str = "", limit: int = 0) -> QuarantinePage:
        """Up to ``limit`` quarantine entries with ids greater than ``after``, ascending."""
        limit, after = check_page(limit, after, check_entry_id)
        return await self._run(diskquarantine.list_page, self.layout, after, limit)

    async def drop_quarantined(self, entry_id: str) -> bool:
        """Remove a quarantine entry for good; ``False`` when there was none."""
        chunk_id, _ = check_entry_id(entry_id)
        return await run_to_end(self._drop_quarantined_now(chunk_id, entry_id))

    async def _drop_quarantined_now(self, chunk_id: str, entry_id: str) -> bool:
        async with self._locks(chunk_id):
            dropped = await self._run(
                lambda: diskquarantine.drop(self.layout, entry_id, fsync=self._fsync)
            )
            if dropped:
                self._ledger.quarantined -= 1
        if dropped:
            log.info("dropped quarantine entry {entry_id}", entry_id=entry_id)
        return dropped

    # -- put -------------------------------------------------------------

    async def put(
        self,
        chunk_id: str,
        *,
        size: int,
        algorithm: str,
        digest: str,
        data: AsyncIterable[bytes],
        transfer_crc32c: str | None = None,
    ) -> PutResult:
        """
        Store a chunk from ``data``, verifying ``size`` and ``digest`` as it arrives
        (or, when the sender gave one, ``transfer_crc32c``: see
        :func:`s3node.storage.checks.check_put_header`).

        :raises InvalidChunkId, InvalidRequest, TooLarge: for a bad header.
        :raises SizeMismatch: when ``data`` holds more or fewer bytes than ``size``.
        :raises ChecksumMismatch: when ``data`` does not match ``digest``.
        :raises ChunkExists: when another chunk is stored under ``chunk_id``.
        :raises InsufficientStorage: when it does not fit.
        """
        header = check_put_header(
            chunk_id=chunk_id,
            size=size,
            algorithm=algorithm,
            digest=digest,
            algorithms=self._algorithms,
            max_chunk_size=self._max_chunk_size,
            transfer_crc32c=transfer_crc32c,
        )
        existing, broken, disk = await self._run(self._look, header.chunk_id)
        if broken:  # settled under the chunk's lock
            try:
                existing = await self._settle_broken(header.chunk_id)
            except CorruptChunk:
                existing = None  # quarantined: store the new copy
        if existing is not None:
            check_same(existing, header)
            await drain_put(header, data)
            return put_result(existing, created=False)
        with self._ledger.reserve(header.size, disk, self._written()):
            return await self._put_new(header, data)

    def _look(self, chunk_id: str) -> tuple[ChunkInfo | None, bool, DiskSpace]:
        """
        A put's first look, on a worker in one go: the record stored under
        ``chunk_id`` (``None``: none, or broken), whether it looks broken (the
        caller settles that) and the file system's space.
        """
        try:
            info, broken = diskfiles.read_info(self.layout, chunk_id), False
        except BrokenChunk:
            info, broken = None, True
        return info, broken, self._disk_space(self.layout.root)

    async def _put_new(self, header: PutHeader, data: AsyncIterable[bytes]) -> PutResult:
        # Known here before its temp file exists (the first write creates it, on the
        # executor), so a cancellation at any point leaves nothing behind: discard
        # removes the file, and a create that comes after it makes none.
        writer = TempWriter(
            self.layout,
            header.chunk_id,
            header.size,
            header.checker(),
            fsync=self._fsync,
            write=self._write,
        )
        self._writers.add(writer)
        try:
            if isinstance(data, PouredData):
                await data.pour(writer.write)  # received and written on its own thread
            else:
                async for piece in data:
                    if piece:
                        await self._run(writer.write, piece)
            info = ChunkInfo(
                header.chunk_id, header.size, header.algorithm.name, header.digest, diskfiles.now()
            )
            await run_to_end(self._finish(writer, info, header.expected))
            existing = await run_to_end(self._commit(writer, info))
        finally:
            try:
                if not writer.discarded:  # a commit removes the temp file's name itself
                    await self._run_to_end(writer.discard)
            except RuntimeError:  # the executor is shut down: the node is stopping
                writer.discard()
            finally:
                self._writers.discard(writer)
        if existing is not None:
            check_same(existing, header)
            return put_result(existing, created=False)
        log.info("stored chunk {chunk_id} ({size} bytes)", chunk_id=info.chunk_id, size=info.size)
        return put_result(info, created=True)

    async def _finish(self, writer: TempWriter, info: ChunkInfo, digest: str) -> None:
        """
        Check and fsync the data while the sidecar is written and fsynced on
        another worker: the two fsyncs overlap (often one journal commit).
        Both are over when this returns or raises.
        """
        data = asyncio.ensure_future(
            self._run(timed_step, self._on_sync, "data", writer.finish, digest))
        meta = asyncio.ensure_future(
            self._run(lambda: diskfiles.write_sidecar(writer, info, fsync=self._fsync)))
        await asyncio.wait({data, meta})
        data.result()
        meta.result()

    async def _commit(self, writer: TempWriter, info: ChunkInfo) -> ChunkInfo | None:
        """Make a finished put visible and count it; the record already stored, if any."""
        async with self._locks(info.chunk_id):
            existing, quarantined = await self._run(
                lambda: timed_step(self._on_sync, "commit", diskfiles.commit, self.layout,
                                   writer, info, fsync=self._fsync)
            )
            if quarantined is not None:
                self._ledger.moved_to_quarantine(quarantined)
            if existing is None:
                self._ledger.stored(info.size)
        return existing

    # -- get -------------------------------------------------------------

    async def read(
        self, chunk_id: str, *, offset: int = 0, length: int | None = None, verify: bool = False,
        reader_verifies: bool = False,
    ) -> ChunkRead:
        """
        Open a chunk for reading ``length`` bytes from ``offset``.

        A whole-chunk read (or any read with ``verify``) reads and hashes the
        entire chunk and holds back its last piece until the digest matched; on
        a mismatch the chunk is quarantined and iteration raises
        :class:`CorruptChunk`.  A range read without ``verify``, or a
        whole-chunk one with ``reader_verifies`` (the gateway hashes what it
        reads), reads only its bytes and is not verified.

        :raises ChunkNotFound: when there is no such chunk.
        :raises CorruptChunk: when its sidecar is broken (it is quarantined).
        :raises InvalidRange: when the range reaches past the end.
        """
        chunk_id = validate_chunk_id(chunk_id)
        try:
            f = await self._run(ChunkFile.open, self.layout, chunk_id, self._hasher_for)
        except FileNotFoundError:
            raise ChunkNotFound(f"no chunk {chunk_id}") from None
        except BrokenChunk:
            if await self._settle_broken(chunk_id) is None:
                raise ChunkNotFound(f"no chunk {chunk_id}") from None
            # Fine after all (a concurrent commit): open it again.
            f = await self._run(ChunkFile.open, self.layout, chunk_id, self._hasher_for)
        try:
            offset, length = check_range(f.info.size, offset, length)
        except BaseException:
            await self._run_to_end(f.close)
            raise
        verifying = verify or (offset == 0 and length == f.info.size and not reader_verifies)
        close = partial(self._run_to_end, f.close)
        return ChunkRead(
            f.info,
            offset,
            length,
            read_pieces(f, offset, length, verifying, run=self._run, close=close,
                        corrupt=self._corrupt),
            closer=close,
            copy_into=None if verifying else partial(copy_into, f, offset, length, run=self._run,
                                                     corrupt=self._corrupt),
        )

    async def _corrupt(self, f: ChunkFile, reason: str) -> NoReturn:
        chunk_id = f.info.chunk_id
        await self._quarantine(chunk_id, f.inode, reason)
        raise CorruptChunk(f"chunk {chunk_id} is corrupt ({reason}) and was quarantined")
