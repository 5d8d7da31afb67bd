"""
The S3 request dispatcher: from a raw request to an operation and its arguments.

S3 dispatches on the method, on whether the path names a bucket and a key,
on query sub-resources (``?uploads``, ``?uploadId=``, ``?delete``,
``?list-type=2``, ``?location``) and on one header (``x-amz-copy-source``
turns a PUT into a copy), which route patterns cannot express; so
:func:`route` reads the raw request and returns a :class:`Route`.  The bucket
comes from the path (path-style, always) or from the ``Host`` header when it
is a subdomain of the configured domain (virtual-hosted style).  Names are
checked here: :func:`check_bucket_name` applies S3's bucket naming rules,
and keys must be UTF-8 of at most 1024 bytes.

Sub-resources s3node does not implement (ACLs, policies, versioning,
lifecycle, tagging, ...) route to the ``NotImplemented`` operation, so the
edge answers ``501`` rather than a wrong success; so does a ``versionId``
other than ``null``, since buckets are not versioned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from s3node.s3 import errors
from s3node.s3.encoding import decode, is_utf8, parse_query

__all__ = [
    "MAX_KEY_BYTES",
    "OPERATIONS",
    "UNSUPPORTED_SUBRESOURCES",
    "CopySource",
    "Route",
    "check_bucket_name",
    "check_expected_owner",
    "check_key",
    "parse_copy_source",
    "route",
]

#: the longest key, in bytes of UTF-8
MAX_KEY_BYTES = 1024
#: every operation :func:`route` can answer with
OPERATIONS = frozenset(
    {
        "ListBuckets",
        "CreateBucket",
        "GetBucketAcl",
        "PutBucketAcl",
        "GetObjectAcl",
        "PutObjectAcl",
        "HeadBucket",
        "DeleteBucket",
        "GetBucketLocation",
        "ListObjects",
        "ListObjectsV2",
        "DeleteObjects",
        "ListMultipartUploads",
        "PutObject",
        "CopyObject",
        "GetObject",
        "HeadObject",
        "DeleteObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "ListParts",
        "NotImplemented",
    }
)
#: query sub-resources of features s3node does not implement
UNSUPPORTED_SUBRESOURCES = frozenset(
    {
        "accelerate",
        "analytics",
        "attributes",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "logging",
        "metadataTable",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "session",
        "tagging",
        "torrent",
        "versioning",
        "versions",
        "website",
    }
)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True)
class CopySource:
    """The object an ``x-amz-copy-source`` header names."""

    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class Route:
    """The operation a request asks for, and what it names."""

    operation: str
    bucket: str | None = None
    key: str | None = None
    upload_id: str | None = None
    part_number: int | None = None
    copy_source: CopySource | None = None
    #: why a request routed to ``NotImplemented`` (the sub-resource or feature)
    unsupported: str | None = None
    #: every query parameter, decoded (the first of repeated ones; ``""`` for bare names)
    params: Mapping[str, str] = field(default_factory=dict)


def check_bucket_name(name: str) -> None:
    """
    Apply S3's naming rules for general purpose buckets.

    3 to 63 characters of lowercase letters, digits, dots and hyphens,
    beginning and ending with a letter or digit; no two adjacent dots; not
    shaped like an IPv4 address; none of S3's reserved prefixes and suffixes.

    :raises s3node.s3.errors.InvalidBucketName: the name breaks a rule.
    """
    if (
        not _BUCKET.fullmatch(name)
        or ".." in name
        or _IPV4.fullmatch(name)
        or name.startswith(_RESERVED_PREFIXES)
        or name.endswith(_RESERVED_SUFFIXES)
    ):
        raise errors.InvalidBucketName(fields=[("BucketName", name)])


def check_key(key: str) -> None:
    """
    A key must be UTF-8, at most :data:`MAX_KEY_BYTES` bytes long.

    :raises s3node.s3.errors.InvalidURI: the key is not UTF-8.
    :raises s3node.s3.errors.KeyTooLongError: it is too long.
    """
    if not is_utf8(key):
        raise errors.InvalidURI("The key is not valid UTF-8")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise errors.KeyTooLongError()


def check_expected_owner(route: Route, headers: Mapping[str, str], owner_id: str) -> None:
    """
    When a request names the account it expects to own its bucket
    (``x-amz-expected-bucket-owner``) or its copy's source bucket
    (``x-amz-source-expected-bucket-owner``), that must be ``owner_id``.

    :raises s3node.s3.errors.AccessDenied: another account is named, as S3 answers.
    """
    for header, applies in (("x-amz-expected-bucket-owner", route.bucket is not None),
                            ("x-amz-source-expected-bucket-owner",
                             route.copy_source is not None)):
        expected = headers.get(header)
        if applies and expected is not None and expected != owner_id:
            raise errors.AccessDenied("Access Denied")


def _host_bucket(host: str | None, domain: str | None) -> str | None:
    if not host or not domain:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        return None  # an IPv6 literal is never a bucket's host
    host = host.rpartition(":")[0] if ":" in host else host
    suffix = "." + domain.lower().strip(".")
    return host[: -len(suffix)] if host.endswith(suffix) and len(host) > len(suffix) else None


def _part_number(text: str) -> int:
    if text.isascii() and text.isdecimal() and len(text) <= 5 and 1 <= int(text) <= 10000:
        return int(text)
    raise errors.InvalidArgument(
        "Part number must be an integer between 1 and 10000, inclusive",
        fields=[("ArgumentName", "partNumber"), ("ArgumentValue", text[:40])],
    )


def parse_copy_source(value: str) -> CopySource:
    """
    The object an ``x-amz-copy-source`` header names: ``[/]bucket/key[?versionId=...]``, URL-encoded.

    :raises s3node.s3.errors.InvalidArgument: it names no bucket and key.
    """
    path, _, query = value.strip().partition("?")
    bucket, _, key = decode(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            fields=[("ArgumentName", "x-amz-copy-source"), ("ArgumentValue", value[:200])],
        )
    check_bucket_name(bucket)
    check_key(key)
    version = {n: v or "" for n, v in parse_query(query)}.get("versionId")
    return CopySource(bucket=bucket, key=key, version_id=version)


def route(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    domain: str | None = None,
) -> Route:
    """
    Decide which S3 operation a request is.

    :param raw_path: the path as received (still percent-encoded), without the query.
    :param raw_query: the query string after ``?``, still encoded.
    :param headers: the request's headers by lowercase name (``host``,
        ``x-amz-copy-source`` are read).
    :param domain: the virtual-hosting domain (``s3.example.com``); ``None``
        for path-style only.
    :raises s3node.s3.errors.S3Error: :class:`~.errors.InvalidURI`,
        :class:`~.errors.InvalidBucketName`, :class:`~.errors.KeyTooLongError`,
        :class:`~.errors.InvalidArgument` or :class:`~.errors.MethodNotAllowed`.
    """
    if not raw_path.startswith("/"):
        raise errors.InvalidURI("The request path must begin with /")
    params: dict[str, str] = {}
    for name, value in parse_query(raw_query):
        params.setdefault(name, value or "")
    bucket = _host_bucket(headers.get("host"), domain)
    if bucket is None:
        bucket_part, _, key_part = raw_path[1:].partition("/")
        bucket = decode(bucket_part) or None
    else:
        key_part = raw_path[1:]
    key = decode(key_part) if key_part else None
    if bucket is None:
        if method != "GET":
            raise errors.MethodNotAllowed()
        return Route("ListBuckets", params=params)
    check_bucket_name(bucket)
    if key is not None:
        check_key(key)
    unsupported = sorted(UNSUPPORTED_SUBRESOURCES.intersection(params))
    version = params.get("versionId")
    if unsupported or (version is not None and version != "null"):
        reason = unsupported[0] if unsupported else "versionId"
        return Route("NotImplemented", bucket, key, unsupported=reason, params=params)
    if key is None:
        return _bucket_route(method.upper(), bucket, params)
    return _object_route(method.upper(), bucket, key, params, headers)


def _acl_route(method: str, bucket: str, key: str | None, params: dict[str, str]) -> Route:
    """``?acl``: read, or set to private (never a DELETE or HEAD of the bucket or object)."""
    if method not in ("GET", "PUT"):
        raise errors.MethodNotAllowed()
    what = "Bucket" if key is None else "Object"
    operation = f"Get{what}Acl" if method == "GET" else f"Put{what}Acl"
    return Route(operation, bucket, key, params=params)


def _bucket_route(method: str, bucket: str, params: dict[str, str]) -> Route:
    operation = None
    if "acl" in params:
        return _acl_route(method, bucket, None, params)
    if method == "GET":
        if "location" in params:
            operation = "GetBucketLocation"
        elif "uploads" in params:
            operation = "ListMultipartUploads"
        elif "list-type" in params:
            if params["list-type"] != "2":
                raise errors.InvalidArgument(
                    "Invalid List Type specified",
                    fields=[("ArgumentName", "list-type"), ("ArgumentValue", params["list-type"])],
                )
            operation = "ListObjectsV2"
        else:
            operation = "ListObjects"
    elif method == "PUT":
        operation = "CreateBucket"
    elif method == "HEAD":
        operation = "HeadBucket"
    elif method == "DELETE":
        operation = "DeleteBucket"
    elif method == "POST":
        if "delete" not in params:
            return Route("NotImplemented", bucket, unsupported="POST upload", params=params)
        operation = "DeleteObjects"
    elif method == "OPTIONS":
        return Route("NotImplemented", bucket, unsupported="CORS", params=params)
    if operation is None:
        raise errors.MethodNotAllowed()
    return Route(operation, bucket, params=params)


def _object_route(
    method: str, bucket: str, key: str, params: dict[str, str], headers: Mapping[str, str]
) -> Route:
    if "acl" in params:
        return _acl_route(method, bucket, key, params)
    upload_id = params.get("uploadId")
    part = params.get("partNumber")
    part_number = _part_number(part) if part is not None else None
    base = Route("", bucket, key, upload_id=upload_id, part_number=part_number, params=params)
    if method in ("GET", "HEAD"):
        if method == "GET" and upload_id is not None:
            return replace(base, operation="ListParts")
        return replace(base, operation="GetObject" if method == "GET" else "HeadObject")
    if method == "PUT":
        if (upload_id is None) != (part_number is None):
            raise errors.InvalidRequest("UploadPart needs both partNumber and uploadId")
        copy_header = headers.get("x-amz-copy-source")
        copy_source = parse_copy_source(copy_header) if copy_header is not None else None
        if copy_source is not None and copy_source.version_id not in (None, "null"):
            return replace(base, operation="NotImplemented", unsupported="versionId")
        if upload_id is not None:
            operation = "UploadPart" if copy_source is None else "UploadPartCopy"
            return replace(base, operation=operation, copy_source=copy_source)
        return replace(
            base,
            operation="PutObject" if copy_source is None else "CopyObject",
            copy_source=copy_source,
        )
    if method == "DELETE":
        return replace(
            base, operation="DeleteObject" if upload_id is None else "AbortMultipartUpload"
        )
    if method == "POST":
        if "uploads" in params:
            return replace(base, operation="CreateMultipartUpload")
        if upload_id is not None:
            return replace(base, operation="CompleteMultipartUpload")
    if method == "OPTIONS":
        return replace(base, operation="NotImplemented", unsupported="CORS")
    raise errors.MethodNotAllowed()
