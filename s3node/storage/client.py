"""
:class:`StorageClient`: talk to one storage node over gRPC (grpc.aio).

Every method is an asyncio coroutine function.  Twisted code bridges them with
``Deferred.fromFuture(asyncio.ensure_future(client.put_chunk(...)))``.  Failed
calls raise the :mod:`s3node.errors` class the node raised
(:func:`s3node.storage.errors.error_from_rpc`); a node that does not answer, or
answers too late, raises :class:`s3node.errors.Unavailable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from datetime import UTC
from functools import partial
from types import TracebackType
from typing import Any, Self

import grpc

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node._proto.storage.v1 import storage_pb2_grpc as pb_grpc
from s3node.config import NodeAuth
from s3node.core import chunking
from s3node.core.ids import validate_chunk_id
from s3node.errors import InvalidRange, InvalidRequest, S3NodeError
from s3node.storage.bulkpaths import BulkPaths
from s3node.storage.chunkstream import ChunkStream, chunk_info
from s3node.storage.errors import error_from_rpc
from s3node.storage.nodeauth import call_metadata, channel_credentials
from s3node.storage.quarantine import check_entry_id
from s3node.storage.types import (
    ChunkInfo,
    ChunkPage,
    ChunkStat,
    NodeHealth,
    PutResult,
    QuarantineEntry,
    QuarantinePage,
)
from s3node.storage.wire import (
    FIXED_WINDOW,
    SMALL_CHUNK,
    DataMessage,
    data_parser,
    serialize,
)

__all__ = [
    "DEFAULT_CHANNEL_OPTIONS",
    "ChunkInfo",
    "ChunkPage",
    "ChunkStat",
    "ChunkStream",
    "NodeHealth",
    "PutResult",
    "QuarantineEntry",
    "QuarantinePage",
    "StorageClient",
]

_SERVICE = "s3node.storage.v1.Storage"
_MAX_MESSAGE = 8 * 1024 * 1024
_UINT64 = 1 << 64
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_send_message_length", _MAX_MESSAGE),
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    # Notice a dead peer on an idle channel, then fail fast and reconnect quickly.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # the nodes' fixed receive window: a busy gateway's GetChunk streams don't grow theirs
    *FIXED_WINDOW,
)


def _put_header(chunk_id: str, size: int, algorithm: str, digest: str,
                transfer_crc32c: str | None) -> pb.PutChunkHeader:
    try:
        return pb.PutChunkHeader(
            chunk_id=validate_chunk_id(chunk_id),
            size=size,
            checksum_algorithm=algorithm,
            digest=digest,
            transfer_crc32c=transfer_crc32c or "",
        )
    except (TypeError, ValueError) as e:
        raise InvalidRequest(f"invalid PutChunk header: {e}") from None


def _put_result(reply: pb.PutChunkResponse) -> PutResult:
    return PutResult(
        chunk_id=reply.chunk_id,
        size=reply.size,
        algorithm=reply.checksum_algorithm,
        digest=reply.digest,
        created=reply.created,
    )


def _entry(message: pb.QuarantineEntry) -> QuarantineEntry:
    return QuarantineEntry(
        entry_id=message.entry_id,
        chunk_id=message.chunk_id,
        reason=message.reason,
        quarantined_at=message.quarantined_at.ToDatetime(tzinfo=UTC),
        size=message.size,
    )


def _channel(address: str, auth: NodeAuth | None, options: list[tuple[str, Any]]) -> Any:
    """The channel to ``address``: TLS with ``auth.tls`` (each call sends the secret)."""
    if auth is None or auth.tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    if auth.tls_server_name:
        options = [*options, ("grpc.ssl_target_name_override", auth.tls_server_name)]
    return grpc.aio.secure_channel(address, channel_credentials(auth.tls), options=options)


class StorageClient:
    """
    A client of one storage node at ``address`` (``host:port``).

    :param auth: the cluster credential: its first secret is sent with every
        call, and with TLS the channel checks the node's certificate against
        the CA (for ``auth.tls_server_name``, else the address's host) and
        presents the client certificate (:mod:`s3node.storage.nodeauth`)
    :param channel_options: grpc channel options (default:
        :data:`DEFAULT_CHANNEL_OPTIONS`, 8 MiB messages and keepalives)
    """

    def __init__(
        self,
        address: str,
        *,
        auth: NodeAuth | None = None,
        channel_options: Sequence[tuple[str, Any]] = DEFAULT_CHANNEL_OPTIONS,
    ) -> None:
        self.address = address
        self._channel = _channel(address, auth, list(channel_options))
        #: sent with every call: the cluster secret, if any
        self._metadata = call_metadata(auth)
        self._stub = pb_grpc.StorageStub(self._channel)
        #: whether the node serves PutSmallChunk and GetSmallChunk (until it says it does not)
        self._small = True
        #: the node's bulk port and local socket, as its last Health named them
        self.bulk = BulkPaths(address, auth)
        self._bulk_calls()

    def _bulk_calls(self) -> None:
        """
        PutChunk and GetChunk with serializers that keep bulk data out of
        protobuf (:mod:`s3node.storage.wire`); the same bytes on the wire.
        """
        self._put_chunk = self._channel.stream_unary(
            f"/{_SERVICE}/PutChunk",
            request_serializer=serialize,
            response_deserializer=pb.PutChunkResponse.FromString,
        )
        self._get_chunk = self._channel.unary_stream(
            f"/{_SERVICE}/GetChunk",
            request_serializer=pb.GetChunkRequest.SerializeToString,
            response_deserializer=data_parser(pb.GetChunkResponse.FromString),
        )

    def _error(self, e: grpc.RpcError) -> S3NodeError:
        return error_from_rpc(e, self.address)

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
        Store ``data`` as chunk ``chunk_id``: in one PutSmallChunk up to
        :data:`~s3node.storage.wire.SMALL_CHUNK`, else through the node's
        local socket (a chunk in a memfd) or bulk port once its Health named
        them (:attr:`bulk`), else in :data:`s3node.core.chunking.FRAME_SIZE`
        PutChunk messages.

        With ``transfer_crc32c``, the CRC-32C of the bytes ``digest`` was
        computed over, the node checks the bytes against it instead of hashing
        them again, and records ``digest`` (docs/grpc.md).

        :raises s3node.errors.ChecksumMismatch: the bytes do not match ``digest``.
        :raises s3node.errors.ChunkExists: other content is stored under the id.
        :raises s3node.errors.InsufficientStorage: the node is full.
        :raises s3node.errors.InvalidRequest: bad id, algorithm or digest, or too large.
        :raises s3node.errors.Unavailable: the node does not answer in time.
        """
        view = memoryview(data).cast("B")
        if len(view) <= SMALL_CHUNK and self._small:
            reply = await self._small_call(
                "PutSmallChunk", lambda: pb.PutSmallChunkRequest(
                    header=_put_header(chunk_id, len(view), algorithm, digest, transfer_crc32c),
                    data=bytes(view)), timeout)
            if reply is not None:
                return _put_result(reply)
        else:
            header = _put_header(chunk_id, len(view), algorithm, digest, transfer_crc32c)
            reply = await self.bulk.put(header, view, timeout)
            if reply is not None:
                return _put_result(reply)

        async def pieces() -> AsyncIterator[memoryview]:
            for piece in chunking.frames(view):
                yield piece

        return await self.put_chunk_stream(
            chunk_id, len(view), algorithm, digest, pieces(), transfer_crc32c=transfer_crc32c,
            timeout=timeout,
        )

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
        """
        Store the ``size`` bytes ``frames`` yields as chunk ``chunk_id``
        (``transfer_crc32c``: as for :meth:`put_chunk`).

        Frames larger than :data:`s3node.core.chunking.FRAME_SIZE` are split; the iterator is
        consumed as the node takes the data (gRPC flow control), so memory
        stays at a few frames whatever the chunk size.
        """

        header = _put_header(chunk_id, size, algorithm, digest, transfer_crc32c)
        #: what the frames raised: grpc only cancels the call, losing the error
        failed: list[Exception] = []

        async def requests() -> AsyncIterator[pb.PutChunkRequest | DataMessage]:
            yield pb.PutChunkRequest(header=header)
            try:
                async for frame in frames:
                    for piece in chunking.frames(frame):
                        yield DataMessage(piece)
            except Exception as e:
                failed.append(e)
                raise

        try:
            reply = await self._put_chunk(requests(), timeout=timeout, metadata=self._metadata)
        except (grpc.RpcError, asyncio.CancelledError) as e:
            if failed:
                raise failed[0] from None
            if isinstance(e, grpc.RpcError):
                raise self._error(e) from None
            raise
        return _put_result(reply)

    async def _small_call(self, rpc: str, request: Callable[[], Any],
                          timeout: float | None) -> Any:
        """
        The reply of the one-message ``rpc`` (``PutSmallChunk``, ``GetSmallChunk``);
        ``None`` when the node predates it (``UNIMPLEMENTED``, remembered: the
        caller then uses the stream).
        """
        reply = await self._unary(rpc, request, timeout, unimplemented_is_none=True)
        if reply is None:
            self._small = False
        return reply

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
        The bytes :meth:`get_chunk` would yield, for a read of at most
        :data:`SMALL_CHUNK` bytes, in one call (GetSmallChunk; a GetChunk
        stream from a node that predates it).  Raises what iterating
        :meth:`get_chunk` raises, and :class:`~s3node.errors.InvalidRequest`
        for a longer read.
        """
        if self._small:
            request = self._get_request(chunk_id, offset, length, verify, reader_verifies)
            reply = await self._small_call("GetSmallChunk", lambda: request, timeout)
            if reply is not None:
                return bytes(reply.data)
        stream = self.get_chunk(chunk_id, offset=offset, length=length, verify=verify,
                                reader_verifies=reader_verifies, timeout=timeout)
        return b"".join([piece async for piece in stream])

    async def get_chunk_local(
        self, chunk_id: str, size: int, *, timeout: float | None = None
    ) -> list[bytes] | None:
        """
        The whole chunk ``chunk_id`` of ``size`` bytes, unhashed on the node
        (the caller verifies it), in pieces of up to 1 MiB, through the node's
        local socket (:meth:`~s3node.storage.bulkpaths.BulkPaths.get`);
        ``None`` when the node has none reachable from this host (the name is
        then forgotten until the next Health), or refused the read as invalid
        (a stored size other than ``size``: GetChunk says what is wrong).

        :raises s3node.errors.ChunkNotFound: and what GetChunk raises otherwise.
        """
        request = self._get_request(chunk_id, 0, None, False, True)
        return await self.bulk.get(request, size, timeout)

    def get_chunk(
        self,
        chunk_id: str,
        *,
        offset: int = 0,
        length: int | None = None,
        verify: bool = False,
        reader_verifies: bool = False,
        timeout: float | None = None,
    ) -> ChunkStream:
        """
        Read chunk ``chunk_id`` (or ``length`` bytes from ``offset``);
        ``reader_verifies``: the caller hashes the bytes itself, so the node
        need not (see ``GetChunkRequest`` in docs/grpc.md).

        :return: a :class:`ChunkStream` of ``bytes`` pieces; iterating it
            raises :class:`s3node.errors.ChunkNotFound`,
            :class:`s3node.errors.CorruptChunk` (the node quarantined it),
            :class:`s3node.errors.InvalidRange`, :class:`s3node.errors.Unavailable`...
        """
        request = self._get_request(chunk_id, offset, length, verify, reader_verifies)
        call = self._get_chunk(request, timeout=timeout, metadata=self._metadata)
        return ChunkStream(call, self.address)

    @staticmethod
    def _get_request(chunk_id: str, offset: int, length: int | None, verify: bool,
                     reader_verifies: bool) -> pb.GetChunkRequest:
        validate_chunk_id(chunk_id)
        if not 0 <= offset < _UINT64 or (length is not None and not 0 <= length < _UINT64):
            raise InvalidRange(f"invalid range: {length} bytes at offset {offset}")
        request = pb.GetChunkRequest(chunk_id=chunk_id, offset=offset, verify=verify,
                                     reader_verifies=reader_verifies)
        if length is not None:
            request.length = length
        return request

    async def _unary(self, rpc: str, request: Callable[[], Any], timeout: float | None, *,
                     unimplemented_is_none: bool = False) -> Any:
        """
        Call the unary ``rpc`` with the message ``request()`` builds; with
        ``unimplemented_is_none``, ``None`` when the node does not know ``rpc``.

        :raises s3node.errors.InvalidRequest: when the message cannot carry the values.
        :raises s3node.errors.S3NodeError: the error the node answered, mapped back.
        """
        try:
            message = request()
        except (TypeError, ValueError) as e:
            raise InvalidRequest(f"invalid {rpc} request: {e}") from None
        try:
            return await getattr(self._stub, rpc)(message, timeout=timeout,
                                                  metadata=self._metadata)
        except grpc.RpcError as e:
            if unimplemented_is_none and e.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise self._error(e) from None

    async def delete_chunk(self, chunk_id: str, *, timeout: float | None = None) -> bool:
        """Remove a chunk; ``False`` when the node had none under this id."""
        validate_chunk_id(chunk_id)
        request = partial(pb.DeleteChunkRequest, chunk_id=chunk_id)
        return bool((await self._unary("DeleteChunk", request, timeout)).deleted)

    async def stat_chunk(self, chunk_id: str, *, timeout: float | None = None) -> ChunkStat:
        """A chunk's record (size, algorithm, digest, created)."""
        validate_chunk_id(chunk_id)
        request = partial(pb.StatChunkRequest, chunk_id=chunk_id)
        return chunk_info((await self._unary("StatChunk", request, timeout)).info)

    async def list_chunks(
        self, page_size: int = 1000, page_token: str = "", *, timeout: float | None = None
    ) -> ChunkPage:
        """A page of chunk ids, ascending; pass ``next_page_token`` back for the next."""
        request = partial(pb.ListChunksRequest, page_size=page_size, page_token=page_token)
        reply = await self._unary("ListChunks", request, timeout)
        return ChunkPage(tuple(reply.chunk_ids), reply.next_page_token)

    async def list_quarantined(
        self, page_size: int = 1000, page_token: str = "", *, timeout: float | None = None
    ) -> QuarantinePage:
        """
        A page of the node's quarantine entries (chunks it found corrupt and
        moved aside), ascending by entry id; pass ``next_page_token`` back for
        the next page.
        """
        request = partial(pb.ListQuarantinedRequest, page_size=page_size, page_token=page_token)
        reply = await self._unary("ListQuarantined", request, timeout)
        return QuarantinePage(tuple(map(_entry, reply.entries)), reply.next_page_token)

    async def drop_quarantined(self, entry_id: str, *, timeout: float | None = None) -> bool:
        """Remove a quarantine entry for good; ``False`` when the node had none under this id."""
        check_entry_id(entry_id)
        request = partial(pb.DropQuarantinedRequest, entry_id=entry_id)
        return bool((await self._unary("DropQuarantined", request, timeout)).dropped)

    async def health(self, timeout: float | None = None) -> NodeHealth:
        """The node's id, capacity, used and free bytes, chunk count and quarantine entries."""
        reply = await self._unary("Health", pb.HealthRequest, timeout)
        self.bulk.learn(reply)
        return NodeHealth(
            node_id=reply.node_id,
            capacity=reply.capacity,
            used=reply.used,
            free=reply.free,
            chunk_count=reply.chunk_count,
            version=reply.version,
            quarantined=reply.quarantined_count,
            bulk_port=reply.bulk_port,
        )

    async def close(self) -> None:
        """Close the channel; calls in progress are cancelled."""
        await self._channel.close()
        self.bulk.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
