"""
The XML bodies of S3's successful responses, built from plain values.

Each builder returns the document's bytes (:func:`s3node.s3.xml.render`).
Listings take the page the metadata store produced (:class:`ListPage`) and
echo the request's parameters as S3 does; under ``encoding-type=url`` they
URL-encode the elements S3 encodes and clients decode (botocore's
``decode_list_object*`` handlers): for ListObjectsV2 ``Delimiter``,
``Prefix``, ``StartAfter``, ``Key`` and the ``CommonPrefixes`` prefixes; for
ListObjects ``Delimiter``, ``Marker``, ``NextMarker``, ``Key`` and the
``CommonPrefixes`` prefixes, but not ``Prefix``, which S3 echoes as sent;
for ListMultipartUploads also ``KeyMarker`` and ``NextKeyMarker``), so keys
with characters XML 1.0 cannot carry round-trip.
ETags are passed quoted, as they are stored and sent in headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from s3node.s3.xml import Node, render, timestamp, url_encoded

__all__ = [
    "BucketEntry",
    "DeleteOutcome",
    "ListPage",
    "ObjectEntry",
    "Owner",
    "PartEntry",
    "UploadEntry",
    "access_control_policy",
    "bucket_location",
    "complete_multipart_upload",
    "copy_object",
    "copy_part",
    "delete_result",
    "initiate_multipart_upload",
    "list_buckets",
    "list_multipart_uploads",
    "list_objects_v1",
    "list_objects_v2",
    "list_parts",
]


@dataclass(frozen=True)
class Owner:
    """The owner (or initiator) shown in listings."""

    id: str
    display_name: str


@dataclass(frozen=True)
class BucketEntry:
    """One bucket in ListBuckets."""

    name: str
    created: datetime
    #: the bucket's region (``BucketRegion``), if the listing gives it
    region: str | None = None


@dataclass(frozen=True)
class ObjectEntry:
    """One object in a listing."""

    key: str
    last_modified: datetime
    etag: str
    size: int
    storage_class: str = "STANDARD"
    #: the S3 name of the object's checksum algorithm (``CRC32``...), if it has one
    checksum_algorithm: str | None = None
    #: ``FULL_OBJECT`` or ``COMPOSITE``, with a checksum algorithm
    checksum_type: str | None = None


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: objects and rolled-up common prefixes, both in key order."""

    objects: Sequence[ObjectEntry]
    common_prefixes: Sequence[str] = ()
    is_truncated: bool = False


@dataclass(frozen=True)
class PartEntry:
    """One uploaded part in ListParts."""

    number: int
    last_modified: datetime
    etag: str
    size: int
    #: (S3 algorithm name, base64 value) of the part's checksums
    checksums: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class UploadEntry:
    """One multipart upload in progress, in ListMultipartUploads."""

    key: str
    upload_id: str
    initiated: datetime
    storage_class: str = "STANDARD"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _owner(name: str, owner: Owner | None) -> Node | None:
    if owner is None:
        return None
    return (name, [("ID", owner.id), ("DisplayName", owner.display_name)])


def _opt(name: str, value: str | None) -> Node | None:
    return None if value is None else (name, value)


def _checksums(pairs: Sequence[tuple[str, str]]) -> list[Node | None]:
    return [(f"Checksum{name}", value) for name, value in pairs]


def list_buckets(buckets: Sequence[BucketEntry], owner: Owner, *,
                 continuation_token: str | None = None, prefix: str | None = None) -> bytes:
    """
    ``ListAllMyBucketsResult``: the page of ``buckets``, ``ContinuationToken``
    when more follow, and ``Prefix`` echoed when the request had one.
    """
    entries: list[Node | None] = [
        ("Bucket", [("Name", b.name), ("CreationDate", timestamp(b.created)),
                    _opt("BucketRegion", b.region)])
        for b in buckets
    ]
    return render(("ListAllMyBucketsResult", [
        _owner("Owner", owner), ("Buckets", entries),
        _opt("ContinuationToken", continuation_token), _opt("Prefix", prefix)]))


def _contents(entry: ObjectEntry, encode: bool, owner: Owner | None) -> Node:
    return (
        "Contents",
        [
            ("Key", url_encoded(entry.key, encode)),
            ("LastModified", timestamp(entry.last_modified)),
            ("ETag", entry.etag),
            _opt("ChecksumAlgorithm", entry.checksum_algorithm),
            _opt("ChecksumType", entry.checksum_type),
            ("Size", str(entry.size)),
            ("StorageClass", entry.storage_class),
            _owner("Owner", owner),
        ],
    )


def _listing(page: ListPage, encode: bool, owner: Owner | None) -> list[Node | None]:
    nodes: list[Node | None] = [_contents(o, encode, owner) for o in page.objects]
    nodes += [
        ("CommonPrefixes", [("Prefix", url_encoded(p, encode))]) for p in page.common_prefixes
    ]
    return nodes


def list_objects_v2(
    bucket: str,
    page: ListPage,
    *,
    prefix: str = "",
    delimiter: str | None = None,
    max_keys: int = 1000,
    start_after: str | None = None,
    continuation_token: str | None = None,
    next_continuation_token: str | None = None,
    encoding_type: str | None = None,
    owner: Owner | None = None,
) -> bytes:
    """
    ``ListBucketResult`` for ListObjectsV2.

    :param owner: shown on every object only when the request asked ``fetch-owner=true``.
    :param next_continuation_token: the opaque token of the next page, when truncated.
    """
    encode = encoding_type == "url"
    key_count = len(page.objects) + len(page.common_prefixes)
    children: list[Node | None] = [
        ("Name", bucket),
        ("Prefix", url_encoded(prefix, encode)),
        _opt("Delimiter", url_encoded(delimiter, encode) if delimiter is not None else None),
        ("MaxKeys", str(max_keys)),
        _opt("EncodingType", encoding_type),
        ("KeyCount", str(key_count)),
        ("IsTruncated", _bool(page.is_truncated)),
        _opt("ContinuationToken", continuation_token),
        _opt("NextContinuationToken", next_continuation_token if page.is_truncated else None),
        _opt("StartAfter", url_encoded(start_after, encode) if start_after is not None else None),
        *_listing(page, encode, owner),
    ]
    return render(("ListBucketResult", children))


def list_objects_v1(
    bucket: str,
    page: ListPage,
    owner: Owner,
    *,
    prefix: str = "",
    marker: str = "",
    delimiter: str | None = None,
    max_keys: int = 1000,
    encoding_type: str | None = None,
) -> bytes:
    """
    ``ListBucketResult`` for ListObjects (version 1), whose objects always show their owner.

    ``NextMarker`` is sent, as by S3, only for a truncated page listed with a
    delimiter: the last key or common prefix of the page (without a delimiter,
    clients continue from the last key).
    """
    encode = encoding_type == "url"
    next_marker = None
    if page.is_truncated and delimiter is not None:
        last = [o.key for o in page.objects[-1:]] + list(page.common_prefixes[-1:])
        next_marker = max(last) if last else None
    children: list[Node | None] = [
        ("Name", bucket),
        ("Prefix", prefix),
        ("Marker", url_encoded(marker, encode)),
        _opt("NextMarker", url_encoded(next_marker, encode) if next_marker is not None else None),
        ("MaxKeys", str(max_keys)),
        _opt("Delimiter", url_encoded(delimiter, encode) if delimiter is not None else None),
        ("IsTruncated", _bool(page.is_truncated)),
        _opt("EncodingType", encoding_type),
        *_listing(page, encode, owner),
    ]
    return render(("ListBucketResult", children))


def initiate_multipart_upload(bucket: str, key: str, upload_id: str) -> bytes:
    """``InitiateMultipartUploadResult``."""
    children: list[Node | None] = [("Bucket", bucket), ("Key", key), ("UploadId", upload_id)]
    return render(("InitiateMultipartUploadResult", children))


def complete_multipart_upload(
    location: str,
    bucket: str,
    key: str,
    etag: str,
    checksums: Sequence[tuple[str, str]] = (),
    checksum_type: str | None = None,
) -> bytes:
    """``CompleteMultipartUploadResult``; ``checksums`` as (S3 algorithm name, value)."""
    children: list[Node | None] = [
        ("Location", location),
        ("Bucket", bucket),
        ("Key", key),
        ("ETag", etag),
        *_checksums(checksums),
        _opt("ChecksumType", checksum_type),
    ]
    return render(("CompleteMultipartUploadResult", children))


def list_parts(
    bucket: str,
    key: str,
    upload_id: str,
    parts: Sequence[PartEntry],
    owner: Owner,
    *,
    part_number_marker: int = 0,
    max_parts: int = 1000,
    is_truncated: bool = False,
    storage_class: str = "STANDARD",
    checksum_algorithm: str | None = None,
    checksum_type: str | None = None,
) -> bytes:
    """``ListPartsResult``; ``NextPartNumberMarker`` is the last part listed."""
    next_marker = parts[-1].number if parts else part_number_marker
    entries: list[Node | None] = [
        (
            "Part",
            [
                ("PartNumber", str(p.number)),
                ("LastModified", timestamp(p.last_modified)),
                ("ETag", p.etag),
                ("Size", str(p.size)),
                *_checksums(p.checksums),
            ],
        )
        for p in parts
    ]
    children: list[Node | None] = [
        ("Bucket", bucket),
        ("Key", key),
        ("UploadId", upload_id),
        ("PartNumberMarker", str(part_number_marker)),
        ("NextPartNumberMarker", str(next_marker)),
        ("MaxParts", str(max_parts)),
        ("IsTruncated", _bool(is_truncated)),
        _owner("Initiator", owner),
        _owner("Owner", owner),
        ("StorageClass", storage_class),
        _opt("ChecksumAlgorithm", checksum_algorithm),
        _opt("ChecksumType", checksum_type),
        *entries,
    ]
    return render(("ListPartsResult", children))


def list_multipart_uploads(
    bucket: str,
    uploads: Sequence[UploadEntry],
    owner: Owner,
    *,
    common_prefixes: Sequence[str] = (),
    prefix: str = "",
    delimiter: str | None = None,
    key_marker: str = "",
    upload_id_marker: str = "",
    next_key_marker: str | None = None,
    next_upload_id_marker: str | None = None,
    max_uploads: int = 1000,
    is_truncated: bool = False,
    encoding_type: str | None = None,
) -> bytes:
    """
    ``ListMultipartUploadsResult``.  The next markers, sent when truncated,
    are where the page ended: the last upload's key and id, or the last common
    prefix and no id (by default, the last upload listed).
    """
    encode = encoding_type == "url"
    if is_truncated and next_key_marker is None and uploads:
        next_key_marker, next_upload_id_marker = uploads[-1].key, uploads[-1].upload_id
    if not is_truncated:
        next_key_marker = next_upload_id_marker = None
    entries: list[Node | None] = [
        (
            "Upload",
            [
                ("Key", url_encoded(u.key, encode)),
                ("UploadId", u.upload_id),
                _owner("Initiator", owner),
                _owner("Owner", owner),
                ("StorageClass", u.storage_class),
                ("Initiated", timestamp(u.initiated)),
            ],
        )
        for u in uploads
    ]
    children: list[Node | None] = [
        ("Bucket", bucket),
        ("KeyMarker", url_encoded(key_marker, encode)),
        ("UploadIdMarker", upload_id_marker),
        _opt("NextKeyMarker",
             url_encoded(next_key_marker, encode) if next_key_marker is not None else None),
        _opt("NextUploadIdMarker", next_upload_id_marker),
        ("Prefix", url_encoded(prefix, encode)),
        _opt("Delimiter", url_encoded(delimiter, encode) if delimiter is not None else None),
        ("MaxUploads", str(max_uploads)),
        ("IsTruncated", _bool(is_truncated)),
        _opt("EncodingType", encoding_type),
        *entries,
        *[("CommonPrefixes", [("Prefix", url_encoded(p, encode))]) for p in common_prefixes],
    ]
    return render(("ListMultipartUploadsResult", children))


def copy_object(
    etag: str, last_modified: datetime, checksums: Sequence[tuple[str, str]] = ()
) -> bytes:
    """``CopyObjectResult``."""
    children: list[Node | None] = [
        ("ETag", etag),
        ("LastModified", timestamp(last_modified)),
        *_checksums(checksums),
    ]
    return render(("CopyObjectResult", children))


def copy_part(etag: str, last_modified: datetime) -> bytes:
    """``CopyPartResult`` (UploadPartCopy)."""
    return render(("CopyPartResult", [("ETag", etag), ("LastModified", timestamp(last_modified))]))


@dataclass(frozen=True)
class DeleteOutcome:
    """What happened to one key of a DeleteObjects request: deleted, or an S3 error code."""

    key: str
    code: str | None = None
    message: str = field(default="")


def delete_result(outcomes: Sequence[DeleteOutcome], quiet: bool) -> bytes:
    """``DeleteResult``: in quiet mode only the errors, otherwise every key."""
    children: list[Node | None] = []
    for outcome in outcomes:
        if outcome.code is None:
            if not quiet:
                children.append(("Deleted", [("Key", outcome.key)]))
        else:
            error: list[Node | None] = [
                ("Key", outcome.key),
                ("Code", outcome.code),
                ("Message", outcome.message),
            ]
            children.append(("Error", error))
    return render(("DeleteResult", children))


def bucket_location(region: str) -> bytes:
    """``LocationConstraint``: empty for ``us-east-1``, as S3 answers."""
    return render(("LocationConstraint", "" if region == "us-east-1" else region))


_CANONICAL_USER = ('Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
                   ' xsi:type="CanonicalUser"')


def access_control_policy(owner: Owner) -> bytes:
    """``AccessControlPolicy``: the owner holds ``FULL_CONTROL``, and no one else anything."""
    grantee = (_CANONICAL_USER, [("ID", owner.id), ("DisplayName", owner.display_name)])
    return render(("AccessControlPolicy", [
        _owner("Owner", owner),
        ("AccessControlList", [("Grant", [grantee, ("Permission", "FULL_CONTROL")])]),
    ]))
