"""
The gateway's side of the bulk data path: one chunk to a node's bulk port
(framing: :mod:`s3node.storage.bulkwire`).

:class:`~s3node.storage.client.StorageClient` uses it for chunks over
:data:`~s3node.storage.wire.SMALL_CHUNK` once the node's Health named its
bulk port, and without TLS.  The whole exchange (connect, head, data, reply)
runs on a thread of the caller's executor with a blocking socket: the chunk
goes out with ``sendall`` straight from the caller's buffer (no copy in user
space) as fast as the node takes it, without waiting for turns of a busy
event loop between the socket's wake-ups (docs/performance.md, "Bulk puts on
threads").  The caller's coroutine only waits for the thread; when it is
cancelled, the socket is shut down, which ends the thread's send or receive
at once, and the cancellation waits for the thread, so the buffer is never
read after :func:`bulk_put` returned or raised.

:func:`bulk_put_local` does the same for a node on this host through its
Unix socket: the chunk's bytes stay in the caller's memfd, which the node
reads (docs/grpc.md, "Local bulk puts").  The node may still be reading
it after a cancelled put returned; it reads into its own buffer and checks
that copy, so a memfd changed meanwhile fails that put, never another.
:func:`bulk_get_local` reads a chunk the other way round: the node writes it
into a memfd of the call's own, which the caller copies out and closes
(docs/grpc.md, "Local bulk gets").
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from google.protobuf.message import DecodeError

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.core.chunking import FRAME_SIZE
from s3node.errors import NodeNotFound, TimedOut, Unavailable
from s3node.storage.bulkwire import (
    MAX_REPLY,
    REPLY_PREFIX,
    framed_get_head,
    framed_head,
    shut_down,
)
from s3node.storage.errors import error_from_code

__all__ = ["CONNECT_SECONDS", "bulk_get_local", "bulk_put", "bulk_put_local"]

T = TypeVar("T")

#: the longest a connect may take (a node that does not accept in that time is not
#: there: the put goes on gRPC); also how long a cancelled put may wait for its thread
#: to give up connecting, since a connect in progress cannot be shut down
CONNECT_SECONDS = 5.0


async def bulk_put(host: str, port: int, secret: bytes, header: pb.PutChunkHeader,
                   data: memoryview, *, where: str, executor: Executor, node_id: str = "",
                   timeout: float | None = None) -> pb.PutChunkResponse | None:
    """
    Put ``data`` as ``header`` says on the node's bulk port ``host``:``port``.

    :param secret: the cluster secret (empty: none)
    :param where: names the node in errors (its gRPC address)
    :param executor: runs the blocking exchange (one thread per put in progress)
    :param node_id: the node meant (as its Health named it; empty: any)
    :returns: the node's reply; ``None`` when nothing listens there, or
        another node does (a node restarted on another port, and its old
        port taken since): the caller uses gRPC.
    :raises s3node.errors.S3NodeError: the error the node answered (as
        PutChunk's), :class:`~s3node.errors.Unavailable` when the connection
        fails midway, :class:`~s3node.errors.TimedOut` past ``timeout``.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    deadline = None if timeout is None else time.monotonic() + timeout
    return await _put(sock, executor, where, timeout, _exchange, sock, (host, port),
                      framed_head(secret, header, node_id), data, deadline)


async def bulk_put_local(name: str, secret: bytes, header: pb.PutChunkHeader, fd: int, *,
                         where: str, executor: Executor, node_id: str = "",
                         timeout: float | None = None) -> pb.PutChunkResponse | None:
    """
    Put the first ``header.size`` bytes of the memfd ``fd`` as ``header``
    says, through the local socket ``name`` of a node on this host (its
    Health's ``bulk_local``); the rest as :func:`bulk_put`.

    :returns: the node's reply; ``None`` when nothing listens under ``name``
        (the node is on another host, or gone), or another node does: the
        caller uses the node's bulk port.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    deadline = None if timeout is None else time.monotonic() + timeout
    return await _put(sock, executor, where, timeout, _local_exchange, sock, name,
                      framed_head(secret, header, node_id), fd, deadline)


async def _put(sock: socket.socket, executor: Executor, where: str, timeout: float | None,
               exchange_on_thread: Callable[..., pb.BulkPutReply | None],
               *args: Any) -> pb.PutChunkResponse | None:
    """Run ``exchange_on_thread(*args)`` on ``executor`` for ``sock``; its reply's result."""
    reply = await _call(sock, executor, where, timeout, "bulk put", exchange_on_thread, *args)
    if reply is None or reply.error_code == NodeNotFound.code:
        return None
    if reply.error_code:
        raise error_from_code(reply.error_code, reply.message, where)
    return reply.result


async def bulk_get_local(name: str, secret: bytes, request: pb.GetChunkRequest, size: int, *,
                         where: str, executor: Executor, node_id: str = "",
                         timeout: float | None = None) -> list[bytes] | None:
    """
    The ``size`` bytes ``request`` reads, through the local socket ``name``
    of a node on this host (its Health's ``bulk_local``), in pieces of
    :data:`~s3node.core.chunking.FRAME_SIZE`: the node writes them into a
    memfd of this call's own, which is read (copied) once the node answered.

    :returns: the pieces; ``None`` when nothing listens under ``name``, or
        another node does: the caller uses GetChunk.
    :raises s3node.errors.S3NodeError: the error the node answered (as
        GetChunk's), :class:`~s3node.errors.Unavailable` when the connection
        fails midway or the node wrote another length than ``size``,
        :class:`~s3node.errors.TimedOut` past ``timeout``.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    deadline = None if timeout is None else time.monotonic() + timeout
    got = await _call(sock, executor, where, timeout, "local bulk get", _local_get_exchange,
                      sock, name,
                      framed_get_head(secret, request, node_id), size, deadline)
    if got is None:
        return None
    reply, pieces = got
    if reply.error_code == NodeNotFound.code:
        return None
    if reply.error_code:
        raise error_from_code(reply.error_code, reply.message, where)
    return pieces


async def _call(sock: socket.socket, executor: Executor, where: str, timeout: float | None,
                what: str, exchange_on_thread: Callable[..., T], *args: Any) -> T:
    """
    Run ``exchange_on_thread(*args)`` on ``executor`` for ``sock``; what it
    returned (``what``: the call, in errors).
    """
    loop = asyncio.get_running_loop()
    exchange = loop.run_in_executor(executor, exchange_on_thread, *args)
    try:
        try:
            reply = await asyncio.shield(exchange)
        except asyncio.CancelledError:
            shut_down(sock)  # the thread's send or receive ends now
            await asyncio.wait({exchange})
            raise
    except TimeoutError:
        raise TimedOut(f"storage node {where}: a {what} took over {timeout:g} s") from None
    except (OSError, EOFError, DecodeError) as e:
        raise Unavailable(f"storage node {where}: {what} failed: {e}") from None
    finally:
        sock.close()
    return reply


def _left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (``None``: no deadline); :class:`TimeoutError` once past."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _exchange(sock: socket.socket, address: tuple[str, int], head: bytes, data: memoryview,
              deadline: float | None) -> pb.BulkPutReply | None:
    """
    The blocking exchange (on a worker); ``None`` when the connection is
    refused or not taken within :data:`CONNECT_SECONDS`.
    """
    try:
        left = _left(deadline)
        sock.settimeout(CONNECT_SECONDS if left is None else min(left, CONNECT_SECONDS))
        sock.connect(address)
    except OSError:  # refused, or no answer in time (TimeoutError): gRPC then
        return None
    sock.settimeout(_left(deadline))
    sock.sendall(head)
    try:
        sock.settimeout(_left(deadline))
        sock.sendall(data)
    except TimeoutError:
        raise
    except OSError:
        pass  # the node answered early and closed: its reply says why
    (length,) = REPLY_PREFIX.unpack(_recv_exactly(sock, REPLY_PREFIX.size, deadline,
                                                  "the reply's length"))
    if length > MAX_REPLY:
        raise EOFError(f"a bulk put reply of {length} bytes (at most {MAX_REPLY})")
    return pb.BulkPutReply.FromString(_recv_exactly(sock, length, deadline, "the reply"))


def _local_exchange(sock: socket.socket, name: str, head: bytes, fd: int,
                    deadline: float | None) -> pb.BulkPutReply | None:
    """
    The blocking local put (on a worker); ``None`` when nothing listens
    under ``name``.
    """
    reply = _local_call(sock, name, head, fd, deadline)
    return None if reply is None else pb.BulkPutReply.FromString(reply)


def _local_get_exchange(sock: socket.socket, name: str, head: bytes, size: int,
                        deadline: float | None) -> tuple[pb.BulkGetReply, list[bytes]] | None:
    """
    The blocking local get (on a worker): a memfd of ``size`` bytes for the
    node to write into, the exchange, then the bytes read out of the memfd;
    ``None`` when nothing listens under ``name``.  The memfd is closed
    whatever happens (a node still writing into it writes into its own
    reference, which nobody reads).
    """
    fd = os.memfd_create("s3node-get", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        message = _local_call(sock, name, head, fd, deadline)
        if message is None:
            return None
        reply = pb.BulkGetReply.FromString(message)
        if reply.error_code:
            return reply, []
        if reply.length != size:
            raise EOFError(f"the node wrote {reply.length} bytes of the {size} asked")
        # Copied out from the end, the memfd cut after each piece: the chunk is
        # never held twice (in the memfd and in the pieces) by more than a piece.
        pieces = []
        for position in reversed(range(0, size, FRAME_SIZE)):
            piece = os.pread(fd, min(FRAME_SIZE, size - position), position)
            if len(piece) != min(FRAME_SIZE, size - position):
                raise EOFError(f"the memfd ended at byte {position + len(piece)} of {size}")
            pieces.append(piece)
            os.ftruncate(fd, position)
        pieces.reverse()
        return reply, pieces
    finally:
        os.close(fd)


def _local_call(sock: socket.socket, name: str, head: bytes, fd: int,
                deadline: float | None) -> bytes | None:
    """
    Connect to the local socket ``name``, send ``head`` with ``fd`` and read
    the reply (without its length); ``None`` when nothing listens there.

    :raises EOFError: when the reply is cut or missing.
    """
    try:
        sock.settimeout(_left(deadline))
        sock.connect("\0" + name)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    socket.send_fds(sock, [head], [fd])
    reply = sock.recv(REPLY_PREFIX.size + MAX_REPLY)
    if len(reply) < REPLY_PREFIX.size:
        raise EOFError("the node closed the local connection without a reply")
    (length,) = REPLY_PREFIX.unpack_from(reply)
    if length != len(reply) - REPLY_PREFIX.size:
        raise EOFError(f"a local bulk reply of {len(reply)} bytes announced {length}")
    return reply[REPLY_PREFIX.size:]


def _recv_exactly(sock: socket.socket, size: int, deadline: float | None, what: str) -> bytes:
    """``size`` bytes from the blocking ``sock``; :class:`EOFError` if it ends first."""
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        sock.settimeout(_left(deadline))
        n = sock.recv_into(view[got:])
        if not n:
            raise EOFError(f"the connection ended {got} bytes into {size} of {what}")
        got += n
    return bytes(buffer)
