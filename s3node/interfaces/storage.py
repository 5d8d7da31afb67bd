"""
The storage side's seams: a node's chunk store and the gateway's client of a
node.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from s3node.storage.types import (
        ChunkInfo,
        ChunkPage,
        ChunkRead,
        NodeHealth,
        PutResult,
        QuarantinePage,
        StoreUsage,
    )


class ChunkStore(Protocol):
    """
    Where a storage node keeps chunks: :class:`s3node.storage.diskstore.DiskChunkStore`
    (a node's disk) and :class:`s3node.storage.memorystore.MemoryChunkStore`
    (the test fake); one contract suite (``tests/storage/test_store_contract.py``)
    runs against both, and against a real node through gRPC.

    Every method is an asyncio coroutine function.  Chunk ids are checked with
    :func:`s3node.core.ids.validate_chunk_id` before anything else
    (:class:`s3node.errors.InvalidChunkId`); an unknown chunk raises
    :class:`s3node.errors.ChunkNotFound`.
    """

    async def put(
        self, chunk_id: str, *, size: int, algorithm: str, digest: str, data: AsyncIterable[bytes],
        transfer_crc32c: str | None = None,
    ) -> PutResult:
        """
        Store the chunk ``data`` yields, verifying ``size`` and ``digest`` as
        it arrives; it becomes visible only once complete and verified.  With
        ``transfer_crc32c`` (the sender's CRC-32C of the bytes it computed
        ``digest`` over) the bytes are checked against that instead, and
        ``digest`` is recorded as given.
        Putting an identical chunk again returns ``created=False``; other
        content under a stored id raises :class:`s3node.errors.ChunkExists`.
        """

    async def read(
        self, chunk_id: str, *, offset: int = 0, length: int | None = None, verify: bool = False,
        reader_verifies: bool = False,
    ) -> ChunkRead:
        """
        Open ``length`` bytes from ``offset`` (to the end when ``None``).
        Whole-chunk reads (unless ``reader_verifies``: the reader hashes the
        bytes itself), and reads with ``verify``, check the digest and
        quarantine a chunk that fails (iteration raises
        :class:`s3node.errors.CorruptChunk`).
        """

    async def stat(self, chunk_id: str) -> ChunkInfo:
        """The chunk's record, without reading its bytes."""

    async def delete(self, chunk_id: str) -> bool:
        """Remove the chunk; ``False`` when there was none."""

    async def list(self, *, after: str = "", limit: int = 0) -> ChunkPage:
        """Up to ``limit`` (0: the default) ids greater than ``after``, ascending."""

    async def usage(self) -> StoreUsage:
        """Capacity, used and free bytes and the chunk count."""


class ChunkReader(Protocol):
    """
    The bytes of one chunk read from a node, as an async iterator of pieces.

    Iterating to the end means the node finished the read (and verified it,
    for a whole-chunk or ``verify`` read); errors raise the mapped
    :mod:`s3node.errors` class (``ChunkNotFound``, ``CorruptChunk``,
    ``Unavailable``...).  :meth:`aclose` abandons the read early.
    """

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Iterate over the chunk's pieces."""

    async def aclose(self) -> None:
        """Abandon the read; safe to call more than once."""


class NodeClient(Protocol):
    """
    The gateway's client of one storage node:
    :class:`s3node.storage.client.StorageClient` over gRPC, and the fake
    (``tests/gateway/gateway_fakes.py``) for tests of the gateway alone.

    Every method is an asyncio coroutine function (bridge it to Twisted with
    :func:`s3node._aio.aio`).  A node that does not answer in ``timeout``
    seconds raises :class:`s3node.errors.Unavailable`; other failures raise
    the :mod:`s3node.errors` class the node reported.
    """

    #: ``host:port`` of the node
    address: str

    async def put_chunk(
        self,
        chunk_id: str,
        data: bytes | memoryview,
        *,
        algorithm: str,
        digest: str,
        transfer_crc32c: str | None = None,
        timeout: float | None = None,
    ) -> PutResult:
        """
        Store ``data`` as ``chunk_id``; the node verifies ``digest`` before
        keeping it, or ``transfer_crc32c`` when given (the CRC-32C of the same
        bytes, computed with ``digest``: docs/grpc.md).
        """

    async def put_chunk_stream(
        self,
        chunk_id: str,
        size: int,
        algorithm: str,
        digest: str,
        frames: AsyncIterable[bytes | memoryview],
        *,
        transfer_crc32c: str | None = None,
        timeout: float | None = None,
    ) -> PutResult:
        """Store the ``size`` bytes ``frames`` yields as ``chunk_id``, verified like :meth:`put_chunk`."""

    def get_chunk(
        self,
        chunk_id: str,
        *,
        offset: int = 0,
        length: int | None = None,
        verify: bool = False,
        reader_verifies: bool = False,
        timeout: float | None = None,
    ) -> ChunkReader:
        """
        Read ``length`` bytes of ``chunk_id`` from ``offset`` (the rest when
        ``None``); ``reader_verifies``: the caller hashes them itself.
        """

    async def get_small_chunk(
        self,
        chunk_id: str,
        *,
        offset: int = 0,
        length: int | None = None,
        verify: bool = False,
        reader_verifies: bool = False,
        timeout: float | None = None,
    ) -> bytes:
        """
        The bytes :meth:`get_chunk` reads, in one call, for a read of at most
        :data:`s3node.storage.wire.SMALL_CHUNK` bytes; raises what reading
        :meth:`get_chunk` raises.
        """

    async def get_chunk_local(
        self, chunk_id: str, size: int, *, timeout: float | None = None
    ) -> list[bytes] | None:
        """
        The whole ``size``-byte chunk for a caller that verifies it (as
        :meth:`get_chunk` with ``reader_verifies``), through the node's local
        socket when it is on this host; ``None`` when it is not (or the
        read did not fit: a stored size other than ``size``): use :meth:`get_chunk`.
        """

    async def delete_chunk(self, chunk_id: str, *, timeout: float | None = None) -> bool:
        """Remove ``chunk_id``; ``False`` when the node had no such chunk."""

    async def list_chunks(
        self, page_size: int = 1000, page_token: str = "", *, timeout: float | None = None
    ) -> ChunkPage:
        """A page of the node's chunk ids, ascending; pass ``next_page_token`` back."""

    async def stat_chunk(self, chunk_id: str, *, timeout: float | None = None) -> ChunkInfo:
        """The chunk's record (size, digest, ``created``) without its bytes."""

    async def list_quarantined(
        self, page_size: int = 1000, page_token: str = "", *, timeout: float | None = None
    ) -> QuarantinePage:
        """A page of the chunks the node found corrupt and moved aside."""

    async def drop_quarantined(self, entry_id: str, *, timeout: float | None = None) -> bool:
        """Remove a quarantine entry for good; ``False`` when there was none."""

    async def health(self, timeout: float | None = None) -> NodeHealth:
        """The node's id, capacity, used and free bytes and chunk count."""

    async def close(self) -> None:
        """Release the connection."""
