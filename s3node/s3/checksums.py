"""
S3's integrity values: ``x-amz-checksum-*``, ``Content-MD5``, ETags and their multipart forms.

S3 sends a checksum as the base64 of the big-endian digest, in a header named
for its algorithm (``x-amz-checksum-crc32: 4ZxHsA==``) or in an
``aws-chunked`` trailer of the same name.  The algorithms are
:data:`CRC32` (:mod:`zlib`), :data:`CRC32C` (:mod:`s3node.core.checksums`'s)
and :data:`CRC64NVME` (both from the AWS common runtime, ``awscrt``, the
implementation botocore itself uses), :data:`SHA1` and :data:`SHA256`
(:mod:`hashlib`).

A multipart object's ETag is ``"hex(md5(concatenated part MD5s))-N"``; its
composite checksum is ``base64(hash(concatenated part digests))-N``; its
full-object CRC combines the parts' CRCs with their lengths
(:func:`full_object_checksum`), without reading the bytes again.

:class:`PayloadCheck` hashes a request body once for everything the request
claims about it (its signed SHA-256, its ``Content-MD5``, one checksum) and
says at the end which claim failed.  Hashing is CPU work: run it off the reactor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from awscrt import checksums as _crt

from s3node.core.checksums import Crc32c
from s3node.s3 import errors

__all__ = [
    "ALGORITHMS",
    "CRC32",
    "CRC32C",
    "CRC64NVME",
    "SHA1",
    "SHA256",
    "ChecksumAlgorithm",
    "Crc32",
    "Crc64Nvme",
    "PayloadCheck",
    "PayloadDigests",
    "composite_checksum",
    "etag",
    "full_object_checksum",
    "multipart_etag",
    "parse_checksum",
    "parse_content_md5",
    "requested_checksum",
]


class Hasher(Protocol):
    """The :mod:`hashlib` shape every checksum here has."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _IntegerCrc:
    """A streaming CRC kept as an integer, digested as big-endian bytes."""

    name = ""
    digest_size = 0
    __slots__ = ("_crc",)

    def __init__(self) -> None:
        self._crc = 0

    def _extend(self, data: bytes | bytearray | memoryview, crc: int) -> int:
        raise NotImplementedError

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        """Feed more bytes."""
        self._crc = self._extend(data, self._crc)

    def digest(self) -> bytes:
        """The CRC as ``digest_size`` big-endian bytes."""
        return self._crc.to_bytes(self.digest_size, "big")


class Crc32(_IntegerCrc):
    """A streaming CRC-32 (the zlib/ISO-HDLC polynomial), 4-byte digest."""

    name = "crc32"
    digest_size = 4
    __slots__ = ()

    def _extend(self, data: bytes | bytearray | memoryview, crc: int) -> int:
        return zlib.crc32(data, crc)


class Crc64Nvme(_IntegerCrc):
    """A streaming CRC-64/NVME (the ``awscrt`` implementation), 8-byte digest."""

    name = "crc64nvme"
    digest_size = 8
    __slots__ = ()

    def _extend(self, data: bytes | bytearray | memoryview, crc: int) -> int:
        return int(_crt.crc64nvme(data, crc))


def _combiner(function: Callable[[int, int, int], int], size: int) -> Callable[..., bytes]:
    def combine(first: bytes, second: bytes, second_length: int) -> bytes:
        value = function(int.from_bytes(first, "big"), int.from_bytes(second, "big"), second_length)
        return int(value).to_bytes(size, "big")

    return combine


@dataclass(frozen=True)
class ChecksumAlgorithm:
    """One of S3's checksum algorithms: a named factory of streaming hashers."""

    #: the name S3 uses (``x-amz-checksum-algorithm``, ``ChecksumAlgorithm``): ``CRC32``, ...
    name: str
    digest_size: int
    factory: Callable[[], Any] = field(repr=False, compare=False)
    #: ``combine(crc_a, crc_b, len_b)`` -> the CRC of a+b, for CRCs only
    combine: Callable[[bytes, bytes, int], bytes] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def header(self) -> str:
        """The header (and trailer) that carries this checksum: ``x-amz-checksum-crc32``."""
        return f"x-amz-checksum-{self.name.lower()}"

    @property
    def element(self) -> str:
        """The XML element that carries it: ``ChecksumCRC32``."""
        return f"Checksum{self.name}"

    def __call__(self) -> Hasher:
        """A new, empty hasher."""
        hasher: Hasher = self.factory()
        return hasher

    def digest_of(self, data: bytes) -> bytes:
        """The digest of ``data`` in one call."""
        hasher = self()
        hasher.update(data)
        return hasher.digest()


CRC32 = ChecksumAlgorithm("CRC32", 4, Crc32, _combiner(_crt.combine_crc32, 4))
CRC32C = ChecksumAlgorithm("CRC32C", 4, Crc32c, _combiner(_crt.combine_crc32c, 4))
CRC64NVME = ChecksumAlgorithm("CRC64NVME", 8, Crc64Nvme, _combiner(_crt.combine_crc64nvme, 8))
SHA1 = ChecksumAlgorithm("SHA1", 20, hashlib.sha1)
SHA256 = ChecksumAlgorithm("SHA256", 32, hashlib.sha256)

#: the algorithms by their S3 name
ALGORITHMS: dict[str, ChecksumAlgorithm] = {
    a.name: a for a in (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)
}
_BY_HEADER = {a.header: a for a in ALGORITHMS.values()}


def b64(digest: bytes) -> str:
    """A digest as S3 sends it: standard base64 with padding."""
    return base64.b64encode(digest).decode("ascii")


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def parse_checksum(algorithm: ChecksumAlgorithm, value: str) -> bytes:
    """
    The digest a checksum header or trailer carries.

    :raises s3node.s3.errors.InvalidRequest: unless ``value`` is the base64 of
        exactly ``algorithm.digest_size`` bytes.
    """
    digest = _b64decode(value.strip())
    if digest is None or len(digest) != algorithm.digest_size:
        raise errors.InvalidRequest(f"Value for {algorithm.header} header is invalid.")
    return digest


def parse_content_md5(value: str) -> bytes:
    """
    The MD5 digest a ``Content-MD5`` header carries.

    :raises s3node.s3.errors.InvalidDigest: unless it is the base64 of 16 bytes.
    """
    digest = _b64decode(value.strip())
    if digest is None or len(digest) != 16:
        raise errors.InvalidDigest()
    return digest


def requested_checksum(
    headers: Mapping[str, str],
) -> tuple[ChecksumAlgorithm, bytes | None] | None:
    """
    The checksum a request asks to be verified, and its value if it came as a header.

    Reads (lowercase-named) ``x-amz-checksum-<algorithm>`` headers, then an
    ``x-amz-trailer`` naming one (the value arrives in the ``aws-chunked``
    trailer: ``None`` here), then ``x-amz-sdk-checksum-algorithm`` (the
    algorithm alone).  ``None`` when the request names no checksum.

    :raises s3node.s3.errors.InvalidRequest: several checksums, an unknown
        algorithm, or a malformed value.
    """
    given = [(a, headers[h]) for h, a in _BY_HEADER.items() if h in headers]
    if len(given) > 1:
        raise errors.InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    if given:
        algorithm, value = given[0]
        return algorithm, parse_checksum(algorithm, value)
    trailer = headers.get("x-amz-trailer")
    if trailer is not None:
        names = [name.strip().lower() for name in trailer.split(",") if name.strip()]
        found = [_BY_HEADER.get(name) for name in names]
        if len(found) != 1 or found[0] is None:
            raise errors.InvalidRequest(
                f"The value specified in the x-amz-trailer header {trailer!r} is not supported"
            )
        return found[0], None
    sdk = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk is not None:
        hinted = ALGORITHMS.get(sdk.strip().upper())
        if hinted is None:
            raise errors.InvalidRequest(f"Checksum algorithm {sdk!r} is not supported")
        return hinted, None
    return None


def etag(md5: bytes) -> str:
    """The quoted ETag of a single-part object: ``"<hex md5>"``."""
    return f'"{md5.hex()}"'


def multipart_etag(part_md5s: Iterable[bytes]) -> str:
    """The quoted ETag of a multipart object: ``"hex(md5(part md5s concatenated))-N"``."""
    digests = list(part_md5s)
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def composite_checksum(algorithm: ChecksumAlgorithm, part_digests: Iterable[bytes]) -> str:
    """A multipart object's COMPOSITE checksum: ``base64(hash(part digests concatenated))-N``."""
    digests = list(part_digests)
    return f"{b64(algorithm.digest_of(b''.join(digests)))}-{len(digests)}"


def full_object_checksum(algorithm: ChecksumAlgorithm, parts: Iterable[tuple[bytes, int]]) -> str:
    """
    A multipart object's FULL_OBJECT checksum: the CRC of the whole object, from
    each part's (CRC digest, length), without reading the bytes again.

    :raises s3node.s3.errors.InvalidRequest: for an algorithm that is not a CRC.
    """
    if algorithm.combine is None:
        raise errors.InvalidRequest(
            f"The FULL_OBJECT checksum type is not supported for {algorithm.name}"
        )
    total = algorithm.digest_of(b"")
    for digest, length in parts:
        total = algorithm.combine(total, digest, length)
    return b64(total)


@dataclass(frozen=True)
class PayloadDigests:
    """What :meth:`PayloadCheck.finish` learnt of a verified body."""

    size: int
    md5: bytes
    #: the body's checksum in the requested algorithm, when one was requested
    checksum: tuple[ChecksumAlgorithm, bytes] | None

    @property
    def etag(self) -> str:
        """The body's quoted ETag."""
        return etag(self.md5)


class PayloadCheck:
    """
    Hash a request body once for every claim about it; verify them all at the end.

    Always computes the MD5 (for the ETag); computes a SHA-256 only when the
    signature covers a hex payload hash, and the requested checksum only when
    there is one.  Nothing is verified until :meth:`finish`: the caller must not
    make the upload visible before it returns.
    """

    def __init__(
        self,
        *,
        sha256_hex: str | None = None,
        content_md5: bytes | None = None,
        checksum: tuple[ChecksumAlgorithm, bytes | None] | None = None,
    ) -> None:
        """
        :param sha256_hex: the signed ``x-amz-content-sha256``, when it is a hex digest.
        :param content_md5: the ``Content-MD5`` digest (:func:`parse_content_md5`).
        :param checksum: from :func:`requested_checksum`; a ``None`` value is
            given later to :meth:`finish`, from the trailer.
        """
        self._sha256_hex = sha256_hex.lower() if sha256_hex is not None else None
        self._sha256 = hashlib.sha256() if sha256_hex is not None else None
        self._content_md5 = content_md5
        self._md5 = hashlib.md5()
        self._checksum = checksum
        self._hasher = checksum[0]() if checksum is not None else None
        self._size = 0

    def update(self, data: bytes) -> None:
        """Feed the next piece of the body."""
        self._size += len(data)
        self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        if self._hasher is not None:
            self._hasher.update(data)

    def finish(self, trailer_checksum: bytes | None = None) -> PayloadDigests:
        """
        Verify every claim against the whole body.

        :param trailer_checksum: the checksum's value when it came in a trailer.
        :raises s3node.s3.errors.XAmzContentSHA256Mismatch: the signed SHA-256 differs.
        :raises s3node.s3.errors.BadDigest: the ``Content-MD5`` or the checksum differs.
        :raises s3node.s3.errors.InvalidRequest: a trailer checksum was expected and is missing.
        """
        if self._sha256 is not None and self._sha256.hexdigest() != self._sha256_hex:
            raise errors.XAmzContentSHA256Mismatch(
                fields=[
                    ("ClientComputedContentSHA256", self._sha256_hex or ""),
                    ("S3ComputedContentSHA256", self._sha256.hexdigest()),
                ]
            )
        md5 = self._md5.digest()
        if self._content_md5 is not None and not hmac.compare_digest(md5, self._content_md5):
            raise errors.BadDigest("The Content-MD5 you specified did not match what we received.")
        result = None
        if self._checksum is not None and self._hasher is not None:
            algorithm, expected = self._checksum
            expected = expected if expected is not None else trailer_checksum
            if expected is None:
                raise errors.InvalidRequest(f"The {algorithm.header} trailer is missing")
            actual = self._hasher.digest()
            if not hmac.compare_digest(actual, expected):
                raise errors.BadDigest(
                    f"The {algorithm.name} you specified did not match the calculated checksum."
                )
            result = (algorithm, actual)
        return PayloadDigests(size=self._size, md5=md5, checksum=result)
