"""
Hostile S3 requests against one real standalone (issue 11, "Hostile input,
tried at scale", the S3 line): malformed XML documents to the operations
that take one, malformed and stale signatures, broken ``aws-chunked``
framing, and a property-based run over DeleteObjects bodies.

Every request is validly signed unless its signature is the point.  Each must
get a clear S3 XML error (status and ``Code``, a body that names no secret and
no file content), quickly, and change nothing: the objects listed before are
listed after, an upload not completed stays listed, no file appears in the
gateway's REST ``GET /files``.  A local HTTP server stands where an external
entity or DTD points: it must never be asked for anything.

With ``pytest -s`` each group prints how many cases it ran (the counts in
``docs/security.md``, "How it is tried").
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, ClassVar
from unittest import mock

import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, seed, settings
from integration.conftest import GATEWAY_READY, S3_READY, _key_from
from integration.hostile_s3_cases import (
    KEYS,
    authorization_variants,
    chunked_frames,
    delete_documents,
    frame,
    hostile_documents,
)
from integration.test_s3_api import client, crc32_b64, new_bucket, raw
from integration.test_s3_error_codes import send_raw
from support.processes import start_twistd
from support.waiting import wait_until

SEED = int(os.environ.get("S3NODE_FUZZ_SEED", "1109"))
#: the longest a refusal may take (the failure delay is set to 1 ms)
QUICK = 5.0
PASSWD = "root:x:0:0"


# -- the deployment ------------------------------------------------------------------------


class _Canary(http.server.BaseHTTPRequestHandler):
    """Records every request: an external entity or DTD the parser fetched."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<!ENTITY leak 'fetched'>")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def canary() -> Iterator[SimpleNamespace]:
    """A local HTTP server that external entities point at; it must see nothing."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    _Canary.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}",
                              seen=_Canary.seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """One standalone (one node) whose refusals are not delayed (``--auth-failure-delay``)."""
    base = tmp_path_factory.mktemp("hostile-s3")
    data = base / "data"
    proc = start_twistd(
        ["s3node", "standalone", "--data-dir", str(data), "--nodes", "1", "--replicas", "1",
         "--listen", "tcp:0:interface=127.0.0.1", "--s3-listen", "tcp:0:interface=127.0.0.1",
         "--auth-failure-delay", "0.001", "--sweep-interval", "0.5", "--no-fsync"],
        cwd=base, ready_pattern=GATEWAY_READY, timeout=60)
    try:
        s3_port = proc.wait_for(S3_READY, timeout=60).group("port")
        yield SimpleNamespace(
            s3_url=f"http://127.0.0.1:{s3_port}", rest_url=f"http://127.0.0.1:{proc.port}",
            s3_key=_key_from((data / "s3-credentials").read_text()), proc=proc)
    finally:
        proc.stop()


def rest_files(gw: Any) -> dict[str, str]:
    """Every file the metadata holds (id: status), through the REST ``GET /files``."""
    auth = "Basic " + base64.b64encode(":".join(gw.s3_key).encode()).decode()
    ids: dict[str, str] = {}
    page = 1
    while True:
        status, _, body = raw(f"{gw.rest_url}/files?per_page=1000&page={page}",
                              headers={"Authorization": auth})
        assert status == 200, body[:300]
        listing = json.loads(body)
        ids |= {f["file_id"]: f["status"] for f in listing["files"]}
        if page >= listing["total_pages"]:
            return ids
        page += 1


def nothing_left(gw: Any, before: dict[str, str]) -> None:
    """No file was added since ``before`` but uploads that failed (a body refused
    while it streamed leaves its file ``failed``), and the sweeper removes those."""
    added = {i: s for i, s in rest_files(gw).items() if i not in before}
    assert set(added.values()) <= {"failed", "deleting"}, added
    wait_until(lambda: not set(rest_files(gw)) - set(before), what="failed uploads swept",
               timeout=30)


def keys_of(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def still_serves(gw: Any, s3: Any, bucket: str) -> None:
    """A normal PutObject and GetObject work (then the probe is deleted again)."""
    s3.put_object(Bucket=bucket, Key="probe", Body=b"still here")
    assert s3.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"still here"
    s3.delete_object(Bucket=bucket, Key="probe")


# -- signing -------------------------------------------------------------------------------


def signed(gw: Any, method: str, path: str, body: bytes = b"", *, query: str = "",
           headers: dict[str, str] | None = None, when: datetime | None = None,
           region: str = "us-east-1", payload: str | None = None) -> tuple[str, dict[str, str]]:
    """The URL and headers of a request botocore signs (as of ``when``, for ``region``)."""
    url = f"{gw.s3_url}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers={
        "X-Amz-Content-SHA256": payload or hashlib.sha256(body).hexdigest(), **(headers or {})})
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=when or datetime.now(UTC)):
        SigV4Auth(Credentials(*gw.s3_key), "s3", region).add_auth(request)
    out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    out["Content-Length"] = str(len(body))
    return url, out


def presigned(gw: Any, method: str, path: str, *, expires: int = 300,
              when: datetime | None = None) -> str:
    request = AWSRequest(method=method, url=f"{gw.s3_url}{path}")
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=when or datetime.now(UTC)):
        S3SigV4QueryAuth(Credentials(*gw.s3_key), "s3", "us-east-1",
                         expires=expires).add_auth(request)
    return str(request.url)


def md5_header(body: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


class Refusals:
    """Sends hostile requests, checks each answer, and counts them."""

    def __init__(self, gw: Any, group: str) -> None:
        self.gw = gw
        self.group = group
        self.count = 0
        self.wrong: list[str] = []

    def check(self, name: str, expected: set[tuple[int, str]], url: str, method: str,
              headers: dict[str, str], body: bytes = b"") -> None:
        """Send the request (head and body in one write) and check its answer."""
        started = time.monotonic()
        status, body = send_raw(url, method, headers, body)
        took = time.monotonic() - started
        self.count += 1
        found = re.search(rb"<Code>([^<]+)</Code>", body)
        got = (status, found.group(1).decode() if found else body[:200].decode("latin-1"))
        if got not in expected:  # all of them are listed at the end
            self.wrong.append(f"{name}: {got}, expected one of {sorted(expected)}")
            return
        assert body.startswith(b"<?xml") and b"<Error>" in body, (name, body[:200])
        assert self.gw.s3_key[1].encode() not in body and PASSWD.encode() not in body, name
        assert b"fetched" not in body, name
        assert took < QUICK, f"{self.group}/{name} took {took:.1f}s"

    def report(self) -> None:
        print(f"\nhostile S3 {self.group}: {self.count} cases")
        assert not self.wrong, "\n".join(self.wrong)


# -- malformed XML -------------------------------------------------------------------------

MALFORMED = {(400, "MalformedXML")}
#: the documented caps of the request documents (docs/s3.md)
MAX_XML_BODY = 8 * 1024 * 1024
CREATE_BUCKET_CAP = 64 * 1024


def xml_case(refusals: Refusals, name: str, body: bytes, path: str, query: str,
             expected: set[tuple[int, str]] = MALFORMED) -> None:
    """Send ``body`` to DeleteObjects or CompleteMultipartUpload (a POST with ``query``) or
    CreateBucket (a PUT); a body over the operation's cap is refused on its declared
    length alone, so only its head is sent (the gateway closes without reading it)."""
    method = "POST" if query else "PUT"
    over = len(body) > (MAX_XML_BODY if query else CREATE_BUCKET_CAP)
    target, headers = signed(refusals.gw, method, path, body, query=query,
                             headers=md5_header(body))
    refusals.check(name, {(400, "MaxMessageLengthExceeded")} if over else expected,
                   target, method, headers, b"" if over else body)


def test_malformed_xml_is_refused_and_changes_nothing(gw: Any, canary: Any) -> None:
    """Every hostile document to DeleteObjects, CompleteMultipartUpload and CreateBucket:
    400 MalformedXML (or MaxMessageLengthExceeded), nothing deleted, completed or created,
    no external resource fetched."""
    s3 = client(gw)
    bucket = new_bucket(s3)
    for key in ("keep-1", "keep-2"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload, PartNumber=1,
                          Body=b"part one")["ETag"]
    files_before = rest_files(gw)
    buckets_before = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    refusals = Refusals(gw, "malformed XML")
    operations = {
        "DeleteObjects": ("Delete", "<Object><Key>keep-1</Key></Object>", f"/{bucket}",
                          "delete"),
        "CompleteMultipartUpload": (
            "CompleteMultipartUpload",
            f"<Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>",
            f"/{bucket}/pending", f"uploadId={upload}"),
        "CreateBucket": ("CreateBucketConfiguration",
                         "<LocationConstraint>us-east-1</LocationConstraint>",
                         f"/{bucket}-made", ""),
    }
    for operation, (root, inner, path, query) in operations.items():
        for name, body in hostile_documents(root, inner, canary.url).items():
            if name == "xinclude" and not query:
                continue  # an empty LocationConstraint is the default region: it would create
            xml_case(refusals, f"{operation}: {name}", body, path, query)
        # the other operations' documents, and an empty one where a document is required
        for other, (other_root, other_inner, _, _) in operations.items():
            if other != operation:
                body = f"<{other_root}>{other_inner}</{other_root}>".encode()
                xml_case(refusals, f"{operation}: a {other} document", body, path, query)
        if query:
            xml_case(refusals, f"{operation}: empty body", b"", path, query)
        cap = MAX_XML_BODY if query else CREATE_BUCKET_CAP
        big = f"<{root}>{inner}".encode() + b" " * cap + f"</{root}>".encode()
        xml_case(refusals, f"{operation}: over its cap", big, path, query)
    refusals.report()
    assert canary.seen == []
    assert keys_of(s3, bucket) == ["keep-1", "keep-2"]
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("pending", upload)]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == buckets_before
    nothing_left(gw, files_before)
    still_serves(gw, s3, bucket)
    # and the same documents, well formed, are accepted: the cases above failed for their form
    assert s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep-1"}]})[
        "Deleted"] == [{"Key": "keep-1"}]
    s3.complete_multipart_upload(Bucket=bucket, Key="pending", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert keys_of(s3, bucket) == ["keep-2", "pending"]


# -- malformed signatures ------------------------------------------------------------------


def test_malformed_signatures_are_refused_and_store_nothing(gw: Any) -> None:
    """Garbage Authorization headers, stale or future dates, bad presigned URLs: 403 (or
    400 where S3 answers 400) with S3's code; no PutObject among them stores anything."""
    s3 = client(gw)
    bucket = new_bucket(s3)
    files_before = rest_files(gw)
    access = gw.s3_key[0]
    refusals = Refusals(gw, "malformed signatures")
    body = b"must never be stored"
    now = datetime.now(UTC)
    url, good = signed(gw, "PUT", f"/{bucket}/header", body)
    for name, (value, expected) in authorization_variants(good["Authorization"],
                                                           access).items():
        headers = {**good, "Authorization": value}
        refusals.check(name, expected, url, "PUT", headers, body)
    dated = {
        "signed 20 minutes ago": (now - timedelta(minutes=20), {(403, "RequestTimeTooSkewed")}),
        "signed 20 minutes ahead": (now + timedelta(minutes=20),
                                    {(403, "RequestTimeTooSkewed")}),
        "signed in 1970": (datetime(1970, 1, 2, tzinfo=UTC), {(403, "RequestTimeTooSkewed")}),
        "signed in 9999": (datetime(9999, 12, 31, tzinfo=UTC), {(403, "RequestTimeTooSkewed")}),
    }
    for name, (when, expected) in dated.items():
        url, headers = signed(gw, "PUT", f"/{bucket}/dated", body, when=when)
        refusals.check(name, expected, url, "PUT", headers, body)
    url, good = signed(gw, "PUT", f"/{bucket}/date", body)
    malformed = {(400, "AuthorizationHeaderMalformed")}
    for name, stamp, expected in [
            ("X-Amz-Date not a date", "yesterday", malformed),
            ("X-Amz-Date impossible", "20261399T256199Z", malformed),
            ("X-Amz-Date without Z", good["X-Amz-Date"][:-1], malformed),
            ("X-Amz-Date hours off, same day", good["X-Amz-Date"][:9] + "000000Z"
             if good["X-Amz-Date"][9:11] >= "02" else good["X-Amz-Date"][:9] + "235959Z",
             {(403, "RequestTimeTooSkewed")}),
            ("X-Amz-Date huge", "2" * 10_000, malformed)]:
        headers = {**good, "X-Amz-Date": stamp}
        refusals.check(name, expected, url, "PUT", headers, body)
    for name, sha, expected in [
            ("x-amz-content-sha256 garbage", "not-a-hash", {(400, "InvalidArgument")}),
            ("x-amz-content-sha256 of another body", hashlib.sha256(b"x").hexdigest(),
             {(403, "SignatureDoesNotMatch")})]:
        headers = {**good, "X-Amz-Content-SHA256": sha}
        refusals.check(name, expected, url, "PUT", headers, body)
    headers = {k: v for k, v in good.items() if k != "Authorization"}
    refusals.check("unsigned", {(403, "AccessDenied")}, url, "PUT", headers, body)
    # presigned PutObject URLs
    query_bad = {(400, "AuthorizationQueryParametersError")}
    path = f"/{bucket}/presigned"
    fresh = presigned(gw, "PUT", path)
    cases: dict[str, tuple[str, set[tuple[int, str]]]] = {
        "X-Amz-Expires=0": (re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=0", fresh), query_bad),
        "X-Amz-Expires=-1": (re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=-1", fresh),
                             query_bad),
        "X-Amz-Expires over 7 days": (presigned(gw, "PUT", path, expires=604_801), query_bad),
        "X-Amz-Expires not a number": (re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=1e3",
                                              fresh), query_bad),
        "X-Amz-Expires huge": (re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=" + "9" * 400,
                                      fresh), query_bad),
        "expired": (presigned(gw, "PUT", path, expires=60, when=now - timedelta(hours=2)),
                    {(403, "AccessDenied")}),
        "not yet valid": (presigned(gw, "PUT", path, when=now + timedelta(hours=2)),
                          {(403, "AccessDenied")}),
        "tampered key": (fresh.replace("/presigned?", "/other?"),
                         {(403, "SignatureDoesNotMatch")}),
        "tampered expiry": (re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=301", fresh),
                            {(403, "SignatureDoesNotMatch")}),
        "tampered signature": (re.sub(r"X-Amz-Signature=\w", "X-Amz-Signature=g", fresh),
                               {(403, "SignatureDoesNotMatch")}),
        "added parameter": (fresh + "&x-id=PutObject", {(403, "SignatureDoesNotMatch")}),
        "other algorithm": (fresh.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), query_bad),
        "no signature": (re.sub(r"&?X-Amz-Signature=\w+", "", fresh), query_bad),
        "unknown key": (fresh.replace(access, "S3NUNKNOWNKEY0000000"),
                        {(403, "InvalidAccessKeyId")}),
        "wrong region": (fresh.replace("us-east-1", "eu-west-1"), query_bad),
        "header and query signed": (fresh, {(400, "InvalidArgument")}),
    }
    for name, (target, expected) in cases.items():
        extra = {"Authorization": good["Authorization"]} if name.startswith("header and") else {}
        refusals.check(f"presigned: {name}", expected, target, "PUT",
                       {"Content-Length": str(len(body)), **extra}, body)
    refusals.report()
    assert keys_of(s3, bucket) == []
    nothing_left(gw, files_before)
    still_serves(gw, s3, bucket)
    status, _, answer = raw(fresh, "PUT", body)  # the untampered URL works
    assert status == 200, answer
    assert keys_of(s3, bucket) == ["presigned"]


# -- aws-chunked framing -------------------------------------------------------------------


def test_aws_chunked_framing_errors_store_nothing(gw: Any) -> None:
    """Each broken signed aws-chunked body (and a wrong unsigned trailer) is refused with
    a clear error, stores nothing, and the gateway serves the next request."""
    s3 = client(gw)
    bucket = new_bucket(s3)
    files_before = rest_files(gw)
    refusals = Refusals(gw, "aws-chunked framing")
    chunks = [b"a" * 8192, b"b" * 8192, b"c" * 100]
    total = sum(map(len, chunks))

    def put(name: str, build: Callable[[list[tuple[bytes, str]]], bytes],
            expected: set[tuple[int, str]], decoded: int = total) -> None:
        url, headers = signed(gw, "PUT", f"/{bucket}/chunked", payload=(
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), headers={
            "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(decoded)})
        seed_signature = headers["Authorization"].rsplit("Signature=", 1)[1]
        body = build(chunked_frames(gw.s3_key[1], headers["X-Amz-Date"], seed_signature,
                                    chunks))
        headers["Content-Length"] = str(len(body))
        refusals.check(name, expected, url, "PUT", headers, body)
        assert keys_of(s3, bucket) == [], name
        still_serves(gw, s3, bucket)

    def whole(frames: list[tuple[bytes, str]]) -> bytes:
        return b"".join(frame(d, s) for d, s in frames)

    bad = {(400, "InvalidRequest")}
    incomplete = {(400, "IncompleteBody")}
    mismatch = {(403, "SignatureDoesNotMatch")}
    put("bad chunk signature mid-stream", lambda f: frame(*f[0]) + frame(f[1][0], "0" * 64)
        + b"".join(frame(*x) for x in f[2:]), mismatch)
    put("chunk data changed mid-stream", lambda f: frame(*f[0]) + frame(b"B" * 8192, f[1][1])
        + b"".join(frame(*x) for x in f[2:]), mismatch)
    put("chunks reordered", lambda f: frame(*f[1]) + frame(*f[0])
        + b"".join(frame(*x) for x in f[2:]), mismatch)
    put("a chunk dropped", lambda f: frame(*f[0]) + b"".join(frame(*x) for x in f[2:]),
        mismatch, decoded=total - 8192)
    put("chunk-size not hex", lambda f: frame(f[0][0], f[0][1], size="zz")
        + b"".join(frame(*x) for x in f[1:]), bad)
    put("chunk-size negative", lambda f: frame(f[0][0], f[0][1], size="-2000")
        + b"".join(frame(*x) for x in f[1:]), bad)
    put("chunk-size 17 hex digits", lambda f: frame(f[0][0], f[0][1], size="1" + "0" * 16)
        + b"".join(frame(*x) for x in f[1:]), bad)
    put("chunk-size larger than the data", lambda f: frame(f[0][0], f[0][1], size="4000")
        + b"".join(frame(*x) for x in f[1:]), bad | mismatch | incomplete)
    put("chunk-size smaller than the data", lambda f: frame(f[0][0], f[0][1], size="10")
        + b"".join(frame(*x) for x in f[1:]), bad | mismatch)
    put("missing final chunk", lambda f: b"".join(frame(*x) for x in f[:-1]), incomplete)
    put("oversized chunk header line", lambda f: b"2000;chunk-signature=" + b"a" * 20_000
        + b"\r\n" + whole(f), bad)
    put("chunk header without CRLF", lambda f: whole(f).replace(b"\r\n", b"\n", 1), bad)
    put("data without its CRLF", lambda f: whole(f).replace(b"a\r\n", b"a", 1),
        bad | mismatch)
    put("decoded length larger than the data", whole, incomplete, decoded=total + 1)
    put("decoded length smaller than the data", whole, bad, decoded=total - 1)
    put("decoded length zero", whole, bad, decoded=0)
    put("trailing garbage", lambda f: whole(f) + b"garbage after the end", bad)
    put("a chunk after the final one", lambda f: whole(f) + frame(*f[0]), bad)
    put("empty body", lambda f: b"", incomplete)
    # the decoded length itself
    for name, value, expected in [
            ("decoded length not a number", "ten", {(400, "InvalidArgument")}),
            ("decoded length negative", "-1", {(400, "InvalidArgument")}),
            ("decoded length absurd", "9" * 30, {(400, "InvalidArgument")}),
            ("decoded length over the cap", str(2**50), {(400, "EntityTooLarge")})]:
        url, headers = signed(gw, "PUT", f"/{bucket}/chunked", b"", payload=(
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), headers={
            "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": value})
        refusals.check(name, expected, url, "PUT", headers)
    # STREAMING-UNSIGNED-PAYLOAD-TRAILER with a wrong or broken trailing checksum
    data = b"trailer data" * 100
    framed = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
    for name, trailer, expected in [
            ("unsigned trailer: wrong checksum", f"x-amz-checksum-crc32:{crc32_b64(b'x')}",
             {(400, "BadDigest")}),
            ("unsigned trailer: not base64", "x-amz-checksum-crc32:!!!!", {
                (400, "InvalidRequest"), (400, "InvalidArgument"), (400, "InvalidDigest"),
                (400, "BadDigest")}),
            ("unsigned trailer: missing", "", {(400, "InvalidRequest"), (400, "BadDigest"),
                                               (400, "InvalidArgument")}),
            ("unsigned trailer: malformed line", "x-amz-checksum-crc32 no colon", bad),
            ("unsigned trailer: 17 trailers", "\r\n".join(
                f"x-t{n}: v" for n in range(17)), bad)]:
        body = framed + (trailer.encode() + b"\r\n" if trailer else b"") + b"\r\n"
        url, headers = signed(gw, "PUT", f"/{bucket}/trailer", body, payload=(
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), headers={
            "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data))})
        refusals.check(name, expected, url, "PUT", headers, body)
        assert keys_of(s3, bucket) == [], name
        still_serves(gw, s3, bucket)
    refusals.report()
    nothing_left(gw, files_before)
    ok_body = framed + f"x-amz-checksum-crc32:{crc32_b64(data)}\r\n\r\n".encode()
    url, headers = signed(gw, "PUT", f"/{bucket}/trailer", ok_body, payload=(
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), headers={
        "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": str(len(data))})
    status, answer = send_raw(url, "PUT", headers, ok_body)
    assert status == 200, answer  # the same framing with the right checksum is stored
    assert keys_of(s3, bucket) == ["trailer"]


# -- property-based DeleteObjects ----------------------------------------------------------

def test_generated_delete_objects_bodies(gw: Any) -> None:
    """Generated DeleteObjects bodies: a 4xx XML error or a valid DeleteResult, never a 5xx;
    only keys the document names are deleted, and none by a refused document."""
    s3 = client(gw)
    bucket = new_bucket(s3)
    statuses: dict[int, int] = {}

    @seed(SEED)
    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(delete_documents)
    def run(document: bytes) -> None:
        present = set(keys_of(s3, bucket))
        for key in set(KEYS) - present:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        url, headers = signed(gw, "POST", f"/{bucket}", document, query="delete",
                              headers=md5_header(document))
        status, answer = send_raw(url, "POST", headers, document)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, answer[:300]
        gone = set(KEYS) - set(keys_of(s3, bucket))
        if status != 200:
            assert 400 <= status < 500 and b"<Error>" in answer, answer[:300]
            assert gone == set(), (document, answer)
            return
        assert b"<DeleteResult" in answer, answer[:300]
        named = {k for k in KEYS if f"<Key>{k}</Key>".encode() in document}
        assert gone <= named, (document, gone)
        deleted = set(re.findall(r"<Deleted><Key>([^<]*)</Key>", answer.decode()))
        if b"<Quiet>true</Quiet>" not in document:
            assert gone <= deleted, (document, answer)

    run()
    print(f"\nhostile S3 generated DeleteObjects: {sum(statuses.values())} cases, "
          f"statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= 100
    still_serves(gw, s3, bucket)
