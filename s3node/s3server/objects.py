"""
The S3 object operations: PutObject, GetObject, HeadObject, DeleteObject and
DeleteObjects.

PutObject streams its body (:class:`~s3node.s3server.bodies.S3Body`) into
:meth:`~s3node.gateway.files.FileService.store_object`; the object becomes
visible, replacing the key's previous object in the same transaction, only
once every claim about the body held.  GetObject streams the verified chunks
of the object's file (whole, a ``Range``, or the range of one ``partNumber``,
whose bounds the metadata kept at completion) with the stored headers;
conditional headers are decided on the object's ETag and time.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from s3node._aio import shielded
from s3node.errors import InvalidRange
from s3node.gateway.headers import clean_content_type, clean_filename, range_of
from s3node.gateway.streaming import abort_connection
from s3node.records import ObjectRecord, PartSpan
from s3node.s3 import errors, responses
from s3node.s3.encoding import wire_bytes
from s3node.s3.routing import check_key
from s3node.s3.xml import MAX_XML_BODY, parse_delete
from s3node.s3server.app import Call, Handler, send
from s3node.s3server.bodies import S3Body, read_small_body

__all__ = [
    "OBJECT_HANDLERS",
    "preconditions",
    "refuse_unsupported",
    "stored_headers",
    "write_conditions",
]

#: headers stored with an object and sent back as they came
STORED = ("cache-control", "content-disposition", "content-encoding", "content-language",
          "expires")
#: query parameters that override a GET's response headers
OVERRIDES = {
    "response-cache-control": b"cache-control",
    "response-content-disposition": b"content-disposition",
    "response-content-encoding": b"content-encoding",
    "response-content-language": b"content-language",
    "response-content-type": b"content-type",
    "response-expires": b"expires",
}
#: request headers of features s3node does not implement
UNSUPPORTED_HEADERS = ("x-amz-server-side-encryption", "x-amz-tagging",
                       "x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date",
                       "x-amz-object-lock-legal-hold", "x-amz-website-redirect-location",
                       "x-amz-server-side-encryption-customer-algorithm")


def _names(call: Call) -> tuple[str, str]:
    route = call.route
    assert route.bucket is not None and route.key is not None
    return route.bucket, route.key


def stored_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in STORED:
        value = headers.get(name)
        if name == "content-encoding" and value is not None:
            # aws-chunked is how the body travelled, not what it is
            kept = [v.strip() for v in value.split(",") if v.strip() and v.strip() != "aws-chunked"]
            value = ", ".join(kept) or None
        if value is not None:
            out.append((name, value))
    out += sorted((n, v) for n, v in headers.items() if n.startswith("x-amz-meta-"))
    return out


def refuse_unsupported(headers: dict[str, str]) -> None:
    found = [h for h in UNSUPPORTED_HEADERS if h in headers]
    if headers.get("x-amz-acl", "private") != "private":
        found.append("x-amz-acl")
    if headers.get("x-amz-storage-class", "STANDARD") != "STANDARD":
        found.append("x-amz-storage-class")
    if found:
        raise errors.NotImplementedByS3Node(f"{found[0]} is not implemented by s3node",
                                            fields=[("Header", found[0])])


def write_conditions(headers: dict[str, str]) -> dict[str, Any]:
    """A conditional PutObject's ``If-Match`` / ``If-None-Match: *``."""
    if_none = headers.get("if-none-match")
    if if_none is not None and if_none.strip() != "*":
        raise errors.NotImplementedByS3Node("If-None-Match on a write takes only *",
                                            fields=[("Header", "If-None-Match")])
    return {"if_match": headers.get("if-match"), "if_none_match": if_none is not None}


async def put_object(call: Call) -> None:
    bucket, key = _names(call)
    headers = call.headers
    refuse_unsupported(headers)
    request = call.request
    files = call.api.files
    name = clean_filename(key.rsplit("/", 1)[-1]) or clean_filename(key) or "object"
    source = S3Body(request.body, call.credentials, headers, call.api.cpu,
                    name=(name, clean_content_type(headers.get("content-type"))),
                    max_size=files.max_file_size)

    def meta() -> tuple[str, list[tuple[str, str]]]:
        assert source.digests is not None
        stored = stored_headers(headers)
        checksum = source.stored_checksum()
        if checksum is not None:
            stored.append(checksum)
        return source.digests.md5.hex(), stored

    with call.api.upload_slots.take(request) as slot:
        # shielded: a client that goes away must not stop the pipeline's cleanup
        work = files.store_object(source, bucket=bucket, key=key, meta=meta,
                                  abort=lambda: abort_connection(request),
                                  **write_conditions(headers))
        stored = await shielded(slot.hold(work))
    answer = {b"etag": f'"{stored.put.object.etag}"'.encode()}
    checksum = source.stored_checksum()
    if checksum is not None:
        answer[checksum[0].encode()] = checksum[1].encode()
    send(request, 200, headers=answer)


def _http_date(when: datetime) -> str:
    return format_datetime(when.replace(microsecond=0), usegmt=True)


def _parse_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # S3 ignores a date it cannot read


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or f'"{etag}"' in tags or etag in tags


def preconditions(obj: ObjectRecord, headers: dict[str, str]) -> int | None:
    """The status the conditional headers decide (412, 304), or ``None`` to go on."""
    modified = obj.modified_at.replace(microsecond=0)
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, obj.etag):
            return 412
    else:
        since = _parse_date(headers.get("if-unmodified-since"))
        if since is not None and modified > since:
            return 412
    if_none = headers.get("if-none-match")
    if if_none is not None:
        if _etag_matches(if_none, obj.etag):
            return 304
    else:
        since = _parse_date(headers.get("if-modified-since"))
        if since is not None and modified <= since:
            return 304
    return None


def _object_headers(call: Call, obj: ObjectRecord, *, whole: bool) -> dict[bytes, bytes]:
    out = {
        b"etag": f'"{obj.etag}"'.encode(),
        b"last-modified": _http_date(obj.modified_at).encode(),
        b"content-type": obj.content_type.encode("latin-1", "replace"),
        b"accept-ranges": b"bytes",
    }
    checksums = call.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED" and whole
    for name, value in obj.headers:
        if name.startswith("x-amz-checksum-"):
            if checksums:
                out[name.encode()] = value.encode()
                out[b"x-amz-checksum-type"] = b"COMPOSITE" if "-" in value else b"FULL_OBJECT"
            continue
        out[name.encode("latin-1", "replace")] = wire_bytes(value)  # the bytes it came as
    for param, header in OVERRIDES.items():
        override = call.route.params.get(param)
        if override is not None:
            out[header] = override.encode("utf-8")
    return out


async def get_object(call: Call) -> None:
    request = call.request
    if request.method == b"HEAD":  # sends no body: not counted as a download
        await _send_object(call)
        return
    with call.api.download_slots.take(request):
        await _send_object(call)


async def _part_span(call: Call, obj: ObjectRecord, part: int) -> tuple[int, PartSpan | None]:
    """
    The parts count of the object and where part ``part`` lies (``None``: the
    whole object, part 1 of a single-part object).
    """
    if "-" not in obj.etag:
        if part != 1:
            raise errors.InvalidPart("The requested part number is not satisfiable",
                                     fields=[("PartNumberRequested", str(part)),
                                             ("ActualPartCount", "1")])
        return 1, None
    count, span = await call.api.files.object_part(obj.file_id, part)
    if count == 0:
        raise errors.NotImplementedByS3Node(
            "this multipart object was completed before s3node kept part boundaries "
            "(schema version 7): read it by Range")
    if span is None:
        raise errors.InvalidPart("The requested part number is not satisfiable",
                                 fields=[("PartNumberRequested", str(part)),
                                         ("ActualPartCount", str(count))])
    return count, span


async def _send_object(call: Call) -> None:
    bucket, key = _names(call)
    request = call.request
    part = call.route.part_number
    if part is not None and "range" in call.headers:
        raise errors.InvalidRequest(
            "Cannot specify both Range header and partNumber query parameter")
    obj, fwc = await call.api.files.open_object(bucket, key)
    status = preconditions(obj, call.headers)
    if status == 412:
        raise errors.PreconditionFailed(fields=[("Condition", "If-Match")])
    if status == 304:
        send(request, 304, headers={b"etag": f'"{obj.etag}"'.encode(),
                                    b"last-modified": _http_date(obj.modified_at).encode()})
        return
    count, span = (None, None) if part is None else await _part_span(call, obj, part)
    whole = "range" not in call.headers and span is None
    for name, value in _object_headers(call, obj, whole=whole).items():
        request.setHeader(name, value)
    if count is not None:
        request.setHeader(b"x-amz-mp-parts-count", str(count).encode())
    if span is not None and span.size == 0:  # an empty last part: no range to send
        request.setHeader(b"content-length", b"0")
        return
    wanted = call.headers.get("range") if span is None else (
        f"bytes={span.first}-{span.first + span.size - 1}")
    try:
        r = range_of(request, wanted, obj.size)
    except InvalidRange:
        raise errors.InvalidRange(fields=[("ActualObjectSize", str(obj.size)),
                                          ("RangeRequested", call.headers.get("range", ""))]
                                  ) from None
    if request.method == b"HEAD":
        return
    await call.api.files.stream(request, fwc, r)


async def delete_object(call: Call) -> None:
    bucket, key = _names(call)
    await call.api.files.delete_object(bucket, key)
    send(call.request, 204)


async def delete_objects(call: Call) -> None:
    bucket = call.route.bucket
    assert bucket is not None
    headers = call.headers
    if "content-md5" not in headers and not any(
            h.startswith("x-amz-checksum-") or h in ("x-amz-sdk-checksum-algorithm",
                                                     "x-amz-trailer") for h in headers):
        raise errors.InvalidRequest(
            "Missing required header for this request: Content-MD5 or x-amz-checksum-*")
    document = await read_small_body(call.request.body, call.credentials, headers,
                                     call.api.cpu, limit=MAX_XML_BODY)
    wanted = parse_delete(document)
    await call.api.files.get_bucket(bucket)
    outcomes: list[responses.DeleteOutcome] = []
    for key, version in wanted.objects:
        outcomes.append(await _delete_one(call, bucket, key, version))
    send(call.request, 200, responses.delete_result(outcomes, wanted.quiet),
         content_type=b"application/xml")


async def _delete_one(call: Call, bucket: str, key: str,
                      version: str | None) -> responses.DeleteOutcome:
    try:
        check_key(key)
        if version not in (None, "null"):
            raise errors.NotImplementedByS3Node("Versioning is not implemented by s3node")
        await call.api.files.delete_object(bucket, key)
    except Exception as e:  # noqa: BLE001 - each key's failure is reported in the result
        error = errors.from_error(e)
        return responses.DeleteOutcome(key, error.code, error.message)
    return responses.DeleteOutcome(key)


OBJECT_HANDLERS: dict[str, Handler] = {
    "PutObject": put_object,
    "GetObject": get_object,
    "HeadObject": get_object,
    "DeleteObject": delete_object,
    "DeleteObjects": delete_objects,
}
