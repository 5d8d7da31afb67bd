"""
The chunks a node leaves in the page cache: the window of the chunks written
last (:mod:`s3node.storage.pagecache`), alone and in the disk store.  Residency
is read with ``mincore(2)`` on real files in the test's temp dir (Linux).
"""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

from storage.conftest import open_disk_store
from support.aio import aio_test
from support.chunks import aiter_of, collect, new_chunk

from s3node.storage.pagecache import WriteWindow, drop_cached

SIZE = 1024 * 1024


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


def test_the_window_holds_the_chunks_written_last():
    """Past its limit the window lets its oldest chunks go, in order; a chunk larger
    than the whole window leaves it at once."""
    window = WriteWindow(limit=10)
    a, b, c, d, big = (Path(name) for name in ("a", "b", "c", "d", "big"))
    assert window.written(a, 4) == []
    assert window.written(b, 4) == []
    assert window.written(c, 4) == [a]
    assert window.cached == 8
    assert window.written(d, 10) == [b, c]
    assert window.written(big, 11) == [d, big]
    assert window.cached == 0


def test_drop_cached_drops_a_synced_file_and_ignores_a_missing_one(tmp_path):
    """The residency check works (a file just written is cached), and ``drop_cached``
    takes a synced file's pages out; a file gone since is no error."""
    path = tmp_path / "f"
    with path.open("wb") as f:
        f.write(os.urandom(SIZE))
        f.flush()
        os.fsync(f.fileno())
    assert resident_pages(path) > 0
    drop_cached(path)
    assert resident_pages(path) == 0
    drop_cached(tmp_path / "gone")


@aio_test
async def test_a_node_leaves_its_latest_chunks_cached_and_drops_older_ones(
        tmp_path, algorithms, executor):
    """With fsync on, the chunks written last stay in the page cache up to the window;
    older ones are dropped, and still read back whole."""
    store = open_disk_store(tmp_path / "node", algorithms, executor)
    store.write_window.limit = 2 * SIZE
    try:
        chunks = [new_chunk(SIZE) for _ in range(3)]
        for chunk_id, data, digest in chunks:
            await store.put(chunk_id, size=SIZE, algorithm="sha256", digest=digest,
                            data=aiter_of(data))
        resident = [resident_pages(store.layout.data_path(c)) for c, _, _ in chunks]
        assert resident[0] == 0 and resident[1] > 0 and resident[2] > 0
        read = await store.read(chunks[0][0])
        assert await collect(read.pieces) == chunks[0][1]
    finally:
        store.close()


@aio_test
async def test_without_fsync_nothing_is_dropped(tmp_path, algorithms, executor):
    """Without fsync a chunk's pages may still be dirty: the window is not used."""
    store = open_disk_store(tmp_path / "node", algorithms, executor, fsync=False)
    store.write_window.limit = 0
    try:
        chunk_id, data, digest = new_chunk(SIZE)
        await store.put(chunk_id, size=SIZE, algorithm="sha256", digest=digest,
                        data=aiter_of(data))
        assert resident_pages(store.layout.data_path(chunk_id)) > 0
        assert store.write_window.cached == 0
    finally:
        store.close()
