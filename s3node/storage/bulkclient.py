"""
The gateway's side of the bulk data path: one chunk to a node's bulk port
(framing: :mod:`s3node.storage.bulkwire`).

:class:`~s3node.storage.client.StorageClient` uses it for chunks over
:data:`~s3node.storage.wire.SMALL_CHUNK` once the node's Health named its
bulk port, and without TLS.  The chunk goes out with ``sock_sendall`` from
the caller's buffer (no copy in user space); the reply is read after it.
"""

from __future__ import annotations

import asyncio
import socket

from google.protobuf.message import DecodeError

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.errors import NodeNotFound, TimedOut, Unavailable
from s3node.storage.bulkwire import MAX_REPLY, REPLY_PREFIX, framed_head, recv_exactly
from s3node.storage.errors import error_from_code

__all__ = ["bulk_put"]


async def bulk_put(host: str, port: int, secret: bytes, header: pb.PutChunkHeader,
                   data: memoryview, *, where: str, node_id: str = "",
                   timeout: float | None = None) -> pb.PutChunkResponse | None:
    """
    Put ``data`` as ``header`` says on the node's bulk port ``host``:``port``.

    :param secret: the cluster secret (empty: none)
    :param where: names the node in errors (its gRPC address)
    :param node_id: the node meant (as its Health named it; empty: any)
    :returns: the node's reply; ``None`` when nothing listens there, or
        another node does (a node restarted on another port, and its old
        port taken since): the caller uses gRPC.
    :raises s3node.errors.S3NodeError: the error the node answered (as
        PutChunk's), :class:`~s3node.errors.Unavailable` when the connection
        fails midway, :class:`~s3node.errors.TimedOut` past ``timeout``.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        except (OSError, TimeoutError):
            return None
        try:
            reply = await asyncio.wait_for(
                _exchange(loop, sock, framed_head(secret, header, node_id), data), timeout)
        except TimeoutError:
            raise TimedOut(f"storage node {where}: a bulk put took over {timeout:g} s") from None
        except (OSError, EOFError, DecodeError) as e:
            raise Unavailable(f"storage node {where}: bulk put failed: {e}") from None
    finally:
        sock.close()
    if reply.error_code == NodeNotFound.code:
        return None
    if reply.error_code:
        raise error_from_code(reply.error_code, reply.message, where)
    return reply.result


async def _exchange(loop: asyncio.AbstractEventLoop, sock: socket.socket, head: bytes,
                    data: memoryview) -> pb.BulkPutReply:
    await loop.sock_sendall(sock, head)
    try:
        await loop.sock_sendall(sock, data)
    except OSError:
        pass  # the node answered early and closed: its reply says why
    prefix = bytearray(REPLY_PREFIX.size)
    await recv_exactly(loop, sock, memoryview(prefix), "the reply's length")
    (length,) = REPLY_PREFIX.unpack(prefix)
    if length > MAX_REPLY:
        raise EOFError(f"a bulk put reply of {length} bytes (at most {MAX_REPLY})")
    body = bytearray(length)
    await recv_exactly(loop, sock, memoryview(body), "the reply")
    return pb.BulkPutReply.FromString(bytes(body))
