"""
What every metadata store shares for the S3 namespace: input checks, the
byte-order bounds of a prefix, and records from SQL rows (the listing walk
is :mod:`._listing`).

Pure functions, no I/O.  Keys compare in byte order of their UTF-8 encoding
in every backend (SQLite's ``BINARY`` collation, PostgreSQL's ``COLLATE
"C"``), which is the order of Python's ``str`` comparison for valid unicode,
so the in-memory store sorts with plain ``sorted``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from s3node.errors import InvalidPart, InvalidRequest, PartTooSmall, PreconditionFailed
from s3node.records import (
    MAX_PAGE_SIZE,
    MultipartUpload,
    ObjectRecord,
    PartRecord,
    PartSpan,
)

__all__ = [
    "Stitched",
    "check_access_key_id",
    "check_bucket",
    "check_condition",
    "check_headers",
    "check_key",
    "check_listing",
    "check_object",
    "check_part_etag",
    "check_part_number",
    "check_upload_id",
    "decode_headers",
    "encode_headers",
    "plan_completion",
    "successor",
]

#: the longest key, in UTF-8 bytes (S3's limit)
MAX_KEY_BYTES = 1024
#: the most bytes of stored headers per object (names and values)
MAX_HEADER_BYTES = 16 * 1024
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_ETAG = re.compile(r"[0-9a-f]{32}(-[0-9]{1,5})?")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]{1,128}")
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9]{16,128}")


def check_bucket(name: object) -> str:
    """A bucket name: 3 to 63 of ``a-z0-9.-`` (the S3 edge checks S3's finer rules)."""
    if not isinstance(name, str) or not _BUCKET.fullmatch(name):
        raise InvalidRequest(f"not a bucket name: {name!r}")
    return name


def check_key(key: object, what: str = "key") -> str:
    """A key: 1 to 1024 bytes of UTF-8, no NUL."""
    if not isinstance(key, str) or not key:
        raise InvalidRequest(f"a {what} must be non-empty text")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRequest(f"a {what} must be valid unicode") from None
    if size > MAX_KEY_BYTES:
        raise InvalidRequest(f"a {what} must be at most {MAX_KEY_BYTES} bytes of UTF-8")
    if "\x00" in key:
        raise InvalidRequest(f"a {what} must not contain NUL characters")
    return key


def check_headers(headers: object) -> tuple[tuple[str, str], ...]:
    """Stored headers: (lower-case name, text value) pairs, at most 16 KiB in all."""
    if not isinstance(headers, Sequence) or isinstance(headers, str | bytes):
        raise InvalidRequest("headers must be a sequence of (name, value) pairs")
    pairs: list[tuple[str, str]] = []
    total = 0
    for pair in headers:
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise InvalidRequest(f"not a (name, value) header pair: {pair!r}")
        name, value = pair
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidRequest(f"not a lower-case header name: {name!r}")
        if not isinstance(value, str) or "\x00" in value:
            raise InvalidRequest(f"header {name} must have a text value without NUL")
        try:
            total += len(name) + len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidRequest(f"header {name} must be valid unicode") from None
        pairs.append((name, value))
    if total > MAX_HEADER_BYTES:
        raise InvalidRequest(f"the stored headers exceed {MAX_HEADER_BYTES} bytes")
    return tuple(pairs)


def check_object(bucket: object, key: object, etag: object,
                 headers: object) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    """The name, ETag and headers of an object being made visible."""
    if not isinstance(etag, str) or not _ETAG.fullmatch(etag):
        raise InvalidRequest(f"an ETag is 32 lower-case hex digits (and -N), not {etag!r}")
    return check_bucket(bucket), check_key(key), etag, check_headers(headers)


def check_condition(current: str | None, if_match: str | None, if_none_match: bool) -> None:
    """
    Whether a conditional write may name a key whose object has ETag
    ``current`` (``None``: the key names nothing).

    :raises PreconditionFailed: it may not.
    """
    if if_none_match and current is not None:
        raise PreconditionFailed("the key names an object (If-None-Match: *)")
    if if_match is not None and current != if_match.strip('"'):
        raise PreconditionFailed("the key does not name an object with that ETag (If-Match)")


def check_listing(bucket: object, prefix: object, delimiter: object, after: object,
                  limit: object) -> None:
    """The arguments of a listing."""
    check_bucket(bucket)
    if not isinstance(prefix, str) or not isinstance(delimiter, str):
        raise InvalidRequest("prefix and delimiter must be text")
    if prefix:
        check_key(prefix, "prefix")
    if delimiter:
        check_key(delimiter, "delimiter")
    if after is not None and after != "":
        check_key(after, "start key")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must be from 1 to {MAX_PAGE_SIZE}, not {limit!r}")


def check_access_key_id(access_key_id: object) -> str:
    """An access key id: 16 to 128 ASCII letters and digits."""
    if not isinstance(access_key_id, str) or not _ACCESS_KEY_ID.fullmatch(access_key_id):
        raise InvalidRequest(f"not an access key id: {access_key_id!r}")
    return access_key_id


def encode_headers(headers: Sequence[tuple[str, str]]) -> str:
    """Stored headers as the JSON text the SQL stores keep."""
    return json.dumps([list(pair) for pair in headers], ensure_ascii=False)


def decode_headers(text: str | None) -> tuple[tuple[str, str], ...]:
    """The stored headers from their JSON text."""
    if not text:
        return ()
    return tuple((str(name), str(value)) for name, value in json.loads(text))


def successor(prefix: str) -> str | None:
    """
    The least string above every string that starts with ``prefix`` (``None``:
    no bound): the last character incremented, dropping any U+10FFFF; lone
    surrogates, which no key holds, are stepped over.
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:
                nxt = 0xE000
            return prefix[:-1] + chr(nxt)
        prefix = prefix[:-1]
    return None


_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def check_upload_id(upload_id: object) -> str:
    """A multipart upload id: 32 lower-case hex digits."""
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        raise InvalidRequest(f"not an upload id: {str(upload_id)[:80]!r}")
    return upload_id


def check_part_etag(etag: object) -> str:
    """A part's ETag: its MD5, 32 lower-case hex digits."""
    if not isinstance(etag, str) or not re.fullmatch(r"[0-9a-f]{32}", etag):
        raise InvalidRequest(f"a part's ETag is 32 lower-case hex digits, not {etag!r}")
    return etag


def check_part_number(number: object) -> int:
    """A part number: 1 to 10000."""
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 10000:
        raise InvalidRequest(f"a part number is 1 to 10000, not {number!r}")
    return number


class Stitched:
    """What completing a multipart upload makes of its listed parts."""

    def __init__(self, parts: Sequence[PartRecord], part_checksums: Sequence[str],
                 algorithm: str) -> None:
        self.parts = tuple(parts)
        self.size = sum(p.size for p in parts)
        md5s = b"".join(bytes.fromhex(p.etag) for p in parts)
        #: ``md5(part md5s)-N``, unquoted
        self.etag = f"{hashlib.md5(md5s).hexdigest()}-{len(parts)}"
        #: SHA-256 of the parts' digests, in order
        self.checksum = hashlib.sha256(
            b"".join(bytes.fromhex(c) for c in part_checksums)).hexdigest()
        self.algorithm = f"{algorithm}-parts"
        #: where each part lies in the object (the ``object_parts`` rows)
        self.spans: list[PartSpan] = []
        for part in parts:
            first = self.spans[-1].first + self.spans[-1].size if self.spans else 0
            self.spans.append(PartSpan(part.number, first, part.size))


def plan_completion(uploaded: Mapping[int, PartRecord], wanted: Sequence[tuple[int, str]],
                    min_part_size: int) -> list[PartRecord]:
    """
    The uploaded parts a completion lists, in order, once each is known with
    its ETag and every one but the last is at least ``min_part_size`` bytes.
    """
    if not wanted:
        raise InvalidRequest("a multipart upload completes with at least one part")
    parts: list[PartRecord] = []
    previous = 0
    for number, etag in wanted:
        if number <= previous:
            raise InvalidRequest("the parts must be listed in ascending order")
        previous = number
        part = uploaded.get(number)
        if part is None or part.etag != etag.strip().strip('"').lower():
            raise InvalidPart(f"part {number} was not uploaded with ETag {etag[:80]}")
        parts.append(part)
    for part in parts[:-1]:
        if part.size < min_part_size:
            raise PartTooSmall(f"part {part.number} has {part.size} bytes; every part but "
                               f"the last needs at least {min_part_size}")
    return parts


# -- records from SQL rows (``moment`` turns a backend's timestamp into UTC) --------------

#: the columns :func:`object_from_row` reads, ``o`` the objects table, ``f`` its file
OBJECT_COLUMNS = (
    "o.bucket, o.key, o.file_id, f.size, f.content_type, o.etag, o.modified_at, o.headers"
)
#: the columns :func:`upload_from_row` reads
UPLOAD_COLUMNS = "id, bucket, key, content_type, headers, created_at"
#: the columns :func:`part_from_row` reads
PART_COLUMNS = "part_number, file_id, etag, size, modified_at, checksum"


def object_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> ObjectRecord:
    """An object from a row of :data:`OBJECT_COLUMNS`."""
    bucket, key, file_id, size, ctype, etag, modified, headers = row
    return ObjectRecord(bucket, key, uuid.UUID(str(file_id)), size or 0, ctype, etag,
                        moment(modified), decode_headers(headers))


def upload_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> MultipartUpload:
    """A multipart upload from a row of :data:`UPLOAD_COLUMNS`."""
    upload_id, bucket, key, ctype, headers, created = row
    return MultipartUpload(upload_id, bucket, key, ctype, decode_headers(headers),
                           moment(created))


def part_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> PartRecord:
    """A part from a row of :data:`PART_COLUMNS`."""
    number, file_id, etag, size, modified, checksum = row
    pair = tuple(checksum.split(" ", 1)) if checksum else None
    return PartRecord(number, uuid.UUID(str(file_id)), etag, size, moment(modified),
                      pair)  # type: ignore[arg-type]


def check_part_checksum(checksum: object) -> str | None:
    """A part's checksum header and value, as the column keeps them (``None``: none)."""
    if checksum is None:
        return None
    if (not isinstance(checksum, tuple) or len(checksum) != 2
            or not all(isinstance(x, str) for x in checksum)
            or not re.fullmatch(r"x-amz-checksum-[a-z0-9]{3,12}", checksum[0])
            or not re.fullmatch(r"[A-Za-z0-9+/=]{4,96}", checksum[1])):
        raise InvalidRequest(f"not a part checksum: {str(checksum)[:120]!r}")
    return f"{checksum[0]} {checksum[1]}"
