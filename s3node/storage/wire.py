"""
Bulk data on the gRPC wire without protobuf in the way.

A ``PutChunkRequest`` or ``GetChunkResponse`` that carries data is, on the
wire, one length-delimited field: the tag of field 2 (``0x12``), the length
as a varint, the bytes.  Building a protobuf message for it copies the bytes
into the message, and serializing copies them again (parsing, on the other
side, twice more).  These serializers frame and unframe that one field
directly: the bytes on the wire are exactly what protobuf would produce and
parse, so peers that use the generated classes interoperate unchanged.

- A :class:`DataMessage` stands for a data message both ways: senders yield
  ``DataMessage(piece)`` and :func:`serialize` frames it with
  :func:`frame_data` (one copy), any other message through
  ``SerializeToString``;
- :func:`data_parser` returns a deserializer that recognises a data message
  and hands out a :class:`DataMessage` whose ``data`` is a view of the
  received buffer (no copy), and gives anything else to the message class.

Only the message classes' ``kind`` oneof with ``data = 2`` is assumed here;
``proto/s3node/storage/v1/storage.proto`` keeps it that way (see
``docs/grpc.md``).  Channel and server creation are not involved: these are
per-method serializers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "DATA_TAG",
    "FIXED_WINDOW",
    "SMALL_CHUNK",
    "DataMessage",
    "data_parser",
    "frame_data",
    "serialize",
]

#: field 2, wire type 2 (length-delimited): ``data`` in both message types
DATA_TAG = 0x12
#: the most chunk bytes PutSmallChunk takes and GetSmallChunk returns, in one message
#: each way (a chunk or read this small is sent and read in one call, not a stream)
SMALL_CHUNK = 1024 * 1024
#: channel and server options for a fixed 2 MiB receive window per stream instead of
#: gRPC's BDP probing, which grows the window (and the data buffered behind it) while the
#: receiver is busy: ~40 MiB more in a node during a 1 GiB put, up to ~9 MiB in a busy
#: gateway's GetChunk streams (docs/grpc.md)
FIXED_WINDOW: tuple[tuple[str, int], ...] = (
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 2 * 1024 * 1024),
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame_data(piece: bytes | memoryview) -> bytes:
    """The wire bytes of a message whose only field is ``data = piece``."""
    return b"".join((bytes((DATA_TAG,)), _varint(len(piece)), piece))


class DataMessage:
    """
    A data message: ``data`` is the piece to send, or a read-only view of the
    received wire buffer.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = data

    def WhichOneof(self, group: str) -> str:
        """``"data"``, as the protobuf message would answer for its ``kind`` oneof."""
        return "data"


def serialize(message: Any) -> bytes:
    """A request or response serializer: a :class:`DataMessage` framed, others serialized."""
    if type(message) is DataMessage:
        return frame_data(message.data)
    return bytes(message.SerializeToString())


def _data_field(raw: bytes) -> memoryview | None:
    """The payload when ``raw`` is exactly one ``data`` field, else ``None``."""
    if not raw or raw[0] != DATA_TAG:
        return None
    length = shift = 0
    pos = 1
    while pos < len(raw) and shift < 64:
        byte = raw[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    else:
        return None
    if pos + length != len(raw):
        return None
    return memoryview(raw)[pos:]


def data_parser(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """A deserializer: data messages as :class:`DataMessage`, anything else by ``parse``."""

    def deserialize(raw: bytes) -> Any:
        data = _data_field(raw)
        return DataMessage(data) if data is not None else parse(raw)

    return deserialize
