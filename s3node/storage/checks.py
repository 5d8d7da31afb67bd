"""
Request checks every chunk store applies the same way, before touching data.

Each check raises a :class:`s3node.errors.S3NodeError` subclass with a message
meant for the client; the gRPC edge maps it to a status
(:mod:`s3node.storage.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from s3node.core.checksums import CRC32C, digest_matches, normalize_hexdigest
from s3node.core.ids import validate_chunk_id
from s3node.errors import ChunkExists, InvalidRange, InvalidRequest, SizeMismatch, TooLarge
from s3node.interfaces import ChecksumAlgorithm
from s3node.storage.types import ChunkInfo, PutResult

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PutHeader",
    "check_page",
    "check_put_header",
    "check_range",
    "check_same",
    "drain_put",
    "put_result",
]

#: ListChunks page size when the client names none
DEFAULT_PAGE_SIZE = 1000
#: the largest ListChunks page
MAX_PAGE_SIZE = 10_000
#: the longest hex digest accepted from an algorithm that does not declare its size
_MAX_DIGEST_CHARS = 256
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class PutHeader:
    """A checked PutChunk header."""

    chunk_id: str
    size: int
    algorithm: ChecksumAlgorithm
    #: the expected digest, lowercase hex
    digest: str
    #: the sender's CRC-32C of the bytes (lowercase hex), which the store checks
    #: them against instead of hashing them with ``algorithm``; ``None``: hash them
    transfer_crc32c: str | None = None

    def checker(self) -> Any:
        """A fresh hasher for the check the bytes get: CRC-32C when the sender gave one."""
        return CRC32C() if self.transfer_crc32c is not None else self.algorithm()

    @property
    def expected(self) -> str:
        """The digest :meth:`checker`'s result must match."""
        return self.transfer_crc32c if self.transfer_crc32c is not None else self.digest


def _check_digest(algorithm: Any, digest: object) -> str:
    if hasattr(algorithm, "digest_size"):
        return normalize_hexdigest(algorithm, digest)
    if isinstance(digest, str) and 0 < len(digest) <= _MAX_DIGEST_CHARS:
        lowered = digest.lower()
        if _HEX.issuperset(lowered):
            return lowered
    shown = repr(digest[:80]) if isinstance(digest, str) else f"a {type(digest).__name__}"
    raise InvalidRequest(f"invalid {algorithm.name} digest {shown}: expected hexadecimal")


def check_put_header(
    *,
    chunk_id: object,
    size: int,
    algorithm: str,
    digest: object,
    algorithms: Mapping[str, ChecksumAlgorithm],
    max_chunk_size: int,
    transfer_crc32c: object = None,
) -> PutHeader:
    """
    Check a put's header.

    ``transfer_crc32c`` (``None`` or ``""``: absent) is the sender's CRC-32C
    of the same bytes ``digest`` covers; the store then checks the bytes
    against it and records ``digest`` as given (docs/grpc.md).

    :raises s3node.errors.InvalidChunkId: for a malformed id.
    :raises s3node.errors.InvalidRequest: for an unknown algorithm (the message
        lists the known ones) or a malformed digest.
    :raises s3node.errors.TooLarge: when ``size`` exceeds ``max_chunk_size``.
    """
    checked_id = validate_chunk_id(chunk_id)
    algo = algorithms.get(algorithm) if isinstance(algorithm, str) else None
    if algo is None:
        raise InvalidRequest(
            f"unknown checksum algorithm {algorithm!r}; available: {', '.join(sorted(algorithms))}"
        )
    if not isinstance(size, int) or size < 0:
        raise InvalidRequest(f"invalid chunk size {size!r}")
    if size > max_chunk_size:
        raise TooLarge(f"chunk of {size} bytes exceeds this node's limit of {max_chunk_size} bytes")
    transfer = _check_digest(CRC32C, transfer_crc32c) if transfer_crc32c else None
    return PutHeader(checked_id, size, algo, _check_digest(algo, digest), transfer)


def check_range(size: int, offset: int, length: int | None) -> tuple[int, int]:
    """
    Check a read of ``length`` bytes from ``offset`` in a chunk of ``size`` bytes.

    ``length`` ``None`` reads to the end.  A range must lie within the chunk
    (``offset == size`` with length 0 or ``None`` is an empty read).

    :return: ``(offset, length)`` with ``length`` filled in.
    :raises s3node.errors.InvalidRange: when the range reaches past the end.
    """
    if offset < 0 or offset > size:
        raise InvalidRange(f"offset {offset} is beyond the chunk's {size} bytes")
    if length is None:
        return offset, size - offset
    if length < 0 or offset + length > size:
        raise InvalidRange(
            f"range of {length} bytes at offset {offset} is beyond the chunk's {size} bytes"
        )
    return offset, length


def check_page(
    page_size: int, page_token: str, check_token: Callable[[str], object] = validate_chunk_id
) -> tuple[int, str]:
    """
    Check a listing request.

    :param check_token: raises :class:`s3node.errors.InvalidRequest` for a
        token that names nothing listed (default: one that is not a chunk id)
    :return: ``(limit, after)``: the page size (0 means the default) and the id
        to continue after (``""`` for the first page).
    :raises s3node.errors.InvalidRequest: for a page size over the maximum or a
        bad token.
    """
    if page_size == 0:
        page_size = DEFAULT_PAGE_SIZE
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"page_size must be 1 to {MAX_PAGE_SIZE}, not {page_size}")
    if page_token:
        try:
            check_token(page_token)
        except InvalidRequest:
            raise InvalidRequest(f"invalid page_token {page_token[:80]!r}") from None
    return page_size, page_token


def check_same(existing: ChunkInfo, header: PutHeader) -> None:
    """
    Check that a put's header describes the chunk already stored under its id.

    :raises s3node.errors.ChunkExists: when algorithm, size or digest differ.
    """
    same = (
        existing.algorithm == header.algorithm.name
        and existing.size == header.size
        and digest_matches(existing.digest, header.digest)
    )
    if not same:
        raise ChunkExists(
            f"chunk {existing.chunk_id} is already stored with other content "
            f"({existing.size} bytes, {existing.algorithm} {existing.digest})"
        )


async def drain_put(header: PutHeader, data: AsyncIterable[bytes]) -> None:
    """Consume the data of a put whose chunk is already stored, checking its size."""
    received = 0
    async for piece in data:
        received += len(piece)
        if received > header.size:
            raise SizeMismatch(
                f"received more than the declared {header.size} bytes of chunk {header.chunk_id}"
            )
    if received != header.size:
        raise SizeMismatch(
            f"received {received} of the declared {header.size} bytes of chunk {header.chunk_id}"
        )


def put_result(info: ChunkInfo, *, created: bool) -> PutResult:
    """The reply to a put of ``info``."""
    return PutResult(info.chunk_id, info.size, info.algorithm, info.digest, created)
