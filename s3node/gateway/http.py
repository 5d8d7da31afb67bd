"""
The gateway's HTTP/1.1 protocol layer: what twisted.web's channel refuses, answered in JSON.

Stock :class:`twisted.web.http.HTTPChannel` drops a connection without a word
when a header line is too long, and answers everything else it refuses (too
many headers, ``Content-Length`` with ``Transfer-Encoding``, a malformed
request line) with a bare ``400`` and no body.  It also serves what RFC 9110
and 9112 say a server should refuse: an unknown method (``get``), an HTTP/1.1
request without ``Host``, and a client that sends its headers one byte at a
time is never timed out (each byte restarts the idle timeout).

:class:`GatewayChannel` is that channel with these decisions made here,
before twisted.web sees the request, each answered with the API's JSON error
body (``{"error": ..., "details": ...}``), ``Connection: close`` and an
``X-Request-Id``, then the connection is closed:

=====  =========================  ==========================================
400    ``bad_request``            malformed request line or header field,
                                  ``Content-Length`` with
                                  ``Transfer-Encoding``, two framing headers,
                                  HTTP/1.1 without exactly one ``Host``
408    ``request_timeout``        the request head (line and headers) took
                                  longer than ``--header-timeout``
414    ``uri_too_long``           request line over :data:`MAX_REQUEST_LINE`
431    ``headers_too_large``      head over :data:`MAX_HEAD_BYTES`, or more
                                  than :data:`MAX_HEADERS` header fields
501    ``not_implemented``        a method outside :data:`METHODS` (methods
                                  are case-sensitive), or a transfer coding
                                  other than ``chunked``
=====  =========================  ==========================================

A malformed chunked body of a request the gateway is already serving fails
that request's body stream instead (the route answers ``400`` if it can).
Each refusal is logged once at info level and handed to the site's
``refused`` method, when it has one, for metrics.  Nothing here patches
Twisted: the gateway's site builds these channels (``protocol``).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel

from s3node.errors import InvalidRequest

__all__ = [
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
    "MAX_REQUEST_LINE",
    "METHODS",
    "SOCKET_READ_SIZE",
    "SOCKET_SEND_SIZE",
    "GatewayChannel",
    "error_body",
    "new_request_id",
    "refusal_response",
]

log = Logger()

#: the longest request line (method, target, version) accepted, in bytes
MAX_REQUEST_LINE = 8 * 1024
#: the largest request head (request line and every header line), in bytes
MAX_HEAD_BYTES = 16 * 1024
#: the most header fields one request may have
MAX_HEADERS = 100
#: bytes asked of the socket per read (twisted's default is 64 KiB): a request
#: body arrives in a sixteenth of the pieces, and each piece costs the reactor
#: thread the same fixed work (parsing, the body stream, the chunker).  The
#: reactor reads each connection once per turn, so with several uploads at once
#: a turn's read size is what each gets (256 KiB until 2026-12-01, when the
#: heap trims and fixed thresholds had made 1 MiB blocks as flat: docs/s3.md,
#: "Memory with 2 GiB"; docs/performance.md, "Bulk puts on threads")
SOCKET_READ_SIZE = 1024 * 1024
#: bytes given the socket per send (twisted's default is 128 KiB): a download
#: goes out in an eighth of the sends
SOCKET_SEND_SIZE = 1024 * 1024
#: the methods the gateway knows; any other token is answered ``501``
METHODS = frozenset(
    {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT"})

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 414: b"URI Too Long",
            431: b"Request Header Fields Too Large", 501: b"Not Implemented"}
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FRAMING = (b"content-length", b"transfer-encoding")


def new_request_id() -> str:
    """A fresh request id: 16 random hex digits."""
    return secrets.token_hex(8)


def error_body(code: str, details: str) -> bytes:
    """The JSON body of every error response: ``{"error": code, "details": text}``."""
    return json.dumps({"error": code, "details": details}).encode("utf-8") + b"\n"


def refusal_response(status: int, code: str, details: str, request_id: str) -> bytes:
    """A whole HTTP/1.1 error response with a JSON body that closes the connection."""
    body = error_body(code, details)
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Error")),
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
        b"Connection: close",
        b"X-Content-Type-Options: nosniff",
        b"X-Request-Id: " + request_id.encode("ascii"),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class GatewayChannel(HTTPChannel):
    """An :class:`~twisted.web.http.HTTPChannel` that refuses hostile input in JSON."""

    maxHeaders = MAX_HEADERS
    totalHeadersSize = MAX_HEAD_BYTES
    #: LineReceiver's limit for one line still without its end
    MAX_LENGTH = MAX_HEAD_BYTES

    #: what the next refusal twisted.web decides says (set around its checks)
    _refusal: tuple[int, str, str] | None = None
    _refused = False
    #: a request line came in and its headers have not ended yet
    _reading_head = False
    _head_timer: Any = None
    _framing: list[bytes]

    def connectionMade(self) -> None:
        """Read :data:`SOCKET_READ_SIZE` and send :data:`SOCKET_SEND_SIZE` bytes at a time
        (on a plain TCP transport)."""
        super().connectionMade()
        transport: Any = self.transport
        if hasattr(transport, "bufferSize") and hasattr(transport, "SEND_LIMIT"):
            transport.bufferSize = SOCKET_READ_SIZE
            transport.SEND_LIMIT = SOCKET_SEND_SIZE

    def header_timeout(self) -> float | None:
        """Seconds a request head may take: the site's ``header_timeout``."""
        return getattr(getattr(self, "site", None), "header_timeout", None)

    def dataReceived(self, data: bytes) -> None:
        """Start the head's deadline with its first byte; drop anything after a refusal."""
        if self._refused:
            return
        timeout = self.header_timeout()
        if (timeout and self._head_timer is None and self.line_mode
                and not self._handlingRequest and data):
            call_later: Any = self.callLater  # the site's reactor's (HTTPFactory.buildProtocol)
            self._head_timer = call_later(timeout, self._head_timed_out, timeout)
        super().dataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        """Check the request line's length, method and the head's size, then parse it."""
        if self._refused:
            return
        if not self._reading_head:
            if line:
                self._request_line(line)
            else:
                super().lineReceived(line)
            return
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self._refuse(431, "headers_too_large",
                         f"the request head exceeds {self.totalHeadersSize} bytes")
            return
        super().lineReceived(line)

    def _request_line(self, line: bytes) -> None:
        if len(line) > MAX_REQUEST_LINE:
            self._refuse(414, "uri_too_long",
                         f"the request line exceeds {MAX_REQUEST_LINE} bytes")
            return
        method = line.split(b" ", 1)[0]
        if _TOKEN.fullmatch(method) and method not in METHODS:
            self._refuse(501, "not_implemented",
                         f"unknown method {method[:20].decode('ascii')!r} "
                         "(methods are case-sensitive: GET, HEAD, POST, DELETE...)")
            return
        self._reading_head = True
        self._framing = []
        self._refusal = (400, "bad_request", "malformed request line")
        try:
            super().lineReceived(line)
        finally:
            self._refusal = None

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line that never ends within the limit: ``414`` or ``431``, not a silent close."""
        if self._reading_head:
            self._refuse(431, "headers_too_large",
                         f"a header line exceeds {self.MAX_LENGTH} bytes")
        else:
            self._refuse(414, "uri_too_long", f"the request line exceeds {MAX_REQUEST_LINE} bytes")

    def headerReceived(self, line: bytes) -> bool:
        """Refuse a header past the count and ambiguous framing, then store it."""
        if self._receivedHeaderCount >= self.maxHeaders:
            self._refuse(431, "headers_too_large",
                         f"more than {self.maxHeaders} header fields")
            return False
        name = line.split(b":", 1)[0].strip().lower()
        if name in _FRAMING:
            if self._framing:
                if name == self._framing[0] == b"content-length":
                    why = "more than one Content-Length header"
                elif name == self._framing[0]:
                    why = "more than one Transfer-Encoding header"
                else:
                    why = "both Content-Length and Transfer-Encoding"
                self._refuse(400, "bad_request", f"ambiguous body framing: {why}")
                return False
            self._framing.append(name)
            value = line.split(b":", 1)[1].strip(b" \t").lower() if b":" in line else b""
            if name == b"transfer-encoding" and value not in (b"chunked", b"identity"):
                self._refuse(501, "not_implemented",
                             "only the chunked transfer coding is supported")
                return False
        self._refusal = (400, "bad_request", "malformed header field")
        try:
            ok: bool = super().headerReceived(line)
        finally:
            self._refusal = None
        return ok

    def allHeadersReceived(self) -> None:
        """The head is complete: stop its deadline, check ``Host``, then go on as usual."""
        self._reading_head = False
        self._stop_head_timer()
        request = self.requests[-1]
        hosts = request.requestHeaders.getRawHeaders(b"host") or []
        if self._version == b"HTTP/1.1" and len(hosts) != 1:
            self._refuse(400, "bad_request",
                         "an HTTP/1.1 request needs exactly one Host header")
            return
        super().allHeadersReceived()

    def allContentReceived(self) -> None:
        """Nothing to dispatch once the request was refused."""
        if not self._refused:
            super().allContentReceived()

    def rawDataReceived(self, data: bytes) -> None:
        """Body bytes after a refusal are dropped."""
        if not self._refused:
            super().rawDataReceived(data)

    def _respondToBadRequestAndDisconnect(self) -> None:
        """twisted.web's own refusals, answered in JSON (see :meth:`_refuse`)."""
        self._refuse(*(self._refusal or (400, "bad_request", "malformed request")))

    def _head_timed_out(self, timeout: float) -> None:
        self._head_timer = None
        self._refuse(408, "request_timeout",
                     f"the request headers did not arrive within {timeout:g} s")

    def _stop_head_timer(self) -> None:
        timer, self._head_timer = self._head_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _refuse(self, status: int, code: str, details: str) -> None:
        """Answer ``status`` with a JSON body and close, or fail the body being served."""
        if self._refused:
            return
        self._refused = True
        self._stop_head_timer()
        self.persistent = False
        request = self.requests[-1] if self.requests else None
        body = getattr(request, "body", None)
        if getattr(request, "_dispatched", False) and body is not None and not body.complete:
            # The route is reading this body and will answer (or already has).
            if not request.startedWriting:  # type: ignore[union-attr]
                request.setHeader(b"connection", b"close")  # type: ignore[union-attr]
            body.fail(Failure(InvalidRequest(details)))
            return
        request_id = new_request_id()
        transport: Any = self.transport
        peer = transport.getPeer() if transport is not None else None
        log.info("refused a request from {client}: {status} {details} [{request_id}]",
                 client=getattr(peer, "host", "-"), status=status, details=details,
                 request_id=request_id)
        observe = getattr(getattr(self, "site", None), "refused", None)
        if observe is not None:
            observe(status)
        if transport is not None:
            transport.write(refusal_response(status, code, details, request_id))
        self.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Stop the head's deadline too."""
        self._stop_head_timer()
        super().connectionLost(reason)
