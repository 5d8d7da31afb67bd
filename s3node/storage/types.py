"""
The values a chunk store and the storage client hand back.

These plain frozen dataclasses are shared by the disk and memory chunk stores
(:mod:`s3node.storage.diskstore`, :mod:`s3node.storage.memorystore`), the gRPC
servicer and :class:`s3node.storage.client.StorageClient`, so a caller sees the
same types whether it talks to a store in-process or to a node over gRPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "ChunkInfo",
    "ChunkPage",
    "ChunkRead",
    "ChunkStat",
    "NodeHealth",
    "PouredData",
    "PutResult",
    "QuarantineEntry",
    "QuarantinePage",
    "StoreUsage",
]


@dataclass(frozen=True)
class ChunkInfo:
    """A stored chunk's record."""

    chunk_id: str
    #: length in bytes
    size: int
    #: checksum algorithm name, e.g. ``"sha256"``
    algorithm: str
    #: lowercase hex digest under :attr:`algorithm`
    digest: str
    #: when the node stored it (timezone-aware, UTC)
    created: datetime


#: what :meth:`StorageClient.stat_chunk` returns
ChunkStat = ChunkInfo


@dataclass(frozen=True)
class PutResult:
    """The outcome of storing a chunk."""

    chunk_id: str
    size: int
    algorithm: str
    digest: str
    #: ``False`` when an identical chunk was already stored under this id
    created: bool


@dataclass(frozen=True)
class ChunkPage:
    """One page of chunk ids, in ascending order."""

    chunk_ids: tuple[str, ...]
    #: pass back to get the next page; ``""`` on the last page
    next_page_token: str


@dataclass(frozen=True)
class StoreUsage:
    """How full a chunk store is, in bytes."""

    capacity: int
    used: int
    free: int
    chunk_count: int
    #: quarantine entries kept (see :mod:`s3node.storage.quarantine`)
    quarantined: int = 0


@dataclass(frozen=True)
class NodeHealth:
    """A storage node's answer to a health check."""

    node_id: str
    capacity: int
    used: int
    free: int
    chunk_count: int
    version: str = ""
    #: quarantine entries the node keeps (0 from a node too old to say)
    quarantined: int = 0
    #: the port of the node's bulk put listener (0: none)
    bulk_port: int = 0


@dataclass(frozen=True)
class QuarantineEntry:
    """A chunk a store moved aside because it failed verification."""

    #: names the entry: ``<chunk id>.<epoch nanoseconds>``
    entry_id: str
    chunk_id: str
    #: why the store quarantined it
    reason: str
    #: when (timezone-aware, UTC)
    quarantined_at: datetime
    #: bytes of the quarantined data
    size: int


@dataclass(frozen=True)
class QuarantinePage:
    """One page of quarantine entries, ascending by entry id."""

    entries: tuple[QuarantineEntry, ...]
    #: pass back to get the next page; ``""`` on the last page
    next_page_token: str


@dataclass
class ChunkRead:
    """
    An open read of a chunk: its record and its bytes.

    Iterate :attr:`pieces` (an async generator) to the end, which releases
    the file; call :meth:`aclose` when giving up early (or not iterating at all).
    """

    info: ChunkInfo
    #: the first byte served
    offset: int
    #: how many bytes :attr:`pieces` yields in total
    length: int
    pieces: AsyncIterator[bytes]
    #: releases what the read holds (called by :meth:`aclose`)
    closer: Callable[[], Awaitable[None]] | None = None
    #: instead of iterating :attr:`pieces`: write the bytes at the start of
    #: the file descriptor given (kernel to kernel) and return how many;
    #: ``None`` when the store cannot (a read it must hash, a store in memory)
    copy_into: Callable[[int], Awaitable[int]] | None = None

    async def aclose(self) -> None:
        """Stop reading and release the underlying file (idempotent)."""
        aclose = getattr(self.pieces, "aclose", None)
        if aclose is not None:
            await aclose()
        if self.closer is not None:
            await self.closer()


@runtime_checkable
class PouredData(AsyncIterable[bytes], Protocol):
    """
    A put's data that can also be poured: received and written on a thread
    of its own (the bulk data path, :mod:`s3node.storage.bulkserver`), which
    :class:`~s3node.storage.diskstore.DiskChunkStore` prefers to iterating it.
    """

    async def pour(self, write: Callable[[memoryview], object]) -> None:
        """
        Hand every byte to ``write`` in order (blocking: called on the
        data's own thread); returns once all came and were written.
        """
