"""
The S3 bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
GetBucketLocation, ListObjectsV2 and ListObjects (v1).

Listings page with :meth:`~s3node.gateway.files.FileService.list_objects`
(indexed range queries in byte order); a V2 continuation token is the last
key or common prefix of the page, base64url-encoded behind a version tag, so
a deep page costs what the first does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from s3node.errors import BucketExists
from s3node.gateway.permissions import may
from s3node.records import ObjectPage, ObjectRecord
from s3node.s3 import errors, responses
from s3node.s3.checksums import ALGORITHMS
from s3node.s3.xml import parse_create_bucket
from s3node.s3server.app import Call, Handler, send
from s3node.s3server.bodies import read_small_body

__all__ = ["BUCKET_HANDLERS", "OWNER", "list_encoding", "object_entry"]

XML = b"application/xml"
#: the one owner of every bucket and object (s3node has one tenant)
OWNER = responses.Owner(hashlib.sha256(b"s3node").hexdigest(), "s3node")
#: the most keys a listing page returns (S3's limit)
MAX_KEYS = 1000
#: the most buckets a ListBuckets page returns (S3's ``max-buckets`` limit)
MAX_BUCKETS = 10000
_TOKEN_TAG = "k1:"
_BUCKET_TAG = "b1:"
_CHECKSUM_HEADERS = {a.header: a.name for a in ALGORITHMS.values()}


def object_entry(obj: ObjectRecord) -> responses.ObjectEntry:
    """A listing's entry for ``obj``."""
    algorithm = next((_CHECKSUM_HEADERS[n] for n, _ in obj.headers if n in _CHECKSUM_HEADERS),
                     None)
    return responses.ObjectEntry(
        key=obj.key, last_modified=obj.modified_at, etag=f'"{obj.etag}"', size=obj.size,
        checksum_algorithm=algorithm, checksum_type="FULL_OBJECT" if algorithm else None)


def _max_buckets(params: Mapping[str, str]) -> int | None:
    text = params.get("max-buckets")
    if text is None:
        return None
    if not (text.isascii() and text.isdecimal() and len(text) <= 10
            and 1 <= int(text) <= MAX_BUCKETS):
        raise errors.InvalidArgument(
            f"max-buckets must be an integer from 1 to {MAX_BUCKETS}",
            fields=[("ArgumentName", "max-buckets"), ("ArgumentValue", text[:40])])
    return int(text)


async def list_buckets(call: Call) -> None:
    """
    Every bucket the key may read, by name; with ``max-buckets``, a page of
    them and a ``ContinuationToken`` (the page's last name) when more follow.
    ``prefix`` and ``bucket-region`` filter.  The names are read whole and
    paged here: a cluster has few buckets (S3 allows 10,000 an account).
    """
    params = dict(call.route.params)
    limit, prefix = _max_buckets(params), params.get("prefix")
    token = params.get("continuation-token")
    after = decode_token(token, _BUCKET_TAG) if token else ""
    region = call.api.region
    # every bucket for a key that may read them all, else the ones it may read
    buckets = [b for b in await call.api.files.list_buckets()
               if b.name > after and b.name.startswith(prefix or "")
               and params.get("bucket-region", region) == region
               and (call.key is None or may(call.key, "read", b.name))]
    more = limit is not None and len(buckets) > limit
    page = buckets[:limit]
    body = responses.list_buckets(
        [responses.BucketEntry(b.name, b.created_at, region) for b in page], OWNER,
        continuation_token=encode_token(page[-1].name, _BUCKET_TAG) if more else None,
        prefix=prefix)
    send(call.request, 200, body, content_type=XML)


async def create_bucket(call: Call) -> None:
    assert call.route.bucket is not None
    document = await read_small_body(call.request.body, call.credentials, call.headers,
                                     call.api.cpu, limit=64 * 1024)
    location = parse_create_bucket(document)
    region = call.api.region
    if location is not None and location != region and not (
            location in ("", "us-east-1") and region == "us-east-1"):
        raise errors.InvalidRequest(
            f"The location constraint {location!r} is not this endpoint's region {region!r}")
    acl = call.headers.get("x-amz-acl", "private")
    if acl != "private" or "x-amz-bucket-object-lock-enabled" in call.headers:
        raise errors.NotImplementedByS3Node("Bucket ACLs other than private and object lock"
                                            " are not implemented by s3node")
    try:
        await call.api.files.create_bucket(call.route.bucket)
    except BucketExists:
        # S3's legacy rule in us-east-1: the owner re-creating its bucket gets
        # 200 OK and the bucket as it was (its ACL, always private here, reset)
        if region != "us-east-1":
            raise
    send(call.request, 200, headers={b"location": f"/{call.route.bucket}".encode()})


async def head_bucket(call: Call) -> None:
    assert call.route.bucket is not None
    await call.api.files.get_bucket(call.route.bucket)
    send(call.request, 200, headers={b"x-amz-bucket-region": call.api.region.encode()})


async def delete_bucket(call: Call) -> None:
    assert call.route.bucket is not None
    await call.api.files.delete_bucket(call.route.bucket)
    send(call.request, 204)


async def get_bucket_location(call: Call) -> None:
    assert call.route.bucket is not None
    await call.api.files.get_bucket(call.route.bucket)
    send(call.request, 200, responses.bucket_location(call.api.region), content_type=XML)


def _max_keys(params: Mapping[str, str]) -> int:
    text = params.get("max-keys")
    if text is None:
        return MAX_KEYS
    if not (text.isascii() and text.isdecimal()) or len(text) > 10:
        raise errors.InvalidArgument("Provided max-keys not an integer or within integer range",
                                     fields=[("ArgumentName", "max-keys"),
                                             ("ArgumentValue", text[:40])])
    return min(int(text), MAX_KEYS)


def list_encoding(params: Mapping[str, str]) -> str | None:
    """A listing's ``encoding-type``: ``url`` or none (``InvalidArgument`` otherwise)."""
    value = params.get("encoding-type")
    if value is not None and value != "url":
        raise errors.InvalidArgument("Invalid Encoding Method specified in Request",
                                     fields=[("ArgumentName", "encoding-type"),
                                             ("ArgumentValue", value[:40])])
    return value


def encode_token(last: str, tag: str = _TOKEN_TAG) -> str:
    """The continuation token that resumes a listing after ``last``."""
    return base64.urlsafe_b64encode((tag + last).encode("utf-8")).decode("ascii")


def decode_token(token: str, tag: str = _TOKEN_TAG) -> str:
    """The name a continuation token resumes after; ``InvalidArgument`` if it is not ours."""
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith(tag) or len(text) == len(tag):
        raise errors.InvalidArgument("The continuation token provided is incorrect",
                                     fields=[("ArgumentName", "continuation-token")])
    return text[len(tag):]


async def _page(call: Call, *, prefix: str, delimiter: str, after: str | None,
                max_keys: int) -> ObjectPage:
    assert call.route.bucket is not None
    if max_keys == 0:
        await call.api.files.get_bucket(call.route.bucket)
        return ObjectPage((), (), False, None)
    return await call.api.files.list_objects(call.route.bucket, prefix=prefix,
                                             delimiter=delimiter, after=after or None,
                                             limit=max_keys)


def _list_page(page: ObjectPage) -> responses.ListPage:
    return responses.ListPage([object_entry(o) for o in page.objects], page.prefixes,
                              page.truncated)


async def list_objects_v2(call: Call) -> None:
    assert call.route.bucket is not None
    params = dict(call.route.params)
    max_keys, encoding = _max_keys(params), list_encoding(params)
    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    token = params.get("continuation-token")
    start_after = params.get("start-after")
    # an empty token is no token (S3 ignores it, and echoes it)
    after = decode_token(token) if token else start_after
    page = await _page(call, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
    body = responses.list_objects_v2(
        call.route.bucket, _list_page(page), prefix=prefix,
        delimiter=delimiter or None, max_keys=max_keys, start_after=start_after,
        continuation_token=token,
        next_continuation_token=encode_token(page.last) if page.truncated and page.last
        else None,
        encoding_type=encoding,
        owner=OWNER if params.get("fetch-owner") == "true" else None)
    send(call.request, 200, body, content_type=XML)


async def list_objects_v1(call: Call) -> None:
    assert call.route.bucket is not None
    params = dict(call.route.params)
    max_keys, encoding = _max_keys(params), list_encoding(params)
    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    marker = params.get("marker", "")
    page = await _page(call, prefix=prefix, delimiter=delimiter, after=marker, max_keys=max_keys)
    body = responses.list_objects_v1(
        call.route.bucket, _list_page(page), OWNER, prefix=prefix, marker=marker,
        delimiter=delimiter or None, max_keys=max_keys, encoding_type=encoding)
    send(call.request, 200, body, content_type=XML)


BUCKET_HANDLERS: dict[str, Handler] = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketLocation": get_bucket_location,
    "ListObjectsV2": list_objects_v2,
    "ListObjects": list_objects_v1,
}
