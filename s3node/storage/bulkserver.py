"""
A storage node's bulk put listener: chunk data beside gRPC (``--bulk-port``).

Each connection carries one put (framing: :mod:`s3node.storage.bulkwire`).
The node reads the head, checks the cluster secret (as gRPC calls are checked,
in constant time) and that the put is meant for this node, and stores the
chunk through the servicer's
:meth:`~s3node.storage.servicer.StorageServicer.put_from`: the same call slot,
checks, disk discipline and reply as PutChunk.  The data is received on a
thread of the listener's own pool with ``recv_into`` straight into a 1 MiB
buffer and written there by the store (:meth:`Body.pour`), so it is never
copied in user space; gRPC costs about 0.3 s of CPU per GB on each side more
(docs/grpc.md, "The bulk data path").

A node also takes bulk puts from its own host on a Unix socket in the
abstract namespace (:func:`local_socket`, named in Health as ``bulk_local``):
there the client sends the head in one message with a memfd holding the
chunk's bytes (its first ``header.size``), and the node reads them with
``pread`` into the same buffer, so neither side pays for loopback TCP
(docs/grpc.md, "Local bulk puts").  Only a memfd is taken (a pipe or a file
on a slow file system could block the reading thread); the transfer check
runs on the node's own copy, as over TCP.  The same socket serves local bulk
gets: a GetChunk read written into a memfd the client passed, with
``sendfile`` where the store can (docs/grpc.md, "Local bulk gets").

Limits, as on gRPC: a connection that sends nothing for ``put_idle_timeout``
seconds (its head, or the next 1 MiB of data) is dropped and its temp file
removed; at most ``max_connections`` connections are open at once (more are
closed at once); a failed put's remaining data is read (up to
:data:`~s3node.storage.servicer.DRAIN_LIMIT`) before the node closes, so the
client reads the error rather than a reset.  Nothing a peer sends can do
more than fail its own put: every error is answered or logged, never raised
out of the accept loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from google.protobuf.message import DecodeError
from twisted.logger import Logger

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.core.chunking import FRAME_SIZE
from s3node.errors import InvalidRequest, NodeAuthFailed, NodeNotFound, PutStalled, S3NodeError
from s3node.storage.bulkbody import Body, check_memfd
from s3node.storage.bulkwire import (
    GET_MAGIC,
    MAGIC,
    MAX_HEAD,
    PREFIX,
    framed_reply,
    head_length,
    recv_exactly,
    recv_with_fd,
)
from s3node.storage.errors import status_for
from s3node.storage.limits import Clock, IdleTimeout
from s3node.storage.messages import info_message
from s3node.storage.metrics import StorageMetrics
from s3node.storage.nodeauth import secret_matches
from s3node.storage.putstream import DRAIN_LIMIT, DRAIN_SECONDS
from s3node.storage.servicer import StorageServicer

__all__ = ["BulkPutServer", "listening_socket", "local_socket"]

log = Logger()

M = TypeVar("M", pb.BulkPutHead, pb.BulkGetHead)

#: the name bulk puts are counted under in the node's call metrics
CALL_NAME = "BulkPut"
#: the name local bulk gets are counted under
GET_CALL_NAME = "BulkGet"
#: buffers kept for reuse between puts (each put takes two of FRAME_SIZE)
SPARE_BUFFERS = 8


def listening_socket(host: str, port: int) -> socket.socket:
    """
    A non-blocking TCP socket listening on ``host``:``port`` (0: a free port).

    :raises OSError: when it cannot be bound.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    return _listening(sock, (host, port), reuse_address=True)


def local_socket(name: str) -> socket.socket:
    """
    A non-blocking Unix ``SOCK_SEQPACKET`` socket listening on the abstract
    name ``name`` (no file: it goes with the process).

    :raises OSError: when it cannot be bound (the name is taken).
    """
    return _listening(socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET), "\0" + name)


def _listening(sock: socket.socket, address: Any, *, reuse_address: bool = False
               ) -> socket.socket:
    """``sock`` bound to ``address``, listening, non-blocking; closed if any of it fails."""
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _decoded_get_head(head: bytes) -> pb.BulkGetHead:
    """:raises InvalidRequest: when ``head`` does not decode or carries no request."""
    return _decoded(pb.BulkGetHead, head, "request", "bulk get")


def _decoded_head(head: bytes) -> pb.BulkPutHead:
    """:raises InvalidRequest: when ``head`` does not decode or carries no header."""
    return _decoded(pb.BulkPutHead, head, "header", "bulk put")


def _decoded(message_type: type[M], head: bytes, field: str, what: str) -> M:
    try:
        message = message_type.FromString(head)
    except DecodeError as e:
        raise InvalidRequest(f"undecodable {what} head: {e}") from None
    if not message.HasField(field):
        raise InvalidRequest(f"a {what}'s head carries no {field}")
    return message


class BulkPutServer:
    """
    Serves bulk puts on a listening socket for ``servicer``'s store.

    :param secrets: the cluster secrets accepted (empty: none needed, as on gRPC)
    :param clock: measures ``idle_timeout`` (the reactor; a fake clock in tests)
    :param max_connections: connections open at once (both sockets); more are
        closed at once
    :param local: a :func:`local_socket` for puts and gets from this host, if any
    """

    def __init__(self, servicer: StorageServicer, sock: socket.socket, *,
                 secrets: Sequence[bytes], clock: Clock, idle_timeout: float,
                 max_connections: int, metrics: StorageMetrics | None = None,
                 local: socket.socket | None = None) -> None:
        self._servicer = servicer
        self._sock = sock
        self._local = local
        self._secrets = tuple(secrets)
        self._idle = IdleTimeout(clock, idle_timeout)
        self._max_connections = max_connections
        #: the threads puts are received on (one per put in progress, at most one per
        #: connection: a silent peer holds its own thread, never the store's workers)
        self._executor = ThreadPoolExecutor(max_workers=max_connections,
                                            thread_name_prefix="s3node-bulk")
        self._metrics = metrics
        self._spare: list[bytearray] = []
        self._accepting: list[asyncio.Task[None]] = []
        #: the connections being served
        self.connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._sock.getsockname()[1])

    @property
    def local_name(self) -> str:
        """The abstract name of the local socket, without its leading NUL ("": none)."""
        if self._local is None:
            return ""
        name = self._local.getsockname()
        return (name.decode() if isinstance(name, bytes) else name).lstrip("\0")

    def start(self) -> None:
        """Accept connections on the running event loop."""
        self._accepting = [asyncio.ensure_future(self._accept(self._sock, False))]
        if self._local is not None:
            self._accepting.append(asyncio.ensure_future(self._accept(self._local, True)))

    async def stop(self, grace: float) -> None:
        """
        Stop accepting, give the puts in progress ``grace`` seconds, cancel
        the rest (their temp files are removed) and close the socket.
        """
        for accepting in self._accepting:
            accepting.cancel()
        if self._accepting:
            await asyncio.wait(self._accepting)
        self._sock.close()
        if self._local is not None:
            self._local.close()
        if self.connections:
            await asyncio.wait(set(self.connections), timeout=grace)
        for task in set(self.connections):
            task.cancel()
        if self.connections:
            await asyncio.wait(set(self.connections))
        self._executor.shutdown(wait=False)

    async def _accept(self, sock: socket.socket, local: bool) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except asyncio.CancelledError:
                raise
            except OSError as e:  # EMFILE and the like: wait, as a server does, and go on
                log.warn("bulk put listener: cannot accept ({error}); retrying",  # noqa: G010
                         error=e)
                await asyncio.sleep(0.1)
                continue
            if len(self.connections) >= self._max_connections:
                conn.close()
                continue
            task = asyncio.ensure_future(self._serve(loop, conn, local))
            self.connections.add(task)
            task.add_done_callback(self.connections.discard)

    def _buffer(self) -> bytearray:
        """A 1 MiB buffer, reused if one is spare (given back by :meth:`_serve`)."""
        return self._spare.pop() if self._spare else bytearray(FRAME_SIZE)

    async def _serve(self, loop: asyncio.AbstractEventLoop, conn: socket.socket,
                     local: bool) -> None:
        """One connection: its put (or a local get), its reply, then close."""
        started = loop.time()
        body: Body | None = None
        #: bytes of a failed put's data left to read before the reply (``None``: none)
        announced: int | None = None
        error: S3NodeError | None = None
        fd: int | None = None
        reply_type: type[pb.BulkPutReply | pb.BulkGetReply] = pb.BulkPutReply
        reply: pb.BulkPutReply | pb.BulkGetReply
        sent = 0
        try:
            if local:
                head, fd = await self._local_head(loop, conn)
            else:
                head = await self._head(loop, conn)
                announced = head.header.size
            if self._secrets and not secret_matches(self._secrets, head.secret):
                raise NodeAuthFailed("a bulk call's secret matches none of this storage node's "
                                     "secrets (its --cluster-secret-file)")
            if head.node_id and head.node_id != self._servicer.node_id:
                raise NodeNotFound(f"this bulk port is node {self._servicer.node_id}'s, not "
                                   f"{head.node_id[:100]}'s: ask that node's Health for its port")
            if isinstance(head, pb.BulkGetHead):
                assert fd is not None
                reply_type = pb.BulkGetReply
                reply = await self._get(loop, head.request, fd)
                sent = reply.length
            else:
                header = head.header
                if fd is not None:
                    check_memfd(fd, header.size)
                buffers = [self._buffer()]  # a body that is iterated takes a second
                body = Body(loop, conn, header.size, self._idle, buffers, self._executor,
                            self._buffer, fd)
                try:
                    reply = pb.BulkPutReply(result=await self._servicer.put_from(header, body))
                finally:
                    await body.stop()
                    self._spare.extend(buffers[: SPARE_BUFFERS - len(self._spare)])
        except S3NodeError as e:
            error = e
            if isinstance(e, PutStalled):
                log.info("cancelled a bulk put: {why}", why=e.message)
                announced = None  # a silent peer is not waited for again
            reply = reply_type(error_code=e.code, message=e.message)
        except asyncio.CancelledError:
            conn.close()
            self._count(loop.time() - started, "CANCELLED", reply_type, body, 0)
            raise
        except Exception as e:  # noqa: BLE001 (the edge: nothing may crash the node)
            log.failure("a bulk call failed unexpectedly")
            error = S3NodeError(f"bulk call: internal error ({type(e).__name__}; see the "
                                f"node's log)")
            reply = reply_type(error_code=S3NodeError.code, message=error.message)
        finally:
            if fd is not None:
                os.close(fd)
        try:
            if error is not None and announced is not None:
                # What is left of a failed put's data is read first (bounded), so
                # that the client, still sending, reads the error rather than a reset
                # (a local put's data is not on the socket).
                await self._drain(loop, conn, body.left if body is not None else announced)
            await self._send(loop, conn, reply)
        finally:
            conn.close()
        self._count(loop.time() - started, "OK" if error is None else status_for(error).name,
                    reply_type, body, sent)

    async def _get(self, loop: asyncio.AbstractEventLoop, request: pb.GetChunkRequest,
                   fd: int) -> pb.BulkGetReply:
        """A local get: the bytes read written at the start of the memfd ``fd``."""
        def room(length: int) -> None:
            check_memfd(fd, length, "get")

        async def run(write: Callable[[], int]) -> int:
            # on the listener's own threads: a 1 MiB copy is not the event loop's
            return await loop.run_in_executor(self._executor, write)

        info, length = await self._servicer.read_into(request, fd, room=room, run=run)
        return pb.BulkGetReply(info=info_message(info), length=length)

    async def _head(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> pb.BulkPutHead:
        """
        The put's head: its header and the secret sent with it (not checked here).

        :raises InvalidRequest: for another protocol or a head that does not decode.
        :raises PutStalled: when the head does not come in time.
        """
        prefix = bytearray(PREFIX.size)
        try:
            await self._idle.wait(recv_exactly(loop, conn, memoryview(prefix), "the prefix"),
                                  "the bulk put")
            head = bytearray(head_length(bytes(prefix)))
            await self._idle.wait(recv_exactly(loop, conn, memoryview(head), "the head"),
                                  "the bulk put")
        except EOFError as e:
            raise InvalidRequest(str(e)) from None
        return _decoded_head(bytes(head))

    async def _local_head(self, loop: asyncio.AbstractEventLoop, conn: socket.socket
                          ) -> tuple[pb.BulkPutHead | pb.BulkGetHead, int]:
        """
        A local put's or get's head and the memfd that came with it (the caller
        closes it).

        :raises InvalidRequest: for another protocol, a head that does not decode
            or does not come in one message, or no descriptor.
        :raises PutStalled: when the head does not come in time.
        """
        try:
            data, fd = await self._idle.wait(recv_with_fd(loop, conn, PREFIX.size + MAX_HEAD),
                                             "the bulk call")
        except EOFError as e:
            raise InvalidRequest(str(e)) from None
        try:
            magic = GET_MAGIC if data.startswith(GET_MAGIC) else MAGIC
            if len(data) < PREFIX.size or len(data) != PREFIX.size + head_length(
                    data[:PREFIX.size], magic):
                raise InvalidRequest("a local bulk call's head must come in one message")
            if fd is None:
                raise InvalidRequest("a local bulk call came without its memfd")
            if magic == GET_MAGIC:
                return _decoded_get_head(data[PREFIX.size:]), fd
            return _decoded_head(data[PREFIX.size:]), fd
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise

    async def _send(self, loop: asyncio.AbstractEventLoop, conn: socket.socket,
                    reply: pb.BulkPutReply | pb.BulkGetReply) -> None:
        try:
            await asyncio.wait_for(loop.sock_sendall(conn, framed_reply(reply)), DRAIN_SECONDS)
        except (OSError, TimeoutError) as e:
            log.debug("bulk put: the reply could not be sent ({error})", error=e)

    async def _drain(self, loop: asyncio.AbstractEventLoop, conn: socket.socket, left: int) -> None:
        scratch = memoryview(bytearray(64 * 1024))

        async def drain() -> None:
            remaining = min(left, DRAIN_LIMIT)
            while remaining > 0:
                n = await loop.sock_recv_into(conn, scratch[:remaining])
                if not n:
                    return
                remaining -= n

        try:
            await asyncio.wait_for(drain(), DRAIN_SECONDS)
        except (OSError, TimeoutError):
            pass

    def _count(self, seconds: float, status: str, reply_type: type[Any], body: Body | None,
               sent: int) -> None:
        if self._metrics is not None:
            self._metrics.count_call(
                self._servicer.node_id, GET_CALL_NAME if reply_type is pb.BulkGetReply else
                CALL_NAME, status, seconds, received=body.received if body is not None else 0,
                sent=sent)
