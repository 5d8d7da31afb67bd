"""
The gRPC face of a chunk store: ``s3node.storage.v1.Storage`` on grpc.aio.

Each RPC is an asyncio coroutine (grpc.aio runs it on the event loop that
Twisted's asyncio reactor drives).  The servicer translates messages to chunk
store calls and back, and errors to statuses in :func:`_edge` (with
:mod:`s3node.storage.errors`), and applies the node's limits
(:mod:`s3node.storage.limits`): every call but ``Health`` takes one of
``max_concurrent_calls`` slots or is refused at once, and a PutChunk stream
silent for ``put_idle_timeout`` seconds is ended.  ``PutSmallChunk`` and
``GetSmallChunk`` are PutChunk and GetChunk in one message each way, for
chunks (or reads) of at most :data:`SMALL_CHUNK` bytes.  Verification, locking and
disk discipline live in the chunk store.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import grpc
from twisted.logger import Logger
from twisted.python.failure import Failure

import s3node
from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node._proto.storage.v1 import storage_pb2_grpc as pb_grpc
from s3node.errors import InvalidRequest, PutStalled, S3NodeError
from s3node.storage.errors import ERROR_CODE_KEY, status_for
from s3node.storage.limits import CallLimiter, Clock, IdleTimeout
from s3node.storage.messages import decodable, entry_message, info_message, put_reply, tolerant
from s3node.storage.metrics import StorageMetrics
from s3node.storage.putstream import decoded, drain, once, split_put_stream
from s3node.storage.quarantine import QuarantineStore
from s3node.storage.types import ChunkInfo, ChunkRead
from s3node.storage.wire import SMALL_CHUNK, DataMessage, data_parser, serialize

__all__ = ["StorageServicer", "add_storage_servicer"]

log = Logger()

@asynccontextmanager
async def _edge(context: grpc.aio.ServicerContext, rpc: str) -> AsyncIterator[None]:
    """Turn errors into statuses: s3node errors by the mapping, the rest into ``INTERNAL``."""
    try:
        yield
    except grpc.aio.AbortError:
        raise
    except S3NodeError as error:
        context.set_trailing_metadata(((ERROR_CODE_KEY, error.code),))
        await context.abort(status_for(error), error.message)
    except Exception:  # noqa: BLE001 (the edge: nothing may crash the node)
        log.failure("{rpc} failed unexpectedly", Failure(), rpc=rpc)
        context.set_trailing_metadata(((ERROR_CODE_KEY, S3NodeError.code),))
        await context.abort(grpc.StatusCode.INTERNAL, f"{rpc}: internal error (see the node's log)")


_METHODS: dict[str, tuple[Callable[..., Any], Any, Any]] = {
    "PutChunk": (grpc.stream_unary_rpc_method_handler, pb.PutChunkRequest, pb.PutChunkResponse),
    "GetChunk": (grpc.unary_stream_rpc_method_handler, pb.GetChunkRequest, pb.GetChunkResponse),
    "DeleteChunk": (
        grpc.unary_unary_rpc_method_handler, pb.DeleteChunkRequest, pb.DeleteChunkResponse
    ),
    "StatChunk": (grpc.unary_unary_rpc_method_handler, pb.StatChunkRequest, pb.StatChunkResponse),
    "ListChunks": (
        grpc.unary_unary_rpc_method_handler, pb.ListChunksRequest, pb.ListChunksResponse
    ),
    "Health": (grpc.unary_unary_rpc_method_handler, pb.HealthRequest, pb.HealthResponse),
    "ListQuarantined": (
        grpc.unary_unary_rpc_method_handler, pb.ListQuarantinedRequest, pb.ListQuarantinedResponse
    ),
    "DropQuarantined": (
        grpc.unary_unary_rpc_method_handler, pb.DropQuarantinedRequest, pb.DropQuarantinedResponse
    ),
    "PutSmallChunk": (
        grpc.unary_unary_rpc_method_handler, pb.PutSmallChunkRequest, pb.PutChunkResponse
    ),
    "GetSmallChunk": (
        grpc.unary_unary_rpc_method_handler, pb.GetChunkRequest, pb.GetSmallChunkResponse
    ),
}
_SERVICE = "s3node.storage.v1.Storage"


def add_storage_servicer(
    servicer: StorageServicer, server: Any, *, metrics: StorageMetrics | None = None
) -> None:
    """
    Serve ``servicer`` on ``server`` (as the generated ``add_StorageServicer_to_server``
    does), answering requests protobuf cannot decode with ``INVALID_ARGUMENT``;
    with ``metrics``, every call is counted and timed.
    """

    def behaviour(name: str, make: Any) -> Any:
        method = getattr(servicer, name)
        if metrics is None:
            return method
        return metrics.instrument(servicer.node_id, name, method,
                                  stream_request=make is grpc.stream_unary_rpc_method_handler)

    # Bulk data skips protobuf both ways (s3node.storage.wire): PutChunk's data
    # messages arrive as views of the wire buffer, GetChunk's leave framed once.
    handlers = {
        name: make(
            behaviour(name, make),
            request_deserializer=(data_parser(tolerant(request)) if name == "PutChunk"
                                  else tolerant(request)),
            response_serializer=serialize if name == "GetChunk" else response.SerializeToString,
        )
        for name, (make, request, response) in _METHODS.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, handlers),))
    server.add_registered_method_handlers(_SERVICE, handlers)


class StorageServicer(pb_grpc.StorageServicer):
    """
    Serves one chunk store (with its quarantine) as ``s3node.storage.v1.Storage``.

    :param clock: measures ``put_idle_timeout`` (the reactor; a fake clock in tests)
    :param put_idle_timeout: seconds a PutChunk stream may send nothing
    :param max_concurrent_calls: calls served at once, ``Health`` aside
    """

    def __init__(
        self,
        store: QuarantineStore,
        *,
        node_id: str,
        clock: Clock,
        put_idle_timeout: float = 30.0,
        max_concurrent_calls: int = 64,
        version: str = s3node.__version__,
    ):
        self._store = store
        self.node_id = node_id
        self._version = version
        self._idle = IdleTimeout(clock, put_idle_timeout)
        self.calls = CallLimiter(max_concurrent_calls, "--max-concurrent-calls")
        #: the port of the node's bulk put listener, told in Health (0: none)
        self.bulk_port = 0
        #: the abstract name of its local socket, told in Health ("": none)
        self.bulk_local = ""
        #: refused puts whose stream is read to its end before the refusal is sent
        self._refusals = CallLimiter(max_concurrent_calls, "refusals being drained")

    @asynccontextmanager
    async def _slot(
        self, rpc: str, requests: AsyncIterable[Any] | None = None
    ) -> AsyncIterator[None]:
        """
        Hold one of the node's call slots for the block.

        :param requests: a PutChunk stream, drained (see
            :func:`~s3node.storage.putstream.drain`) before a refusal while
            fewer than ``max_concurrent_calls`` refusals drain
        :raises NodeBusy: when every slot is taken.
        """
        try:
            self.calls.acquire(rpc)
        except S3NodeError:
            if requests is not None and self._refusals.try_acquire():
                try:
                    await drain(decoded(requests, self._idle))
                finally:
                    self._refusals.release()
            raise
        try:
            yield
        finally:
            self.calls.release()

    async def PutChunk(self, request_iterator: Any, context: Any) -> pb.PutChunkResponse:
        """Store one chunk from a header and data messages."""
        async with _edge(context, "PutChunk"), self._slot("PutChunk", request_iterator):
            header, data, requests = await split_put_stream(request_iterator, self._idle)
            try:
                result = await self._store.put(
                    header.chunk_id,
                    size=header.size,
                    algorithm=header.checksum_algorithm,
                    digest=header.digest,
                    transfer_crc32c=header.transfer_crc32c or None,
                    data=data,
                )
            except PutStalled:
                log.info(
                    "cancelled a PutChunk of {chunk_id}: its stream sent nothing for {seconds} s",
                    chunk_id=header.chunk_id,
                    seconds=self._idle.seconds,
                )
                raise
            except S3NodeError:
                await drain(requests)
                raise
            return put_reply(result)
        raise AssertionError("unreachable")  # _edge aborts

    async def put_from(
        self, header: pb.PutChunkHeader, data: AsyncIterable[bytes]
    ) -> pb.PutChunkResponse:
        """
        A put that arrived beside gRPC (:mod:`s3node.storage.bulkserver`):
        PutChunk's call slot, store call and reply, its errors raised.

        :raises NodeBusy: when every slot is taken.
        """
        self.calls.acquire("a bulk put")
        try:
            result = await self._store.put(
                header.chunk_id, size=header.size, algorithm=header.checksum_algorithm,
                digest=header.digest, transfer_crc32c=header.transfer_crc32c or None, data=data)
        finally:
            self.calls.release()
        return put_reply(result)

    async def read_into(
        self, request: pb.GetChunkRequest, fd: int, *, room: Callable[[int], None],
        run: Callable[[Callable[[], int]], Awaitable[int]],
    ) -> tuple[ChunkInfo, int]:
        """
        A read that arrived beside gRPC (a local bulk get,
        :mod:`s3node.storage.bulkserver`): GetChunk's call slot and store
        read, the bytes written at the start of ``fd`` (by the store, kernel
        to kernel, when it can: ``ChunkRead.copy_into``; else piece by piece
        with ``pwrite`` through ``run``).

        :param room: called with the read's length before the first byte;
            raises when ``fd`` cannot take it
        :param run: runs a blocking write on a thread
        :returns: the chunk's record and the bytes written
        :raises NodeBusy: when every slot is taken; what the read raises;
            :class:`InvalidRequest` when ``fd`` refuses the bytes.
        """
        position = 0
        async with self._slot("a bulk get"):
            read = await self._read(request)
            try:
                room(read.length)
                if read.copy_into is not None:
                    position = await read.copy_into(fd)
                else:
                    async for piece in read.pieces:
                        position += await run(partial(os.pwrite, fd, piece, position))
            except OSError as e:
                if e.errno == errno.EIO:  # the disk's, not the memfd's
                    raise
                raise InvalidRequest(f"cannot write into the local bulk get's memfd: "
                                     f"{e.strerror}") from None
            finally:
                await read.aclose()
        return read.info, position

    async def PutSmallChunk(self, request: Any, context: Any) -> pb.PutChunkResponse:
        """Store one chunk of at most :data:`SMALL_CHUNK` bytes from one message."""
        async with _edge(context, "PutSmallChunk"), self._slot("PutSmallChunk"):
            request = decodable(request)
            if not request.HasField("header"):
                raise InvalidRequest("missing header: a PutSmallChunk request carries one")
            if len(request.data) > SMALL_CHUNK:
                raise InvalidRequest(f"PutSmallChunk takes at most {SMALL_CHUNK} bytes;"
                                     f" send {len(request.data)} with PutChunk")
            header = request.header
            result = await self._store.put(
                header.chunk_id, size=header.size, algorithm=header.checksum_algorithm,
                digest=header.digest, transfer_crc32c=header.transfer_crc32c or None,
                data=once(request.data))
            return put_reply(result)
        raise AssertionError("unreachable")

    async def _read(self, request: pb.GetChunkRequest) -> ChunkRead:
        """The store's read of what a GetChunk or GetSmallChunk request asks for."""
        return await self._store.read(
            request.chunk_id,
            offset=request.offset,
            length=request.length if request.HasField("length") else None,
            verify=request.verify,
            reader_verifies=request.reader_verifies,
        )

    async def GetChunk(
        self, request: Any, context: Any
    ) -> AsyncIterator[pb.GetChunkResponse | DataMessage]:
        """Stream a chunk (or a range of it): its record first, then its bytes."""
        async with _edge(context, "GetChunk"), self._slot("GetChunk"):
            read = await self._read(decodable(request))
            try:
                yield pb.GetChunkResponse(info=info_message(read.info))
                async for piece in read.pieces:
                    yield DataMessage(piece)
            finally:
                await read.aclose()

    async def GetSmallChunk(self, request: Any, context: Any) -> pb.GetSmallChunkResponse:
        """A chunk (or a range of it) of at most :data:`SMALL_CHUNK` bytes, in one reply."""
        async with _edge(context, "GetSmallChunk"), self._slot("GetSmallChunk"):
            read = await self._read(decodable(request))
            try:
                if read.length > SMALL_CHUNK:
                    raise InvalidRequest(f"GetSmallChunk returns at most {SMALL_CHUNK} bytes;"
                                         f" read these {read.length} with GetChunk")
                data = b"".join([piece async for piece in read.pieces])
            finally:
                await read.aclose()
            return pb.GetSmallChunkResponse(info=info_message(read.info), data=data)
        raise AssertionError("unreachable")

    async def DeleteChunk(self, request: Any, context: Any) -> pb.DeleteChunkResponse:
        """Remove a chunk (idempotent)."""
        async with _edge(context, "DeleteChunk"), self._slot("DeleteChunk"):
            request = decodable(request)
            return pb.DeleteChunkResponse(deleted=await self._store.delete(request.chunk_id))
        raise AssertionError("unreachable")

    async def StatChunk(self, request: Any, context: Any) -> pb.StatChunkResponse:
        """Describe a chunk."""
        async with _edge(context, "StatChunk"), self._slot("StatChunk"):
            info = await self._store.stat(decodable(request).chunk_id)
            return pb.StatChunkResponse(info=info_message(info))
        raise AssertionError("unreachable")

    async def ListChunks(self, request: Any, context: Any) -> pb.ListChunksResponse:
        """A page of chunk ids."""
        async with _edge(context, "ListChunks"), self._slot("ListChunks"):
            request = decodable(request)
            page = await self._store.list(after=request.page_token, limit=request.page_size)
            return pb.ListChunksResponse(
                chunk_ids=page.chunk_ids, next_page_token=page.next_page_token
            )
        raise AssertionError("unreachable")

    async def ListQuarantined(self, request: Any, context: Any) -> pb.ListQuarantinedResponse:
        """A page of quarantine entries."""
        async with _edge(context, "ListQuarantined"), self._slot("ListQuarantined"):
            request = decodable(request)
            page = await self._store.list_quarantined(
                after=request.page_token, limit=request.page_size
            )
            return pb.ListQuarantinedResponse(
                entries=[entry_message(e) for e in page.entries],
                next_page_token=page.next_page_token,
            )
        raise AssertionError("unreachable")

    async def DropQuarantined(self, request: Any, context: Any) -> pb.DropQuarantinedResponse:
        """Remove a quarantine entry (idempotent)."""
        async with _edge(context, "DropQuarantined"), self._slot("DropQuarantined"):
            request = decodable(request)
            dropped = await self._store.drop_quarantined(request.entry_id)
            return pb.DropQuarantinedResponse(dropped=dropped)
        raise AssertionError("unreachable")

    async def Health(self, request: Any, context: Any) -> pb.HealthResponse:
        """The node's id, space and chunk count (never refused for being busy)."""
        async with _edge(context, "Health"):
            decodable(request)
            usage = await self._store.usage()
            return pb.HealthResponse(
                node_id=self.node_id,
                capacity=usage.capacity,
                used=usage.used,
                free=usage.free,
                chunk_count=usage.chunk_count,
                version=self._version,
                quarantined_count=usage.quarantined,
                bulk_port=self.bulk_port,
                bulk_local=self.bulk_local,
            )
        raise AssertionError("unreachable")
