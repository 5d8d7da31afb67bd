"""
A stored chunk's bytes, read off the event loop and verified on the way out.

:class:`s3node.storage.diskstore.DiskChunkStore` opens the chunk and hands it
here; :func:`read_pieces` yields its pieces (a frame at a time, each read on
the store's executor) and, when verifying, holds back the last one until the
whole chunk's digest matched its sidecar.  :func:`copy_into` writes an
unverified read into another file descriptor instead (a local bulk get's
memfd), kernel to kernel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import NoReturn

from s3node.core.checksums import digest_matches
from s3node.core.chunking import FRAME_SIZE
from s3node.storage.chunkfile import ChunkFile

__all__ = ["copy_into", "read_pieces"]


async def read_pieces(
    f: ChunkFile,
    offset: int,
    length: int,
    verifying: bool,
    *,
    run: Callable[[Callable[[], bytes]], Awaitable[bytes]],
    close: Callable[[], Awaitable[None]],
    corrupt: Callable[[ChunkFile, str], Awaitable[NoReturn]],
) -> AsyncIterator[bytes]:
    """
    Yield ``length`` bytes of ``f`` from ``offset``, then close it.

    :param verifying: read and hash the whole chunk, whatever the range, and
        yield the last piece only once the digest matched
    :param run: runs a blocking read on the store's executor
    :param close: closes ``f`` (even when the caller is cancelled)
    :param corrupt: quarantines ``f``'s chunk and raises
        :class:`~s3node.errors.CorruptChunk` with the reason given; called
        when the data file is short or its digest does not match
    """
    info = f.info
    try:
        start, end = (0, info.size) if verifying else (offset, offset + length)
        stop = offset + length
        held: bytes | None = None
        pos = start
        while pos < end:
            n = min(FRAME_SIZE, end - pos)
            data = await run(partial(f.read_at, pos, n, hash=verifying))
            if len(data) != n:
                await corrupt(f, f"data file ended at byte {pos + len(data)}")
            lo, hi = max(pos, offset), min(pos + n, stop)
            piece = data if (lo, hi) == (pos, pos + n) else data[lo - pos : hi - pos]
            pos += n
            if lo < hi:
                if held is not None:
                    yield held
                held = piece
        if verifying:
            actual = f.hexdigest()
            if not digest_matches(info.digest, actual):
                await corrupt(f, f"{info.algorithm} digest is {actual}, sidecar says {info.digest}")
        if held is not None:
            yield held
    finally:
        await close()


async def copy_into(
    f: ChunkFile,
    offset: int,
    length: int,
    fd: int,
    *,
    run: Callable[[Callable[[], int]], Awaitable[int]],
    corrupt: Callable[[ChunkFile, str], Awaitable[NoReturn]],
) -> int:
    """
    Write ``length`` bytes of ``f`` from ``offset`` at the start of ``fd``,
    unhashed, in one job on the store's executor (``sendfile``: no copy in
    user space); ``length``.  The caller closes ``f``.

    :param corrupt: as :func:`read_pieces`'s, when the data file is short
    :raises OSError: what ``fd`` refused (a memfd sealed against writes)
    """
    sent = await run(partial(f.send_to, fd, offset, length))
    if sent != length:
        await corrupt(f, f"data file ended at byte {offset + sent}")
    return sent
