"""
Chunk buffers another process can read (:class:`ChunkBuffers` with ``shared``):
each a memfd's mapping, whose descriptor :func:`shared_fd` gives for a chunk.
"""

from __future__ import annotations

import os

import pytest

from s3node.core.chunking import SHARED_BUFFERS, SMALL, ChunkBuffers, Chunker, retire, shared_fd

pytestmark = pytest.mark.skipif(not SHARED_BUFFERS, reason="memfds are Linux's")


def chunk_of(buffers: ChunkBuffers, data: bytes, size: int) -> memoryview:
    chunker = Chunker(size, buffers)
    chunks = [c for i in range(0, len(data), 65536) for c in chunker.feed(data[i : i + 65536])]
    last = chunker.finish()
    (chunk,) = chunks or [last]
    assert isinstance(chunk, memoryview)
    return chunk


def test_a_shared_chunk_is_the_first_bytes_of_its_memfd() -> None:
    """What another process reads from the descriptor is the chunk, full or short."""
    buffers = ChunkBuffers(keep=1, shared=True)
    full = os.urandom(2 * SMALL)
    chunk = chunk_of(buffers, full, 2 * SMALL)
    fd = shared_fd(chunk)
    assert fd is not None and os.pread(fd, len(chunk), 0) == full == chunk
    buffers.give(chunk)
    short = os.urandom(SMALL + 10)
    again = chunk_of(buffers, short, 2 * SMALL)  # the same buffer, reused
    assert again.obj is chunk.obj and shared_fd(again) == fd
    assert os.pread(fd, len(again), 0) == short == again
    assert buffers.allocated == 1


def test_the_descriptor_handed_out_reads_but_cannot_write() -> None:
    """Another process given the descriptor can read the chunk, never change it."""
    buffers = ChunkBuffers(shared=True)
    data = os.urandom(2 * SMALL)
    chunk = chunk_of(buffers, data, 2 * SMALL)
    fd = shared_fd(chunk)
    assert fd is not None
    with pytest.raises(OSError):
        os.pwrite(fd, b"changed", 0)
    with pytest.raises(OSError):
        os.ftruncate(fd, 0)
    assert chunk == data


def test_other_chunks_have_no_descriptor() -> None:
    """A private pool's chunk, a small chunk (the caller's bytes) and bytes have none."""
    private = chunk_of(ChunkBuffers(), os.urandom(2 * SMALL), 2 * SMALL)
    assert shared_fd(private) is None
    small = Chunker(2 * SMALL, ChunkBuffers(shared=True))
    small.feed(b"x" * 100)
    assert shared_fd(small.finish() or b"") is None
    assert shared_fd(b"x" * SMALL) is None and shared_fd(memoryview(bytearray(10))) is None


def test_a_retired_buffer_is_never_reused_and_its_memfd_closes_with_it() -> None:
    """
    A chunk whose put was given up (another process may still read it) goes
    back, but its buffer is freed, not handed out again; a freed buffer
    closes its descriptor.
    """
    buffers = ChunkBuffers(keep=2, shared=True)
    chunk = chunk_of(buffers, os.urandom(2 * SMALL), 2 * SMALL)
    fd = shared_fd(chunk)
    assert fd is not None
    retire(chunk)
    buffers.give(chunk)
    assert buffers.free == 0 and buffers.out == 0
    del chunk
    with pytest.raises(OSError):
        os.fstat(fd)
    later = chunk_of(buffers, os.urandom(2 * SMALL), 2 * SMALL)
    assert buffers.allocated == 2 and shared_fd(later) is not None
