"""
The S3 copy operations: CopyObject and UploadPartCopy.

Both share the source's chunks instead of copying bytes
(:mod:`s3node.gateway.copies`); this module reads S3's headers:
``x-amz-copy-source`` (routed), ``x-amz-metadata-directive``, the
``x-amz-copy-source-if-*`` conditions and ``x-amz-copy-source-range``.
"""

from __future__ import annotations

import re

from twisted.internet.defer import Deferred

from s3node._aio import shielded
from s3node.core.ranges import ByteRange
from s3node.gateway.copies import CopiedPart, copy_object, copy_part
from s3node.gateway.headers import clean_content_type, clean_filename
from s3node.records import ObjectRecord
from s3node.s3 import errors, responses
from s3node.s3server.app import Call, Handler, send
from s3node.s3server.multipart import upload_of
from s3node.s3server.objects import (
    preconditions,
    refuse_unsupported,
    stored_headers,
    write_conditions,
)

__all__ = ["COPY_HANDLERS", "check_copy_source", "copy_range"]

XML = b"application/xml"
_CONDITIONS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{1,19})")


def check_copy_source(obj: ObjectRecord, headers: dict[str, str]) -> None:
    """
    The ``x-amz-copy-source-if-*`` conditions, decided as GetObject's are
    (an ETag condition that holds outweighs a date one), except that every
    failure is ``412 PreconditionFailed``.
    """
    given = {name: headers[f"x-amz-copy-source-{name}"] for name in _CONDITIONS
             if f"x-amz-copy-source-{name}" in headers}
    if preconditions(obj, given) is not None:
        failed = next(iter(given))
        raise errors.PreconditionFailed(fields=[("Condition", f"x-amz-copy-source-{failed}")])


def copy_range(value: str | None, size: int) -> ByteRange | None:
    """``x-amz-copy-source-range: bytes=first-last`` within an object of ``size`` bytes."""
    if value is None:
        return None
    found = _RANGE.fullmatch(value.strip())
    if found is None:
        raise errors.InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            fields=[("ArgumentName", "x-amz-copy-source-range"),
                    ("ArgumentValue", value[:100])])
    start, end = int(found[1]), int(found[2])
    if start > end or end >= size:
        raise errors.InvalidRange(
            "The requested range is not satisfiable",
            fields=[("ActualObjectSize", str(size)), ("RangeRequested", value[:100])])
    return ByteRange(start, end)


async def copy_object_handler(call: Call) -> None:
    route = call.route
    assert route.bucket is not None and route.key is not None
    source = route.copy_source
    assert source is not None
    headers = call.headers
    refuse_unsupported(headers)
    directive = headers.get("x-amz-metadata-directive", "COPY").strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument(
            "Unknown metadata directive.",
            fields=[("ArgumentName", "x-amz-metadata-directive"),
                    ("ArgumentValue", directive[:40])])
    if (source.bucket, source.key) == (route.bucket, route.key) and directive == "COPY":
        raise errors.InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.")

    def decide(obj: ObjectRecord) -> tuple[str, list[tuple[str, str]]]:
        check_copy_source(obj, headers)
        if directive == "COPY":
            return obj.content_type, list(obj.headers)
        # the bytes are the source's: so are their verified checksums
        kept = [h for h in obj.headers if h[0].startswith("x-amz-checksum-")]
        return clean_content_type(headers.get("content-type")), stored_headers(headers) + kept

    name = clean_filename(route.key.rsplit("/", 1)[-1]) or clean_filename(route.key) or "object"
    _, put = await copy_object(call.api.files, (source.bucket, source.key),
                               bucket=route.bucket, key=route.key, filename=name,
                               decide=decide, **write_conditions(headers))
    obj = put.object
    checksums = [h for h in obj.headers if h[0].startswith("x-amz-checksum-")]
    send(call.request, 200, responses.copy_object(
        f'"{obj.etag}"', obj.modified_at,
        [(n.removeprefix("x-amz-checksum-").upper(), v) for n, v in checksums]),
        content_type=XML)


async def upload_part_copy(call: Call) -> None:
    route = call.route
    assert route.part_number is not None and route.copy_source is not None
    upload = await upload_of(call)
    source = route.copy_source
    headers = call.headers
    request = call.request
    files = call.api.files
    work: Deferred[CopiedPart] = Deferred.fromCoroutine(copy_part(
        files, (source.bucket, source.key), upload_id=upload.upload_id,
        part_number=route.part_number,
        filename=clean_filename(upload.key.rsplit("/", 1)[-1]) or "part",
        r=lambda size: copy_range(headers.get("x-amz-copy-source-range"), size),
        check=lambda obj: check_copy_source(obj, headers)))
    with call.api.upload_slots.take(request) as slot:
        copied = await shielded(slot.hold(work))
    (part,) = await files.list_parts(upload.upload_id, after=route.part_number - 1, limit=1)
    send(request, 200, responses.copy_part(f'"{copied.etag}"', part.modified_at),
         content_type=XML)


COPY_HANDLERS: dict[str, Handler] = {
    "CopyObject": copy_object_handler,
    "UploadPartCopy": upload_part_copy,
}
