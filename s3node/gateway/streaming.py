"""
A streaming request body for twisted.web.

Stock :class:`twisted.web.server.Request` buffers the whole body (in memory or
a temp file) and only then runs the resource.  :class:`StreamingRequest`
instead dispatches a request that has a body as soon as its headers are in
(``gotLength``) and hands the resource a :class:`BodyStream`; the body's bytes
flow into that stream as they arrive.  When the reader lags, the stream pauses
the transport (TCP backpressure on the client) and resumes it once drained.

This relies on three private attributes of :class:`twisted.web.http.HTTPChannel`
(``_command``, ``_path``, ``_version``: the request line, which the channel
keeps until the body is complete); :func:`_request_line` fails loudly if they
go away and ``tests/gateway/test_streaming.py`` checks them.

A response written before the body is complete (an early 413, a 400 for
malformed multipart) closes the connection afterwards: the rest of the body
can't be parsed as the next request.
"""

from __future__ import annotations

import io
from collections import deque
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server

from s3node.errors import ClientDisconnected, InvalidRequest

__all__ = ["BodyStream", "StreamingRequest", "StreamingSite", "abort_connection"]

log = Logger()

#: pause the client once more than this many body bytes wait for the reader:
#: a socket read or two (``SOCKET_READ_SIZE``, 1 MiB) not yet taken (the
#: kernel's socket buffer keeps the TCP stream moving meanwhile)
HIGH_WATER = 1024 * 1024
#: resume it when the reader has taken the buffer down to this
LOW_WATER = 0


class BodyStream:
    """
    The body of one request, read with :meth:`read` while it arrives.

    The channel side calls :meth:`push`, :meth:`finish` and :meth:`fail`; the
    reader calls :meth:`read` until it returns ``b""``.  ``pause`` and
    ``resume`` apply backpressure (normally the transport's
    ``pauseProducing``/``resumeProducing``).
    """

    def __init__(self, pause: Any = None, resume: Any = None) -> None:
        self._pause = pause
        self._resume = resume
        self._parts: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: Deferred[None] | None = None
        self._done = False
        self._failure: Failure | None = None
        #: every body byte received so far
        self.received = 0

    @property
    def complete(self) -> bool:
        """Whether the whole body has arrived (or the stream failed)."""
        return self._done or self._failure is not None

    def push(self, data: bytes) -> None:
        """Append body bytes (channel side)."""
        if self.complete or not data:
            return
        self._parts.append(data)
        self._buffered += len(data)
        self.received += len(data)
        if self._buffered > HIGH_WATER and not self._paused and self._pause is not None:
            self._paused = True
            self._pause()
        self._wake()

    def finish(self) -> None:
        """The body is complete (channel side)."""
        if not self.complete:
            self._done = True
            self._wake()

    def fail(self, reason: Failure) -> None:
        """The body will never complete (channel side)."""
        if not self.complete:
            self._failure = reason
            self._parts.clear()
            self._buffered = 0
            self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.callback(None)

    async def read(self) -> bytes:
        """
        Wait for the next body bytes; ``b""`` at the end of the body.

        Each call hands out one piece as the transport delivered it (at most
        :data:`~s3node.gateway.http.SOCKET_READ_SIZE` bytes), never a join of
        several: a join would copy the bytes once more, and its larger
        buffers fragment the allocator's heap (docs/s3.md, "Memory with 2 GiB").

        Raise :class:`ClientDisconnected` when the connection was lost first,
        or the :class:`InvalidRequest` the channel failed the stream with.
        """
        while not self._parts:
            self._raise_failure()
            if self._done:
                return b""
            self._waiter = Deferred()
            await self._waiter
        self._raise_failure()
        data = self._parts.popleft()
        self._buffered -= len(data)
        if self._paused and self._buffered <= LOW_WATER and self._resume is not None:
            self._paused = False
            self._resume()
        return data

    def _raise_failure(self) -> None:
        if self._failure is None:
            return
        if isinstance(self._failure.value, InvalidRequest):  # a malformed chunked body
            raise self._failure.value
        raise ClientDisconnected("the client closed the connection mid-body")

    async def drain(self, limit: int) -> None:
        """Read and drop the rest of the body; raise :class:`InvalidRequest` past ``limit``."""
        seen = 0
        while data := await self.read():
            seen += len(data)
            if seen > limit:
                raise InvalidRequest("unexpected request body")


def abort_connection(request: Any) -> None:
    """Drop ``request``'s connection at once (a stop's grace ran out, a response broke)."""
    transport = getattr(getattr(request, "channel", None), "transport", None)
    if transport is not None:
        transport.abortConnection()


def _request_line(channel: Any) -> tuple[bytes, bytes, bytes]:
    """The request line the channel parsed (private HTTPChannel attributes)."""
    try:
        return channel._command, channel._path, channel._version
    except AttributeError as e:  # pragma: no cover - only if Twisted changes
        raise RuntimeError(
            "twisted.web.http.HTTPChannel no longer keeps _command/_path/_version: "
            "s3node.gateway.streaming needs updating for this Twisted"
        ) from e


class StreamingRequest(server.Request):
    """
    A request dispatched when its headers are in, with a :class:`BodyStream`.

    A request without a body (``Content-Length: 0``) runs the ordinary way,
    after ``allContentReceived``, with an empty, finished stream.
    """

    body: BodyStream
    _dispatched = False
    _lost = False

    def gotLength(self, length: int | None) -> None:
        """Dispatch now when a body follows (``length`` is ``None`` for chunked bodies)."""
        self.content = io.BytesIO()  # type: ignore[assignment]
        transport: Any = self.channel.transport
        self.body = BodyStream(transport.pauseProducing, transport.resumeProducing)
        if length == 0:
            self.body.finish()
            return
        command, path, version = _request_line(self.channel)
        self._dispatched = True
        self._parse_request_line(command, path, version)
        self.process()

    def _parse_request_line(self, command: bytes, path: bytes, version: bytes) -> None:
        from urllib.parse import parse_qs

        self.args = {}  # type: ignore[assignment]
        self.method, self.uri = command, path
        self.clientproto = version
        self.path, _, query = self.uri.partition(b"?")
        if query:
            self.args = parse_qs(query, keep_blank_values=True)  # type: ignore[assignment]

    def handleContentChunk(self, data: bytes) -> None:
        """Body bytes go to the stream, never to a buffer file."""
        self.body.push(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """The body is complete: tell the stream, or run the request now if it had none."""
        self.body.finish()
        if not self._dispatched:
            super().requestReceived(command, path, version)

    def write(self, data: bytes) -> None:
        """On the first write before the body is complete, plan to close the connection."""
        if not self.startedWriting and self._dispatched and not self.body.complete:
            # The rest of the body can't be read as the next request, and an
            # 'Expect: 100-continue' must not be answered after this response.
            self.requestHeaders.removeHeader(b"expect")
            self.setHeader(b"connection", b"close")
            if self.channel is not None:
                self.channel.persistent = False
        super().write(data)

    def finish(self) -> None:
        """Finish; when the body is still arriving, finish on the next turn of the reactor."""
        if self._lost:
            return
        if self._dispatched and not self.body.complete and not self.finished:
            if not self.startedWriting:
                self.write(b"")
            reactor: Any = self.site.reactor  # type: ignore[union-attr]
            reactor.callLater(0, self._late_finish)
            return
        super().finish()

    def _late_finish(self) -> None:
        if not self._lost and not self.finished:
            self.body.finish()
            super().finish()

    def connectionLost(self, reason: Failure) -> None:
        """A lost connection ends the body stream with an error."""
        self._lost = True
        body = getattr(self, "body", None)
        if body is not None:
            body.fail(reason)
        super().connectionLost(reason)


class StreamingSite(server.Site):
    """A :class:`~twisted.web.server.Site` whose requests stream their bodies."""

    requestFactory = StreamingRequest

    def __init__(self, resource: Any, reactor: IReactorTime, **kwargs: Any) -> None:
        super().__init__(resource, reactor=reactor, **kwargs)
