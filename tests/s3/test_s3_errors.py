"""Tests for :mod:`s3node.s3.errors`, and that the S3 package stays pure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from s3node import errors as core
from s3node.s3 import errors

#: the codes and statuses the S3 API reference gives them
EXPECTED = {
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "BucketAlreadyOwnedByYou": 409,
    "BucketAlreadyExists": 409,
    "BucketNotEmpty": 409,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "EntityTooSmall": 400,
    "EntityTooLarge": 400,
    "BadDigest": 400,
    "InvalidDigest": 400,
    "PreconditionFailed": 412,
    "NotImplemented": 501,
    "SignatureDoesNotMatch": 403,
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "RequestTimeTooSkewed": 403,
    "MalformedXML": 400,
    "InvalidArgument": 400,
    "InvalidRange": 416,
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "XAmzContentSHA256Mismatch": 400,
}


def all_classes() -> list[type[errors.S3Error]]:
    """Every S3 error class the module exports."""
    return [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]


def test_codes_have_their_s3_statuses() -> None:
    """Each S3 error code carries the HTTP status the S3 API reference gives it."""
    by_code = {cls.code: cls.status for cls in all_classes()}
    for code, status in EXPECTED.items():
        assert by_code[code] == status, code


@pytest.mark.parametrize("cls", all_classes(), ids=lambda c: c.__name__)
def test_every_s3_error_is_under_the_one_root(cls) -> None:
    """Every S3 error is an S3Error and an S3NodeError, with a default message."""
    assert issubclass(cls, errors.S3Error) and issubclass(cls, core.S3NodeError)
    assert cls().message and cls().fields == ()


def test_fields_are_kept_in_order() -> None:
    """Extra error fields stay in the order given, for the error document."""
    error = errors.AccessDenied("no", fields=[("B", "2"), ("A", "1")])
    assert error.fields == (("B", "2"), ("A", "1")) and error.message == "no"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (core.ChecksumMismatch("sha256 differs"), errors.BadDigest),
        (core.InvalidRange(), errors.InvalidRange),
        (core.TooLarge(), errors.EntityTooLarge),
        (core.FileNotFound(), errors.NoSuchKey),
        (core.ClientDisconnected(), errors.IncompleteBody),
        (core.NodeBusy(), errors.SlowDown),
        (core.MetadataUnavailable(), errors.ServiceUnavailable),
        (core.InvalidChunkId(), errors.InvalidRequest),
        (core.CorruptChunk(), errors.InternalError),
        (KeyError("bug"), errors.InternalError),
    ],
    ids=lambda v: type(v).__name__,
)
def test_from_error_maps_the_core_errors(error, expected) -> None:
    """The core's errors map to their S3 errors by their most specific class; anything else is InternalError."""
    mapped = errors.from_error(error)
    assert type(mapped) is expected
    if expected is not errors.InternalError:
        assert mapped.message == error.message
    else:
        assert "bug" not in mapped.message


def test_s3_errors_map_to_themselves() -> None:
    """An S3 error passes through from_error unchanged."""
    error = errors.NoSuchBucket()
    assert errors.from_error(error) is error


CHECK = """
import importlib, json, pkgutil, sys
import s3node.s3
names = [m.name for m in pkgutil.iter_modules(s3node.s3.__path__, "s3node.s3.")]
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {"twisted", "grpc", "klein", "treq", "botocore", "boto3"})
json.dump({"modules": names, "bad": bad}, sys.stdout)
"""


def test_s3_package_imports_neither_twisted_nor_botocore() -> None:
    """Importing every s3node.s3 module loads no Twisted, gRPC, Klein, treq, nor botocore (a test-only dependency)."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout)
    assert len(report["modules"]) >= 9
    assert report["bad"] == []
