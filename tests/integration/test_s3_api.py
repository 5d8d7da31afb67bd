"""
The S3 API through real boto3 against real processes: standalone on SQLite and
a cluster on PostgreSQL (the ``deployment`` fixture runs each test on both).

boto3 is used as users use it: path-style addressing, SigV4 (``s3v4``), and its
defaults otherwise, so every upload carries the CRC32 checksum current
botocore sends (over HTTP in an ``x-amz-checksum-crc32`` header beside a
signed payload hash).  Raw requests (a signed ``aws-chunked`` body, tampered
signatures) go through :mod:`http.client`, signed by botocore's own signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import uuid
import zlib
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from support.waiting import wait_until

MiB = 1024 * 1024


def client(deployment: Any, *, secret: str | None = None, access: str | None = None,
           **config: Any) -> Any:
    key_id, key_secret = deployment.s3_key
    return boto3.session.Session().client(
        "s3", endpoint_url=deployment.s3_url, region_name="us-east-1",
        aws_access_key_id=access or key_id, aws_secret_access_key=secret or key_secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}, **config))


def new_bucket(s3: Any) -> str:
    name = f"b-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    return name


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_buckets_are_created_listed_located_and_deleted(deployment: Any) -> None:
    """Bucket operations answer as S3 does, errors included."""
    s3 = client(deployment)
    name = new_bucket(s3)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.create_bucket(Bucket=name)  # us-east-1: the owner re-creating it gets 200, as on S3
    assert s3.head_object(Bucket=name, Key="k")["ContentLength"] == 1
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code_of(e) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert code_of(e)[1] == 404
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    assert code_of(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert code_of(e) == ("InvalidBucketName", 400)


def test_objects_round_trip_with_crc32_headers_ranges_and_conditions(deployment: Any) -> None:
    """PutObject (CRC32 by default) then GetObject returns the bytes, headers and checksum."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    data = hashlib.sha512(b"s3-round-trip").digest() * (2 * MiB // 64 + 3)  # 3 chunks
    put = s3.put_object(Bucket=bucket, Key="dir/ä b+c%.bin", Body=data,
                        ContentType="application/x-test", Metadata={"color": "blue"},
                        CacheControl="no-cache", ContentDisposition="attachment")
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert put["ChecksumCRC32"] == crc32_b64(data)
    got = s3.get_object(Bucket=bucket, Key="dir/ä b+c%.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data  # botocore verified the CRC32 it was sent, too
    assert got["ChecksumCRC32"] == crc32_b64(data)
    assert (got["ContentType"], got["Metadata"], got["CacheControl"],
            got["ContentDisposition"]) == ("application/x-test", {"color": "blue"},
                                           "no-cache", "attachment")
    assert got["ETag"] == put["ETag"] and got["ContentLength"] == len(data)
    part = s3.get_object(Bucket=bucket, Key="dir/ä b+c%.bin", Range=f"bytes={MiB - 5}-{MiB + 4}")
    assert part["Body"].read() == data[MiB - 5:MiB + 5]
    assert part["ContentRange"] == f"bytes {MiB - 5}-{MiB + 4}/{len(data)}"
    head = s3.head_object(Bucket=bucket, Key="dir/ä b+c%.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/ä b+c%.bin", IfNoneMatch=put["ETag"])
    assert code_of(e)[1] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/ä b+c%.bin", IfMatch='"0000"')
    assert code_of(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/ä b+c%.bin", Range=f"bytes={len(data) + 1}-")
    assert code_of(e) == ("InvalidRange", 416)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert code_of(e) == ("NoSuchKey", 404)
    whole = s3.get_object(Bucket=bucket, Key="dir/ä b+c%.bin", PartNumber=1)
    assert whole["ContentLength"] == len(data) and whole["PartsCount"] == 1
    whole["Body"].close()
    override = s3.get_object(Bucket=bucket, Key="dir/ä b+c%.bin",
                             ResponseContentType="text/plain")
    assert override["ContentType"] == "text/plain"
    override["Body"].read()


def test_an_overwrite_replaces_the_object_and_its_old_chunks_are_swept(deployment: Any) -> None:
    """A second PutObject of a key is what readers get; the first one's chunks leave the nodes."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    def names() -> set[str]:  # chunk ids
        return {p.name for p in deployment.chunk_files()}

    start = names()
    s3.put_object(Bucket=bucket, Key="over", Body=b"1" * (MiB + 10))
    first = names() - start
    assert len(first) == 2  # two chunks (each file named by its chunk id on both replicas)
    second = b"2" * (64 * 1024)  # past the inline limit: one chunk
    s3.put_object(Bucket=bucket, Key="over", Body=second)
    assert s3.get_object(Bucket=bucket, Key="over")["Body"].read() == second
    # the first object's chunk files go (the sweeper is told at once; 2 s sweeps retry)
    wait_until(lambda: not (names() & first),
               what="the overwritten object's chunks to be swept", timeout=30)
    assert len(names() - start) == 1


def test_conditional_writes(deployment: Any) -> None:
    """PutObject with If-None-Match: * creates only; with If-Match replaces only that ETag."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    first = s3.put_object(Bucket=bucket, Key="c", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfNoneMatch="*")
    assert code_of(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfMatch='"0123"')
    assert code_of(e) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="c", Body=b"three", IfMatch=first["ETag"])
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"three"


def test_multipart_uploads_stitch_parts_without_copying(deployment: Any) -> None:
    """boto3's multipart upload (parts of 5 MiB) makes one object: its ETag -N, bytes exact."""
    from boto3.s3.transfer import TransferConfig

    s3 = client(deployment)
    bucket = new_bucket(s3)
    data = hashlib.sha512(b"multipart").digest() * ((11 * MiB + 12345) // 64)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=3)
    s3.upload_fileobj(io.BytesIO(data), bucket, "mp/object.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="mp/object.bin")
    part_md5s = [hashlib.md5(data[i:i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)]
    assert head["ETag"] == f'"{hashlib.md5(b"".join(part_md5s)).hexdigest()}-3"'
    assert head["ContentLength"] == len(data)
    assert s3.get_object(Bucket=bucket, Key="mp/object.bin")["Body"].read() == data
    start = 5 * MiB - 3  # a range across the first two parts
    ranged = s3.get_object(Bucket=bucket, Key="mp/object.bin", Range=f"bytes={start}-{start + 9}")
    assert ranged["Body"].read() == data[start:start + 10]
    second = s3.get_object(Bucket=bucket, Key="mp/object.bin", PartNumber=2)
    assert (second["PartsCount"], second["Body"].read()) == (3, data[5 * MiB:10 * MiB])
    # the low-level calls: list the parts, refuse a bad completion, abort
    up = s3.create_multipart_upload(Bucket=bucket, Key="aborted")
    uid = up["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=1,
                           Body=b"x" * 1000)
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=2, Body=b"y")
    parts = s3.list_parts(Bucket=bucket, Key="aborted", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 1000), (2, 1)]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("aborted", uid)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 1, "ETag": first["ETag"]},
                                         {"PartNumber": 2, "ETag": first["ETag"]}]})
    assert code_of(e) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 1, "ETag": first["ETag"]},
                                         {"PartNumber": 2, "ETag": parts[1]["ETag"]}]})
    assert code_of(e) == ("EntityTooSmall", 400)
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=uid)
    assert code_of(e) == ("NoSuchUpload", 404)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "mp/object.bin"]


def test_listing_pages_in_byte_order_with_prefixes_and_odd_keys(deployment: Any) -> None:
    """ListObjectsV2 and v1 walk every key once, in byte order, any printable character kept."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    printable = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "/")
    keys = ["a/1", "a/2", "a/b/3", "b", "c d", "e+f", "g%h", "ü/x", "日本", printable,
            "z" * 300]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    expected = sorted(keys, key=lambda k: k.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3})
    listed = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert listed == expected
    v1 = s3.get_paginator("list_objects").paginate(Bucket=bucket,
                                                    PaginationConfig={"PageSize": 4})
    assert [o["Key"] for p in v1 for o in p.get("Contents", [])] == expected
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "ü/"]
    assert top["KeyCount"] == len(keys) - 4 + 2
    deep = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in deep["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in deep["CommonPrefixes"]] == ["a/b/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="c d", MaxKeys=2)
    assert [o["Key"] for o in after["Contents"]] == expected[expected.index("c d") + 1:][:2]
    assert after["IsTruncated"] and after["KeyCount"] == 2
    paged = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1})
    entries = [e for p in paged for e in [o["Key"] for o in p.get("Contents", [])]
               + [c["Prefix"] for c in p.get("CommonPrefixes", [])]]
    assert sorted(entries, key=lambda k: k.encode()) == entries
    assert "a/" in entries and "a/1" not in entries and len(entries) == len(set(entries))


def test_delete_objects_reports_each_key(deployment: Any) -> None:
    """DeleteObjects deletes every key, reports each (or only errors when quiet)."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    for key in ("x1", "x2", "x3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "x1"}, {"Key": "x2"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["never", "x1", "x2"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x3"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_urls_work_with_a_plain_http_client(deployment: Any) -> None:
    """A presigned GET works in any HTTP client; a tampered one is refused."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"hello presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                          "Key": "shared.txt"}, ExpiresIn=300)
    with urlopen(url, timeout=30) as reply:
        assert reply.read() == b"hello presigned"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"},
                                        ExpiresIn=300)
    status, _, _ = raw(put_url, "PUT", body=b"uploaded via a presigned PUT")
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded via a presigned PUT"
    status, _, body = raw(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body


def test_authentication_failures_answer_xml_errors(deployment: Any) -> None:
    """Unsigned, wrongly signed and unknown-key requests are refused with S3's codes."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    with pytest.raises(ClientError) as e:
        client(deployment, secret="x" * 40).list_buckets()
    assert code_of(e) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as e:
        client(deployment, access="S3NUNKNOWNKEY0000000").list_buckets()
    assert code_of(e) == ("InvalidAccessKeyId", 403)
    status, headers, body = raw(f"{deployment.s3_url}/{bucket}")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert headers["x-amz-request-id"] and f"<RequestId>{headers['x-amz-request-id']}<" in (
        body.decode())
    with pytest.raises(ClientError) as e:
        s3.get_bucket_versioning(Bucket=bucket)
    assert code_of(e) == ("NotImplemented", 501)


def test_signed_aws_chunked_uploads_verify_every_chunk(deployment: Any) -> None:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload is stored; one bad chunk stores nothing."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    chunks = [b"a" * 65536, b"b" * 70000, b"c" * 17]
    status, _, body = chunked_put(deployment, bucket, "chunked", chunks)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"".join(chunks)
    status, _, body = chunked_put(deployment, bucket, "tampered", chunks, tamper=True)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="tampered")
    assert code_of(e)[1] == 404


def test_unsigned_trailer_uploads_verify_their_trailing_checksum(deployment: Any) -> None:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER (boto3 over https) stores; a wrong trailer does not."""
    from botocore.httpchecksum import AwsChunkedWrapper, CrtCrc32Checksum

    s3 = client(deployment)
    bucket = new_bucket(s3)
    data = bytes(range(256)) * 700
    for key, trailer_ok in (("trailer", True), ("bad-trailer", False)):
        wrapped = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=CrtCrc32Checksum,
                                    checksum_name="x-amz-checksum-crc32",
                                    chunk_size=64 * 1024).read()
        if not trailer_ok:
            wrapped = wrapped.replace(crc32_b64(data).encode(), crc32_b64(b"x").encode())
        status, _, body = signed_put(deployment, bucket, key, wrapped, {
            "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data))})
        if trailer_ok:
            assert status == 200, body
            got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            assert got["Body"].read() == data and got["ChecksumCRC32"] == crc32_b64(data)
            assert "ContentEncoding" not in got  # aws-chunked is how it travelled
        else:
            assert status == 400 and b"<Code>BadDigest</Code>" in body
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["trailer"]


def test_wrong_digests_store_nothing(deployment: Any) -> None:
    """A body that fails its Content-MD5 or its CRC32 is refused with BadDigest, not stored."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=wrong_md5)
    assert code_of(e) == ("BadDigest", 400)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="crc", Body=b"payload", ChecksumCRC32=crc32_b64(b"x"))
    assert code_of(e) == ("BadDigest", 400)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_request_errors_answer_their_s3_codes(deployment: Any) -> None:
    """Each malformed or lying request gets S3's code for it, through the real server."""
    s3 = client(deployment)
    bucket = new_bucket(s3)
    with pytest.raises(ClientError) as e:  # signed for another region
        boto3.session.Session().client(
            "s3", endpoint_url=deployment.s3_url, region_name="eu-west-1",
            aws_access_key_id=deployment.s3_key[0],
            aws_secret_access_key=deployment.s3_key[1],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 1})).list_buckets()
    assert code_of(e) == ("AuthorizationHeaderMalformed", 400)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-a-token")
    assert code_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code_of(e) == ("KeyTooLongError", 400)
    # the signed payload hash is not the body's
    status, _, body = signed_put(deployment, bucket, "lie", b"the body", {
        "X-Amz-Content-SHA256": hashlib.sha256(b"another body").hexdigest()})
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    # more than the gateway accepts, refused before a byte is read
    status, _, body = signed_put(deployment, bucket, "huge", b"", {
        "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": str(2**50)})
    assert status == 400 and b"<Code>EntityTooLarge</Code>" in body
    # an aws-chunked body that stops short of its declared length
    status, _, body = signed_put(deployment, bucket, "short", b"5\r\nhello\r\n0\r\n\r\n", {
        "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "10"})
    assert status == 400 and b"<Code>IncompleteBody</Code>" in body
    # DeleteObjects: a document that is not XML, and one without its Content-MD5
    garbage = b"<Delete><Object>"
    status, _, body = signed_put(deployment, bucket, "", garbage, {
        "Content-MD5": base64.b64encode(hashlib.md5(garbage).digest()).decode()},
        method="POST", query="delete")
    assert status == 400 and b"<Code>MalformedXML</Code>" in body
    status, _, body = signed_put(deployment, bucket, "", garbage, {}, method="POST",
                                 query="delete")
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body
    # a SigV2 presigned URL (boto3's default without s3v4) is refused plainly
    v2 = boto3.session.Session().client(
        "s3", endpoint_url=deployment.s3_url, region_name="us-east-1",
        aws_access_key_id=deployment.s3_key[0], aws_secret_access_key=deployment.s3_key[1],
        config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    status, _, body = raw(v2.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60))
    assert status == 400 and b"AWS4-HMAC-SHA256" in body
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# -- raw requests --------------------------------------------------------------------------


def raw(url: str, method: str = "GET", body: bytes = b"",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body or None, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def _signing_key(secret: str, date: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_put(deployment: Any, bucket: str, key: str, body: bytes,
               headers: dict[str, str], *, method: str = "PUT",
               query: str = "") -> tuple[int, dict[str, str], bytes]:
    """
    A request (a PUT unless told) whose headers botocore's SigV4 signer signs as
    given: a preset ``X-Amz-Content-SHA256`` is signed as it is, else the body's hash.
    """
    access, secret = deployment.s3_key
    url = f"{deployment.s3_url}/{bucket}/{key}" + (f"?{query}" if query else "")
    headers = {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(), **headers}
    request = AWSRequest(method=method, url=url, headers=headers)
    SigV4Auth(Credentials(access, secret), "s3", "us-east-1").add_auth(request)
    sent = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    sent["Content-Length"] = str(len(body))
    return raw(url, method, body, sent)


def chunked_put(deployment: Any, bucket: str, key: str, chunks: list[bytes], *,
                tamper: bool = False) -> tuple[int, dict[str, str], bytes]:
    """A signed aws-chunked PUT: headers signed by botocore, chunks chained per the spec."""
    access, secret = deployment.s3_key
    url = f"{deployment.s3_url}/{bucket}/{key}"
    total = sum(len(c) for c in chunks)
    request = AWSRequest(method="PUT", url=url, headers={
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(total),
    })
    SigV4Auth(Credentials(access, secret), "s3", "us-east-1").add_auth(request)
    timestamp = request.headers["X-Amz-Date"]
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{timestamp[:8]}/us-east-1/s3/aws4_request"
    key_bytes = _signing_key(secret, timestamp[:8])
    empty = hashlib.sha256(b"").hexdigest()
    body = bytearray()
    previous = seed
    for n, data in enumerate([*chunks, b""]):
        string = (f"AWS4-HMAC-SHA256-PAYLOAD\n{timestamp}\n{scope}\n{previous}\n{empty}\n"
                  f"{hashlib.sha256(data).hexdigest()}")
        previous = hmac.new(key_bytes, string.encode(), hashlib.sha256).hexdigest()
        sent = data[:-1] + b"!" if tamper and n == 1 else data
        body += f"{len(data):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers["Content-Length"] = str(len(body))
    return raw(url, "PUT", bytes(body), headers)
