"""Tests for :mod:`s3node.core.checksums`."""

import hashlib
import itertools
import mmap
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.crcref import reflected_crc

from s3node.core.checksums import (
    BLAKE2B,
    BLAKE3,
    BUILTIN_ALGORITHMS,
    CRC32C,
    SHA256,
    digest_matches,
    hexdigest_of,
    normalize_hexdigest,
    update_with_crc32c,
)
from s3node.errors import InvalidRequest
from s3node.interfaces import Checksum


def test_sha256_vector() -> None:
    """sha256 of b"abc" is the FIPS 180-2 test vector."""
    assert hexdigest_of(SHA256, b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_blake2b_vector() -> None:
    """blake2b of b"abc" is the RFC 7693 test vector, with a 64-byte digest."""
    hasher = BLAKE2B()
    hasher.update(b"abc")
    assert hasher.digest_size == 64
    assert hasher.hexdigest() == (
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
    )


def test_blake3_vector() -> None:
    """blake3 of b"abc" is the reference implementation's, with a 32-byte digest."""
    hasher = BLAKE3()
    hasher.update(memoryview(b"abc"))
    assert hasher.digest_size == 32
    assert hasher.hexdigest() == (
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    )
    assert hexdigest_of(BLAKE3, b"") == (
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    )


def test_crc32c_vector() -> None:
    """crc32c of b"123456789" is e3069283, as 4 big-endian bytes."""
    hasher = CRC32C()
    hasher.update(b"123456789")
    assert hasher.hexdigest() == "e3069283"
    assert hasher.digest() == bytes.fromhex("e3069283")


def test_crc32c_empty_and_leading_zeros() -> None:
    """crc32c of nothing is 00000000: always 8 hex characters."""
    assert hexdigest_of(CRC32C, b"") == "00000000"
    assert len(CRC32C().digest()) == 4


def test_crc32c_of_a_large_buffer_is_that_of_its_bytes() -> None:
    """A large buffer, in any shape, gives the CRC of its bytes."""
    data = bytes(range(256)) * 2345 + b"tail"  # 600,324 bytes: over two slices and a bit
    whole = hexdigest_of(CRC32C, data)
    shaped = memoryview(bytearray(data))[: len(data) // 4 * 4].cast("I")
    for buffer, expected in [(bytearray(data), whole), (memoryview(data)[1:], None),
                             (shaped, hexdigest_of(CRC32C, data[: len(data) // 4 * 4]))]:
        hasher = CRC32C()
        hasher.update(buffer)
        assert hasher.hexdigest() == (expected or hexdigest_of(CRC32C, bytes(buffer)))


def reference_crc32c(data: bytes) -> int:
    """CRC-32C bit by bit (reflected polynomial 0x82F63B78)."""
    return reflected_crc(data, 0x82F63B78, 32)


def test_crc32c_reads_any_buffer_in_place_and_refuses_text() -> None:
    """
    Read-only views, a memfd's read-only mapping, its slices and updates in
    pieces give the CRC the reference computes; a ``str`` is refused, as
    hashlib refuses it.
    """
    data = os.urandom(3000) + b"\r\n" * 1000
    fd = os.memfd_create("test-crc", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        with (mmap.mmap(fd, len(data), access=mmap.ACCESS_READ) as mapped,
              memoryview(mapped) as mapped_view, mapped_view[7:4001] as part):
            for buffer, of in [(memoryview(data).toreadonly(), data), (mapped_view, data),
                               (part, data[7:4001])]:
                hasher = CRC32C()
                hasher.update(buffer)
                assert hasher.digest() == reference_crc32c(of).to_bytes(4, "big")
            del buffer
            pieces = CRC32C()
            for start in range(0, len(data), 999):
                with mapped_view[start : start + 999] as piece:
                    pieces.update(piece)
            assert int(pieces.hexdigest(), 16) == reference_crc32c(data)
    finally:
        os.close(fd)
    with pytest.raises(TypeError):
        CRC32C().update("text")  # type: ignore[arg-type]


def test_update_with_crc32c_feeds_the_hasher_and_returns_the_crc() -> None:
    """One call feeds the hasher and gives the CRC-32C of the same bytes, or None without."""
    data = memoryview(bytearray(b"abc" * 100_000))
    hasher = SHA256()
    assert update_with_crc32c(hasher, data, True) == hexdigest_of(CRC32C, bytes(data))
    assert update_with_crc32c(hasher, data, False) is None
    assert hasher.hexdigest() == hashlib.sha256(b"abc" * 200_000).hexdigest()


@pytest.mark.parametrize("algorithm", list(BUILTIN_ALGORITHMS.values()), ids=str)
def test_hashers_have_hashlib_shape(algorithm) -> None:
    """Each built-in makes hashers with the registered name, the Checksum protocol and copy."""
    hasher = algorithm()
    assert isinstance(hasher, Checksum)
    assert hasher.name == algorithm.name
    assert len(hasher.digest()) == algorithm.digest_size
    assert len(hasher.hexdigest()) == 2 * algorithm.digest_size


@pytest.mark.parametrize("algorithm", list(BUILTIN_ALGORITHMS.values()), ids=str)
def test_copy_is_independent(algorithm) -> None:
    """A copy continues from the same state without affecting the original."""
    original = algorithm()
    original.update(b"hello ")
    clone = original.copy()
    clone.update(b"world")
    assert original.hexdigest() == hexdigest_of(algorithm, b"hello ")
    assert clone.hexdigest() == hexdigest_of(algorithm, b"hello world")


@pytest.mark.parametrize("algorithm", list(BUILTIN_ALGORITHMS.values()), ids=str)
def test_accepts_any_bytes_like(algorithm) -> None:
    """bytes, bytearray and memoryview give the same digest."""
    data = bytes(range(256)) * 10
    expected = hexdigest_of(algorithm, data)
    assert hexdigest_of(algorithm, bytearray(data)) == expected
    assert hexdigest_of(algorithm, memoryview(data)) == expected
    assert hexdigest_of(algorithm, memoryview(bytearray(data))[10:]) == hexdigest_of(
        algorithm, data[10:]
    )


def test_sha256_matches_hashlib_on_large_input() -> None:
    """The sha256 algorithm is hashlib's sha256."""
    data = b"x" * (3 * 1024 * 1024 + 7)
    assert hexdigest_of(SHA256, data) == hashlib.sha256(data).hexdigest()


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=6))
def test_property_streaming_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    """Feeding data in any pieces gives the one-shot digest, for every built-in."""
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    for algorithm in BUILTIN_ALGORITHMS.values():
        hasher = algorithm()
        for a, b in itertools.pairwise(bounds):
            hasher.update(data[a:b])
        assert hasher.hexdigest() == hexdigest_of(algorithm, data)


def test_digest_matches() -> None:
    """digest_matches compares hex ignoring case and rejects anything else without raising."""
    assert digest_matches("e3069283", "e3069283")
    assert digest_matches("E3069283", "e3069283")
    assert not digest_matches("e3069284", "e3069283")
    assert not digest_matches("e306928", "e3069283")
    assert not digest_matches("é3069283", "e3069283")
    assert not digest_matches(None, "e3069283")
    assert not digest_matches(b"e3069283", "e3069283")


def test_normalize_hexdigest() -> None:
    """normalize_hexdigest lowercases a digest of the right length and rejects the rest."""
    assert normalize_hexdigest(CRC32C, "E3069283") == "e3069283"
    for bad in ("e306928", "e30692830", "g3069283", "٣3069283", None, ""):
        with pytest.raises(InvalidRequest):
            normalize_hexdigest(CRC32C, bad)
    with pytest.raises(InvalidRequest, match="sha256"):
        normalize_hexdigest(SHA256, "e3069283")
