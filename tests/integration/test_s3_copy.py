"""
CopyObject and UploadPartCopy through real boto3 against real processes
(standalone on SQLite, a cluster on PostgreSQL): copies share the source's
chunks (no chunk file appears on any node), and deleting or overwriting the
source after the sweeper ran leaves the copy whole.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.request import Request, urlopen

import pytest
from botocore.exceptions import ClientError
from integration.test_s3_api import MiB, client, code_of, new_bucket
from support.auth import BASIC
from support.waiting import wait_until


def rest(url: str) -> Any:
    """``urlopen`` of a REST URL with the suite's admin key."""
    return urlopen(Request(url, headers={"Authorization": BASIC}), timeout=10)


def chunk_names(deployment: Any) -> set[str]:
    return {p.name for p in deployment.chunk_files()}


def file_id_of(deployment: Any, filename: str) -> str:
    """The id of the one completed file named ``filename`` (an object's key's last segment)."""
    with rest(f"{deployment.url}/files?per_page=1000&status=completed") as r:
        files = [f for f in json.load(r)["files"] if f["filename"] == filename]
    assert len(files) == 1, files
    return str(files[0]["file_id"])


def file_gone(deployment: Any, file_id: str) -> bool:
    try:
        with rest(f"{deployment.url}/files/{file_id}/metadata"):
            return False
    except urllib.error.HTTPError as e:
        return e.code == 404


def test_copy_object_shares_chunks_and_outlives_its_source(deployment: Any) -> None:
    """
    A CopyObject writes no chunk file; the copy keeps (COPY) or replaces
    (REPLACE) the headers; once the source is overwritten and deleted and
    swept, every shared chunk is still on the nodes and the copy reads back;
    deleting the copy then sweeps them.
    """
    s3 = client(deployment)
    bucket = new_bucket(s3)
    tag = bucket[-8:]
    data = hashlib.sha512(b"copy").digest() * (5 * MiB // 128)  # 2.5 MiB: 3 chunks
    start = chunk_names(deployment)
    s3.put_object(Bucket=bucket, Key=f"src-{tag}", Body=data, ContentType="text/x-src",
                  Metadata={"a": "1"})
    source_chunks = chunk_names(deployment) - start
    assert len(source_chunks) == 3
    copied = s3.copy_object(Bucket=bucket, Key=f"dir/copy-{tag}",
                            CopySource={"Bucket": bucket, "Key": f"src-{tag}"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    replaced = s3.copy_object(Bucket=bucket, Key=f"repl-{tag}", MetadataDirective="REPLACE",
                              ContentType="text/x-new", Metadata={"b": "2"},
                              CopySource=f"{bucket}/src-{tag}")
    assert replaced["CopyObjectResult"]["ETag"] == copied["CopyObjectResult"]["ETag"]
    assert chunk_names(deployment) - start == source_chunks  # no byte was copied
    got = s3.get_object(Bucket=bucket, Key=f"dir/copy-{tag}")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (
        data, "text/x-src", {"a": "1"})
    got = s3.head_object(Bucket=bucket, Key=f"repl-{tag}")
    assert (got["ContentType"], got["Metadata"]) == ("text/x-new", {"b": "2"})
    with pytest.raises(ClientError) as e:  # onto itself without a change: refused
        s3.copy_object(Bucket=bucket, Key=f"src-{tag}",
                       CopySource={"Bucket": bucket, "Key": f"src-{tag}"})
    assert code_of(e) == ("InvalidRequest", 400)
    # onto itself with REPLACE: allowed; the source's old file is deleted, chunks stay
    old_src = file_id_of(deployment, f"src-{tag}")
    s3.copy_object(Bucket=bucket, Key=f"src-{tag}", MetadataDirective="REPLACE",
                   Metadata={"c": "3"}, CopySource={"Bucket": bucket, "Key": f"src-{tag}"})
    wait_until(lambda: file_gone(deployment, old_src), what="the replaced source to be swept",
               timeout=30)
    assert s3.get_object(Bucket=bucket, Key=f"src-{tag}")["Metadata"] == {"c": "3"}
    # overwrite, then delete the source: swept, and the copies keep every chunk
    new_src = file_id_of(deployment, f"src-{tag}")
    s3.put_object(Bucket=bucket, Key=f"src-{tag}", Body=b"other")
    wait_until(lambda: file_gone(deployment, new_src), what="the overwritten source's sweep",
               timeout=30)
    s3.delete_object(Bucket=bucket, Key=f"src-{tag}")
    assert source_chunks <= chunk_names(deployment)
    assert s3.get_object(Bucket=bucket, Key=f"dir/copy-{tag}")["Body"].read() == data
    s3.delete_object(Bucket=bucket, Key=f"dir/copy-{tag}")
    assert s3.get_object(Bucket=bucket, Key=f"repl-{tag}")["Body"].read() == data
    s3.delete_object(Bucket=bucket, Key=f"repl-{tag}")
    wait_until(lambda: not (chunk_names(deployment) & source_chunks),
               what="the last copy's chunks to be swept", timeout=30)


def test_copy_source_conditions_and_errors(deployment: Any) -> None:
    """The x-amz-copy-source-if-* conditions answer 412; a missing source, 404; a bad directive, 400."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    put = s3.put_object(Bucket=bucket, Key="s", Body=b"conditional")
    source = {"Bucket": bucket, "Key": "s"}
    past, future = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    ok = s3.copy_object(Bucket=bucket, Key="d1", CopySource=source,
                        CopySourceIfMatch=put["ETag"], CopySourceIfUnmodifiedSince=past)
    assert ok["CopyObjectResult"]["ETag"] == put["ETag"]  # a matching ETag outweighs the date
    for condition in ({"CopySourceIfMatch": '"0123"'},
                      {"CopySourceIfNoneMatch": put["ETag"]},
                      {"CopySourceIfModifiedSince": future},
                      {"CopySourceIfUnmodifiedSince": past}):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="d2", CopySource=source, **condition)
        assert code_of(e) == ("PreconditionFailed", 412), condition
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="d2")
    assert code_of(e)[1] == 404
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code_of(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": "no-such-bkt", "Key": "s"})
    assert code_of(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource=source, MetadataDirective="MOVE")
    assert code_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource={**source, "VersionId": "v1"})
    assert code_of(e) == ("NotImplemented", 501)


def test_upload_part_copy_shares_aligned_ranges_and_copies_the_rest(deployment: Any) -> None:
    """
    UploadPartCopy of a chunk-aligned range adds no chunk file; an unaligned
    range is copied as bytes (its own chunks, its MD5 as ETag); the completed
    object is the ranges in order; bad ranges are refused.
    """
    s3 = client(deployment)
    bucket = new_bucket(s3)
    data = hashlib.sha512(b"part-copy").digest() * (7 * MiB // 64)  # 7 chunks
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    up = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    source = {"Bucket": bucket, "Key": "big"}
    before = chunk_names(deployment)
    p1 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up, PartNumber=1,
                             CopySource=source, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    assert chunk_names(deployment) == before  # five whole chunks, shared
    p2 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up, PartNumber=2,
                             CopySource=source, CopySourceRange=f"bytes=100-{MiB + 99}")
    assert len(chunk_names(deployment) - before) == 1  # cut chunks: copied as bytes
    tail = data[100:MiB + 100]
    assert p2["CopyPartResult"]["ETag"] == f'"{hashlib.md5(tail).hexdigest()}"'
    for bad, code in (("bytes=5-", "InvalidArgument"), ("items=0-1", "InvalidArgument"),
                      (f"bytes=0-{len(data)}", "InvalidRange")):
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up, PartNumber=3,
                                CopySource=source, CopySourceRange=bad)
        assert code_of(e)[0] == code, bad
    parts = [{"PartNumber": n, "ETag": p["CopyPartResult"]["ETag"]}
             for n, p in ((1, p1), (2, p2))]
    s3.complete_multipart_upload(Bucket=bucket, Key="joined", UploadId=up,
                                 MultipartUpload={"Parts": parts})
    s3.delete_object(Bucket=bucket, Key="big")
    wait_until(lambda: not any(f["filename"] == "big" for f in json.load(
        rest(f"{deployment.url}/files?per_page=1000"))["files"]),
        what="the source to be swept", timeout=30)
    got = s3.get_object(Bucket=bucket, Key="joined")["Body"].read()
    assert got == data[:5 * MiB] + tail
