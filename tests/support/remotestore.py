"""
A storage node seen as a :class:`s3node.interfaces.ChunkStore`: the chunk
store protocol over :class:`s3node.storage.client.StorageClient`.

A test adapter: it lets the chunk store contract suite run through the whole
gRPC edge (client, wire, servicer) against a real node.  Production code talks
to nodes through :class:`s3node.interfaces.NodeClient` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from s3node.storage.client import ChunkStream, StorageClient
from s3node.storage.types import (
    ChunkInfo,
    ChunkPage,
    ChunkRead,
    PutResult,
    QuarantinePage,
    StoreUsage,
)

__all__ = ["RemoteChunkStore"]


class RemoteChunkStore:
    """A :class:`s3node.storage.quarantine.QuarantineStore` backed by one storage node."""

    def __init__(self, client: StorageClient, *, timeout: float | None = None) -> None:
        self.client = client
        self._timeout = timeout

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
        """Store a chunk on the node."""
        return await self.client.put_chunk_stream(
            chunk_id, size, algorithm, digest, data, transfer_crc32c=transfer_crc32c,
            timeout=self._timeout,
        )

    async def read(
        self, chunk_id: str, *, offset: int = 0, length: int | None = None, verify: bool = False,
        reader_verifies: bool = False,
    ) -> ChunkRead:
        """Open a read on the node; its errors (not found, bad range...) raise here."""
        stream = self.client.get_chunk(
            chunk_id, offset=offset, length=length, verify=verify,
            reader_verifies=reader_verifies, timeout=self._timeout,
        )
        try:
            info = await stream.start()
        except BaseException:
            await stream.aclose()
            raise
        served = info.size - offset if length is None else length
        return ChunkRead(info, offset, served, _pieces(stream), closer=stream.aclose)

    async def stat(self, chunk_id: str) -> ChunkInfo:
        """The chunk's record on the node."""
        return await self.client.stat_chunk(chunk_id, timeout=self._timeout)

    async def delete(self, chunk_id: str) -> bool:
        """Remove the chunk from the node."""
        return await self.client.delete_chunk(chunk_id, timeout=self._timeout)

    async def list(self, *, after: str = "", limit: int = 0) -> ChunkPage:
        """A page of the node's chunk ids."""
        return await self.client.list_chunks(limit, after, timeout=self._timeout)

    async def usage(self) -> StoreUsage:
        """The node's space, chunk count and quarantine entries, from its health report."""
        health = await self.client.health(self._timeout)
        return StoreUsage(
            health.capacity, health.used, health.free, health.chunk_count, health.quarantined
        )

    async def list_quarantined(self, *, after: str = "", limit: int = 0) -> QuarantinePage:
        """A page of the node's quarantine entries."""
        return await self.client.list_quarantined(limit, after, timeout=self._timeout)

    async def drop_quarantined(self, entry_id: str) -> bool:
        """Remove a quarantine entry from the node."""
        return await self.client.drop_quarantined(entry_id, timeout=self._timeout)


async def _pieces(stream: ChunkStream) -> AsyncIterator[bytes]:
    try:
        async for piece in stream:
            yield piece
    finally:
        await stream.aclose()
