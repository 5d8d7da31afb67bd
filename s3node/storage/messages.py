"""
The node's protobuf messages: requests checked on the way in, store results
converted on the way out (what :mod:`s3node.storage.servicer` answers with).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.errors import InvalidRequest
from s3node.storage.types import ChunkInfo, PutResult, QuarantineEntry

__all__ = [
    "Undecodable",
    "decodable",
    "entry_message",
    "info_message",
    "put_reply",
    "timestamp",
    "tolerant",
]


class Undecodable:
    """Stands for a request message protobuf could not decode."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def tolerant(message_class: Any) -> Callable[[bytes], Any]:
    """A request deserializer that hands the RPC an :class:`Undecodable` instead of failing.

    When a deserializer raises, grpc answers ``UNKNOWN`` itself, without the
    error code; this way the RPC answers ``INVALID_ARGUMENT`` (``bad_request``).
    """

    def parse(raw: bytes) -> Any:
        try:
            return message_class.FromString(raw)
        except DecodeError as e:
            return Undecodable(f"undecodable {message_class.__name__}: {e}")

    return parse


def decodable(request: Any) -> Any:
    """``request`` itself; :class:`InvalidRequest` when it stands for an undecodable one."""
    if isinstance(request, Undecodable):
        raise InvalidRequest(request.error)
    return request


def timestamp(when: datetime) -> Timestamp:
    """``when`` as a protobuf ``Timestamp``."""
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def entry_message(entry: QuarantineEntry) -> pb.QuarantineEntry:
    """A quarantine entry as its message."""
    return pb.QuarantineEntry(
        chunk_id=entry.chunk_id,
        reason=entry.reason,
        quarantined_at=timestamp(entry.quarantined_at),
        entry_id=entry.entry_id,
        size=entry.size,
    )


def put_reply(result: PutResult) -> pb.PutChunkResponse:
    """What PutChunk and PutSmallChunk answer for a stored chunk."""
    return pb.PutChunkResponse(
        chunk_id=result.chunk_id,
        size=result.size,
        checksum_algorithm=result.algorithm,
        digest=result.digest,
        created=result.created,
    )


def info_message(info: ChunkInfo) -> pb.ChunkInfo:
    """A chunk's record as its message."""
    return pb.ChunkInfo(
        chunk_id=info.chunk_id,
        size=info.size,
        checksum_algorithm=info.algorithm,
        digest=info.digest,
        created=timestamp(info.created),
    )
