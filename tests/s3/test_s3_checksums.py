"""Tests for :mod:`s3node.s3.checksums`, against botocore's checksum implementations."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from botocore import httpchecksum
from botocore.compat import HAS_CRT
from hypothesis import given, settings
from hypothesis import strategies as st
from support.crcref import reflected_crc

from s3node.s3 import errors
from s3node.s3.checksums import (
    ALGORITHMS,
    CRC32,
    CRC32C,
    CRC64NVME,
    SHA1,
    SHA256,
    PayloadCheck,
    b64,
    composite_checksum,
    etag,
    full_object_checksum,
    multipart_etag,
    parse_checksum,
    parse_content_md5,
    requested_checksum,
)

SETTINGS = settings(max_examples=200, deadline=None)

#: botocore's own class for each algorithm (its CRT-backed ones need awscrt, an s3node dependency)
BOTOCORE = {
    "CRC32": httpchecksum.CrtCrc32Checksum,
    "CRC32C": httpchecksum.CrtCrc32cChecksum,
    "CRC64NVME": httpchecksum.CrtCrc64NvmeChecksum,
    "SHA1": httpchecksum.Sha1Checksum,
    "SHA256": httpchecksum.Sha256Checksum,
}


def crc64nvme_reference(data: bytes) -> int:
    """CRC-64/NVME bit by bit from its definition: reflected poly 0x9A6C9329AC4BC9B5."""
    return reflected_crc(data, 0x9A6C9329AC4BC9B5, 64)


def test_botocore_uses_the_crt() -> None:
    """awscrt is installed with s3node, so botocore has its CRT checksums (CRC64NVME needs them)."""
    assert HAS_CRT


@pytest.mark.parametrize(
    ("algorithm", "check"),
    [(CRC32, 0xCBF43926), (CRC32C, 0xE3069283), (CRC64NVME, 0xAE8B14860A799888)],
    ids=str,
)
def test_crc_check_values(algorithm, check) -> None:
    """Each CRC of b"123456789" is its catalogue check value, as big-endian bytes."""
    assert algorithm.digest_of(b"123456789") == check.to_bytes(algorithm.digest_size, "big")


def test_empty_digests_as_s3_sends_them() -> None:
    """The checksums of an empty body are the base64 strings S3 shows for empty objects."""
    assert b64(CRC32.digest_of(b"")) == "AAAAAA=="
    assert b64(CRC64NVME.digest_of(b"")) == "AAAAAAAAAAA="
    assert b64(SHA256.digest_of(b"")) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


@SETTINGS
@given(pieces=st.lists(st.binary(max_size=300), max_size=6), name=st.sampled_from(list(ALGORITHMS)))
def test_streaming_digests_match_botocore(pieces, name) -> None:
    """Fed in any pieces, each algorithm's base64 digest equals botocore's for the same bytes."""
    ours = ALGORITHMS[name]()
    theirs = BOTOCORE[name]()
    for piece in pieces:
        ours.update(piece)
        theirs.update(piece)
    assert b64(ours.digest()) == theirs.b64digest()


@SETTINGS
@given(data=st.binary(max_size=200))
def test_crc64nvme_matches_its_definition(data) -> None:
    """The awscrt CRC64NVME equals a bitwise implementation of the CRC-64/NVME definition."""
    assert CRC64NVME.digest_of(data) == crc64nvme_reference(data).to_bytes(8, "big")


def test_pure_python_crc64nvme_is_too_slow_to_serve() -> None:
    """A pure-Python CRC64NVME runs at well under a MB/s, so the service uses awscrt's (measured here)."""
    data = bytes(range(256)) * 64
    started = time.perf_counter()
    crc64nvme_reference(data)
    python_rate = len(data) / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(100):
        CRC64NVME.digest_of(data)
    crt_rate = 100 * len(data) / (time.perf_counter() - started)
    assert python_rate < 5e6 < crt_rate


@SETTINGS
@given(parts=st.lists(st.binary(max_size=200), min_size=1, max_size=5))
def test_full_object_crc_combines_parts(parts) -> None:
    """A FULL_OBJECT CRC built from part CRCs and lengths equals the CRC of the whole object."""
    for algorithm in (CRC32, CRC32C, CRC64NVME):
        combined = full_object_checksum(
            algorithm, [(algorithm.digest_of(p), len(p)) for p in parts]
        )
        assert combined == b64(algorithm.digest_of(b"".join(parts)))


def test_full_object_needs_a_crc() -> None:
    """SHA checksums cannot be combined: FULL_OBJECT for SHA256 is InvalidRequest."""
    with pytest.raises(errors.InvalidRequest):
        full_object_checksum(SHA256, [(SHA256.digest_of(b"a"), 1)])


def test_composite_checksum_and_multipart_etag() -> None:
    """Composite forms hash the concatenated part digests and append the part count."""
    parts = [b"a" * 10, b"b" * 3]
    md5s = [hashlib.md5(p).digest() for p in parts]
    assert multipart_etag(md5s) == f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-2"'
    sha = [hashlib.sha256(p).digest() for p in parts]
    expected = base64.b64encode(hashlib.sha256(b"".join(sha)).digest()).decode()
    assert composite_checksum(SHA256, sha) == f"{expected}-2"
    assert etag(hashlib.md5(b"").digest()) == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_parse_checksum_and_content_md5() -> None:
    """Values must be base64 of exactly the digest size; anything else is refused."""
    assert parse_checksum(CRC32, "AAAAAA==") == b"\0" * 4
    for bad in ("AAAA", "not base64!", "AAAAAAAAAAA=", "é"):
        with pytest.raises(errors.InvalidRequest):
            parse_checksum(CRC32, bad)
    assert parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfg==") == hashlib.md5(b"").digest()
    with pytest.raises(errors.InvalidDigest):
        parse_content_md5("AAAA")


def test_requested_checksum_from_headers_trailers_and_sdk_hint() -> None:
    """The checksum to verify comes from a value header, an x-amz-trailer, or the SDK's algorithm hint."""
    assert requested_checksum({}) is None
    assert requested_checksum({"x-amz-checksum-crc32": "AAAAAA=="}) == (CRC32, b"\0" * 4)
    assert requested_checksum({"x-amz-trailer": "x-amz-checksum-crc64nvme"}) == (CRC64NVME, None)
    assert requested_checksum({"x-amz-sdk-checksum-algorithm": "sha1"}) == (SHA1, None)
    for bad in (
        {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "x"},
        {"x-amz-trailer": "x-amz-checksum-md5"},
        {"x-amz-sdk-checksum-algorithm": "XXHASH"},
    ):
        with pytest.raises(errors.InvalidRequest):
            requested_checksum(bad)


def test_payload_check_accepts_a_body_matching_every_claim() -> None:
    """A body whose signed SHA-256, Content-MD5 and checksum all match gives its size, MD5 and checksum."""
    body = b"hello world"
    check = PayloadCheck(
        sha256_hex=hashlib.sha256(body).hexdigest().upper(),
        content_md5=hashlib.md5(body).digest(),
        checksum=(CRC32C, CRC32C.digest_of(body)),
    )
    check.update(body[:5])
    check.update(body[5:])
    digests = check.finish()
    assert digests.size == 11 and digests.md5 == hashlib.md5(body).digest()
    assert digests.checksum == (CRC32C, CRC32C.digest_of(body))
    assert digests.etag == f'"{hashlib.md5(body).hexdigest()}"'


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"sha256_hex": hashlib.sha256(b"other").hexdigest()}, errors.XAmzContentSHA256Mismatch),
        ({"content_md5": hashlib.md5(b"other").digest()}, errors.BadDigest),
        ({"checksum": (CRC32, CRC32.digest_of(b"other"))}, errors.BadDigest),
        ({"checksum": (CRC32, None)}, errors.InvalidRequest),
    ],
    ids=["sha256", "md5", "checksum", "missing-trailer"],
)
def test_payload_check_names_the_failed_claim(kwargs, error) -> None:
    """Each claim that does not match the body fails with its own S3 error."""
    check = PayloadCheck(**kwargs)
    check.update(b"body")
    with pytest.raises(error):
        check.finish()


def test_payload_check_takes_the_checksum_from_the_trailer() -> None:
    """A checksum announced in x-amz-trailer is verified against the trailer's value."""
    check = PayloadCheck(checksum=(SHA256, None))
    check.update(b"body")
    assert check.finish(SHA256.digest_of(b"body")).checksum == (SHA256, SHA256.digest_of(b"body"))
    check = PayloadCheck(checksum=(SHA256, None))
    check.update(b"body")
    with pytest.raises(errors.BadDigest):
        check.finish(SHA256.digest_of(b"nope"))
