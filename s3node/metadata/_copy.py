"""
What every metadata store checks and computes when it copies an object or a
part by sharing chunks (``docs/s3.md``, "Copies share chunks").

A copy is a new file whose chunk and replica rows name the source's chunk ids:
no byte moves on any node.  A chunk id may then be named by several rows on
one node, and the node's copy of it is deleted only when the last of them goes
(``release_replica``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from s3node.errors import InvalidRequest
from s3node.metadata import _objects as o
from s3node.metadata import _records as r

__all__ = ["check_copy", "check_span", "refuse_inline", "span_checksum"]


def check_copy(source: object, bucket: object, key: object, etag: object, headers: object,
               content_type: object, filename: object
               ) -> tuple[uuid.UUID, str, str, str, tuple[tuple[str, str], ...], str, str]:
    """A copy's source file, destination, ETag, headers, content type and filename, checked."""
    file_id = r.check_file_id(source)
    bucket, key, etag, pairs = o.check_object(bucket, key, etag, headers)
    return (file_id, bucket, key, etag, pairs, r.check_text(content_type, "content type", 0, 255),
            r.check_text(filename, "filename", 1, 1024))


def check_span(source: object, first: object, count: object, upload_id: object,
               part_number: object, etag: object) -> uuid.UUID:
    """A part copy's source and chunk span (``first``, ``count`` >= 0), checked."""
    file_id = r.check_file_id(source)
    for name, value, least in (("first", first, 0), ("count", count, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InvalidRequest(f"{name} must be a whole number of at least {least}")
    o.check_upload_id(upload_id)
    o.check_part_number(part_number)
    o.check_part_etag(etag)
    return file_id


def refuse_inline(source: uuid.UUID, inline: bool) -> None:
    """
    A part copy shares chunks, and an inline file (``inline``) has none: its
    bytes are copied by the gateway, never shared (:class:`InvalidRequest`).
    """
    if inline:
        raise InvalidRequest(
            f"file {source} is inline: an inline object's bytes are copied, not shared")


def span_checksum(whole: bool, file_algorithm: str, file_digest: bytes,
                  chunk_algorithms: Sequence[str], chunk_digests: Sequence[bytes]
                  ) -> tuple[str, bytes]:
    """
    The checksum of a part made of some of a file's chunks: the file's own
    when the span is all of it; otherwise ``<chunk algorithm>-chunks``, the
    SHA-256 of the chunks' digests in order (no pass over the bytes happens).
    """
    if whole:
        return file_algorithm, file_digest
    return (f"{chunk_algorithms[0]}-chunks",
            hashlib.sha256(b"".join(chunk_digests)).digest())
