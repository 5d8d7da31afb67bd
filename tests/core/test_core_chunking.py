"""Tests for :mod:`s3node.core.chunking`."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3node.core.chunking import (
    DEFAULT_CHUNK_SIZE,
    FRAME_SIZE,
    SMALL,
    ChunkBuffers,
    Chunker,
    chunk_count,
    frames,
)


def run(chunker: Chunker, pieces: list[bytes]) -> list[bytes | memoryview]:
    """Feed every piece, then finish; return every chunk produced."""
    chunks: list[bytes | memoryview] = []
    for piece in pieces:
        chunks.extend(chunker.feed(piece))
        assert chunker.buffered < chunker.chunk_size
    last = chunker.finish()
    if last is not None:
        chunks.append(last)
    return chunks


def test_defaults() -> None:
    """The default chunk is 8 MiB and the default frame 1 MiB."""
    assert DEFAULT_CHUNK_SIZE == 8 * 1024 * 1024
    assert FRAME_SIZE == 1024 * 1024
    assert Chunker().chunk_size == DEFAULT_CHUNK_SIZE


def test_empty_stream_has_no_chunk() -> None:
    """A 0-byte stream yields no chunk at all, even after empty feeds."""
    chunker = Chunker(4)
    assert chunker.feed(b"") == []
    assert chunker.finish() is None
    assert chunker.chunks_emitted == 0


def test_exact_multiple_has_no_partial_chunk() -> None:
    """A stream of exactly two chunks yields two full chunks and no partial one."""
    chunker = Chunker(4)
    assert chunker.feed(b"abcdefgh") == [b"abcd", b"efgh"]
    assert chunker.finish() is None
    assert chunker.chunks_emitted == 2 and chunker.bytes_fed == 8


def test_partial_last_chunk_and_buffered() -> None:
    """Bytes short of a chunk are held (and counted by buffered) until finish returns them."""
    chunker = Chunker(4)
    assert chunker.feed(b"ab") == []
    assert chunker.buffered == 2
    assert chunker.feed(bytearray(b"cdefg")) == [b"abcd"]
    assert chunker.buffered == 3
    assert chunker.finish() == b"efg"
    assert chunker.buffered == 0


def test_chunks_are_immutable_copies() -> None:
    """Chunks are bytes that do not change when the caller reuses its buffer."""
    chunker = Chunker(4)
    source = bytearray(b"abcdef")
    chunks = chunker.feed(memoryview(source))
    source[:] = b"zzzzzz"
    assert chunks == [b"abcd"] and type(chunks[0]) is bytes
    assert chunker.finish() == b"ef"


def test_feed_after_finish_rejected() -> None:
    """Feeding a finished chunker is a programming error."""
    chunker = Chunker(4)
    chunker.finish()
    with pytest.raises(ValueError):
        chunker.feed(b"a")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_bad_chunk_size_rejected(bad: object) -> None:
    """A chunk size that is not a positive int is a ValueError."""
    with pytest.raises(ValueError):
        Chunker(bad)  # type: ignore[arg-type]


def test_many_tiny_feeds_are_linear() -> None:
    """One-byte feeds into a 1 MiB chunk keep the buffer bounded and produce the right chunks."""
    size = 1024 * 1024
    chunker = Chunker(size)
    data = bytes(range(256)) * (size // 256)
    out: list[bytes] = []
    piece = memoryview(data + data[:100])
    for i in range(len(piece)):
        out.extend(chunker.feed(piece[i : i + 1]))
    assert out == [data]
    assert chunker.finish() == data[:100]


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300),
    st.integers(1, 40),
    st.lists(st.integers(0, 300), max_size=12),
)
def test_property_any_split_same_chunks(data: bytes, size: int, cuts: list[int]) -> None:
    """Any split of the input into feeds gives the same chunks, which concatenate to the input."""
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    chunks = run(Chunker(size), pieces)
    assert chunks == run(Chunker(size), [data])
    assert b"".join(chunks) == data
    assert len(chunks) == chunk_count(len(data), size)
    assert all(len(c) == size for c in chunks[:-1])
    assert all(0 < len(c) <= size for c in chunks)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300),
    st.integers(1, 40),
    st.integers(1, 40),
    st.lists(st.integers(0, 300), max_size=12),
)
def test_property_a_first_chunk_of_its_own_size(data: bytes, first: int, size: int,
                                               cuts: list[int]) -> None:
    """
    With ``first_size``, the first chunk has that many bytes (or all there
    is) and every later one ``chunk_size`` but the last, however the input is
    split.
    """
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    chunks = run(Chunker(size, first_size=first), pieces)
    assert chunks == run(Chunker(size, first_size=first), [data])
    assert b"".join(chunks) == data
    rest = max(len(data) - first, 0)
    assert len(chunks) == (1 if data else 0) + chunk_count(rest, size)
    if data:
        assert len(chunks[0]) == min(first, len(data))
    assert all(len(c) == size for c in chunks[1:-1])
    assert all(0 < len(c) <= size for c in chunks[1:])


def test_a_first_chunk_of_its_own_size_takes_a_buffer_of_its_size() -> None:
    """The first chunk's buffer has the first size; the next chunks' the steady one."""
    buffers = ChunkBuffers(keep=4)
    chunker = Chunker(4 * SMALL, buffers, first_size=2 * SMALL)
    assert chunker.room == 2 * SMALL
    data = bytes(range(256)) * (7 * SMALL // 256)
    chunks = [c for i in range(0, len(data), 65536) for c in chunker.feed(data[i:i + 65536])]
    assert [len(c) for c in chunks] == [2 * SMALL, 4 * SMALL]
    assert all(isinstance(c, memoryview) and len(c.obj) == len(c) for c in chunks)
    assert chunker.chunk_size == 4 * SMALL and chunker.room == 3 * SMALL
    assert b"".join(chunks) + bytes(chunker.finish() or b"") == data


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_first_size_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        Chunker(4, first_size=bad)  # type: ignore[arg-type]


@given(st.binary(max_size=100), st.integers(1, 30))
def test_property_frames(data: bytes, frame_size: int) -> None:
    """Frames are views of at most frame_size bytes that concatenate to the data."""
    parts = list(frames(data, frame_size))
    assert b"".join(parts) == data
    assert all(isinstance(p, memoryview) and 0 < len(p) <= frame_size for p in parts)
    assert len(parts) == chunk_count(len(data), frame_size)


def test_frames_default_size_and_no_copy() -> None:
    """frames splits at 1 MiB by default and shares the chunk's memory."""
    chunk = bytearray(2 * FRAME_SIZE + 1)
    parts = list(frames(chunk))
    assert [len(p) for p in parts] == [FRAME_SIZE, FRAME_SIZE, 1]
    chunk[0] = 7
    assert parts[0][0] == 7


def test_chunk_count() -> None:
    """chunk_count is the ceiling of size / chunk_size, 0 for an empty file."""
    assert chunk_count(0, 8) == 0
    assert chunk_count(1, 8) == 1
    assert chunk_count(8, 8) == 1
    assert chunk_count(9, 8) == 2
    with pytest.raises(ValueError):
        chunk_count(-1, 8)
    with pytest.raises(ValueError):
        chunk_count(1, 0)


def test_a_mutable_buffer_is_copied_when_fed() -> None:
    """Changing a bytearray after feeding it does not change the chunk it went into."""
    chunker = Chunker(8)
    buf = bytearray(b"abcd")
    assert chunker.feed(buf) == []
    buf[:] = b"XXXX"
    assert chunker.feed(b"efgh") == [b"abcdefgh"]
    view = memoryview(bytearray(b"1234"))
    chunker.feed(view)
    view[0] = ord("9")
    assert chunker.finish() == b"1234"


def test_a_large_chunk_keeps_no_reference_to_the_fed_bytes() -> None:
    """Past SMALL buffered bytes a chunk has its own buffer: every piece fed is copied
    in and released at once (no socket buffer stays alive for its chunk), and the
    chunks still concatenate to the input."""
    import random
    import sys

    size = 3 * SMALL + 12345
    data = random.Random(7).randbytes(2 * size + 999)
    chunker = Chunker(size)
    out: list[bytes | memoryview] = []
    pos = 0
    for n in itertools.cycle([SMALL // 3, SMALL, 100_000, 1]):
        if pos >= len(data):
            break
        piece = data[pos : pos + n]
        pos += n
        before = sys.getrefcount(piece)
        out.extend(chunker.feed(piece))
        if chunker.buffered > SMALL:
            assert sys.getrefcount(piece) == before  # not kept
    last = chunker.finish()
    assert last is not None and type(last) is bytes  # 999 bytes: the pieces, joined
    assert all(type(c) is memoryview and c.readonly for c in out)  # views of their buffers
    assert b"".join([*out, last]) == data and [len(c) for c in out] == [size, size]


def test_small_and_large_paths_give_the_same_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """With SMALL lowered so that both ways of holding a chunk's bytes (the caller's
    pieces, then the chunk's own buffer) run on small data, any split gives the same chunks."""
    import random

    from s3node.core import chunking

    monkeypatch.setattr(chunking, "SMALL", 5)
    rng = random.Random(3)
    for _ in range(300):
        data = rng.randbytes(rng.randrange(0, 120))
        size = rng.randrange(1, 40)
        cuts = sorted({0, len(data), *(rng.randrange(0, len(data) + 1) for _ in range(6))})
        pieces = [data[a:b] for a, b in itertools.pairwise(cuts)]
        chunks = run(Chunker(size), pieces)
        assert b"".join(chunks) == data
        assert all(len(c) == size for c in chunks[:-1])
        # the caller's pieces joined, or a read-only view of the chunk's own buffer
        assert all(type(c) is bytes or (type(c) is memoryview and c.readonly) for c in chunks)
        assert len(chunks) == chunk_count(len(data), size)


def test_room_and_the_moment_a_chunk_takes_its_buffer() -> None:
    """``room`` is what completes the chunk being collected; ``takes_buffer(n)`` says whether
    feeding ``n`` of it makes that chunk take a buffer of its own (past SMALL, not yet
    complete), which happens once per chunk."""
    size = 4 * SMALL
    chunker = Chunker(size)
    assert chunker.room == size
    assert not chunker.takes_buffer(SMALL)  # pieces up to SMALL are kept as they came
    assert chunker.takes_buffer(SMALL + 1)
    assert not chunker.takes_buffer(size)  # complete at once: handed out, not collected
    chunker.feed(bytes(SMALL))
    assert chunker.room == size - SMALL
    assert chunker.takes_buffer(1)
    chunker.feed(b"x")
    assert not chunker.takes_buffer(1)  # it has its buffer already
    assert chunker.feed(bytes(chunker.room)) == [bytes(SMALL) + b"x" + bytes(size - SMALL - 1)]
    assert chunker.room == size
    assert chunker.takes_buffer(SMALL + 1)  # the next chunk takes its own


def test_chunk_buffers_are_reused_once_given_back() -> None:
    """A large chunk's buffer given back collects a later chunk; up to ``keep`` wait."""
    buffers = ChunkBuffers(keep=1)
    size = 2 * SMALL

    def chunk_of(byte: int) -> memoryview:
        chunker = Chunker(size, buffers)
        assert chunker.feed(bytes([byte]) * SMALL) == []
        (chunk,) = chunker.feed(bytes([byte]) * SMALL)
        assert isinstance(chunk, memoryview)
        return chunk

    first, second = chunk_of(1), chunk_of(2)  # both out at once: two buffers
    assert buffers.allocated == 2 and second.obj is not first.obj
    buffers.give(first)
    assert buffers.free == 1
    third = chunk_of(3)
    assert third == bytes([3]) * size and third.obj is first.obj  # reused, no allocation
    assert buffers.allocated == 2 and second == bytes([2]) * size
    buffers.give(second)
    buffers.give(third)
    assert buffers.free == 1  # the other one is freed: only ``keep`` wait


def test_a_buffer_given_twice_is_not_handed_out_twice() -> None:
    """Giving a chunk back twice (or anything that is not a buffer out of this pool) does
    nothing: two chunks being collected never share a buffer."""
    buffers = ChunkBuffers(keep=4)
    chunker = Chunker(2 * SMALL, buffers)
    chunker.feed(bytes(SMALL + 1))
    (chunk,) = chunker.feed(bytes(SMALL - 1))
    buffers.give(chunk)
    buffers.give(chunk)
    buffers.give(memoryview(bytearray(2 * SMALL)))
    buffers.give(b"x" * (2 * SMALL))
    assert buffers.free == 1
    a = buffers.take(2 * SMALL)
    b = buffers.take(2 * SMALL)
    assert a is chunk.obj and b is not a and buffers.allocated == 2


def test_a_reused_buffer_gives_the_same_chunks() -> None:
    """Chunks collected in reused buffers are the stream's bytes, whatever they held before
    (a short last chunk is a view of just its bytes)."""
    import random

    rng = random.Random(11)
    buffers = ChunkBuffers(keep=2)
    size = 2 * SMALL + 7
    for _ in range(4):
        data = rng.randbytes(rng.randrange(size, 4 * size))
        chunker = Chunker(size, buffers)
        chunks = []
        for i in range(0, len(data), 65536):
            for chunk in chunker.feed(data[i : i + 65536]):
                chunks.append(bytes(chunk))
                buffers.give(chunk)  # consumed at once: the next chunk reuses its buffer
        last = chunker.finish()
        assert last is not None
        chunks.append(bytes(last))
        buffers.give(last)
        assert b"".join(chunks) == data
    assert buffers.allocated == 1


def test_a_buffer_of_another_size_is_not_reused() -> None:
    """A pool shared by chunkers of different sizes hands each a buffer of its size."""
    buffers = ChunkBuffers(keep=2)
    buffers.give(buffers.take(3 * SMALL))
    assert len(buffers.take(2 * SMALL)) == 2 * SMALL and buffers.allocated == 2


def test_clear_frees_the_buffers_waiting_for_reuse() -> None:
    """``clear`` empties the free list; a buffer still out can be given back after it."""
    buffers = ChunkBuffers(keep=2)
    a, b = buffers.take(SMALL), buffers.take(SMALL)
    buffers.give(memoryview(a).toreadonly())
    assert buffers.free == 1
    buffers.clear()
    assert buffers.free == 0 and buffers.out == 1
    buffers.give(memoryview(b))
    assert buffers.free == 1 and buffers.out == 0
