"""
The framing of the bulk data path, shared by the node (:mod:`s3node.storage.bulkserver`)
and the gateway (:mod:`s3node.storage.bulkclient`).

A bulk put is one TCP connection to a node's bulk port: the client sends
:data:`MAGIC`, the length of a ``BulkPutHead`` (4 bytes, big-endian, at most
:data:`MAX_HEAD`), the head, then exactly ``head.header.size`` bytes of chunk
data; the node answers with the length of a ``BulkPutReply`` (4 bytes,
big-endian) and the reply, and closes.  The chunk's bytes are read from and
written to the sockets with ``recv_into`` and ``sendall``, on a thread of
either side: they are never copied in user space on the way (gRPC copies them
about three times per hop).  ``proto/s3node/storage/v1/storage.proto`` and
``docs/grpc.md`` ("The bulk data path") describe the protocol.

A local bulk put (a node's Unix socket, named in its Health as
``bulk_local``) sends the same magic, length and head as one message of a
``SOCK_SEQPACKET`` socket, with a memfd holding the chunk's bytes (the
file's first ``head.header.size``) passed beside it; no data follows on the
socket, and the reply comes back as one message, framed as over TCP.  A local
bulk get is the same with :data:`GET_MAGIC` and a ``BulkGetHead``: the node
writes the bytes read into the memfd and answers a ``BulkGetReply``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Callable

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.errors import InvalidRequest

__all__ = [
    "GET_MAGIC",
    "MAGIC",
    "MAX_HEAD",
    "MAX_REPLY",
    "PREFIX",
    "REPLY_PREFIX",
    "framed_get_head",
    "framed_head",
    "framed_reply",
    "head_length",
    "recv_exactly",
    "recv_with_fd",
    "shut_down",
]

#: the first bytes of every bulk put: the protocol and its version
MAGIC = b"S3NBULK1"
#: the first bytes of a local bulk get's message
GET_MAGIC = b"S3NLGET1"
#: the magic and the head's length
PREFIX = struct.Struct(">8sI")
#: the reply's length
REPLY_PREFIX = struct.Struct(">I")
#: the largest head a node reads (a secret, a chunk id, a digest: well under 1 KiB)
MAX_HEAD = 16 * 1024
#: the largest reply a client reads
MAX_REPLY = 64 * 1024


def framed_head(secret: bytes, header: pb.PutChunkHeader, node_id: str = "") -> bytes:
    """What a client sends before the chunk's bytes (``node_id``: the node it means)."""
    head = pb.BulkPutHead(secret=secret, header=header, node_id=node_id).SerializeToString()
    return PREFIX.pack(MAGIC, len(head)) + head


def framed_get_head(secret: bytes, request: pb.GetChunkRequest, node_id: str = "") -> bytes:
    """A local bulk get's message (``node_id``: the node it means)."""
    head = pb.BulkGetHead(secret=secret, request=request, node_id=node_id).SerializeToString()
    return PREFIX.pack(GET_MAGIC, len(head)) + head


def head_length(prefix: bytes, magic: bytes = MAGIC) -> int:
    """
    The length of the head that follows ``prefix`` (:data:`PREFIX` bytes,
    starting with ``magic``).

    :raises InvalidRequest: for another protocol, or a head over :data:`MAX_HEAD`.
    """
    got, length = PREFIX.unpack(prefix)
    if got != magic:
        raise InvalidRequest(f"not a bulk put: the connection must start with {magic!r}")
    if length > MAX_HEAD:
        raise InvalidRequest(f"a bulk put's head is at most {MAX_HEAD} bytes, not {length}")
    return int(length)


def framed_reply(reply: pb.BulkPutReply | pb.BulkGetReply) -> bytes:
    """What a node sends back, its length first."""
    data = reply.SerializeToString()
    return REPLY_PREFIX.pack(len(data)) + data


async def recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                       view: memoryview, what: str,
                       on_received: Callable[[int], None] | None = None) -> None:
    """
    Fill ``view`` from ``sock`` (non-blocking, on ``loop``).

    :param what: names what is read, in the error
    :param on_received: told the size of every read as it lands (a read
        cancelled midway has told what it took)
    :raises EOFError: when the peer closes the connection first.
    """
    got, size = 0, len(view)
    while got < size:
        n = await loop.sock_recv_into(sock, view[got:])
        if not n:
            raise EOFError(f"the connection ended {got} bytes into {size} of {what}")
        got += n
        if on_received is not None:
            on_received(n)


async def recv_with_fd(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                       size: int) -> tuple[bytes, int | None]:
    """
    The next message of the non-blocking ``SOCK_SEQPACKET`` ``sock`` (at
    most ``size`` bytes) and the one descriptor passed with it, if any (the
    caller closes it).

    :raises InvalidRequest: for a message over ``size`` bytes or more than
        one descriptor (any received are closed).
    :raises EOFError: when the peer closed the connection.
    """
    while True:
        try:
            data, fds, flags, _ = socket.recv_fds(sock, size, 1, socket.MSG_CMSG_CLOEXEC)
            break
        except (BlockingIOError, InterruptedError):
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _set_once, readable)
            try:
                await readable
            finally:
                loop.remove_reader(sock.fileno())
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) > 1:
        for fd in fds:
            os.close(fd)
        raise InvalidRequest(f"a local bulk call's message is at most {size} bytes "
                             f"with one descriptor")
    if not data and not fds:
        raise EOFError("the connection ended before the head")
    return data, (fds[0] if fds else None)


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def shut_down(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    """
    Shut ``sock`` down (``how``): a thread blocked sending or receiving on it
    returns at once.  Nothing when it is not connected (yet, or any more).
    """
    try:
        sock.shutdown(how)
    except OSError:
        pass
