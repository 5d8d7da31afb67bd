"""
A PutChunk stream as the servicer reads it (:mod:`s3node.storage.servicer`):
its header and then its data, each message decoded with a bounded wait, and
what is left of a failed one read before the node answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.errors import InvalidRequest, S3NodeError
from s3node.storage.limits import IdleTimeout
from s3node.storage.messages import decodable

__all__ = ["DRAIN_LIMIT", "DRAIN_SECONDS", "decoded", "drain", "once", "split_put_stream"]

#: the most bytes, and seconds, a failed put's stream is read on before the error is sent
DRAIN_LIMIT = 64 * 1024 * 1024
DRAIN_SECONDS = 30.0


async def once(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as a chunk store's ``data`` iterator (one piece)."""
    if data:
        yield data


async def drain(requests: AsyncIterator[Any]) -> None:
    """
    Read what is left of a failed PutChunk stream, up to :data:`DRAIN_LIMIT`
    bytes and :data:`DRAIN_SECONDS`, before the node answers with its error.

    A client still writing when the node aborts gets grpc's local "Internal
    error from Core" instead of the node's status; letting it finish writing
    first delivers the real status (``ALREADY_EXISTS``, ``RESOURCE_EXHAUSTED``...).
    Past the limits the node aborts anyway.
    """

    async def read_rest() -> None:
        received = 0
        async for request in requests:
            received += len(request.data)
            if received > DRAIN_LIMIT:
                return

    try:
        await asyncio.wait_for(read_rest(), DRAIN_SECONDS)
    except (TimeoutError, S3NodeError, grpc.RpcError):
        pass


async def decoded(requests: AsyncIterable[Any], idle: IdleTimeout) -> AsyncIterator[Any]:
    """
    The messages of a PutChunk stream; one protobuf cannot decode is a bad
    request, and a stream silent for ``idle.seconds`` raises :class:`PutStalled`.
    """
    it = aiter(requests)
    while True:
        try:
            request = await idle.next(it, "the PutChunk stream")
        except StopAsyncIteration:
            return
        except DecodeError as e:
            raise InvalidRequest(f"undecodable PutChunk message: {e}") from None
        yield decodable(request)


async def split_put_stream(
    requests: AsyncIterable[Any], idle: IdleTimeout
) -> tuple[pb.PutChunkHeader, AsyncIterator[bytes], AsyncIterator[Any]]:
    """The header of a PutChunk stream, an iterator over its data, and the raw stream."""
    it = decoded(requests, idle)
    try:
        first = await anext(it)
    except StopAsyncIteration:
        raise InvalidRequest(
            "empty PutChunk stream: the first message must carry the header"
        ) from None
    if first.WhichOneof("kind") != "header":
        raise InvalidRequest("missing header: the first PutChunk message must carry the header")

    async def data() -> AsyncIterator[bytes]:
        async for request in it:
            kind = request.WhichOneof("kind")
            if kind == "data":
                yield request.data
            elif kind == "header":
                raise InvalidRequest("duplicate header: only the first PutChunk message has one")
            else:
                raise InvalidRequest("a PutChunk message carries neither header nor data")

    return first.header, data(), it
