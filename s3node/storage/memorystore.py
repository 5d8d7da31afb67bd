"""
A chunk store in memory: the test fake of :class:`s3node.interfaces.ChunkStore`.

It follows the disk store's contract (the same checks, errors, verification
and quarantine) so the contract tests run against both, but it holds every
chunk in memory and hashes on the calling thread: use it for tests and small
throwaway setups only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping

from s3node.core.checksums import digest_matches
from s3node.core.chunking import FRAME_SIZE
from s3node.core.ids import validate_chunk_id
from s3node.errors import (
    ChecksumMismatch,
    ChunkNotFound,
    CorruptChunk,
    SizeMismatch,
)
from s3node.interfaces import ChecksumAlgorithm
from s3node.storage.checks import (
    PutHeader,
    check_page,
    check_put_header,
    check_range,
    check_same,
    drain_put,
    put_result,
)
from s3node.storage.diskfiles import now
from s3node.storage.ledger import Ledger
from s3node.storage.quarantine import (
    check_entry_id,
    entry_id,
    entry_time,
    page_ids,
)
from s3node.storage.types import (
    ChunkInfo,
    ChunkPage,
    ChunkRead,
    PutResult,
    QuarantineEntry,
    QuarantinePage,
    StoreUsage,
)

__all__ = ["MemoryChunkStore"]


class MemoryChunkStore:
    """A :class:`s3node.interfaces.ChunkStore` in a dict."""

    def __init__(
        self,
        *,
        algorithms: Mapping[str, ChecksumAlgorithm],
        max_chunk_size: int,
        capacity: int = 1 << 40,
    ) -> None:
        self._algorithms = algorithms
        self._max_chunk_size = max_chunk_size
        self._ledger = Ledger(capacity)
        self._chunks: dict[str, tuple[ChunkInfo, bytearray]] = {}
        #: quarantine entries by entry id, with the bytes that failed verification
        self._quarantine: dict[str, tuple[QuarantineEntry, bytes]] = {}
        self._last_ns = 0

    def corrupt(self, chunk_id: str, position: int = 0) -> None:
        """Flip one bit of a stored chunk (for tests of verification)."""
        self._chunks[chunk_id][1][position] ^= 0x01

    async def usage(self) -> StoreUsage:
        """Capacity, bytes used, bytes free (minus what puts in progress reserved), chunk count."""
        ledger = self._ledger
        return StoreUsage(
            ledger.effective_capacity(),
            ledger.used,
            ledger.free(),
            ledger.chunk_count,
            ledger.quarantined,
        )

    async def stat(self, chunk_id: str) -> ChunkInfo:
        """A chunk's record."""
        chunk_id = validate_chunk_id(chunk_id)
        try:
            return self._chunks[chunk_id][0]
        except KeyError:
            raise ChunkNotFound(f"no chunk {chunk_id}") from None

    async def list(self, *, after: str = "", limit: int = 0) -> ChunkPage:
        """Up to ``limit`` chunk ids greater than ``after``, ascending."""
        limit, after = check_page(limit, after)
        ids = sorted(i for i in self._chunks if i > after)
        page = ids[:limit]
        return ChunkPage(tuple(page), page[-1] if len(ids) > limit else "")

    async def delete(self, chunk_id: str) -> bool:
        """Remove a chunk; ``False`` when there was none."""
        removed = self._chunks.pop(validate_chunk_id(chunk_id), None)
        if removed is None:
            return False
        self._ledger.removed(removed[0].size)
        return True

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
        """Store a chunk, with the disk store's checks and errors."""
        header = check_put_header(
            chunk_id=chunk_id,
            size=size,
            algorithm=algorithm,
            digest=digest,
            algorithms=self._algorithms,
            max_chunk_size=self._max_chunk_size,
            transfer_crc32c=transfer_crc32c,
        )
        existing = self._chunks.get(header.chunk_id)
        if existing is not None:
            check_same(existing[0], header)
            await drain_put(header, data)
            return put_result(existing[0], created=False)
        with self._ledger.reserve(header.size):
            return await self._put_new(header, data)

    async def _put_new(self, header: PutHeader, data: AsyncIterable[bytes]) -> PutResult:
        hasher = header.checker()
        buf = bytearray()
        async for piece in data:
            if len(buf) + len(piece) > header.size:
                raise SizeMismatch(f"received more than the declared {header.size} bytes")
            hasher.update(piece)
            buf += piece
        if len(buf) != header.size:
            raise SizeMismatch(f"received {len(buf)} of the declared {header.size} bytes")
        if not digest_matches(header.expected, hasher.hexdigest()):
            raise ChecksumMismatch(f"chunk {header.chunk_id}: {hasher.name} digest differs")
        existing = self._chunks.get(header.chunk_id)
        if existing is not None:  # a concurrent put won
            check_same(existing[0], header)
            return put_result(existing[0], created=False)
        info = ChunkInfo(header.chunk_id, header.size, header.algorithm.name, header.digest, now())
        self._chunks[header.chunk_id] = (info, buf)
        self._ledger.stored(info.size)
        return put_result(info, created=True)

    async def read(
        self, chunk_id: str, *, offset: int = 0, length: int | None = None, verify: bool = False,
        reader_verifies: bool = False,
    ) -> ChunkRead:
        """Open a chunk for reading; whole reads (or ``verify``) are verified."""
        chunk_id = validate_chunk_id(chunk_id)
        try:
            info, buf = self._chunks[chunk_id]
        except KeyError:
            raise ChunkNotFound(f"no chunk {chunk_id}") from None
        offset, length = check_range(info.size, offset, length)
        verifying = verify or (offset == 0 and length == info.size and not reader_verifies)
        return ChunkRead(info, offset, length, self._pieces(info, buf, offset, length, verifying))

    async def _pieces(
        self, info: ChunkInfo, buf: bytearray, offset: int, length: int, verifying: bool
    ) -> AsyncIterator[bytes]:
        data = bytes(buf)
        if verifying:
            hasher = self._algorithms[info.algorithm]()
            hasher.update(data)
            if not digest_matches(info.digest, hasher.hexdigest()):
                if self._chunks.get(info.chunk_id, (None,))[0] is info:
                    self._move_aside(info, data, "digest differs from the record")
                raise CorruptChunk(f"chunk {info.chunk_id} is corrupt and was quarantined")
        for pos in range(offset, offset + length, FRAME_SIZE):
            yield data[pos : min(pos + FRAME_SIZE, offset + length)]

    def _move_aside(self, info: ChunkInfo, data: bytes, reason: str) -> None:
        """Turn a stored chunk into a quarantine entry."""
        ns = self._last_ns = max(time.time_ns(), self._last_ns + 1)
        key = entry_id(info.chunk_id, ns)
        entry = QuarantineEntry(key, info.chunk_id, reason, entry_time(ns), info.size)
        self._quarantine[key] = (entry, data)
        del self._chunks[info.chunk_id]
        self._ledger.moved_to_quarantine(info.size)

    async def list_quarantined(self, *, after: str = "", limit: int = 0) -> QuarantinePage:
        """Up to ``limit`` quarantine entries with ids greater than ``after``, ascending."""
        limit, after = check_page(limit, after, check_entry_id)
        ids, token = page_ids(self._quarantine, after, limit)
        return QuarantinePage(tuple(self._quarantine[i][0] for i in ids), token)

    async def drop_quarantined(self, entry_id: str) -> bool:
        """Remove a quarantine entry for good; ``False`` when there was none."""
        check_entry_id(entry_id)
        if self._quarantine.pop(entry_id, None) is None:
            return False
        self._ledger.quarantined -= 1
        return True
