"""
Tests for :mod:`s3node.s3.routing`.

The operation table is driven by a real boto3 client: each operation of the
S3 issue is called through :func:`support.s3.stub_client`, and the request
it would send is routed.  Raw tables cover what boto3 never sends
(unsupported sub-resources, malformed requests).
"""

from __future__ import annotations

import contextlib
import string
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.s3 import prepared_wire, stub_client

from s3node.s3 import errors
from s3node.s3.encoding import uri_encode
from s3node.s3.routing import (
    MAX_KEY_BYTES,
    OPERATIONS,
    UNSUPPORTED_SUBRESOURCES,
    CopySource,
    Route,
    check_bucket_name,
    check_expected_owner,
    route,
)

SETTINGS = settings(max_examples=200, deadline=None)
BODY = {"Body": b"data"}
MPU = {"Bucket": "bucket", "Key": "dir/a key", "UploadId": "up-1"}
COPY = {"CopySource": {"Bucket": "src.bucket", "Key": "from/the key+"}}
#: (boto3 method, its arguments, the route expected)
BOTO3_CALLS = [
    ("list_buckets", {}, Route("ListBuckets")),
    ("create_bucket", {"Bucket": "bucket"}, Route("CreateBucket", "bucket")),
    ("head_bucket", {"Bucket": "bucket"}, Route("HeadBucket", "bucket")),
    ("delete_bucket", {"Bucket": "bucket"}, Route("DeleteBucket", "bucket")),
    ("get_bucket_location", {"Bucket": "bucket"}, Route("GetBucketLocation", "bucket")),
    (
        "put_object",
        {"Bucket": "bucket", "Key": "dir/a key", **BODY},
        Route("PutObject", "bucket", "dir/a key"),
    ),
    ("get_object", {"Bucket": "bucket", "Key": "k"}, Route("GetObject", "bucket", "k")),
    (
        "get_object",
        {"Bucket": "bucket", "Key": "k", "PartNumber": 2, "ResponseContentType": "text/plain"},
        Route("GetObject", "bucket", "k", part_number=2),
    ),
    ("head_object", {"Bucket": "bucket", "Key": "k"}, Route("HeadObject", "bucket", "k")),
    (
        "head_object",
        {"Bucket": "bucket", "Key": "k", "PartNumber": 10000},
        Route("HeadObject", "bucket", "k", part_number=10000),
    ),
    ("delete_object", {"Bucket": "bucket", "Key": "k"}, Route("DeleteObject", "bucket", "k")),
    (
        "delete_objects",
        {"Bucket": "bucket", "Delete": {"Objects": [{"Key": "k"}], "Quiet": True}},
        Route("DeleteObjects", "bucket"),
    ),
    (
        "copy_object",
        {"Bucket": "bucket", "Key": "k", **COPY, "MetadataDirective": "REPLACE"},
        Route("CopyObject", "bucket", "k", copy_source=CopySource("src.bucket", "from/the key+")),
    ),
    (
        "list_objects_v2",
        {"Bucket": "bucket", "Prefix": "a/", "Delimiter": "/"},
        Route("ListObjectsV2", "bucket"),
    ),
    ("list_objects", {"Bucket": "bucket", "Marker": "m"}, Route("ListObjects", "bucket")),
    (
        "create_multipart_upload",
        {"Bucket": "bucket", "Key": "dir/a key"},
        Route("CreateMultipartUpload", "bucket", "dir/a key"),
    ),
    (
        "upload_part",
        {**MPU, "PartNumber": 3, **BODY},
        Route("UploadPart", "bucket", "dir/a key", upload_id="up-1", part_number=3),
    ),
    (
        "upload_part_copy",
        {**MPU, "PartNumber": 4, **COPY, "CopySourceRange": "bytes=0-9"},
        Route(
            "UploadPartCopy",
            "bucket",
            "dir/a key",
            upload_id="up-1",
            part_number=4,
            copy_source=CopySource("src.bucket", "from/the key+"),
        ),
    ),
    (
        "complete_multipart_upload",
        {**MPU, "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"e"'}]}},
        Route("CompleteMultipartUpload", "bucket", "dir/a key", upload_id="up-1"),
    ),
    (
        "abort_multipart_upload",
        MPU,
        Route("AbortMultipartUpload", "bucket", "dir/a key", upload_id="up-1"),
    ),
    ("list_parts", MPU, Route("ListParts", "bucket", "dir/a key", upload_id="up-1")),
    ("list_multipart_uploads", {"Bucket": "bucket"}, Route("ListMultipartUploads", "bucket")),
    (
        "list_multipart_uploads",
        {"Bucket": "bucket", "Delimiter": "/", "KeyMarker": "a b", "UploadIdMarker": "u1"},
        Route("ListMultipartUploads", "bucket"),
    ),
    ("get_bucket_acl", {"Bucket": "bucket"}, Route("GetBucketAcl", "bucket")),
    ("put_bucket_acl", {"Bucket": "bucket", "ACL": "private"}, Route("PutBucketAcl", "bucket")),
    ("get_object_acl", {"Bucket": "bucket", "Key": "k"}, Route("GetObjectAcl", "bucket", "k")),
    (
        "put_object_acl",
        {"Bucket": "bucket", "Key": "dir/k", "ACL": "private"},
        Route("PutObjectAcl", "bucket", "dir/k"),
    ),
    (
        "put_bucket_versioning",
        {"Bucket": "bucket", "VersioningConfiguration": {"Status": "Enabled"}},
        Route("NotImplemented", "bucket", unsupported="versioning"),
    ),
    (
        "get_bucket_lifecycle_configuration",
        {"Bucket": "bucket"},
        Route("NotImplemented", "bucket", unsupported="lifecycle"),
    ),
    (
        "get_bucket_policy",
        {"Bucket": "bucket"},
        Route("NotImplemented", "bucket", unsupported="policy"),
    ),
    (
        "get_object_tagging",
        {"Bucket": "bucket", "Key": "k"},
        Route("NotImplemented", "bucket", "k", unsupported="tagging"),
    ),
    (
        "get_object",
        {"Bucket": "bucket", "Key": "k", "VersionId": "3HL4kqtJlcpXroDTDmJ"},
        Route("NotImplemented", "bucket", "k", unsupported="versionId"),
    ),
]


def captured_request(method: str, kwargs: dict, addressing: str = "path"):
    """The request boto3 would send for one call (answered with an empty 200)."""
    sent = []

    def respond(request):
        sent.append(request)
        return 200, {}, b""

    client = stub_client(
        respond, **({"s3": {"addressing_style": addressing}} if addressing != "path" else {})
    )
    with contextlib.suppress(Exception):  # an empty 200 is not every operation's answer
        getattr(client, method)(**kwargs)
    assert sent, f"boto3 sent nothing for {method}"
    return sent[0]


def route_of(wire, domain: str | None = None) -> Route:
    """Route a captured wire request."""
    method, path, query, headers = wire
    return route(method, path, query, {k.lower(): v for k, v in headers}, domain)


def same(got: Route, expected: Route) -> bool:
    """Whether two routes agree on everything but the echoed query parameters."""
    return (
        got.operation,
        got.bucket,
        got.key,
        got.upload_id,
        got.part_number,
        got.copy_source,
        got.unsupported,
    ) == (
        expected.operation,
        expected.bucket,
        expected.key,
        expected.upload_id,
        expected.part_number,
        expected.copy_source,
        expected.unsupported,
    )


@pytest.mark.parametrize(
    ("method", "kwargs", "expected"),
    BOTO3_CALLS,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(BOTO3_CALLS)],
)
def test_boto3_requests_route_to_their_operation(method, kwargs, expected) -> None:
    """The path-style request boto3 sends for each operation routes to that operation with its arguments."""
    got = route_of(prepared_wire(captured_request(method, kwargs)))
    assert same(got, expected), got


@pytest.mark.parametrize(
    ("method", "kwargs", "expected"),
    [c for c in BOTO3_CALLS if c[2].bucket is not None and c[0] != "create_bucket"],
    ids=[
        f"{c[0]}-{i}"
        for i, c in enumerate(BOTO3_CALLS)
        if c[2].bucket is not None and c[0] != "create_bucket"
    ],
)
def test_boto3_virtual_hosted_requests_route_the_same(method, kwargs, expected) -> None:
    """With a domain configured, boto3's virtual-hosted requests (bucket in Host) route as path-style ones do."""
    request = captured_request(method, kwargs, addressing="virtual")
    wire = prepared_wire(request)
    if method != "get_bucket_location":  # botocore sends that one path-style always
        assert {k.lower(): v for k, v in wire[3]}["host"].startswith("bucket.s3.test")
    assert same(route_of(wire, domain="s3.test"), expected)


def test_every_operation_is_covered() -> None:
    """The boto3 table reaches every operation the router knows."""
    assert {c[2].operation for c in BOTO3_CALLS} == OPERATIONS


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_SUBRESOURCES))
def test_unsupported_subresources_are_not_implemented(name: str) -> None:
    """Every unsupported sub-resource, on a bucket or an object, routes to NotImplemented naming it."""
    for path in ("/bucket", "/bucket/key"):
        for method in ("GET", "PUT", "DELETE", "POST"):
            got = route(method, path, f"{name}&x=1", {})
            assert (got.operation, got.unsupported) == ("NotImplemented", name)


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        (
            "GET",
            "/bucket",
            "list-type=2&prefix=a%2Bb+c",
            {},
            ("ListObjectsV2", {"list-type": "2", "prefix": "a+b c"}),
        ),
        ("GET", "/bucket/", "", {}, ("ListObjects", {})),
        ("GET", "/bucket/k", "versionId=null", {}, ("GetObject", {"versionId": "null"})),
        ("POST", "/bucket", "", {}, ("NotImplemented", {})),
        ("OPTIONS", "/bucket/k", "", {}, ("NotImplemented", {})),
        ("GET", "/", "", {"host": "bucket.s3.test"}, ("ListBuckets", {})),
        ("HEAD", "/bucket/a%2Fb//c", "", {}, ("HeadObject", {})),
        (
            "PUT",
            "/bucket/k",
            "",
            {"x-amz-copy-source": "/src/k?versionId=v1"},
            ("NotImplemented", {}),
        ),
    ],
)
def test_raw_requests_route(method, path, query, headers, expected) -> None:
    """Raw requests boto3 would not send route as S3 routes them (without a domain, Host is ignored)."""
    got = route(method, path, query, headers)
    assert (got.operation, dict(got.params)) == expected


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "error"),
    [
        ("PUT", "/", "", {}, errors.MethodNotAllowed),
        ("PATCH", "/bucket", "", {}, errors.MethodNotAllowed),
        ("PATCH", "/bucket/k", "", {}, errors.MethodNotAllowed),
        # ?acl never deletes or heads the bucket or object it names
        ("DELETE", "/bucket", "acl", {}, errors.MethodNotAllowed),
        ("DELETE", "/bucket/k", "acl", {}, errors.MethodNotAllowed),
        ("HEAD", "/bucket/k", "acl", {}, errors.MethodNotAllowed),
        ("POST", "/bucket", "acl", {}, errors.MethodNotAllowed),
        ("GET", "/bucket", "list-type=3", {}, errors.InvalidArgument),
        ("PUT", "/bucket/k", "partNumber=0&uploadId=u", {}, errors.InvalidArgument),
        ("PUT", "/bucket/k", "partNumber=10001&uploadId=u", {}, errors.InvalidArgument),
        ("PUT", "/bucket/k", "partNumber=1", {}, errors.InvalidRequest),
        ("PUT", "/bucket/k", "uploadId=u", {}, errors.InvalidRequest),
        ("PUT", "/bucket/k", "", {"x-amz-copy-source": "only-a-bucket"}, errors.InvalidArgument),
        ("GET", "/Bucket/k", "", {}, errors.InvalidBucketName),
        ("GET", "/bucket/" + "k" * (MAX_KEY_BYTES + 1), "", {}, errors.KeyTooLongError),
        ("GET", "/bucket/%FF", "", {}, errors.InvalidURI),
        ("GET", "bucket/k", "", {}, errors.InvalidURI),
    ],
)
def test_malformed_requests_are_refused(method, path, query, headers, error) -> None:
    """Bad methods, part numbers, copy sources, bucket names and keys get their S3 errors."""
    with pytest.raises(error):
        route(method, path, query, headers)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Bucket",
        "-bucket",
        "bucket-",
        "bu..cket",
        "192.168.5.4",
        "xn--bucket",
        "sthree-b",
        "amzn-s3-demo-b",
        "b-s3alias",
        "b--ol-s3",
        "b.mrap",
        "b--x-s3",
        "b--table-s3",
        "bu_cket",
    ],
)
def test_bad_bucket_names_are_refused(name: str) -> None:
    """Each of S3's bucket naming rules refuses a name that breaks it."""
    with pytest.raises(errors.InvalidBucketName):
        check_bucket_name(name)


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket-1", "1.2.3.bucket", "192.168.5.4a"])
def test_good_bucket_names_pass(name: str) -> None:
    """Names within the rules are accepted."""
    check_bucket_name(name)


BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True).filter(
    lambda b: not b.startswith(("xn--", "sthree-")) and not b.endswith("-s3alias")
)
KEYS = st.text(
    alphabet=st.one_of(st.sampled_from(string.printable), st.characters(codec="utf-8")),
    min_size=1,
    max_size=60,
).filter(lambda k: len(k.encode()) <= MAX_KEY_BYTES)


@SETTINGS
@given(bucket=BUCKETS, key=KEYS, virtual=st.booleans(), botocore_style=st.booleans())
def test_any_bucket_and_key_round_trip_through_path_encoding(
    bucket, key, virtual, botocore_style
) -> None:
    """Any valid bucket and any key, encoded into a path (ours or botocore's way, path-style or virtual-hosted), route back exactly."""
    encoded = quote(key, safe="/~") if botocore_style else uri_encode(key, keep_slash=True)
    if virtual:
        got = route("GET", "/" + encoded, "", {"host": f"{bucket}.s3.test:9000"}, "s3.test")
    else:
        got = route("GET", f"/{bucket}/{encoded}", "", {"host": "s3.test:9000"}, "s3.test")
    assert (got.operation, got.bucket, got.key) == ("GetObject", bucket, key)


@SETTINGS
@given(bucket=BUCKETS, key=KEYS)
def test_any_copy_source_round_trips(bucket, key) -> None:
    """Any bucket and key in an x-amz-copy-source, URL-encoded as botocore does, parse back exactly."""
    header = f"{bucket}/{quote(key, safe='/~')}"
    got = route("PUT", "/dest/k", "", {"x-amz-copy-source": header})
    assert got.copy_source == CopySource(bucket, key)


def test_expected_bucket_owner_headers_must_name_the_owner() -> None:
    """x-amz-expected-bucket-owner (any bucket operation) and x-amz-source-expected-bucket-owner (copies) other than the owner are AccessDenied; absent or equal, nothing."""
    bucket, service = Route("ListObjectsV2", "b"), Route("ListBuckets")
    copy = Route("CopyObject", "b", "k", copy_source=CopySource("src", "s"))
    for r in (bucket, service, copy):
        check_expected_owner(r, {}, "owner")
        check_expected_owner(r, {"x-amz-expected-bucket-owner": "owner",
                                 "x-amz-source-expected-bucket-owner": "owner"}, "owner")
    check_expected_owner(service, {"x-amz-expected-bucket-owner": "other"}, "owner")
    check_expected_owner(bucket, {"x-amz-source-expected-bucket-owner": "other"}, "owner")
    for r, headers in ((bucket, {"x-amz-expected-bucket-owner": "other"}),
                       (bucket, {"x-amz-expected-bucket-owner": ""}),
                       (copy, {"x-amz-source-expected-bucket-owner": "other"})):
        with pytest.raises(errors.AccessDenied):
            check_expected_owner(r, headers, "owner")


def test_list_multipart_uploads_keeps_its_markers_and_delimiter() -> None:
    """ListMultipartUploads' paging parameters reach the handler as boto3 sent them."""
    kwargs = {"Bucket": "bucket", "Delimiter": "/", "KeyMarker": "dir/a key+%",
              "UploadIdMarker": "0abc", "Prefix": "dir/", "MaxUploads": 2,
              "EncodingType": "url"}
    got = route_of(prepared_wire(captured_request("list_multipart_uploads", kwargs)))
    assert got.operation == "ListMultipartUploads"
    assert {k: got.params[k] for k in ("delimiter", "key-marker", "upload-id-marker", "prefix",
                                       "max-uploads", "encoding-type")} == {
        "delimiter": "/", "key-marker": "dir/a key+%", "upload-id-marker": "0abc",
        "prefix": "dir/", "max-uploads": "2", "encoding-type": "url"}
