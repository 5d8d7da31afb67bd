"""
Fakes of the gateway's collaborators, for tests of the gateway layer alone.

:class:`FakeNode` is an in-memory :class:`~s3node.interfaces.NodeClient` with
switches to make it fail, corrupt or stall.  The metadata store needs no fake:
the tests use the shipped :class:`s3node.metadata.memory.MemoryMetadataStore`
(its ``down`` switch simulates an outage).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from s3node.core.checksums import BUILTIN_ALGORITHMS, CRC32C, hexdigest_of
from s3node.errors import ChunkNotFound, Unavailable
from s3node.storage.types import (
    ChunkInfo,
    ChunkPage,
    NodeHealth,
    PutResult,
    QuarantineEntry,
    QuarantinePage,
)


class FakeNode:
    """
    An in-memory :class:`~s3node.interfaces.NodeClient`; set ``down`` or
    ``corrupt`` to misbehave, ``gate`` or ``read_gate`` to stall.
    """

    message_size = 64 * 1024

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.address = f"{node_id}:1"
        self.chunks: dict[str, bytes] = {}
        self.down = False
        #: ids of chunks whose bytes come back flipped
        self.corrupt: set[str] = set()
        self.puts = 0
        #: each put's ``transfer_crc32c`` (checked against the bytes when given)
        self.transfer_checks: list[str | None] = []
        self.reads = 0
        #: reads asked for in one call (get_small_chunk), also counted in ``reads``
        self.small_reads = 0
        #: when set, puts wait until the event is set (a stalled node)
        self.gate: asyncio.Event | None = None
        #: puts waiting at ``gate`` right now
        self.stalled = 0
        #: when each chunk was first stored, by id (``StatChunk``'s ``created``)
        self.created: dict[str, datetime] = {}
        #: what the node moved aside, by entry id
        self.quarantined: dict[str, QuarantineEntry] = {}
        #: the node's clock; tests point it at their fake clock
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        #: reads asked for, by chunk id (whether or not they were served)
        self.asked: Counter[str] = Counter()
        #: reads the node would have hashed (``verify``, or no ``reader_verifies``)
        self.verified_reads: Counter[str] = Counter()
        #: reads it would have served unhashed (``reader_verifies`` without ``verify``)
        self.unhashed_reads: Counter[str] = Counter()
        #: when set, reads wait before their first piece until the event is set
        self.read_gate: asyncio.Event | None = None
        #: reads begun and not yet finished or closed
        self.open_reads = 0
        #: the most reads open at once so far
        self.most_open_reads = 0
        #: bytes the node reports as its capacity
        self.capacity = 10**9
        #: when set, puts raise it (before storing, or after with ``put_error_after_commit``)
        self.put_error: Exception | None = None
        self.put_error_after_commit = False

    def _check(self) -> None:
        if self.down:
            raise Unavailable(f"node {self.node_id} is down")

    async def put_chunk(self, chunk_id: str, data: bytes | memoryview, *, algorithm: str,
                        digest: str, transfer_crc32c: str | None = None,
                        timeout: float | None = None) -> PutResult:
        await asyncio.sleep(0)
        if self.gate is not None and not self.gate.is_set():
            self.stalled += 1
            try:
                await self.gate.wait()
            finally:
                self.stalled -= 1
        self._check()
        if self.put_error is not None and not self.put_error_after_commit:
            raise self.put_error
        assert hexdigest_of(BUILTIN_ALGORITHMS[algorithm], bytes(data)) == digest
        if transfer_crc32c is not None:
            assert hexdigest_of(CRC32C, bytes(data)) == transfer_crc32c
        self.transfer_checks.append(transfer_crc32c)
        created = chunk_id not in self.chunks
        self.chunks[chunk_id] = bytes(data)
        self.created.setdefault(chunk_id, self.now())
        self.puts += 1
        if self.put_error is not None:
            raise self.put_error  # committed, but the reply is lost
        return PutResult(chunk_id, len(data), algorithm, digest, created)

    async def put_chunk_stream(self, chunk_id: str, size: int, algorithm: str, digest: str,
                               frames: AsyncIterable[bytes | memoryview], *,
                               transfer_crc32c: str | None = None,
                               timeout: float | None = None) -> PutResult:
        data = b"".join([bytes(f) async for f in frames])
        assert len(data) == size
        return await self.put_chunk(chunk_id, data, algorithm=algorithm, digest=digest,
                                    transfer_crc32c=transfer_crc32c, timeout=timeout)

    async def _stream(self, data: bytes) -> AsyncGenerator[bytes]:
        self.open_reads += 1
        self.most_open_reads = max(self.most_open_reads, self.open_reads)
        try:
            if self.read_gate is not None:
                await self.read_gate.wait()
            for i in range(0, len(data), self.message_size):
                await asyncio.sleep(0)
                self._check()
                yield data[i:i + self.message_size]
        finally:
            self.open_reads -= 1

    def get_chunk(self, chunk_id: str, *, offset: int = 0, length: int | None = None,
                  verify: bool = False, reader_verifies: bool = False,
                  timeout: float | None = None) -> AsyncGenerator[bytes]:
        self.asked[chunk_id] += 1
        (self.verified_reads if verify or not reader_verifies else self.unhashed_reads)[
            chunk_id] += 1
        self._check()
        if chunk_id not in self.chunks:
            raise ChunkNotFound(chunk_id)
        self.reads += 1
        data = self.chunks[chunk_id]
        if chunk_id in self.corrupt:
            data = bytes([data[0] ^ 1]) + data[1:]
        end = len(data) if length is None else offset + length
        return self._stream(data[offset:end])

    async def get_chunk_local(self, chunk_id: str, size: int, *,
                              timeout: float | None = None) -> list[bytes] | None:
        """A fake node is never on the gateway's host: GetChunk it is."""
        return None

    def get_small_chunk(self, chunk_id: str, *, offset: int = 0, length: int | None = None,
                        verify: bool = False, reader_verifies: bool = False,
                        timeout: float | None = None) -> Coroutine[Any, Any, bytes]:
        """:meth:`get_chunk`'s bytes joined (asked for, and counted, at the call)."""
        self.small_reads += 1
        stream = self.get_chunk(chunk_id, offset=offset, length=length, verify=verify,
                                reader_verifies=reader_verifies, timeout=timeout)

        async def joined() -> bytes:
            return b"".join([piece async for piece in stream])

        return joined()

    async def delete_chunk(self, chunk_id: str, *, timeout: float | None = None) -> bool:
        self._check()
        return self.chunks.pop(chunk_id, None) is not None

    async def list_chunks(self, page_size: int = 1000, page_token: str = "", *,
                          timeout: float | None = None) -> ChunkPage:
        self._check()
        ids = sorted(c for c in self.chunks if c > page_token)
        page = tuple(ids[:page_size])
        return ChunkPage(page, page[-1] if len(ids) > page_size else "")

    async def stat_chunk(self, chunk_id: str, *, timeout: float | None = None) -> ChunkInfo:
        self._check()
        if chunk_id not in self.chunks:
            raise ChunkNotFound(chunk_id)
        data = self.chunks[chunk_id]
        digest = hashlib.sha256(data).hexdigest()
        return ChunkInfo(chunk_id, len(data), "sha256", digest, self.created[chunk_id])

    def quarantine(self, chunk_id: str, reason: str = "checksum mismatch") -> None:
        """Move ``chunk_id`` aside, as a node does with a chunk that fails verification."""
        data = self.chunks.pop(chunk_id)
        entry_id = f"{chunk_id}.{len(self.quarantined)}"
        self.quarantined[entry_id] = QuarantineEntry(
            entry_id, chunk_id, reason, datetime.now(UTC), len(data))

    async def list_quarantined(self, page_size: int = 1000, page_token: str = "", *,
                               timeout: float | None = None) -> QuarantinePage:
        self._check()
        ids = sorted(e for e in self.quarantined if e > page_token)
        page = ids[:page_size]
        return QuarantinePage(tuple(self.quarantined[e] for e in page),
                              page[-1] if len(ids) > page_size else "")

    async def drop_quarantined(self, entry_id: str, *, timeout: float | None = None) -> bool:
        self._check()
        return self.quarantined.pop(entry_id, None) is not None

    async def health(self, timeout: float | None = None) -> NodeHealth:
        self._check()
        used = sum(map(len, self.chunks.values()))
        return NodeHealth(self.node_id, self.capacity, used, self.capacity - used,
                          len(self.chunks))

    async def close(self) -> None:
        pass


if TYPE_CHECKING:  # the fakes satisfy the seams they stand in for (checked by mypy)
    from s3node.interfaces import MetadataStore, NodeClient
    from s3node.metadata.memory import MemoryMetadataStore

    _store: MetadataStore = MemoryMetadataStore()
    _node: NodeClient = FakeNode("n")
