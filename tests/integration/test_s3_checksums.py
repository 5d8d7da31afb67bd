"""
Multipart checksums through real boto3 (standalone and the PostgreSQL
cluster): parts uploaded with ``x-amz-checksum-*`` give the object a
COMPOSITE checksum (``base64(crc(part crcs))-N``) or, asked for, a
FULL_OBJECT one (the CRC of the whole body), computed from the parts alone
and returned on HEAD/GET with ``x-amz-checksum-mode: ENABLED``.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from integration.test_s3_api import MiB, client, code_of, crc32_b64, new_bucket


def crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def upload(s3: Any, bucket: str, key: str, bodies: list[bytes], **create: Any) -> dict:
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32",
                                    **create)
    parts = []
    for n, body in enumerate(bodies, 1):
        got = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                             Body=body, ChecksumAlgorithm="CRC32")
        assert got["ChecksumCRC32"] == crc32_b64(body)
        parts.append({"PartNumber": n, "ETag": got["ETag"], "ChecksumCRC32": got["ChecksumCRC32"]})
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=up["UploadId"])
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [crc32_b64(b) for b in bodies]
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    return {"create": up, "complete": done}


def test_multipart_objects_have_composite_and_full_object_checksums(deployment: Any) -> None:
    """The object's checksum is the COMPOSITE one by default, FULL_OBJECT when asked."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    bodies = [hashlib.sha512(b"a").digest() * (5 * MiB // 64), b"tail" * 1000]
    composite = base64.b64encode(crc32(b"".join(crc32(b) for b in bodies))).decode() + "-2"
    made = upload(s3, bucket, "composite", bodies)
    assert made["create"]["ChecksumAlgorithm"] == "CRC32"
    assert made["complete"]["ChecksumCRC32"] == composite
    assert made["complete"]["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (composite, "COMPOSITE")
    got = s3.get_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(bodies) and got["ChecksumCRC32"] == composite
    made = upload(s3, bucket, "full", bodies, ChecksumType="FULL_OBJECT")
    whole = crc32_b64(b"".join(bodies))
    assert (made["complete"]["ChecksumCRC32"], made["complete"]["ChecksumType"]) == (
        whole, "FULL_OBJECT")
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(bodies)  # botocore verified the full CRC32
    assert (got["ChecksumCRC32"], got["ChecksumType"]) == (whole, "FULL_OBJECT")
    assert "x-amz-checksum-algorithm" not in got["ResponseMetadata"]["HTTPHeaders"]


def test_multipart_checksum_mismatches_are_refused(deployment: Any) -> None:
    """A part with another algorithm, a wrong part checksum at completion, a bad type: 400."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"x", ChecksumAlgorithm="SHA256")
    assert code_of(e) == ("InvalidRequest", 400)
    part = s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"x", ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"],
                                        "ChecksumCRC32": crc32_b64(b"y")}]})
    assert code_of(e) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="k2", ChecksumAlgorithm="SHA256",
                                   ChecksumType="FULL_OBJECT")
    assert code_of(e) == ("InvalidRequest", 400)
