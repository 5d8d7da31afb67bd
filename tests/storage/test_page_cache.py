"""
The chunks a node leaves in the page cache (:mod:`s3node.storage.pagecache`):
small ones stay, large ones are dropped once written and once read.  Residency
is read with ``mincore(2)`` on real files in the test's temp dir (Linux).
"""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
from pathlib import Path
from typing import Any

from storage.conftest import open_disk_store
from support.aio import aio_test
from support.chunks import aiter_of, collect, new_chunk

from s3node.storage import diskfiles
from s3node.storage.diskfiles import TempWriter
from s3node.storage.pagecache import DROP_AT, drop_pages, drops, start_writeback

SIZE = DROP_AT


def resident_pages(path: Path) -> int:
    """How many of ``path``'s pages are in the page cache now (``mincore``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            vec = ctypes.create_string_buffer((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE)
            if libc.mincore(address, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
            return sum(b & 1 for b in vec.raw)
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)


def test_drop_pages_drops_a_synced_file(tmp_path):
    """The residency check works (a file just written is cached), and ``drop_pages``
    takes a synced file's pages out."""
    path = tmp_path / "f"
    with path.open("wb") as f:
        f.write(os.urandom(SIZE))
        f.flush()
        os.fsync(f.fileno())
        assert resident_pages(path) > 0
        drop_pages(f.fileno())
    assert resident_pages(path) == 0


def test_only_chunks_of_drop_at_bytes_or_more_are_dropped():
    assert drops(DROP_AT) and drops(8 * DROP_AT)
    assert not drops(DROP_AT - 1) and not drops(4096)


async def _put(store: Any, size: int) -> tuple[str, bytes]:
    chunk_id, data, digest = new_chunk(size)
    await store.put(chunk_id, size=size, algorithm="sha256", digest=digest, data=aiter_of(data))
    return chunk_id, data


@aio_test
async def test_a_node_drops_a_large_chunk_once_written_and_once_read(
        tmp_path, algorithms, executor):
    """With fsync on, a chunk of DROP_AT bytes leaves the page cache as soon as it is
    stored; a read brings it back from the disk, whole, and leaves nothing cached."""
    store = open_disk_store(tmp_path / "node", algorithms, executor)
    try:
        chunk_id, data = await _put(store, SIZE)
        path = store.layout.data_path(chunk_id)
        assert resident_pages(path) == 0
        read = await store.read(chunk_id, reader_verifies=True)
        assert await collect(read.pieces) == data
        assert resident_pages(path) == 0
    finally:
        store.close()


@aio_test
async def test_a_node_leaves_small_chunks_cached(tmp_path, algorithms, executor):
    """A chunk under DROP_AT bytes stays in the page cache after its put and its read."""
    store = open_disk_store(tmp_path / "node", algorithms, executor)
    try:
        chunk_id, data = await _put(store, SIZE // 4)
        path = store.layout.data_path(chunk_id)
        assert resident_pages(path) > 0
        read = await store.read(chunk_id)
        assert await collect(read.pieces) == data
        assert resident_pages(path) > 0
    finally:
        store.close()


@aio_test
async def test_without_fsync_nothing_is_dropped_after_a_put(tmp_path, algorithms, executor):
    """Without fsync a chunk's pages may still be dirty: a put leaves them cached."""
    store = open_disk_store(tmp_path / "node", algorithms, executor, fsync=False)
    try:
        chunk_id, _ = await _put(store, SIZE)
        assert resident_pages(store.layout.data_path(chunk_id)) > 0
    finally:
        store.close()


def test_start_writeback_advises_only_its_range(tmp_path):
    """
    ``start_writeback`` gives the kernel the advice that starts writeback of a
    range, which also drops the range's clean pages: on a synced file, the pages
    of that range leave the cache and the others stay.  (The kernel caches a
    file in folios of up to 2 MiB here and drops only whole ones: halves of 4 MiB.)
    """
    path = tmp_path / "f"
    size = 8 * 1024 * 1024
    with path.open("wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
        pages = resident_pages(path)
        assert pages == size // mmap.PAGESIZE
        start_writeback(f.fileno(), size // 2, size // 2)
    assert resident_pages(path) == pages // 2


def test_a_large_put_hands_each_piece_to_the_disk_as_it_arrives(
        tmp_path, algorithms, executor, monkeypatch):
    """With fsync on, each piece of a chunk of DROP_AT bytes or more is handed to the
    disk once written (before the fsync); without fsync, or for a smaller chunk, none."""
    started: list[tuple[str, int, int]] = []
    monkeypatch.setattr(diskfiles, "start_writeback", lambda fd, offset, length: started.append(
        (os.readlink(f"/proc/self/fd/{fd}"), offset, length)))
    store = open_disk_store(tmp_path / "node", algorithms, executor)
    large, no_fsync, small = (
        TempWriter(store.layout, new_chunk(0)[0], size, hashlib.sha256(), fsync=fsync)
        for size, fsync in ((SIZE + 100, True), (SIZE + 100, False), (SIZE - 1, True)))
    try:
        for writer in (large, no_fsync, small):
            for start in range(0, writer.size, 400_000):
                writer.write(os.urandom(min(400_000, writer.size - start)))
        assert started == [(str(large.path), start, min(400_000, large.size - start))
                           for start in range(0, large.size, 400_000)]
    finally:
        for writer in (large, no_fsync, small):
            writer.discard()
        store.close()
