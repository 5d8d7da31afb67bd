"""
GetObject/HeadObject by ``partNumber`` and ListMultipartUploads' pages, through
real boto3 against real processes (standalone on SQLite, a cluster on
PostgreSQL; both with 1 MiB chunks).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from integration.test_s3_api import MiB, client, code_of, new_bucket


def _part_bytes(number: int, size: int) -> bytes:
    seed = hashlib.sha512(f"part {number}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_get_and_head_by_part_number_give_each_part_as_uploaded(deployment: Any) -> None:
    """Each part of a 3-part object (parts of different sizes, not on chunk boundaries)
    reads back exactly, with its range, the parts count and the object's ETag."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    # uploaded as parts 1, 2 and 4: a part keeps the number it was uploaded under
    sizes = {1: 5 * MiB + 12345, 2: 5 * MiB + 3 * MiB // 2 - 1, 4: 777}
    bodies = {n: _part_bytes(n, size) for n, size in sizes.items()}
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid,
                                                     PartNumber=n, Body=body)["ETag"]}
            for n, body in bodies.items()]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    whole = b"".join(bodies.values())
    etag = s3.head_object(Bucket=bucket, Key="mp")["ETag"]
    assert etag.endswith('-3"')
    first = 0
    for n, body in bodies.items():
        last = first + len(body) - 1
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert (got["ContentLength"], got["ContentRange"], got["PartsCount"], got["ETag"]) == (
            len(body), f"bytes {first}-{last}/{len(whole)}", 3, etag)
        assert _sha(got["Body"].read()) == _sha(body)
        head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert (head["ResponseMetadata"]["HTTPStatusCode"], head["ContentLength"],
                head["PartsCount"], head["ETag"]) == (206, len(body), 3, etag)
        first = last + 1
    for missing in (3, 5, 10000):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="mp", PartNumber=missing)
        assert code_of(e) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="mp", PartNumber=5)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=1, Range="bytes=0-9")
    assert code_of(e) == ("InvalidRequest", 400)
    # a copy shares the chunks and keeps the ETag: it keeps the parts too
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "mp"})
    got = s3.get_object(Bucket=bucket, Key="copy", PartNumber=2)
    assert (got["PartsCount"], _sha(got["Body"].read())) == (3, _sha(bodies[2]))
    # an empty part (here the only one) has no range to send: an empty 200
    uid = s3.create_multipart_upload(Bucket=bucket, Key="empty")["UploadId"]
    tag = s3.upload_part(Bucket=bucket, Key="empty", UploadId=uid, PartNumber=1,
                         Body=b"")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="empty", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": tag}]})
    got = s3.get_object(Bucket=bucket, Key="empty", PartNumber=1)
    assert (got["ResponseMetadata"]["HTTPStatusCode"], got["ContentLength"], got["PartsCount"],
            got["Body"].read()) == (200, 0, 1, b"")
    # a single-part object is its own part 1, and has no other
    s3.put_object(Bucket=bucket, Key="mp", Body=b"now single")
    got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert (got["Body"].read(), got["PartsCount"]) == (b"now single", 1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert code_of(e) == ("InvalidPart", 400)


def test_list_multipart_uploads_pages_every_upload_with_a_delimiter(deployment: Any) -> None:
    """The paginator lists many uploads of one key across page boundaries once each, and
    with a delimiter rolls keys up into common prefixes; markers resume mid-key."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    keys = ["same/key"] * 7 + ["dir/x"] * 3 + ["top"] * 4 + ["dir/y/z", "a b/ü"]
    made = [(key, s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
            for key in keys]
    whole = s3.list_multipart_uploads(Bucket=bucket)
    listed = [(u["Key"], u["UploadId"]) for u in whole["Uploads"]]
    assert not whole["IsTruncated"] and sorted(listed) == sorted(made)
    assert [k for k, _ in listed] == sorted(keys, key=lambda k: k.encode())
    for key in set(keys):  # a key's uploads oldest first
        assert [u for k, u in listed if k == key] == [u for k, u in made if k == key]
    for size in (1, 3, 5):
        pages = list(s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": size}))
        assert [(u["Key"], u["UploadId"]) for p in pages for u in p.get("Uploads", [])] == listed
        assert all(len(p["Uploads"]) == size for p in pages[:-1])
    pages = list(s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}))
    assert [u["Key"] for p in pages for u in p.get("Uploads", [])] == ["top"] * 4
    assert [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])] == [
        "a b/", "dir/", "same/"]
    inside = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [u["Key"] for u in inside["Uploads"]] == ["dir/x"] * 3
    assert [c["Prefix"] for c in inside["CommonPrefixes"]] == ["dir/y/"]
    same = [u for k, u in listed if k == "same/key"]
    resumed = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="same/key",
                                        UploadIdMarker=same[3], MaxUploads=3)
    assert [u["UploadId"] for u in resumed["Uploads"]] == same[4:]
    assert resumed["IsTruncated"] and resumed["NextUploadIdMarker"] == same[6]
    assert resumed["KeyMarker"] == "same/key" and resumed["UploadIdMarker"] == same[3]
    with pytest.raises(ClientError) as e:
        s3.list_multipart_uploads(Bucket=bucket, KeyMarker="top", UploadIdMarker="\x00")
    assert code_of(e) == ("InvalidRequest", 400)
    encoded = s3.list_multipart_uploads(Bucket=bucket, Prefix="a b", Delimiter="/",
                                        EncodingType="url")
    assert [c["Prefix"] for c in encoded["CommonPrefixes"]] == ["a%20b/"]
    encoded = s3.list_multipart_uploads(Bucket=bucket, Prefix="a b/", EncodingType="url")
    assert [u["Key"] for u in encoded["Uploads"]] == ["a%20b/%C3%BC"]
    for key, upload_id in made:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
