"""
Tests for :mod:`s3node.s3.xml` and :mod:`s3node.s3.responses`.

The compatibility test is boto3 itself: a real client whose HTTP exchange
the test plays (:func:`support.s3.stub_client`) receives the documents built
here and parses them with the real S3 service model, handlers and paginators
included; and the request documents it serialises are what the parsers here read.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.session import get_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.s3 import body_of, stub_client

from s3node.s3 import errors, responses
from s3node.s3.responses import BucketEntry, DeleteOutcome, ListPage, ObjectEntry, Owner
from s3node.s3.xml import (
    MAX_DEPTH,
    CompletedPart,
    error_document,
    parse_complete_multipart_upload,
    parse_create_bucket,
    parse_delete,
    render,
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
OWNER = Owner("owner-id", "owner")
#: any key: every printable ASCII character, control characters and non-ASCII text
ANY_KEY = st.text(
    alphabet=st.one_of(
        st.sampled_from(string.printable),
        st.characters(min_codepoint=0, max_codepoint=0x1F),
        st.characters(codec="utf-8"),
    ),
    min_size=1,
    max_size=40,
)
#: keys XML 1.0 can carry unencoded (a carriage return would read back as a line feed)
XML_KEY = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\r", min_codepoint=0x20)
    | st.sampled_from("\t\n"),
    min_size=1,
    max_size=40,
)
S3_MODEL = get_session().get_service_model("s3")


def query_of(request) -> dict[str, list[str]]:
    """The decoded query parameters of a prepared request."""
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


def entry(key: str, size: int = 3) -> ObjectEntry:
    """A listed object with fixed metadata."""
    return ObjectEntry(key=key, last_modified=WHEN, etag='"abc"', size=size)


@SETTINGS
@given(keys=st.lists(ANY_KEY, max_size=5, unique=True), prefixes=st.lists(ANY_KEY, max_size=3))
def test_list_objects_v2_keys_of_any_characters_reach_boto3(keys, prefixes) -> None:
    """boto3 lists with encoding-type=url; every key and common prefix, control characters included, comes back exact."""
    seen = []

    def respond(request):
        params = query_of(request)
        seen.append(params)
        page = ListPage(objects=[entry(k) for k in keys], common_prefixes=prefixes)
        body = responses.list_objects_v2(
            "bucket",
            page,
            prefix="p r+e%",
            delimiter="/",
            encoding_type=params["encoding-type"][0],
        )
        return 200, {}, body

    result = stub_client(respond).list_objects_v2(Bucket="bucket", Prefix="p r+e%", Delimiter="/")
    assert seen[0]["encoding-type"] == ["url"] and seen[0]["list-type"] == ["2"]
    assert [o["Key"] for o in result.get("Contents", [])] == keys
    assert [p["Prefix"] for p in result.get("CommonPrefixes", [])] == prefixes
    assert result["Prefix"] == "p r+e%" and result["Delimiter"] == "/"
    assert result["KeyCount"] == len(keys) + len(prefixes)
    if keys:
        first = result["Contents"][0]
        assert first["ETag"] == '"abc"' and first["Size"] == 3 and first["LastModified"] == WHEN


def test_list_objects_v2_paginator_follows_continuation_tokens() -> None:
    """boto3's paginator walks pages by NextContinuationToken and sees every key once."""
    keys = [f"k{i:02d}" for i in range(7)]

    def respond(request):
        params = query_of(request)
        start = int(params.get("continuation-token", ["0"])[0])
        size = int(params["max-keys"][0])
        chunk = keys[start : start + size]
        truncated = start + size < len(keys)
        body = responses.list_objects_v2(
            "bucket",
            ListPage(objects=[entry(k) for k in chunk], is_truncated=truncated),
            max_keys=size,
            continuation_token=params.get("continuation-token", [None])[0],
            next_continuation_token=str(start + size),
            encoding_type="url",
        )
        return 200, {}, body

    paginator = stub_client(respond).get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket="bucket", PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys
    assert pages[0]["IsTruncated"] and not pages[-1]["IsTruncated"]


def test_list_objects_v1_paginator_follows_next_marker() -> None:
    """boto3's ListObjects paginator continues from NextMarker (with a delimiter) to the last page."""
    keys = ["a", "b/1", "b/2", "c", "d"]

    def respond(request):
        params = query_of(request)
        marker = params.get("marker", [""])[0]
        rest = [k for k in ["a", "b/", "c", "d"] if k > marker]
        chunk, truncated = rest[:2], len(rest) > 2
        page = ListPage(
            objects=[entry(k) for k in chunk if not k.endswith("/")],
            common_prefixes=[k for k in chunk if k.endswith("/")],
            is_truncated=truncated,
        )
        body = responses.list_objects_v1(
            "bucket", page, OWNER, marker=marker, delimiter="/", max_keys=2, encoding_type="url"
        )
        return 200, {}, body

    paginator = stub_client(respond).get_paginator("list_objects")
    pages = list(paginator.paginate(Bucket="bucket", Delimiter="/"))
    listed = [o["Key"] for p in pages for o in p.get("Contents", [])]
    listed += [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert sorted(listed) == ["a", "b/", "c", "d"] and len(pages) == 2
    assert pages[0]["Contents"][0]["Owner"] == {"ID": "owner-id", "DisplayName": "owner"}
    assert keys  # the listing rolls b/1 and b/2 into b/


def test_url_encoding_is_percent_encoding_as_s3_writes_it() -> None:
    """Under encoding-type=url a space is %20 (not +), + is %2B, / stays (ceph/s3-tests' encoding_basic)."""
    page = ListPage(objects=[entry("asdf+b")],
                    common_prefixes=["foo+1/", "foo/", "quux ab/", "\u00e9%/"])
    for body in (
        responses.list_objects_v2("bucket", page, prefix="a b", delimiter="/",
                                  start_after="s t", encoding_type="url"),
        responses.list_objects_v1("bucket", page, OWNER, prefix="", marker="m n",
                                  delimiter="/", encoding_type="url"),
    ):
        assert b"<Key>asdf%2Bb</Key>" in body and b"<Delimiter>/</Delimiter>" in body
        for prefix in (b"foo%2B1/", b"foo/", b"quux%20ab/", b"%C3%A9%25/"):
            assert b"<Prefix>" + prefix + b"</Prefix>" in body
        assert b"+" not in body.replace(b"asdf+b", b"")
    v2 = responses.list_objects_v2("bucket", page, prefix="a b", start_after="s t",
                                   encoding_type="url")
    assert b"<Prefix>a%20b</Prefix>" in v2 and b"<StartAfter>s%20t</StartAfter>" in v2


@pytest.mark.parametrize("prefix", ["\n", "p r+e%", "\u00e9 +/"])
def test_list_objects_v1_round_trips_prefix_marker_and_keys_through_boto3(prefix) -> None:
    """ListObjects under boto3's encoding-type=url: Prefix echoed as sent (botocore does not decode it), Marker, NextMarker, keys and prefixes decoded exact."""
    keys = [prefix + "a b", prefix + "c+d"]
    marker = prefix + "% +"

    def respond(request):
        params = query_of(request)
        assert params["encoding-type"] == ["url"] and params["prefix"] == [prefix]
        page = ListPage(objects=[entry(k) for k in keys], common_prefixes=[prefix + "x y/"],
                        is_truncated=True)
        body = responses.list_objects_v1(
            "bucket", page, OWNER, prefix=params["prefix"][0], marker=params["marker"][0],
            delimiter=params["delimiter"][0], encoding_type=params["encoding-type"][0])
        return 200, {}, body

    result = stub_client(respond).list_objects(Bucket="bucket", Prefix=prefix, Delimiter="/",
                                               Marker=marker)
    assert result["Prefix"] == prefix and result["Marker"] == marker
    assert result["Delimiter"] == "/" and result["NextMarker"] == prefix + "x y/"
    assert [o["Key"] for o in result["Contents"]] == keys
    assert [p["Prefix"] for p in result["CommonPrefixes"]] == [prefix + "x y/"]


def test_list_objects_v2_start_after_round_trips_through_boto3() -> None:
    """ListObjectsV2: StartAfter and Prefix with spaces, + and % come back exact from boto3."""

    def respond(request):
        params = query_of(request)
        body = responses.list_objects_v2(
            "bucket", ListPage(objects=[entry("p +%/k z")]), prefix=params["prefix"][0],
            start_after=params["start-after"][0], encoding_type=params["encoding-type"][0])
        return 200, {}, body

    result = stub_client(respond).list_objects_v2(Bucket="bucket", Prefix="p +%/",
                                                  StartAfter="p +%/a\u00e9 +")
    assert result["Prefix"] == "p +%/" and result["StartAfter"] == "p +%/a\u00e9 +"
    assert [o["Key"] for o in result["Contents"]] == ["p +%/k z"]


@SETTINGS
@given(keys=st.lists(XML_KEY, min_size=1, max_size=4))
def test_xml_safe_keys_round_trip_without_url_encoding(keys) -> None:
    """Without encoding-type, keys with & < > " ' tabs, newlines and unicode parse back exactly with the S3 model."""
    body = responses.list_objects_v2("bucket", ListPage(objects=[entry(k) for k in keys]))
    parser = create_parser("rest-xml")
    shape = S3_MODEL.operation_model("ListObjectsV2").output_shape
    parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
    assert [o["Key"] for o in parsed["Contents"]] == keys


def test_control_characters_are_written_as_references() -> None:
    """Without encoding-type, characters XML 1.0 cannot carry are written as numeric references, and CR as &#13;."""
    body = responses.list_objects_v2("b", ListPage(objects=[entry("a\x01b\rc&<>")]))
    assert b"<Key>a&#x1;b&#13;c&amp;&lt;&gt;</Key>" in body


def test_list_buckets_and_location() -> None:
    """ListBuckets and GetBucketLocation bodies read back in boto3 (us-east-1's location is empty)."""
    region = ["us-east-1"]

    def respond(request):
        if "location" in query_of(request):
            return 200, {}, responses.bucket_location(region[0])
        buckets = [BucketEntry("alpha", WHEN), BucketEntry("beta", WHEN)]
        return 200, {}, responses.list_buckets(buckets, OWNER)

    client = stub_client(respond)
    result = client.list_buckets()
    assert [b["Name"] for b in result["Buckets"]] == ["alpha", "beta"]
    assert result["Buckets"][0]["CreationDate"] == WHEN
    assert result["Owner"] == {"ID": "owner-id", "DisplayName": "owner"}
    assert client.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    region[0] = "eu-west-1"
    assert client.get_bucket_location(Bucket="alpha")["LocationConstraint"] == "eu-west-1"


def test_list_buckets_pages_and_access_control_policy_read_back_in_boto3() -> None:
    """A ListBuckets page's ContinuationToken, Prefix and BucketRegion, and GetBucketAcl's owner grant (Grantee's xsi:type attribute included), read back in boto3."""
    def respond(request):
        if "acl" in query_of(request):
            return 200, {}, responses.access_control_policy(OWNER)
        page = [BucketEntry("alpha", WHEN, "eu-west-1")]
        return 200, {}, responses.list_buckets(page, OWNER, continuation_token="tok/+=",
                                               prefix="al<")

    client = stub_client(respond)
    result = client.list_buckets(MaxBuckets=1, Prefix="al<")
    assert result["Buckets"] == [{"Name": "alpha", "CreationDate": WHEN,
                                  "BucketRegion": "eu-west-1"}]
    assert (result["ContinuationToken"], result["Prefix"]) == ("tok/+=", "al<")
    acl = client.get_bucket_acl(Bucket="alpha")
    assert acl["Owner"] == {"ID": "owner-id", "DisplayName": "owner"}
    assert acl["Grants"] == [{"Grantee": {"ID": "owner-id", "DisplayName": "owner",
                                          "Type": "CanonicalUser"},
                              "Permission": "FULL_CONTROL"}]


def test_multipart_documents_round_trip_through_boto3() -> None:
    """boto3's CreateMultipartUpload, CompleteMultipartUpload, ListParts and ListMultipartUploads read our bodies, and we read its request."""
    captured = {}

    def respond(request):
        params = query_of(request)
        if "uploads" in params and request.method == "POST":
            return 200, {}, responses.initiate_multipart_upload("bucket", "a key", "up1")
        if request.method == "POST":
            captured["complete"] = body_of(request)
            return (
                200,
                {},
                responses.complete_multipart_upload(
                    "http://s3.test/bucket/a%20key",
                    "bucket",
                    "a key",
                    '"e-2"',
                    [("CRC32", "AAAAAA==")],
                    "COMPOSITE",
                ),
            )
        if "uploadId" in params:
            parts = [
                responses.PartEntry(1, WHEN, '"p1"', 5 << 20, (("CRC32", "AAAAAA=="),)),
                responses.PartEntry(2, WHEN, '"p2"', 10),
            ]
            return (
                200,
                {},
                responses.list_parts("bucket", "a key", "up1", parts, OWNER, is_truncated=True),
            )
        uploads = [
            responses.UploadEntry("a key", "up1", WHEN),
            responses.UploadEntry("b\x01", "up2", WHEN),
        ]
        body = responses.list_multipart_uploads(
            "bucket",
            uploads,
            OWNER,
            is_truncated=True,
            encoding_type=params["encoding-type"][0] if "encoding-type" in params else None,
        )
        return 200, {}, body

    client = stub_client(respond)
    created = client.create_multipart_upload(Bucket="bucket", Key="a key")
    assert created["UploadId"] == "up1" and created["Key"] == "a key"
    done = client.complete_multipart_upload(
        Bucket="bucket",
        Key="a key",
        UploadId="up1",
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": '"p1"', "ChecksumCRC32": "AAAAAA=="},
                {"PartNumber": 2, "ETag": '"p2"'},
            ]
        },
    )
    assert done["ETag"] == '"e-2"' and done["ChecksumCRC32"] == "AAAAAA=="
    assert done["ChecksumType"] == "COMPOSITE"
    assert parse_complete_multipart_upload(captured["complete"]) == [
        CompletedPart(1, "p1", (("CRC32", "AAAAAA=="),)),
        CompletedPart(2, "p2"),
    ]
    parts = client.list_parts(Bucket="bucket", Key="a key", UploadId="up1")
    assert [p["PartNumber"] for p in parts["Parts"]] == [1, 2]
    assert parts["Parts"][0]["ChecksumCRC32"] == "AAAAAA==" and parts["NextPartNumberMarker"] == 2
    assert parts["IsTruncated"] and parts["Initiator"]["ID"] == "owner-id"
    uploads = client.list_multipart_uploads(Bucket="bucket", EncodingType="url")
    assert [u["UploadId"] for u in uploads["Uploads"]] == ["up1", "up2"]
    assert uploads["NextUploadIdMarker"] == "up2"


def test_copy_results_reach_boto3() -> None:
    """CopyObject and UploadPartCopy bodies give boto3 the ETag and time."""

    def respond(request):
        if "uploadId" in query_of(request):
            return 200, {}, responses.copy_part('"c1"', WHEN)
        return 200, {}, responses.copy_object('"c0"', WHEN, [("SHA256", "x" * 43 + "=")])

    client = stub_client(respond)
    copied = client.copy_object(Bucket="b", Key="k", CopySource={"Bucket": "s", "Key": "k k"})
    assert copied["CopyObjectResult"]["ETag"] == '"c0"'
    assert copied["CopyObjectResult"]["LastModified"] == WHEN
    part = client.upload_part_copy(
        Bucket="b", Key="k", UploadId="u", PartNumber=1, CopySource={"Bucket": "s", "Key": "k"}
    )
    assert part["CopyPartResult"]["ETag"] == '"c1"'


@SETTINGS
@given(keys=st.lists(XML_KEY, min_size=1, max_size=5, unique=True), quiet=st.booleans())
def test_delete_objects_round_trips(keys, quiet) -> None:
    """We read the Delete document boto3 sends (keys exact, quiet flag), and boto3 reads our DeleteResult."""
    captured = {}

    def respond(request):
        request_ = parse_delete(body_of(request))
        captured["request"] = request_
        outcomes = [DeleteOutcome(k) for k, _ in request_.objects[:-1]]
        outcomes.append(DeleteOutcome(request_.objects[-1][0], "AccessDenied", "Access Denied"))
        return 200, {}, responses.delete_result(outcomes, request_.quiet)

    result = stub_client(respond).delete_objects(
        Bucket="b", Delete={"Objects": [{"Key": k} for k in keys], "Quiet": quiet}
    )
    assert [k for k, _ in captured["request"].objects] == keys
    assert captured["request"].quiet is quiet
    assert [d["Key"] for d in result.get("Deleted", [])] == ([] if quiet else keys[:-1])
    assert result["Errors"] == [
        {"Key": keys[-1], "Code": "AccessDenied", "Message": "Access Denied"}
    ]


def test_create_bucket_configuration_round_trips() -> None:
    """We read the LocationConstraint boto3 sends, and an empty body as none."""
    captured = []

    def respond(request):
        captured.append(parse_create_bucket(body_of(request)))
        return 200, {}, b""

    client = stub_client(respond)
    client.create_bucket(Bucket="b1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.create_bucket(Bucket="b2")
    assert captured == ["eu-west-1", None]


@pytest.mark.parametrize(
    ("error", "operation", "status"),
    [
        (errors.NoSuchKey(), "get_object", 404),
        (errors.SignatureDoesNotMatch(fields=[("StringToSign", "x\ny")]), "put_object", 403),
        (errors.NotImplementedByS3Node(), "put_object", 501),
        (errors.SlowDown(), "get_object", 503),
    ],
    ids=str,
)
def test_error_documents_reach_boto3_as_client_errors(error, operation, status) -> None:
    """An error document with its status becomes a ClientError with the code and message."""

    def respond(request):
        return error.status, {"x-amz-request-id": "req1"}, error_document(error, "/b/k", "req1")

    client = stub_client(respond)
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(
            Bucket="b", Key="k", **({"Body": b"x"} if operation == "put_object" else {})
        )
    response = caught.value.response
    assert response["Error"]["Code"] == error.code
    assert response["Error"]["Message"] == error.message
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["RequestId"] == "req1"


def test_error_document_carries_resource_request_id_and_fields() -> None:
    """The error document holds Code, Message, S3's extra fields, Resource and RequestId, escaped."""
    body = error_document(
        errors.AccessDenied("a < b", fields=[("HeadersNotSigned", "x-amz-a")]), "/b/k&", "r"
    )
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>a &lt; b</Message><HeadersNotSigned>x-amz-a</HeadersNotSigned>"
        b"<Resource>/b/k&amp;</Resource><RequestId>r</RequestId></Error>"
    )


def test_render_uses_the_s3_namespace() -> None:
    """A response's root element declares the S3 namespace."""
    assert render(("A", [("B", "1"), None])) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<A xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><B>1</B></A>'
    )


# -- hostile and malformed request documents -------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Delete><Object><Key>&lol2;</Key></Object></Delete>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        b'<!DOCTYPE Delete SYSTEM "http://example.invalid/x.dtd"><Delete/>',
        b"<Delete><Object><Key>k</Key></Object>",
        b"<Other><Object><Key>k</Key></Object></Other>",
        b"<Delete></Delete>",
        b"<Delete><Object><Key></Key></Object></Delete>",
        b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
        b"<Delete><Object><Key>k</Key></Object><Quiet>maybe</Quiet></Delete>",
        b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
        b"<Delete>" + b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1) + b"</Delete>",
        b"not xml at all",
        b'<?xml version="1.0" encoding="x-no-such-codec"?><Delete/>',
        b'<?xml version="1.0" encoding="utf-7"?><Delete/>',
    ],
    ids=[
        "entity-expansion",
        "external-entity",
        "external-dtd",
        "unclosed",
        "wrong-root",
        "no-objects",
        "empty-key",
        "two-keys",
        "bad-quiet",
        "too-many-objects",
        "too-deep",
        "garbage",
        "unknown-encoding",
        "multi-byte-encoding",
    ],
)
def test_hostile_or_malformed_delete_documents_are_malformed_xml(body: bytes) -> None:
    """Entity tricks, DTDs, deep nesting and malformed Delete documents are all MalformedXML."""
    with pytest.raises(errors.MalformedXML):
        parse_delete(body)


def test_body_size_is_capped() -> None:
    """A request document larger than the cap is MaxMessageLengthExceeded, before parsing."""
    body = b"<Delete><Object><Key>k</Key></Object></Delete>"
    with pytest.raises(errors.MaxMessageLengthExceeded):
        parse_delete(body, max_body=len(body) - 1)
    assert parse_delete(body, max_body=len(body)).objects == (("k", None),)


def test_keys_keep_their_spaces_and_namespace_is_optional() -> None:
    """Key text is kept exactly, and documents parse with or without the S3 namespace."""
    body = (
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Object><Key>  spaced  </Key><VersionId>v1</VersionId></Object>"
        b"<Quiet> TRUE </Quiet></Delete>"
    )
    assert parse_delete(body) == parse_delete(
        body.replace(b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', b"")
    )
    assert parse_delete(body).objects == (("  spaced  ", "v1"),) and parse_delete(body).quiet


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ("", errors.MalformedXML),
        ("<Part><PartNumber>x</PartNumber><ETag>e</ETag></Part>", errors.MalformedXML),
        ("<Part><PartNumber>0</PartNumber><ETag>e</ETag></Part>", errors.InvalidArgument),
        ("<Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part>", errors.InvalidArgument),
        ("<Part><PartNumber>1</PartNumber></Part>", errors.MalformedXML),
        (
            (
                "<Part><PartNumber>2</PartNumber><ETag>e</ETag></Part>"
                "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"
            ),
            errors.InvalidPartOrder,
        ),
        (
            (
                "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"
                "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"
            ),
            errors.InvalidPartOrder,
        ),
    ],
    ids=["no-parts", "not-a-number", "zero", "too-high", "no-etag", "descending", "repeated"],
)
def test_complete_multipart_upload_checks_its_parts(parts: str, error) -> None:
    """Part numbers must be whole numbers from 1 to 10000, strictly ascending, each with an ETag."""
    with pytest.raises(error):
        parse_complete_multipart_upload(
            f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        )


def test_create_bucket_configuration_must_be_that_document() -> None:
    """A CreateBucket body that is not a CreateBucketConfiguration is MalformedXML."""
    with pytest.raises(errors.MalformedXML):
        parse_create_bucket(b"<Delete/>")
    assert parse_create_bucket(b"  \n") is None
    assert parse_create_bucket(b"<CreateBucketConfiguration/>") is None
