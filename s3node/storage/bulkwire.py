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
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.errors import InvalidRequest

__all__ = [
    "MAGIC",
    "MAX_HEAD",
    "MAX_REPLY",
    "PREFIX",
    "REPLY_PREFIX",
    "framed_head",
    "framed_reply",
    "head_length",
    "recv_exactly",
    "shut_down",
]

#: the first bytes of every bulk put: the protocol and its version
MAGIC = b"S3NBULK1"
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


def head_length(prefix: bytes) -> int:
    """
    The length of the head that follows ``prefix`` (:data:`PREFIX` bytes).

    :raises InvalidRequest: for another protocol, or a head over :data:`MAX_HEAD`.
    """
    magic, length = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise InvalidRequest(f"not a bulk put: the connection must start with {MAGIC!r}")
    if length > MAX_HEAD:
        raise InvalidRequest(f"a bulk put's head is at most {MAX_HEAD} bytes, not {length}")
    return int(length)


def framed_reply(reply: pb.BulkPutReply) -> bytes:
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


def shut_down(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    """
    Shut ``sock`` down (``how``): a thread blocked sending or receiving on it
    returns at once.  Nothing when it is not connected (yet, or any more).
    """
    try:
        sock.shutdown(how)
    except OSError:
        pass
