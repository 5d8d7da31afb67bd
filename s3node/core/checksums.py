"""
Checksum algorithms: named factories of :mod:`hashlib`-shaped streaming hashers.

Every digest s3node stores sits beside the name of the algorithm that made it,
so an algorithm's :attr:`~HashAlgorithm.name` is part of the stored data and
must never change meaning.  The built-ins are :data:`SHA256`, :data:`BLAKE2B`
(64-byte digest), :data:`BLAKE3` (32-byte digest; the gateway's default for
chunks) and :data:`CRC32C` (Castagnoli, 4-byte big-endian digest).
Hook wiring lives in :mod:`s3node.builtin.checksums`; this module is pure.

Hashing is CPU work: callers hash large buffers off the reactor thread.
:mod:`hashlib` releases the GIL for buffers over 2 KiB, and so do blake3 and
awscrt's CRC-32C for large ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import blake3 as _blake3
from awscrt.checksums import crc32c as _crc32c  # hardware CRC-32C, any buffer, no copy

from s3node.errors import InvalidRequest

__all__ = [
    "BLAKE2B",
    "BLAKE3",
    "BUILTIN_ALGORITHMS",
    "CRC32C",
    "SHA256",
    "Crc32c",
    "HashAlgorithm",
    "digest_matches",
    "hexdigest_of",
    "normalize_hexdigest",
    "update_with_crc32c",
]

_HEX = frozenset("0123456789abcdef")


class Crc32c:
    """A streaming CRC-32C (Castagnoli) hasher shaped like a :mod:`hashlib` object."""

    name = "crc32c"
    digest_size = 4
    block_size = 1

    __slots__ = ("_crc",)

    def __init__(self, data: bytes = b"") -> None:
        self._crc = 0
        if data:
            self.update(data)

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        """Feed more bytes (any bytes-like object)."""
        if type(data) is not bytes:
            # any buffer, read in place (a ``str`` is refused, as hashlib does)
            data = memoryview(data).cast("B")
        self._crc = _crc32c(data, self._crc)

    def digest(self) -> bytes:
        """The CRC as 4 big-endian bytes."""
        return self._crc.to_bytes(4, "big")

    def hexdigest(self) -> str:
        """The CRC as 8 lowercase hex characters."""
        return f"{self._crc:08x}"

    def copy(self) -> Crc32c:
        """An independent hasher in the same state."""
        other = Crc32c()
        other._crc = self._crc
        return other


@dataclass(frozen=True)
class HashAlgorithm:
    """
    A named factory of streaming hashers (a
    :class:`~s3node.interfaces.ChecksumAlgorithm`).

    Calling it returns a new, empty hasher with ``name``, ``update``,
    ``digest``, ``hexdigest`` and ``copy``.
    """

    #: the registered name, stored beside every digest this algorithm makes
    name: str
    #: the length of a digest in bytes (a hex digest has twice as many characters)
    digest_size: int
    factory: Callable[[], Any] = field(repr=False, compare=False)

    def __call__(self) -> Any:
        """A new, empty hasher."""
        return self.factory()


def _blake2b() -> Any:
    return hashlib.blake2b(digest_size=64)


#: SHA-256 from :mod:`hashlib`
SHA256 = HashAlgorithm("sha256", 32, hashlib.sha256)
#: BLAKE2b with its full 64-byte digest, from :mod:`hashlib`
BLAKE2B = HashAlgorithm("blake2b", 64, _blake2b)
#: BLAKE3 (32-byte digest, one thread) from the blake3 package: a cryptographic hash
#: about 3.5 times as fast as SHA-256 here (docs/performance.md, "Checksums")
BLAKE3 = HashAlgorithm("blake3", 32, _blake3.blake3)
#: CRC-32C (Castagnoli) from awscrt: fast, detects corruption, not tampering
CRC32C = HashAlgorithm("crc32c", 4, Crc32c)

#: the algorithms s3node ships, by name
BUILTIN_ALGORITHMS: dict[str, HashAlgorithm] = {
    a.name: a for a in (SHA256, BLAKE2B, BLAKE3, CRC32C)
}


def update_with_crc32c(
    hasher: Any, data: bytes | bytearray | memoryview, crc: bool
) -> str | None:
    """
    Feed ``data`` to ``hasher`` and, with ``crc``, return the CRC-32C of the
    same bytes (what a storage node checks a chunk's transfer against:
    docs/grpc.md); ``None`` without.  CPU work: mind the reactor.
    """
    hasher.update(data)
    if not crc:
        return None
    check = Crc32c()
    check.update(data)
    return check.hexdigest()


def hexdigest_of(algorithm: Callable[[], Any], data: bytes | bytearray | memoryview) -> str:
    """The lowercase hex digest of ``data`` in one call (CPU work: mind the reactor)."""
    hasher = algorithm()
    hasher.update(data)
    return str(hasher.hexdigest())


def digest_matches(expected_hex: object, actual_hex: object) -> bool:
    """
    Whether two hex digests are equal, ignoring case, in constant time.

    Anything that is not an ASCII ``str`` never matches (and never raises).
    """
    if not isinstance(expected_hex, str) or not isinstance(actual_hex, str):
        return False
    if not expected_hex.isascii() or not actual_hex.isascii():
        return False
    return hmac.compare_digest(expected_hex.lower().encode(), actual_hex.lower().encode())


class _SizedAlgorithm(Protocol):
    name: str
    digest_size: int


def normalize_hexdigest(algorithm: _SizedAlgorithm, text: object) -> str:
    """
    Return ``text`` as the lowercase hex digest of ``algorithm`` (any object
    with a ``name`` and a ``digest_size`` in bytes, like :class:`HashAlgorithm`).

    :raises s3node.errors.InvalidRequest: when ``text`` is not a string of
        exactly ``2 * algorithm.digest_size`` hex characters.
    """
    expected = 2 * algorithm.digest_size
    if isinstance(text, str) and len(text) == expected:
        lowered = text.lower()
        if _HEX.issuperset(lowered):
            return lowered
    shown = repr(text[:80]) if isinstance(text, str) else f"a {type(text).__name__}"
    raise InvalidRequest(
        f"invalid {algorithm.name} digest {shown}: expected {expected} hexadecimal characters"
    )
