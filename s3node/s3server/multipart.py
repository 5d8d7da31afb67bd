"""
The S3 multipart operations: CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.

Each part streams into a file of its own (verified like a PutObject body);
completion makes the object from the listed parts' chunks in one metadata
transaction, without copying a byte (``docs/s3.md``, "Multipart uploads").
"""

from __future__ import annotations

from s3node._aio import shielded
from s3node.config import MiB
from s3node.errors import BucketNotFound, InvalidRequest, ObjectNotFound, UploadNotFound
from s3node.gateway.headers import clean_content_type, clean_filename
from s3node.gateway.streaming import abort_connection
from s3node.records import MultipartUpload, PartRecord, UploadPage
from s3node.s3 import errors, responses
from s3node.s3.checksums import multipart_etag
from s3node.s3.xml import MAX_XML_BODY, CompletedPart, parse_complete_multipart_upload
from s3node.s3server.app import Call, Handler, send
from s3node.s3server.bodies import S3Body, read_small_body
from s3node.s3server.buckets import OWNER, list_encoding
from s3node.s3server.mpchecksums import (
    check_claimed,
    check_part,
    claimed_checksums,
    object_checksum,
    upload_checksum,
)
from s3node.s3server.objects import refuse_unsupported, stored_headers, write_conditions

__all__ = ["MIN_PART_SIZE", "MULTIPART_HANDLERS", "upload_of"]

XML = b"application/xml"
#: every part but the last must have at least this many bytes (S3's rule)
MIN_PART_SIZE = 5 * MiB
#: the most parts or uploads a listing page shows
MAX_LISTED = 1000


async def upload_of(call: Call) -> MultipartUpload:
    """The upload the request names, if it is for the request's bucket and key."""
    route = call.route
    assert route.upload_id is not None
    try:
        upload = await call.api.files.get_multipart(route.upload_id)
    except (UploadNotFound, InvalidRequest):  # a malformed id is simply unknown
        raise errors.NoSuchUpload(fields=[("UploadId", route.upload_id[:100])]) from None
    if (upload.bucket, upload.key) != (route.bucket, route.key):
        raise errors.NoSuchUpload(fields=[("UploadId", route.upload_id[:100])])
    return upload


async def create_multipart_upload(call: Call) -> None:
    route = call.route
    assert route.bucket is not None and route.key is not None
    refuse_unsupported(call.headers)
    checksum = upload_checksum(call.headers)
    upload = await call.api.files.create_multipart(
        route.bucket, route.key,
        content_type=clean_content_type(call.headers.get("content-type")),
        headers=stored_headers(call.headers) + checksum)
    send(call.request, 200,
         responses.initiate_multipart_upload(route.bucket, route.key, upload.upload_id),
         content_type=XML, headers={n.encode(): v.encode() for n, v in checksum})


async def upload_part(call: Call) -> None:
    route = call.route
    assert route.upload_id is not None and route.part_number is not None
    upload = await upload_of(call)
    check_part(upload, call.headers)
    request = call.request
    files = call.api.files
    name = clean_filename(upload.key.rsplit("/", 1)[-1]) or "part"
    source = S3Body(request.body, call.credentials, call.headers, call.api.cpu,
                    name=(name, upload.content_type), max_size=files.max_file_size)

    def etag() -> str:
        assert source.digests is not None
        return source.digests.md5.hex()

    with call.api.upload_slots.take(request) as slot:
        work = files.store_part(source, upload_id=upload.upload_id,
                                part_number=route.part_number, etag=etag,
                                abort=lambda: abort_connection(request),
                                checksum=source.stored_checksum)
        await shielded(slot.hold(work))
    answer = {b"etag": f'"{etag()}"'.encode()}
    checksum = source.stored_checksum()
    if checksum is not None:
        answer[checksum[0].encode()] = checksum[1].encode()
    send(request, 200, headers=answer)


async def _completed_before(call: Call, parts: list[CompletedPart]) -> None:
    """
    Answer a completion repeated after it succeeded (a client's retry) as
    the first was answered, when the key's object is the one these parts
    make (its ETag is theirs); ``NoSuchUpload`` otherwise.
    """
    route = call.route
    assert route.bucket is not None and route.key is not None and route.upload_id is not None
    unknown = errors.NoSuchUpload(fields=[("UploadId", route.upload_id[:100])])
    try:
        md5s = [bytes.fromhex(p.etag) for p in parts]
        obj = await call.api.files.get_object(route.bucket, route.key)
    except (ValueError, ObjectNotFound, BucketNotFound):
        raise unknown from None
    if not parts or f'"{obj.etag}"' != multipart_etag(md5s):
        raise unknown
    checksums = [(n.removeprefix("x-amz-checksum-").upper(), v) for n, v in obj.headers
                 if n.startswith("x-amz-checksum-")]
    kind = None if not checksums else "COMPOSITE" if "-" in checksums[0][1] else "FULL_OBJECT"
    send(call.request, 200, responses.complete_multipart_upload(
        f"/{route.bucket}/{route.key}", route.bucket, route.key, f'"{obj.etag}"', checksums,
        kind), content_type=XML)


async def complete_multipart_upload(call: Call) -> None:
    route = call.route
    assert route.bucket is not None and route.key is not None
    # a checksum header claims the object's checksum, not the document's
    claimed = claimed_checksums(call.headers)
    body_headers = {n: v for n, v in call.headers.items() if n not in claimed}

    async def listed() -> list[CompletedPart]:
        document = await read_small_body(call.request.body, call.credentials, body_headers,
                                         call.api.cpu, limit=MAX_XML_BODY)
        return parse_complete_multipart_upload(document)

    try:
        upload = await upload_of(call)
    except errors.NoSuchUpload:
        await _completed_before(call, await listed())
        return
    parts = await listed()
    files = call.api.files
    try:
        uploaded: list[PartRecord] = []
        while batch := await files.list_parts(
                upload.upload_id, after=uploaded[-1].number if uploaded else 0,
                limit=MAX_LISTED):
            uploaded += batch
        checksum = object_checksum(upload, uploaded, parts)
        check_claimed(checksum, claimed)
        put = await files.complete_multipart(
            upload.upload_id, [(p.number, p.etag) for p in parts],
            min_part_size=MIN_PART_SIZE, headers=checksum.headers,
            **write_conditions(call.headers))
    except UploadNotFound:
        raise errors.NoSuchUpload(fields=[("UploadId", upload.upload_id)]) from None
    location = f"/{route.bucket}/{route.key}"
    send(call.request, 200, responses.complete_multipart_upload(
        location, route.bucket, route.key, f'"{put.object.etag}"', checksum.checksums,
        checksum.kind), content_type=XML)


async def abort_multipart_upload(call: Call) -> None:
    upload = await upload_of(call)
    try:
        await call.api.files.abort_multipart(upload.upload_id)
    except UploadNotFound:
        raise errors.NoSuchUpload(fields=[("UploadId", upload.upload_id)]) from None
    send(call.request, 204)


def _count(call: Call, name: str, default: int) -> int:
    text = call.route.params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdecimal()) or len(text) > 10:
        raise errors.InvalidArgument(f"{name} must be a whole number",
                                     fields=[("ArgumentName", name),
                                             ("ArgumentValue", text[:40])])
    return int(text)


async def list_parts(call: Call) -> None:
    route = call.route
    assert route.bucket is not None and route.key is not None
    upload = await upload_of(call)
    max_parts = min(_count(call, "max-parts", MAX_LISTED), MAX_LISTED)
    marker = _count(call, "part-number-marker", 0)
    files = call.api.files
    found = list(await files.list_parts(upload.upload_id, after=marker,
                                        limit=max_parts)) if max_parts else []
    truncated = bool(found) and len(found) == max_parts and bool(
        await files.list_parts(upload.upload_id, after=found[-1].number, limit=1))
    entries = [responses.PartEntry(
        p.number, p.modified_at, f'"{p.etag}"', p.size,
        () if p.checksum is None else ((p.checksum[0].removeprefix("x-amz-checksum-").upper(),
                                        p.checksum[1]),)) for p in found]
    stored = dict(upload.headers)
    send(call.request, 200, responses.list_parts(
        route.bucket, route.key, upload.upload_id, entries, OWNER,
        part_number_marker=marker, max_parts=max_parts, is_truncated=truncated,
        checksum_algorithm=stored.get("x-amz-checksum-algorithm"),
        checksum_type=stored.get("x-amz-checksum-type")),
        content_type=XML)


async def list_multipart_uploads(call: Call) -> None:
    """
    ListMultipartUploads: by key, then upload id (oldest first); ``delimiter``
    rolls keys up into common prefixes; ``key-marker`` with
    ``upload-id-marker`` resumes after that upload, ``key-marker`` alone after
    every upload of that key (or after that common prefix).
    """
    route = call.route
    assert route.bucket is not None
    params = call.route.params
    max_uploads = min(_count(call, "max-uploads", MAX_LISTED), MAX_LISTED)
    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    key_marker = params.get("key-marker", "")
    # S3 ignores the upload id marker without a key marker
    upload_marker = params.get("upload-id-marker", "") if key_marker else ""
    encoding = list_encoding(params)
    files = call.api.files
    if max_uploads:
        page = await files.list_multipart(route.bucket, prefix=prefix, delimiter=delimiter,
                                          after=key_marker or None,
                                          after_upload=upload_marker or None,
                                          limit=max_uploads)
    else:
        await files.get_bucket(route.bucket)
        page = UploadPage((), (), False, None, None)
    entries = [responses.UploadEntry(u.key, u.upload_id, u.created_at) for u in page.uploads]
    send(call.request, 200, responses.list_multipart_uploads(
        route.bucket, entries, OWNER, common_prefixes=page.prefixes, prefix=prefix,
        delimiter=delimiter or None, key_marker=key_marker, upload_id_marker=upload_marker,
        next_key_marker=page.next_key if page.truncated else None,
        next_upload_id_marker=page.next_upload_id if page.truncated else None,
        max_uploads=max_uploads, is_truncated=page.truncated, encoding_type=encoding),
        content_type=XML)


MULTIPART_HANDLERS: dict[str, Handler] = {
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
    "ListMultipartUploads": list_multipart_uploads,
}
