"""
HTTP byte ranges (RFC 9110 section 14) and their mapping onto chunks.

s3node serves one range per request.  :func:`parse_range_header` follows the
RFC's leniency: a missing, malformed or multi-range ``Range`` header, or one
in another unit, is ignored (the whole file is served); a well-formed single
range that selects no byte of the file raises
:class:`~s3node.errors.InvalidRange` (416).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from s3node.errors import InvalidRange, SizeMismatch

__all__ = [
    "ByteRange",
    "ChunkSlice",
    "content_range",
    "parse_range_header",
    "slices_for_range",
    "slices_for_uniform",
    "unsatisfied_content_range",
]

# ASCII digits only: str.isdigit() and int() also accept other scripts' digits
_INT_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE = re.compile(r"-([0-9]+)")
#: numbers longer than this are "huge" (and never reach int()'s digit limit)
_MAX_DIGITS = 30
_HUGE = 10**_MAX_DIGITS


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"  # leading zeros are allowed and mean nothing
    return int(digits) if len(digits) <= _MAX_DIGITS else _HUGE


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` of a file, both included (as in HTTP)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"invalid byte range {self.start}-{self.end}")

    @property
    def length(self) -> int:
        """How many bytes the range covers (at least 1)."""
        return self.end - self.start + 1

    @property
    def stop(self) -> int:
        """The offset just past the range (exclusive end, as in slices)."""
        return self.end + 1


def parse_range_header(value: str | None, size: int) -> ByteRange | None:
    """
    The single byte range a ``Range`` header asks of a file of ``size`` bytes.

    Accepts ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the last ``n``
    bytes); ``b`` past the end is clamped to ``size - 1``, a suffix longer than
    the file selects all of it.

    :returns: ``None`` when the whole file should be served: no header, another
        unit, malformed syntax, ``b < a``, several ranges, or a suffix range of
        an empty file (satisfiable per RFC 9110, but a 206 cannot express an
        empty range).
    :raises s3node.errors.InvalidRange: when the range selects no byte:
        ``a >= size`` (including any ``a-`` range of an empty file) or ``-0``.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, not {size!r}")
    if not value:
        return None
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in spec.split(",") if s.strip()]
    if len(specs) != 1:
        return None  # none, or several ranges: serve the whole file
    spec = specs[0]
    suffix = _SUFFIX_RANGE.fullmatch(spec)
    if suffix is not None:
        length = _number(suffix.group(1))
        if length == 0:
            raise InvalidRange(f"range {spec!r} selects no byte")
        if size == 0:
            return None
        return ByteRange(max(size - length, 0), size - 1)
    match = _INT_RANGE.fullmatch(spec)
    if match is None:
        return None
    first = _number(match.group(1))
    last = _number(match.group(2)) if match.group(2) else None
    if last is not None and last < first:
        return None  # an invalid range-spec: ignored
    if first >= size:
        raise InvalidRange(f"range {spec[:60]!r} starts at or past the end of {size} bytes")
    return ByteRange(first, size - 1 if last is None else min(last, size - 1))


def content_range(r: ByteRange, size: int) -> str:
    """The ``Content-Range`` value of a 206 response: ``bytes a-b/size``."""
    return f"bytes {r.start}-{r.end}/{size}"


def unsatisfied_content_range(size: int) -> str:
    """The ``Content-Range`` value of a 416 response: ``bytes */size``."""
    return f"bytes */{size}"


@dataclass(frozen=True)
class ChunkSlice:
    """The part of chunk number ``index`` a range needs: ``length`` bytes at ``offset``."""

    index: int
    offset: int
    length: int


def _beyond(r: ByteRange, total: int) -> SizeMismatch:
    return SizeMismatch(f"range {r.start}-{r.end} reaches past the chunks' {total} bytes")


def slices_for_range(r: ByteRange, chunk_sizes: Sequence[int]) -> list[ChunkSlice]:
    """
    The chunk slices that make up ``r``, in order, given every chunk's size.

    Works with any sizes (the last chunk is usually shorter); chunks of 0
    bytes are skipped.

    :raises s3node.errors.SizeMismatch: when ``r`` ends past the chunks' total.
    """
    slices: list[ChunkSlice] = []
    chunk_start = 0
    for index, chunk_size in enumerate(chunk_sizes):
        if chunk_size < 0:
            raise ValueError(f"chunk {index} has a negative size {chunk_size}")
        chunk_stop = chunk_start + chunk_size
        if chunk_stop > r.start and chunk_size:
            offset = max(r.start - chunk_start, 0)
            length = min(r.stop, chunk_stop) - (chunk_start + offset)
            slices.append(ChunkSlice(index, offset, length))
            if chunk_stop >= r.stop:
                return slices
        chunk_start = chunk_stop
    raise _beyond(r, chunk_start)


def slices_for_uniform(r: ByteRange, size: int, chunk_size: int) -> list[ChunkSlice]:
    """
    :func:`slices_for_range` for a file of ``size`` bytes cut into chunks of
    ``chunk_size`` bytes (the last one shorter), without listing the sizes.

    :raises s3node.errors.SizeMismatch: when ``r`` ends past ``size``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size!r}")
    if r.stop > size:
        raise _beyond(r, size)
    slices: list[ChunkSlice] = []
    for index in range(r.start // chunk_size, r.end // chunk_size + 1):
        chunk_start = index * chunk_size
        offset = max(r.start - chunk_start, 0)
        length = min(r.stop, chunk_start + chunk_size, size) - (chunk_start + offset)
        slices.append(ChunkSlice(index, offset, length))
    return slices
