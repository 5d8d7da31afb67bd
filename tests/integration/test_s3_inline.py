"""
Small objects kept inline (``--inline-max-size``, 16 KiB by default) through
real boto3 against real processes (standalone on SQLite, a cluster on
PostgreSQL): no chunk file appears on any node, reads and ranges verify,
CopyObject carries the bytes, UploadPartCopy copies them into a part with
chunks, and an object one byte over the limit gets a chunk as before.
"""

from __future__ import annotations

import json
from typing import Any

from integration.test_s3_api import MiB, client, new_bucket
from integration.test_s3_copy import chunk_names, file_id_of, rest

from s3node.config import GatewayConfig

LIMIT = GatewayConfig.inline_max_size


def inline(deployment: Any, filename: str) -> bool:
    with rest(f"{deployment.url}/files/{file_id_of(deployment, filename)}/metadata") as r:
        return bool(json.load(r)["inline"])


def test_a_small_object_lives_in_the_metadata(deployment: Any) -> None:
    s3 = client(deployment)
    bucket = new_bucket(s3)
    tag = bucket[-8:]
    data = bytes((i * 31) % 251 for i in range(LIMIT))
    start = chunk_names(deployment)
    s3.put_object(Bucket=bucket, Key=f"small-{tag}", Body=data, ContentType="text/x-small")
    assert chunk_names(deployment) == start
    assert inline(deployment, f"small-{tag}")
    got = s3.get_object(Bucket=bucket, Key=f"small-{tag}")
    assert got["Body"].read() == data and got["ContentType"] == "text/x-small"
    ranged = s3.get_object(Bucket=bucket, Key=f"small-{tag}", Range="bytes=100-299")
    assert ranged["Body"].read() == data[100:300] and ranged["ContentRange"] == (
        f"bytes 100-299/{LIMIT}")
    assert s3.head_object(Bucket=bucket, Key=f"small-{tag}")["ContentLength"] == LIMIT
    # a copy carries the bytes in its own row: it outlives the source
    s3.copy_object(Bucket=bucket, Key=f"copy-{tag}",
                   CopySource={"Bucket": bucket, "Key": f"small-{tag}"})
    assert inline(deployment, f"copy-{tag}")
    s3.delete_object(Bucket=bucket, Key=f"small-{tag}")
    assert s3.get_object(Bucket=bucket, Key=f"copy-{tag}")["Body"].read() == data
    assert chunk_names(deployment) == start


def test_one_byte_over_the_limit_gets_a_chunk(deployment: Any) -> None:
    s3 = client(deployment)
    bucket = new_bucket(s3)
    key = f"over-{bucket[-8:]}"  # file names are looked up across the shared deployment
    data = b"o" * (LIMIT + 1)
    start = chunk_names(deployment)
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    assert len(chunk_names(deployment) - start) >= 1
    assert not inline(deployment, key)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_upload_part_copy_of_an_inline_object(deployment: Any) -> None:
    """The inline bytes (whole, or a range) become a part with chunks; the object reads back."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    small = bytes(range(256)) * 16  # 4 KiB
    s3.put_object(Bucket=bucket, Key="src", Body=small)
    source = {"Bucket": bucket, "Key": "src"}
    first = b"f" * (5 * MiB)

    def joined(key: str, parts: list[Any]) -> bytes:
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        done = []
        for number, part in enumerate(parts, 1):
            if isinstance(part, bytes):
                etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload,
                                      PartNumber=number, Body=part)["ETag"]
            else:
                etag = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload,
                                           PartNumber=number, CopySource=source,
                                           **part)["CopyPartResult"]["ETag"]
            done.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                     MultipartUpload={"Parts": done})
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    assert joined("whole", [{}]) == small
    assert joined("ranged", [first, {"CopySourceRange": "bytes=10-109"}]) == (
        first + small[10:110])
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket, Key="whole")["Body"].read() == small
