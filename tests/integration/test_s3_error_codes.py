"""
The S3 error codes that ``tests/integration/test_s3_api.py`` does not reach,
each through the real server (standalone) with a real client: boto3 where it
sends the request, else raw requests signed by botocore's signer or, for a
request dated in the past, by the test's own SigV4 code.

Codes no request can reach are listed in ``docs/s3.md`` ("Tests").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import re
import socket
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from integration.test_s3_api import MiB, _signing_key, client, code_of, new_bucket, raw, signed_put
from support.auth import ADMIN_ID, ADMIN_SECRET
from support.processes import start_twistd
from support.scrape import parse
from support.waiting import wait_until


def _uploads_in_progress(port: int) -> float:
    """The gateway's ``s3node_transfers_in_progress`` of uploads, from its ``/metrics``."""
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30, auth=(ADMIN_ID, ADMIN_SECRET))
    assert r.status_code == 200, r.text[:300]
    return parse(r.text).get("s3node_transfers_in_progress", kind="upload")


def code(body: bytes) -> str:
    found = re.search(rb"<Code>([^<]+)</Code>", body)
    assert found is not None, body[:300]
    return found.group(1).decode()


def sign(deployment: Any, method: str, path: str, headers: dict[str, str],
         *, sha256: bool = True) -> tuple[str, dict[str, str]]:
    """The URL and headers of a request botocore's SigV4 signer signs (without an
    ``x-amz-content-sha256`` header when ``sha256`` is false)."""
    access, secret = deployment.s3_key
    url = f"{deployment.s3_url}{path}"
    if sha256:
        headers = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", **headers}
    request = AWSRequest(method=method, url=url, headers=headers)
    signer = S3SigV4Auth if sha256 else SigV4Auth  # S3's: the path is not encoded twice
    signer(Credentials(access, secret), "s3", "us-east-1").add_auth(request)
    return url, {k: (v.decode() if isinstance(v, bytes) else v)
                 for k, v in request.headers.items()}


def signed_at(deployment: Any, when: datetime) -> tuple[str, dict[str, str]]:
    """A ListBuckets request signed (header form) as of ``when``."""
    access, secret = deployment.s3_key
    host = urlsplit(deployment.s3_url).netloc
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    canonical = (f"GET\n/\n\nhost:{host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                 f"x-amz-date:{stamp}\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD")
    scope = f"{stamp[:8]}/us-east-1/s3/aws4_request"
    string = (f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n"
              f"{hashlib.sha256(canonical.encode()).hexdigest()}")
    signature = hmac.new(_signing_key(secret, stamp[:8]), string.encode(),
                         hashlib.sha256).hexdigest()
    return f"{deployment.s3_url}/", {
        "X-Amz-Date": stamp, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                         f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                         f"Signature={signature}"}


def send_raw(url: str, method: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """Send a request head and ``body`` in one write; the status and body of the answer
    (the server may answer, and close, before it reads a body it refuses)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}\r\n"
                     .encode() + body)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        return reply.status, reply.read()


@pytest.mark.integration
def test_the_remaining_error_codes_through_the_server(standalone: Any) -> None:
    """Each request gets its S3 error code and status from the real server."""
    deployment = standalone
    s3 = client(deployment)
    bucket = new_bucket(s3)
    # MethodNotAllowed: a DELETE of the service
    url, headers = sign(deployment, "DELETE", "/", {})
    status, _, body = raw(url, "DELETE", b"", headers)
    assert (status, code(body)) == (405, "MethodNotAllowed")
    # InvalidDigest: a Content-MD5 that is not the base64 of 16 bytes
    status, _, body = signed_put(deployment, bucket, "md5", b"x", {"Content-MD5": "nope"})
    assert (status, code(body)) == (400, "InvalidDigest")
    # InvalidURI: a key that is not UTF-8
    url, headers = sign(deployment, "GET", f"/{bucket}/%FF%FE", {})
    status, _, body = raw(url, "GET", b"", headers)
    assert (status, code(body)) == (400, "InvalidURI")
    # MissingSecurityHeader: signed, but without x-amz-content-sha256
    url, headers = sign(deployment, "GET", f"/{bucket}", {}, sha256=False)
    status, _, body = raw(url, "GET", b"", headers)
    assert (status, code(body)) == (400, "MissingSecurityHeader")
    # RequestTimeTooSkewed: signed 20 minutes ago
    url, headers = signed_at(deployment, datetime.now(UTC) - timedelta(minutes=20))
    status, _, body = raw(url, "GET", b"", headers)
    assert (status, code(body)) == (403, "RequestTimeTooSkewed")
    # AuthorizationQueryParametersError: a presigned URL valid for more than 7 days
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                          ExpiresIn=604801)
    status, _, body = raw(presigned)
    assert (status, code(body)) == (400, "AuthorizationQueryParametersError")
    # MissingContentLength: a PutObject body sent chunked, without a length
    url, headers = sign(deployment, "PUT", f"/{bucket}/nolength",
                        {"Transfer-Encoding": "chunked"})
    status, body = send_raw(url, "PUT", headers, b"3\r\nabc\r\n0\r\n\r\n")
    assert (status, code(body)) == (411, "MissingContentLength")
    # MaxMessageLengthExceeded: a DeleteObjects document beyond 8 MiB
    document = b"<Delete>" + b" " * (8 * MiB) + b"</Delete>"
    url, headers = sign(deployment, "POST", f"/{bucket}?delete", {
        "Content-MD5": base64.b64encode(hashlib.md5(document).digest()).decode(),
        "Content-Length": str(len(document))})
    status, body = send_raw(url, "POST", headers, b"")  # refused on its length alone
    assert (status, code(body)) == (400, "MaxMessageLengthExceeded")
    # InvalidPartOrder: a completion listing parts out of order
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n,
                            Body=b"p")["ETag"] for n in (1, 2)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}]})
    assert code_of(e) == ("InvalidPartOrder", 400)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.integration
def test_an_object_with_no_readable_replica_answers_service_unavailable(
        standalone: Any) -> None:
    """GetObject of an object whose chunk files are gone from every node: 503 ServiceUnavailable."""
    s3 = client(standalone)
    bucket = new_bucket(s3)
    before = standalone.chunk_files()
    s3.put_object(Bucket=bucket, Key="lost", Body=hashlib.sha512(b"lost").digest() * 1000)
    for path in standalone.chunk_files() - before:
        path.unlink()
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="lost")["Body"].read()
    assert code_of(e) == ("ServiceUnavailable", 503)


@pytest.mark.integration
def test_a_full_upload_limit_answers_slow_down(tmp_path: Any) -> None:
    """With every upload slot taken (--max-uploads 1), a PutObject gets 503 SlowDown."""
    proc = start_twistd(
        ["s3node", "standalone", "--data-dir", str(tmp_path / "data"), "--nodes", "1",
         "--replicas", "1", "--max-uploads", "1", "--listen", "tcp:0:interface=127.0.0.1",
         "--s3-listen", "tcp:0:interface=127.0.0.1", "--no-fsync"],
        cwd=tmp_path, ready_pattern=r"s3node gateway listening on 127\.0\.0\.1:(?P<port>\d+)",
        timeout=60)
    try:
        port = proc.wait_for(r"s3node s3 listening on 127\.0\.0\.1:(?P<port>\d+)",
                             timeout=60).group("port")
        text = (tmp_path / "data" / "s3-credentials").read_text()
        deployment = SimpleNamespace(
            s3_url=f"http://127.0.0.1:{port}",
            s3_key=tuple(re.findall(r"aws_(?:access_key_id|secret_access_key)\s*=\s*(\S+)",
                                    text)))
        s3 = client(deployment)
        bucket = new_bucket(s3)
        url, headers = sign(deployment, "PUT", f"/{bucket}/held",
                            {"Content-Length": "1000"})
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as held:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            held.sendall(f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}\r\n"
                         .encode() + b"x" * 10)  # the slot stays taken: 990 bytes to come
            # Only once the held upload has its slot: a PutObject sent before it would
            # take the slot itself and leave the held one refused.
            wait_until(lambda: _uploads_in_progress(proc.port) == 1,
                       what="the held upload to take the slot", timeout=20)
            with pytest.raises(ClientError) as refused:
                s3.put_object(Bucket=bucket, Key="second", Body=b"y")
            assert code_of(refused) == ("SlowDown", 503)
    finally:
        proc.stop()
