"""
What ceph/s3-tests runs found different from S3 (docs/s3.md,
"ceph/s3-tests"), checked through real boto3 against real processes:
``encoding-type=url`` listings, an empty continuation token,
``x-amz-expected-bucket-owner``, DeleteBucket with uploads under way,
ListBuckets pages, re-creating a bucket in us-east-1, non-ASCII metadata,
the private ACL, and CompleteMultipartUpload's checksum header and retries.
"""

from __future__ import annotations

import base64
import uuid
import zlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from integration.test_s3_api import client, code_of, crc32_b64, new_bucket, signed_put
from support.waiting import wait_until

#: keys with a space, +, %, unicode and characters XML 1.0 cannot carry
ODD_KEYS = ["foo+1/bar", "foo/bar/xyzzy", "quux ab/thud", "asdf+b", "p%20q", "ü x/é+",
            "ctl\x01/k", "t\tab"]


def test_url_encoded_listings_are_written_as_s3_writes_them(standalone: Any) -> None:
    """With EncodingType=url asked explicitly (boto3 then decodes nothing), a space is %20 and + is %2B (s3-tests' test_bucket_list*_encoding_basic)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    for key in ["foo+1/bar", "foo/bar/xyzzy", "quux ab/thud", "asdf+b"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    for listing in (s3.list_objects, s3.list_objects_v2):
        raw = listing(Bucket=bucket, Delimiter="/", EncodingType="url")
        assert raw["Delimiter"] == "/" and raw["EncodingType"] == "url"
        assert [o["Key"] for o in raw["Contents"]] == ["asdf%2Bb"]
        assert [p["Prefix"] for p in raw["CommonPrefixes"]] == ["foo%2B1/", "foo/",
                                                                "quux%20ab/"]
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="quux ab/", StartAfter="quux ab/a",
                            EncodingType="url")
    assert v2["Prefix"] == "quux%20ab/" and v2["StartAfter"] == "quux%20ab/a"
    assert [o["Key"] for o in v2["Contents"]] == ["quux%20ab/thud"]


def test_boto3_listings_round_trip_odd_keys_prefixes_and_markers(standalone: Any) -> None:
    """Under boto3's own encoding-type=url, every echoed field and key comes back exact, v1 and v2 (s3-tests' test_bucket_list_prefix_unreadable)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    expected = sorted(ODD_KEYS, key=lambda k: k.encode())
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == sorted(
        {k[:k.index("/") + 1] for k in ODD_KEYS if "/" in k}, key=lambda k: k.encode())
    for prefix in ("ü x/", "quux ab/", "\n"):
        v1 = s3.list_objects(Bucket=bucket, Prefix=prefix)
        v2 = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=prefix + " +%")
        assert v1["Prefix"] == prefix and v2["Prefix"] == prefix
        assert v2["StartAfter"] == prefix + " +%"
        assert [o["Key"] for o in v1.get("Contents", [])] == [
            k for k in expected if k.startswith(prefix)]
    marker = "p%20q"
    v1 = s3.list_objects(Bucket=bucket, Marker=marker, Delimiter="/", MaxKeys=1)
    assert v1["Marker"] == marker and v1["IsTruncated"]
    assert v1["NextMarker"] == "quux ab/" and v1["CommonPrefixes"] == [{"Prefix": "quux ab/"}]
    pages = s3.get_paginator("list_objects").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1})
    seen = [e for p in pages for e in [o["Key"] for o in p.get("Contents", [])]
            + [c["Prefix"] for c in p.get("CommonPrefixes", [])]]
    assert seen == sorted({k[:k.index("/") + 1] if "/" in k else k for k in ODD_KEYS},
                          key=lambda k: k.encode())


def test_an_empty_continuation_token_is_no_token(standalone: Any) -> None:
    """ContinuationToken='' lists from the start and is echoed (s3-tests' test_bucket_listv2_continuationtoken_empty)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    keys = ["bar", "baz", "foo", "quxx"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket, ContinuationToken="")
    assert listed["ContinuationToken"] == "" and not listed["IsTruncated"]
    assert [o["Key"] for o in listed["Contents"]] == keys
    after = s3.list_objects_v2(Bucket=bucket, ContinuationToken="", StartAfter="baz")
    assert [o["Key"] for o in after["Contents"]] == ["foo", "quxx"]
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-ours")
    assert code_of(e) == ("InvalidArgument", 400)


def test_expected_bucket_owner_must_be_the_owner(standalone: Any) -> None:
    """x-amz-expected-bucket-owner naming the owner ListBuckets reports proceeds; any other answers 403 AccessDenied and changes nothing (s3-tests' test_expected_bucket_owner)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    owner = s3.list_buckets()["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ExpectedBucketOwner=owner)
    assert s3.list_objects(Bucket=bucket, ExpectedBucketOwner=owner)["Contents"][0]["Key"] == "k"
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"},
                   ExpectedBucketOwner=owner, ExpectedSourceBucketOwner=owner)
    wrong = "123456789012"
    calls = [
        lambda: s3.list_objects(Bucket=bucket, ExpectedBucketOwner=wrong),
        lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=wrong),
        lambda: s3.put_object(Bucket=bucket, Key="w", Body=b"v", ExpectedBucketOwner=wrong),
        lambda: s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=wrong),
        lambda: s3.delete_object(Bucket=bucket, Key="k", ExpectedBucketOwner=wrong),
        lambda: s3.copy_object(Bucket=bucket, Key="w", CopySource={"Bucket": bucket, "Key": "k"},
                               ExpectedSourceBucketOwner=wrong),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=wrong)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["c", "k"]


def test_deleting_a_bucket_aborts_its_uploads_and_sweeps_their_parts(deployment: Any) -> None:
    """DeleteBucket with uploads under way (no object) succeeds, as on S3; the parts' chunks leave the nodes; an object still refuses it."""
    s3 = client(deployment)
    bucket = new_bucket(s3)

    def names() -> set[str]:  # chunk ids on the nodes
        return {p.name for p in deployment.chunk_files()}

    start = names()
    ids = [s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in ("a", "b")]
    for number in (1, 2):
        s3.upload_part(Bucket=bucket, Key="a", UploadId=ids[0], PartNumber=number,
                       Body=bytes([number]) * 1000)
    parts = names() - start
    assert parts
    s3.put_object(Bucket=bucket, Key="obj", Body=b"o")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(e) == ("BucketNotEmpty", 409)
    assert len(s3.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 2
    s3.delete_object(Bucket=bucket, Key="obj")
    s3.delete_bucket(Bucket=bucket)
    for call in (lambda: s3.head_bucket(Bucket=bucket),
                 lambda: s3.list_parts(Bucket=bucket, Key="a", UploadId=ids[0])):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    wait_until(lambda: not (names() & parts), what="the abandoned parts' chunks to be swept",
               timeout=30)
    s3.create_bucket(Bucket=bucket)  # the name is free again, and empty
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)


def test_list_buckets_pages_with_max_buckets_prefix_and_token(standalone: Any) -> None:
    """ListBuckets' max-buckets, continuation-token and prefix page the buckets by name, each with its region (s3-tests' test_list_buckets_paginated)."""
    s3 = client(standalone)
    stem = f"pg-{uuid.uuid4().hex[:12]}-"
    assert s3.list_buckets(Prefix=stem, MaxBuckets=1)["Buckets"] == []
    names = [stem + suffix for suffix in ("a", "b", "c")]
    for name in reversed(names):
        s3.create_bucket(Bucket=name)
    seen, token = [], None
    for _ in names:
        page = s3.list_buckets(Prefix=stem, MaxBuckets=1,
                               **({"ContinuationToken": token} if token else {}))
        assert page["Prefix"] == stem and len(page["Buckets"]) == 1
        assert page["Buckets"][0]["BucketRegion"] == "us-east-1"
        seen.append(page["Buckets"][0]["Name"])
        token = page.get("ContinuationToken")
    assert seen == names and token is None  # no token after the last page
    two = s3.list_buckets(Prefix=stem, MaxBuckets=2)
    rest = s3.list_buckets(Prefix=stem, ContinuationToken=two["ContinuationToken"])
    assert [b["Name"] for b in two["Buckets"] + rest["Buckets"]] == names
    assert "ContinuationToken" not in rest
    everything = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    paged = [b["Name"] for p in s3.get_paginator("list_buckets").paginate(
        PaginationConfig={"PageSize": 2}) for b in p["Buckets"]]
    assert paged == everything and set(names) <= set(everything)
    assert s3.list_buckets(Prefix=stem, BucketRegion="eu-west-1")["Buckets"] == []
    for bad in ({"MaxBuckets": 10001}, {"ContinuationToken": "not-ours"}):
        with pytest.raises(ClientError) as e:
            s3.list_buckets(**bad)
        assert code_of(e) == ("InvalidArgument", 400)


def test_the_owner_recreating_its_bucket_in_us_east_1_gets_200_and_keeps_it(
        standalone: Any) -> None:
    """In us-east-1 CreateBucket on the caller's existing bucket answers 200 and changes nothing, as S3's legacy rule there (s3-tests' test_bucket_recreate_not_overriding)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    for key in ("mykey1", "mykey2"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["mykey1", "mykey2"]
    assert s3.get_object(Bucket=bucket, Key="mykey2")["Body"].read() == b"mykey2"


def test_non_ascii_metadata_is_signed_and_returned_as_the_bytes_sent(standalone: Any) -> None:
    """A metadata value with non-ASCII characters (botocore sends and signs its UTF-8) is accepted and comes back as those bytes, which botocore reads as Latin-1 (s3-tests' test_object_set_get_unicode_metadata)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    value = "Hello World\xe9 – ü"

    def set_metadata(params: Any, **_: Any) -> None:
        params["headers"]["x-amz-meta-meta1"] = value

    s3.meta.events.register("before-call.s3.PutObject", set_metadata)
    s3.put_object(Bucket=bucket, Key="foo", Body=b"bar", ContentDisposition="attachment")
    for answer in (s3.get_object(Bucket=bucket, Key="foo"),
                   s3.head_object(Bucket=bucket, Key="foo")):
        got = answer["Metadata"]["meta1"]
        assert got.encode("latin-1") == value.encode("utf-8")
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "foo"})
    assert copied["CopyObjectResult"]["ETag"]
    got = s3.head_object(Bucket=bucket, Key="copy")["Metadata"]["meta1"]
    assert got.encode("latin-1") == value.encode("utf-8")


def test_a_completion_checksum_header_claims_the_object_checksum(standalone: Any) -> None:
    """x-amz-checksum-* on CompleteMultipartUpload is the whole object's checksum (not the XML body's): the one made from the parts completes, another is BadDigest and leaves the upload, one the upload has no algorithm for is InvalidRequest (s3-tests' test_multipart_use_cksum_helper_*)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    body = b"checksummed part" * 100

    def start(key: str, **create: Any) -> tuple[str, list[dict[str, Any]]]:
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
        extra = {"ChecksumAlgorithm": "CRC32"} if create else {}
        part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1,
                              Body=body, **extra)
        return upload, [{"PartNumber": 1, "ETag": part["ETag"],
                         **({"ChecksumCRC32": part["ChecksumCRC32"]} if create else {})}]

    whole = crc32_b64(body)
    upload, parts = start("full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload,
                                     MultipartUpload={"Parts": parts},
                                     ChecksumCRC32=crc32_b64(b"other"))
    assert code_of(e) == ("BadDigest", 400)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload,
                                        MultipartUpload={"Parts": parts}, ChecksumCRC32=whole)
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (whole, "FULL_OBJECT")
    composite = base64.b64encode(zlib.crc32(base64.b64decode(whole)).to_bytes(4, "big"))
    upload, parts = start("composite", ChecksumAlgorithm="CRC32")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=upload,
                                        MultipartUpload={"Parts": parts},
                                        ChecksumCRC32=composite.decode() + "-1")
    assert done["ChecksumType"] == "COMPOSITE"
    upload, parts = start("plain")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=upload,
                                     MultipartUpload={"Parts": parts}, ChecksumCRC32=whole)
    assert code_of(e) == ("InvalidRequest", 400)
    s3.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=upload,
                                 MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == body


def test_acls_are_private_readable_and_settable_only_to_private(standalone: Any) -> None:
    """GetBucketAcl/GetObjectAcl answer the owner's FULL_CONTROL (the owner listings show); PutBucketAcl/PutObjectAcl accept private and change nothing; any other ACL is 501; DELETE ?acl deletes nothing (s3-tests' test_bucket_acl_default, test_object_acl_default, test_bucket_list_return_data, test_bucket_create_special_key_names)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="a b&<", Body=b"x")
    owner = s3.list_objects(Bucket=bucket)["Contents"][0]["Owner"]
    assert owner == s3.list_buckets()["Owner"]
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="a b&<")):
        assert acl["Owner"] == owner
        assert acl["Grants"] == [{"Grantee": {**owner, "Type": "CanonicalUser"},
                                  "Permission": "FULL_CONTROL"}]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="a b&<", ACL="private")
    refused = [
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="a b&<", ACL="public-read-write"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="a b&<", GrantRead="uri=x"),
        lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
            "Owner": {"ID": owner["ID"]}, "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]},
                 "Permission": "FULL_CONTROL"}]}),
    ]
    for call in refused:
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == ("NotImplemented", 501)
    for call in (lambda: s3.get_object_acl(Bucket=bucket, Key="missing"),
                 lambda: s3.put_object_acl(Bucket=bucket, Key="missing", ACL="private")):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_acl(Bucket=bucket + "-missing")
    assert code_of(e) == ("NoSuchBucket", 404)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"y")
    for key in ("", "plain"):
        status, _, body = signed_put(standalone, bucket, key, b"", {}, method="DELETE",
                                     query="acl")
        assert status == 405, body
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"y"


def test_a_completion_repeated_after_it_succeeded_answers_as_the_first(standalone: Any) -> None:
    """CompleteMultipartUpload sent again (a client's retry) answers 200 with the object's ETag while the key names the object those parts made; once the key names another object, NoSuchUpload (s3-tests' test_multipart_upload, test_multipart_upload_small)."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")
    listed = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                         MultipartUpload=listed)
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                         MultipartUpload=listed)
    assert again["ETag"] == first["ETag"] and first["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"p"
    other = {"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]}
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    for key, parts in (("mp", other), ("missing", listed), ("gone", listed)):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                         MultipartUpload=parts)
        assert code_of(e) == ("NoSuchUpload", 404)
    s3.put_object(Bucket=bucket, Key="mp", Body=b"replaced")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                     MultipartUpload=listed)
    assert code_of(e) == ("NoSuchUpload", 404)
