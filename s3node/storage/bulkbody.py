"""
A bulk put's data as a node takes it (:mod:`s3node.storage.bulkserver`):
from the connection's socket, or from the memfd a local put passed.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any

from s3node.core.chunking import FRAME_SIZE
from s3node.errors import InvalidRequest, S3NodeError
from s3node.storage.bulkwire import recv_exactly, shut_down
from s3node.storage.limits import IdleTimeout

__all__ = ["Body", "check_memfd"]


def check_memfd(fd: int, size: int, what: str = "put") -> None:
    """
    :param what: the local bulk call, in the error (``put``, ``get``)
    :raises InvalidRequest: unless ``fd`` is a memfd of at least ``size`` bytes.
    """
    try:
        fcntl.fcntl(fd, fcntl.F_GET_SEALS)  # only a memfd has seals
    except OSError:
        raise InvalidRequest(f"a local bulk {what}'s data must come as a memfd") from None
    if os.fstat(fd).st_size < size:
        raise InvalidRequest(f"a local bulk {what}'s memfd is shorter than the {size} bytes "
                             f"{'announced' if what == 'put' else 'read'}")


class Body:
    """
    A put's data.  :meth:`pour` receives it on a thread of its own, straight
    into a 1 MiB buffer, and writes each full piece there: the store's whole
    put costs the event loop nothing per piece, not a turn per read and a
    worker hand-off per write (the idle timer reads the time the thread
    marks: :meth:`_stall`).  Stores that do not pour iterate it
    (:meth:`pieces`, ``async for``): two buffers take turns on the event
    loop, the next piece received while the last is written.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int,
                 idle: IdleTimeout, buffers: list[bytearray], executor: Executor,
                 more: Callable[[], bytearray], fd: int | None = None) -> None:
        self._loop, self._sock, self._idle = loop, sock, idle
        #: the memfd the data is read from (a local put), else the socket
        self._fd = fd
        self.size = size
        #: the buffers in use (the caller's list: a second is appended when iterated)
        self._buffers = buffers
        self._more = more
        self._executor = executor
        #: bytes read from the socket so far
        self.received = 0
        self._pending: asyncio.Future[memoryview] | None = None
        #: the idle timer of a pour (set again while its pieces arrive: _stall)
        self._timer: Any = None
        #: when the pour's last piece came (set by its thread; at first, its start)
        self._last_piece = 0.0
        self._stalled = False
        #: the thread is in the store's write (set and cleared by the thread)
        self._writing = False

    def __aiter__(self) -> AsyncIterator[Any]:  # views, as the store takes from gRPC
        return self.pieces()

    # -- on a thread -----------------------------------------------------------

    async def pour(self, write: Callable[[memoryview], object]) -> None:
        """
        Receive the whole body and hand it to ``write`` in pieces of up to
        :data:`FRAME_SIZE`, both on a thread (``write`` blocks: it is the
        store's).  Returns or raises only once the thread has ended, even
        when cancelled (the socket is shut down to end its wait).

        :raises PutStalled: when no piece comes for the idle timeout.
        :raises InvalidRequest: when the connection ends first.
        """
        self._last_piece = self._idle.now()
        self._timer = self._idle.timer(self._stall)
        job = self._loop.run_in_executor(self._executor, self._receive, write)
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            shut_down(self._sock)
            await asyncio.wait({job})
            raise
        finally:
            if self._timer.active():
                self._timer.cancel()

    def _receive(self, write: Callable[[memoryview], object]) -> None:
        """The thread's work: fill the buffer, write it, until ``size`` bytes came."""
        buffer = memoryview(self._buffers[0])
        self._sock.setblocking(True)  # the idle timer (on the loop) ends a silent wait
        try:
            while self.received < self.size:
                piece = buffer[: min(FRAME_SIZE, self.size - self.received)]
                self._fill_now(piece)
                # the peer's time starts again (no word to the loop: the idle
                # timer, when it runs out, looks at this mark: _stall)
                self._last_piece = self._idle.now()
                self._writing = True
                try:
                    write(piece)
                finally:
                    self._writing = False
        finally:
            self._sock.setblocking(False)

    def _fill_now(self, view: memoryview) -> None:
        """Fill ``view`` with blocking reads (a thread's, or a memfd's, which never block)."""
        got = 0
        while got < len(view):
            n = self._read_into(view[got:])
            if not n:
                raise self._ended()
            got += n
            self.received += n

    def _read_into(self, view: memoryview) -> int:
        """Read the next bytes into ``view``: from the memfd (never blocks) or the socket."""
        if self._fd is not None:
            return os.preadv(self._fd, [view], self.received)
        return self._sock.recv_into(view)

    def _ended(self) -> S3NodeError:
        """What a connection that ended before the data's end failed the put with."""
        if self._stalled:  # shut down by the idle timer of a pour
            return self._idle.stalled("the bulk put")
        return InvalidRequest(f"the connection ended {self.received} bytes into the "
                              f"{self.size} announced")

    def _stall(self) -> None:
        """
        The idle timer ran out: unless a piece came since it was set, end the
        thread's wait (its reply can still be sent).  When the thread is
        writing, the store is the slow one, not the peer, and the timer starts
        again; when a piece came since, it is set again for what is left of the
        peer's time from that piece.
        """
        quiet = 0.0 if self._writing else self._idle.now() - self._last_piece
        if quiet < self._idle.seconds:  # (at most the whole time, should the clock go back)
            self._timer = self._idle.timer(self._stall, min(self._idle.seconds,
                                                            self._idle.seconds - quiet))
            return
        self._stalled = True
        shut_down(self._sock, socket.SHUT_RD)

    # -- on the event loop -----------------------------------------------------

    def _count(self, n: int) -> None:
        self.received += n

    async def _fill(self, view: memoryview) -> memoryview:
        if self._fd is not None:  # memory: read at once
            self._fill_now(view)
            return view
        try:
            await recv_exactly(self._loop, self._sock, view, "the chunk's data",
                               on_received=self._count)
        except EOFError:
            raise self._ended() from None
        return view

    def _read(self, index: int, start: int) -> asyncio.Future[memoryview]:
        n = min(FRAME_SIZE, self.size - start)
        return asyncio.ensure_future(self._fill(memoryview(self._buffers[index])[:n]))

    async def pieces(self) -> AsyncIterator[memoryview]:
        """The data in pieces of up to :data:`FRAME_SIZE`; each is valid until the next."""
        if len(self._buffers) < 2:
            self._buffers.append(self._more())
        index, asked = 0, 0
        self._pending = self._read(index, asked) if self.size else None
        while self._pending is not None:
            current = await self._idle.wait(self._pending, "the bulk put")
            asked += len(current)
            index ^= 1
            self._pending = self._read(index, asked) if asked < self.size else None
            yield current

    async def stop(self) -> None:
        """Stop a read in progress (the put failed), so the socket can be read again."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        pending.cancel()
        await asyncio.wait({pending})
        if not pending.cancelled():
            pending.exception()  # retrieved: the put's own error says what happened

    @property
    def left(self) -> int:
        """Bytes announced and not read yet."""
        return self.size - self.received
