"""
Splitting a byte stream into fixed-size chunks, and chunks into frames.

Every file is cut into chunks of exactly ``chunk_size`` bytes except the last,
which is shorter (and non-empty); a 0-byte file has no chunk at all.  A chunk
travels to a storage node as a sequence of frames (gRPC messages) of at most
``frame_size`` bytes.
"""

from __future__ import annotations

import mmap
import os
import weakref
from collections.abc import Iterator

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FRAME_SIZE",
    "SMALL",
    "ChunkBuffers",
    "Chunker",
    "chunk_count",
    "frames",
    "retire",
    "shared_fd",
]

#: the default chunk size: 8 MiB
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
#: bytes a chunk may hold as the caller's pieces before it gets a buffer of
#: its full size: 1 MiB, one socket read (a small object never takes more
#: memory than its size, a large one never holds the socket's buffers)
SMALL = 1024 * 1024
#: bytes per gRPC data message, both ways (PutChunk from the gateway, GetChunk
#: from a node's disk or memory): 1 MiB, well under gRPC's 4 MiB default limit
FRAME_SIZE = 1024 * 1024


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


class _Buffer(bytearray):
    """A chunk buffer: a ``bytearray`` that :class:`ChunkBuffers` can track weakly."""

    __slots__ = ("__weakref__",)


class _SharedBuffer(mmap.mmap):
    """
    A chunk buffer another process can read: a mapping of a memfd (an
    anonymous file in memory).  :attr:`fd` opens it read-only (what is
    handed to another process: it can read the chunk, never change it) and
    is closed when the buffer is freed.
    """

    __slots__ = ("fd", "retired")
    fd: int
    #: another process may still read it (a local put given up): never reused
    retired: bool


def _shared_buffer(size: int) -> _SharedBuffer | None:
    """A new shared buffer of ``size`` bytes; ``None`` where it cannot be had (no ``/proc``)."""
    fd = os.memfd_create("s3node-chunk", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        buffer = _SharedBuffer(fd, size)
        try:
            reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
    finally:
        os.close(fd)  # the mapping keeps the memory, ``reader`` the file
    buffer.fd, buffer.retired = reader, False
    weakref.finalize(buffer, os.close, reader)
    return buffer


#: whether this system has memfds (Linux): :class:`ChunkBuffers` with ``shared``
#: falls back to private buffers without
SHARED_BUFFERS = hasattr(os, "memfd_create")


def shared_fd(chunk: bytes | memoryview) -> int | None:
    """
    A read-only descriptor of the memfd holding ``chunk`` (as
    :class:`Chunker` handed it out, from a :class:`ChunkBuffers` with
    ``shared``): its bytes are the file's first ``len(chunk)``.  ``None``
    for any other chunk.  Valid while ``chunk`` is.
    """
    buffer = chunk.obj if isinstance(chunk, memoryview) else None
    return buffer.fd if isinstance(buffer, _SharedBuffer) else None


def retire(chunk: bytes | memoryview) -> None:
    """
    Another process may go on reading ``chunk``'s memfd (a put to it was
    given up): its buffer is freed once given back, never reused.
    """
    buffer = chunk.obj if isinstance(chunk, memoryview) else None
    if isinstance(buffer, _SharedBuffer):
        buffer.retired = True


class ChunkBuffers:
    """
    The buffers chunks are collected in, reused.

    A buffer of a chunk's full size is taken (:meth:`take`) when a chunk
    grows past :data:`SMALL`, and given back (:meth:`give`) by whoever
    consumed the chunk, once nothing reads it any more; up to ``keep`` given
    buffers wait for the next chunk instead of being freed.  A new buffer
    costs a page fault for every 4 KiB of it, the first time each page is
    written; on a virtual machine that was about 1 s of CPU per GiB of
    chunks, on the thread that reads the sockets (docs/performance.md).

    Only a buffer this pool handed out, and not given back since, is taken
    back: giving a chunk twice, or a view of anything else, does nothing, so
    a buffer is never handed out twice at once.  A buffer that is never
    given back (an upload that failed) is simply freed.

    With ``shared`` (and memfds: :data:`SHARED_BUFFERS`), each buffer is a
    memfd's mapping, so that a storage node on the same host can read a
    chunk from its descriptor (:func:`shared_fd`) instead of a socket
    (docs/grpc.md, "Local bulk puts").
    """

    def __init__(self, keep: int = 0, *, shared: bool = False) -> None:
        #: how many given-back buffers wait for reuse
        self.keep = keep
        #: whether buffers are memfd mappings
        self.shared = shared and SHARED_BUFFERS
        self._free: list[_Buffer | _SharedBuffer] = []
        #: the buffers handed out and not given back, by ``id``
        self._out: weakref.WeakValueDictionary[int, _Buffer | _SharedBuffer] = (
            weakref.WeakValueDictionary())
        #: buffers allocated (not reused) so far
        self.allocated = 0

    @property
    def free(self) -> int:
        """How many buffers wait for reuse."""
        return len(self._free)

    @property
    def out(self) -> int:
        """How many buffers are handed out and not given back (nor freed)."""
        return len(self._out)

    @property
    def out_bytes(self) -> int:
        """The bytes of the buffers handed out and not given back (nor freed)."""
        return sum(len(buffer) for buffer in self._out.values())

    def clear(self) -> None:
        """Free the buffers waiting for reuse (those handed out are not affected)."""
        self._free.clear()

    def take(self, size: int) -> bytearray | mmap.mmap:
        """A buffer of ``size`` bytes (its content is whatever it last held)."""
        while self._free:
            buffer = self._free.pop()
            if len(buffer) == size:
                break
        else:
            shared = _shared_buffer(size) if self.shared else None
            buffer = _Buffer(size) if shared is None else shared
            self.allocated += 1
        self._out[id(buffer)] = buffer
        return buffer

    def give(self, chunk: bytes | memoryview) -> None:
        """
        ``chunk`` (as :class:`Chunker` handed it out) is no longer read: its
        buffer, if it has one from here, may be reused.
        """
        buffer = chunk.obj if isinstance(chunk, memoryview) else None
        if (not isinstance(buffer, (_Buffer, _SharedBuffer))
                or self._out.get(id(buffer)) is not buffer):
            return
        del self._out[id(buffer)]
        if len(self._free) < self.keep and not getattr(buffer, "retired", False):
            self._free.append(buffer)


class Chunker:
    """
    A push-style splitter of a byte stream into ``chunk_size`` chunks.

    :meth:`feed` returns the chunks each piece of data completes;
    :meth:`finish` returns the last, partial chunk.  The chunker never holds
    more than one chunk's worth of bytes (``buffered < chunk_size``), and its
    cost is linear in the bytes fed however small the pieces are.

    Every byte is copied once.  Up to :data:`SMALL` bytes, the pieces are
    kept as they came (views of the caller's immutable ``bytes``) and joined
    at the end into ``bytes``: a small object costs no more than its size.
    Past that, the chunk gets a buffer of its full size from ``buffers``
    (:class:`ChunkBuffers`), the pieces so far are copied in and each later
    piece as it arrives, and the chunk is handed out as a read-only
    ``memoryview`` of that buffer, which its consumer gives back to
    ``buffers`` once it is done with it.  So a large chunk keeps no socket
    buffer alive and never exists twice (pieces and their join) at its end.
    A piece that is exactly one chunk is handed out as it is.

    :param buffers: where large chunks' buffers come from (default: a pool
        of its own that keeps none, so every large chunk has a new buffer)
    :param first_size: the size of the first chunk, when it differs from
        ``chunk_size`` (every later one has ``chunk_size`` bytes)
    """

    __slots__ = ("_buffer", "_buffered", "_buffers", "_finished", "_pieces", "_size",
                 "bytes_fed", "chunk_size", "chunks_emitted")

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 buffers: ChunkBuffers | None = None, *, first_size: int | None = None) -> None:
        #: the size of every chunk after the first
        self._size = _positive("chunk_size", chunk_size)
        #: the size of the chunk being collected (the first's, then ``_size``)
        self.chunk_size = self._size if first_size is None else _positive("first_size",
                                                                          first_size)
        self._buffers = buffers if buffers is not None else ChunkBuffers()
        self._pieces: list[bytes | memoryview] = []
        self._buffer: memoryview | None = None
        self._buffered = 0
        self._finished = False
        #: the total number of bytes fed so far
        self.bytes_fed = 0
        #: the number of chunks returned so far (by :meth:`feed` and :meth:`finish`)
        self.chunks_emitted = 0

    @property
    def buffered(self) -> int:
        """The bytes held back, waiting for the rest of their chunk."""
        return self._buffered

    @property
    def room(self) -> int:
        """The bytes that complete the chunk being collected."""
        return self.chunk_size - self._buffered

    def takes_buffer(self, n: int) -> bool:
        """
        Whether feeding ``n`` more bytes (at most :attr:`room`) gives the
        chunk being collected a buffer of its own without completing it:
        the moment its memory is taken (past :data:`SMALL`).
        """
        return self._buffer is None and SMALL < self._buffered + n < self.chunk_size

    def _keep(self, piece: bytes | memoryview) -> None:
        if self._buffer is None and self._buffered + len(piece) > SMALL:
            self._buffer = memoryview(self._buffers.take(self.chunk_size))
            at = 0
            for kept in self._pieces:
                self._buffer[at : at + len(kept)] = kept
                at += len(kept)
            self._pieces.clear()
        if self._buffer is not None:
            self._buffer[self._buffered : self._buffered + len(piece)] = piece
        else:
            self._pieces.append(piece)
        self._buffered += len(piece)

    def _take(self) -> bytes | memoryview:
        buffer, pieces, filled = self._buffer, self._pieces, self._buffered
        self._buffer, self._pieces, self._buffered = None, [], 0
        if buffer is not None:
            return buffer.toreadonly()[:filled]
        if len(pieces) == 1 and type(pieces[0]) is bytes:
            return pieces[0]
        return b"".join(pieces)

    def _emitted(self) -> None:
        """A chunk was handed out: the next one has the steady size."""
        self.chunks_emitted += 1
        self.chunk_size = self._size

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes | memoryview]:
        """
        Add ``data``; return the chunks it completes, in order, each exactly
        ``chunk_size`` bytes (the first one ``first_size``; often none).

        ``bytes`` (and views of ``bytes``) may be kept by reference until
        they are copied into their chunk; any other buffer (``bytearray``...)
        is copied at once, since its owner may change it after the call.

        :raises ValueError: after :meth:`finish`.
        """
        if self._finished:
            raise ValueError("Chunker.feed() after finish()")
        if type(data) is not bytes:
            view = memoryview(data).cast("B")
            data = view if type(view.obj) is bytes else view.tobytes()
        total = len(data)
        self.bytes_fed += total
        chunks: list[bytes | memoryview] = []
        if total == 0:
            return chunks
        if not self._buffered and total == self.chunk_size and type(data) is bytes:
            self._emitted()
            return [data]  # already an immutable chunk: no copy
        view = memoryview(data)
        pos = 0
        if self._buffered:
            pos = min(self.chunk_size - self._buffered, total)
            self._keep(view[:pos])
            if self._buffered == self.chunk_size:
                chunks.append(self._take())
                self._emitted()
        while total - pos >= (size := self.chunk_size):
            chunks.append(view[pos : pos + size].tobytes())
            pos += size
            self._emitted()
        if pos < total:
            self._keep(view[pos:] if pos else data)
        return chunks

    def finish(self) -> bytes | memoryview | None:
        """
        End the stream; return the last, partial chunk, or ``None`` when no
        byte is left over (so a 0-byte stream has no chunk at all).
        """
        self._finished = True
        if not self._buffered:
            return None
        self.chunks_emitted += 1
        return self._take()


def frames(
    data: bytes | bytearray | memoryview, frame_size: int = FRAME_SIZE
) -> Iterator[memoryview]:
    """
    Split ``data`` into consecutive views of at most ``frame_size`` bytes
    (no copy).  Empty data gives no frame.
    """
    _positive("frame_size", frame_size)
    view = memoryview(data).cast("B")
    for start in range(0, len(view), frame_size):
        yield view[start : start + frame_size]


def chunk_count(size: int, chunk_size: int) -> int:
    """How many chunks a file of ``size`` bytes has (0 for an empty file)."""
    _positive("chunk_size", chunk_size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be an integer >= 0, not {size!r}")
    return -(-size // chunk_size)
