"""
Access control on both deployments (SQLite standalone, the PostgreSQL cluster),
real processes and real clients: anonymous requests refused on every REST
route but two and on S3; a read-only key, a bucket-scoped key, disabled and
deleted keys, over REST and with boto3.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
import pytest_twisted
import treq
from botocore.config import Config
from botocore.exceptions import ClientError
from integration.e2e_client import CTYPE, form, post_bytes
from integration.test_s3_api import raw
from support.auth import ANONYMOUS, create_key, rest_routes


def _s3(deployment: Any, key: tuple[str, str]) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=deployment.s3_url, region_name="us-east-1",
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}))


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


@pytest_twisted.ensureDeferred
async def test_anonymous_requests_are_refused_everywhere(deployment: Any) -> None:
    """Every REST route of the table answers 401 without credentials, but /health and
    /openapi.json; S3 answers 403 AccessDenied to unsigned requests."""
    for method, path, _ in rest_routes():
        r = await treq.request(method, deployment.url + path, auth=ANONYMOUS)
        await r.content()
        expected = (200, 503) if path in ("/health", "/openapi.json") else (401,)
        assert r.code in expected, (method, path, r.code)
    for method, path in (("GET", "/"), ("PUT", "/anon-bucket"), ("GET", "/b1/k"),
                         ("DELETE", "/b1/k"), ("POST", "/b1?delete")):
        status, _, body = raw(deployment.s3_url + path, method)
        assert status == 403 and b"<Code>AccessDenied</Code>" in body, (method, path)


@pytest_twisted.ensureDeferred
async def test_read_only_and_bucket_scoped_keys(deployment: Any) -> None:
    """A read-only key reads but cannot write or delete (REST and S3); a key scoped to one
    bucket cannot touch another and lists only its own; disabled and deleted keys are
    refused."""
    admin = _s3(deployment, deployment.s3_key)
    mine, other = f"m-{uuid.uuid4().hex[:12]}", f"o-{uuid.uuid4().hex[:12]}"
    for bucket in (mine, other):
        admin.create_bucket(Bucket=bucket)
        admin.put_object(Bucket=bucket, Key="k", Body=b"v")
    reader_key = await create_key(deployment.url, grants=[{"scope": mine, "read": True},
                                                          {"scope": "/files", "read": True},
                                                          {"scope": "*", "read": True}])
    reader = _s3(deployment, reader_key)
    assert reader.get_object(Bucket=mine, Key="k")["Body"].read() == b"v"
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=mine)["Contents"]] == ["k"]
    for call in (lambda: reader.put_object(Bucket=mine, Key="new", Body=b"x"),
                 lambda: reader.delete_object(Bucket=mine, Key="k"),
                 lambda: reader.create_bucket(Bucket=f"n-{uuid.uuid4().hex[:12]}"),
                 lambda: reader.delete_bucket(Bucket=other)):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == ("AccessDenied", 403)
    code, stored = await post_bytes(deployment.url, b"rest")
    assert code == 201
    r = await treq.post(f"{deployment.url}/files", data=form(b"x"),
                        headers={"content-type": CTYPE}, auth=reader_key)
    assert r.code == 403
    assert (await treq.delete(f"{deployment.url}/files/{stored['file_id']}",
                              auth=reader_key)).code == 403
    assert (await treq.get(f"{deployment.url}/files/{stored['file_id']}",
                           auth=reader_key)).code == 200

    scoped_key = await create_key(deployment.url,
                                  grants=[{"scope": mine, "read": True, "write": True}])
    scoped = _s3(deployment, scoped_key)
    scoped.put_object(Bucket=mine, Key="by-scoped", Body=b"s")
    assert scoped.get_object(Bucket=mine, Key="by-scoped")["Body"].read() == b"s"
    assert [b["Name"] for b in scoped.list_buckets()["Buckets"]] == [mine]
    for call in (lambda: scoped.get_object(Bucket=other, Key="k"),
                 lambda: scoped.put_object(Bucket=other, Key="k", Body=b"x"),
                 lambda: scoped.list_objects_v2(Bucket=other),
                 lambda: scoped.delete_object(Bucket=other, Key="k")):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == ("AccessDenied", 403)
    assert (await treq.get(f"{deployment.url}/files", auth=scoped_key)).code == 403
    assert admin.get_object(Bucket=other, Key="k")["Body"].read() == b"v"

    assert (await treq.post(f"{deployment.url}/keys/{scoped_key[0]}/disable")).code == 200
    with pytest.raises(ClientError) as e:
        scoped.get_object(Bucket=mine, Key="k")
    assert _code(e) == ("InvalidAccessKeyId", 403)
    assert (await treq.delete(f"{deployment.url}/keys/{reader_key[0]}")).code == 204
    with pytest.raises(ClientError) as e:
        reader.get_object(Bucket=mine, Key="k")
    assert _code(e) == ("InvalidAccessKeyId", 403)
    assert (await treq.get(f"{deployment.url}/files", auth=reader_key)).code == 401
    with pytest.raises(ClientError) as e:
        _s3(deployment, (deployment.s3_key[0], "wrong" * 8)).list_buckets()
    assert _code(e) == ("SignatureDoesNotMatch", 403)
