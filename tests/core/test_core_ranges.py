"""Tests for :mod:`s3node.core.ranges`."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from s3node.core.ranges import (
    ByteRange,
    ChunkSlice,
    content_range,
    parse_range_header,
    slices_for_range,
    slices_for_uniform,
    unsatisfied_content_range,
)
from s3node.errors import InvalidRange, SizeMismatch


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=0-499", (0, 499)),
        ("bytes=500-999", (500, 999)),
        ("bytes=500-", (500, 999)),
        ("bytes=-500", (500, 999)),
        ("bytes=-1", (999, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=999-999", (999, 999)),
        ("BYTES=1-2", (1, 2)),
        (" bytes = 1-2 ", (1, 2)),
        ("bytes=1-2,", (1, 2)),
        ("bytes=0-" + "9" * 5000, (0, 999)),
        ("bytes=-" + "9" * 5000, (0, 999)),
        # leading zeros do not make a number huge (RFC 9110: 1*DIGIT)
        ("bytes=" + "0" * 40 + "5-" + "0" * 40 + "7", (5, 7)),
        ("bytes=-" + "0" * 40 + "5", (995, 999)),
    ],
)
def test_satisfiable(header: str, expected: tuple[int, int]) -> None:
    """Single ranges of a 1000-byte file parse to inclusive bounds, clamped to the end."""
    assert parse_range_header(header, 1000) == ByteRange(*expected)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "bytes=",
        "items=0-1",
        "bytes=0-1,5-6",
        "bytes=0-1, -3",
        "bytes=5-2",
        "bytes=abc",
        "bytes=1-2-3",
        "bytes=--1",
        "bytes=+1-2",
        "bytes= 1 - 2",
        "bytes=٣-4",
        "bytes=0x1-2",
        "bytes=-",
        "bytes=1.5-2",
    ],
)
def test_ignored(header: str | None) -> None:
    """Missing, malformed, multi-range and non-bytes headers are ignored: serve the whole file."""
    assert parse_range_header(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", 1000),
        ("bytes=1000-2000", 1000),
        ("bytes=" + "9" * 5000 + "-", 1000),
        ("bytes=-0", 1000),
        ("bytes=-" + "0" * 40, 1000),
        ("bytes=0-0", 0),
        ("bytes=0-", 0),
        ("bytes=-0", 0),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    """Ranges that select no byte raise InvalidRange (416)."""
    with pytest.raises(InvalidRange) as info:
        parse_range_header(header, size)
    assert info.value.code == "range_not_satisfiable"


def test_suffix_range_of_empty_file_serves_whole() -> None:
    """A non-zero suffix range of an empty file is satisfiable but empty: serve the whole file."""
    assert parse_range_header("bytes=-5", 0) is None


def test_content_range_values() -> None:
    """Content-Range values follow RFC 9110 for 206 and 416 responses."""
    assert content_range(ByteRange(0, 499), 1000) == "bytes 0-499/1000"
    assert unsatisfied_content_range(1000) == "bytes */1000"


def test_byte_range_validation() -> None:
    """A ByteRange knows its length and refuses negative or reversed bounds."""
    assert ByteRange(5, 5).length == 1 and ByteRange(5, 9).stop == 10
    for bad in ((-1, 3), (4, 3)):
        with pytest.raises(ValueError):
            ByteRange(*bad)


def test_slices_examples() -> None:
    """A range across chunk boundaries becomes one slice per chunk touched."""
    sizes = [4, 4, 4, 2]
    assert slices_for_range(ByteRange(3, 12), sizes) == [
        ChunkSlice(0, 3, 1),
        ChunkSlice(1, 0, 4),
        ChunkSlice(2, 0, 4),
        ChunkSlice(3, 0, 1),
    ]
    assert slices_for_range(ByteRange(5, 6), sizes) == [ChunkSlice(1, 1, 2)]
    assert slices_for_range(ByteRange(13, 13), sizes) == [ChunkSlice(3, 1, 1)]
    assert slices_for_uniform(ByteRange(13, 13), 14, 4) == [ChunkSlice(3, 1, 1)]


def test_slices_beyond_data_rejected() -> None:
    """A range past the chunks' total raises SizeMismatch rather than returning short slices."""
    with pytest.raises(SizeMismatch):
        slices_for_range(ByteRange(0, 14), [4, 4, 4, 2])
    with pytest.raises(SizeMismatch):
        slices_for_uniform(ByteRange(10, 14), 14, 4)


def _read(data: bytes, sizes: list[int], slices: list[ChunkSlice]) -> bytes:
    """Reassemble the bytes ``slices`` select from ``data`` cut into ``sizes``."""
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return b"".join(
        data[starts[s.index] + s.offset : starts[s.index] + s.offset + s.length] for s in slices
    )


@given(st.lists(st.integers(0, 50), min_size=1, max_size=10), st.data())
def test_property_slices_cover_range_exactly(sizes: list[int], data: st.DataObject) -> None:
    """Slices are in order, inside their chunks, non-empty, and read back exactly the range."""
    total = sum(sizes)
    assume(total > 0)
    start = data.draw(st.integers(0, total - 1))
    end = data.draw(st.integers(start, total - 1))
    r = ByteRange(start, end)
    content = bytes(i % 251 for i in range(total))
    slices = slices_for_range(r, sizes)
    assert _read(content, sizes, slices) == content[start : end + 1]
    assert sum(s.length for s in slices) == r.length
    assert [s.index for s in slices] == sorted({s.index for s in slices})
    for s in slices:
        assert s.length > 0 and s.offset >= 0 and s.offset + s.length <= sizes[s.index]


@given(st.integers(1, 500), st.integers(1, 64), st.data())
def test_property_uniform_matches_general(size: int, chunk_size: int, data: st.DataObject) -> None:
    """slices_for_uniform equals slices_for_range over the uniform chunk sizes."""
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    full, rest = divmod(size, chunk_size)
    sizes = [chunk_size] * full + ([rest] if rest else [])
    r = ByteRange(start, end)
    assert slices_for_uniform(r, size, chunk_size) == slices_for_range(r, sizes)


@given(st.integers(0, 2000), st.integers(0, 3000), st.integers(0, 3000) | st.none())
def test_property_parsed_range_inside_file(size: int, first: int, last: int | None) -> None:
    """A parsed int-range always lies inside the file, or is refused when it starts past the end."""
    header = f"bytes={first}-{'' if last is None else last}"
    try:
        r = parse_range_header(header, size)
    except InvalidRange:
        assert first >= size
        return
    if last is not None and last < first:
        assert r is None
        return
    expected_end = size - 1 if last is None else min(last, size - 1)
    assert r == ByteRange(first, expected_end)


@given(st.text(max_size=40), st.integers(0, 100))
def test_property_never_crashes(header: str, size: int) -> None:
    """Any header text yields a range inside the file, None, or InvalidRange: nothing else."""
    try:
        r = parse_range_header(header, size)
    except InvalidRange:
        return
    assert r is None or 0 <= r.start <= r.end < size
