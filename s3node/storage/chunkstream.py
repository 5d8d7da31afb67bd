"""
The bytes of a GetChunk call, as the gateway reads them
(:meth:`s3node.storage.client.StorageClient.get_chunk`).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC
from types import TracebackType
from typing import Any, Self

import grpc

from s3node.errors import S3NodeError
from s3node.storage.errors import error_from_rpc
from s3node.storage.types import ChunkInfo

__all__ = ["ChunkStream", "chunk_info"]


def chunk_info(message: Any) -> ChunkInfo:
    """A ``ChunkInfo`` message as the node's record."""
    return ChunkInfo(
        chunk_id=message.chunk_id,
        size=message.size,
        algorithm=message.checksum_algorithm,
        digest=message.digest,
        created=message.created.ToDatetime(tzinfo=UTC),
    )


class ChunkStream:
    """
    The bytes of a GetChunk call, as an async iterator of ``bytes`` pieces.

    ``async for piece in client.get_chunk(...)`` works, and so does
    ``async for piece in await client.get_chunk(...)`` (awaiting returns the
    stream itself).  Await :meth:`start` first to learn the chunk's record, or
    its error (``ChunkNotFound``...), before the first byte.  Iterating to the
    end means the node finished the read (and, for a whole-chunk read,
    verified it); an error raises the mapped s3node error, e.g.
    :class:`s3node.errors.CorruptChunk`.  Call :meth:`aclose` (or use
    ``async with``) to abandon a read early.
    """

    def __init__(self, call: Any, address: str) -> None:
        self._call = call
        self._address = address
        #: the chunk's record, once :meth:`start` returned
        self.info: ChunkInfo | None = None
        self._started = False
        self._done = False

    async def _read(self) -> Any:
        try:
            message = await self._call.read()
        except grpc.RpcError as e:
            self._done = True
            raise error_from_rpc(e, self._address) from None
        if message is grpc.aio.EOF:
            self._done = True
            return None
        return message

    async def start(self) -> ChunkInfo:
        """Wait for the node's first reply and return the chunk's record."""
        if not self._started:
            message = await self._read()
            if message is None or message.WhichOneof("kind") != "info":
                self._done = True
                raise S3NodeError(f"storage node {self._address}: GetChunk reply lacks the record")
            self.info = chunk_info(message.info)
            self._started = True
        assert self.info is not None
        return self.info

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> bytes:
        await self.start()
        while not self._done:
            message = await self._read()
            if message is None:
                break
            if message.WhichOneof("kind") == "data" and message.data:
                return bytes(message.data)
        raise StopAsyncIteration

    def __await__(self) -> Generator[Any, None, ChunkStream]:
        async def itself() -> ChunkStream:
            return self

        return itself().__await__()

    async def aclose(self) -> None:
        """Abandon the read (cancels the call if it is still running)."""
        if not self._done:
            self._done = True
            self._call.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
