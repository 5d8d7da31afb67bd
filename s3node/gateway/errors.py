"""
The one place where errors become HTTP responses.

:func:`install_error_handlers` registers Klein ``handle_errors`` handlers on a
gateway's app: every :class:`s3node.errors.S3NodeError` maps to a status by
its class (:data:`STATUS`), Werkzeug's routing errors keep their status (a ``405`` says
``Allow``; a path werkzeug would redirect, such as one with ``//``, is a
``404``: its redirect would be built from the client's ``Host``), a client
that went away gets no answer and no error log, and anything else is a
logged 500.  Every error body is JSON
``{"error": code, "details": text}``; an :class:`~s3node.errors.Overloaded`
``503`` also says ``Retry-After`` (:data:`RETRY_AFTER` seconds).  A failure
after the response headers were sent can't be reported in the body: the
connection is aborted instead so the client sees a short body, never a wrong
one.  An error response keeps the request's ``X-Request-Id`` header, and the
log events here carry its ``request_id``.
"""

from __future__ import annotations

from typing import Any

from klein import Klein
from twisted.internet.defer import CancelledError
from twisted.logger import Logger
from twisted.python.failure import Failure
from werkzeug.exceptions import HTTPException

from s3node import errors
from s3node.gateway.access import request_id_of
from s3node.gateway.http import error_body

__all__ = ["RETRY_AFTER", "STATUS", "error_body", "install_error_handlers", "status_for"]

log = Logger()

#: error classes to HTTP statuses; subclasses not listed take their parent's
#: (:func:`s3node.errors.lookup`)
STATUS: dict[type[errors.S3NodeError], int] = {
    errors.InvalidRequest: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.KeyInUse: 409,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.InvalidRange: 416,
    errors.IntegrityError: 502,
    errors.FileDamaged: 500,
    errors.Unavailable: 503,
    errors.InsufficientStorage: 503,
}

#: what a 401 asks for: HTTP Basic with an access key and its secret
WWW_AUTHENTICATE = b'Basic realm="s3node"'

#: seconds an :class:`~s3node.errors.Overloaded` client is asked to wait
#: (``Retry-After``) before it tries again
RETRY_AFTER = 5


def status_for(error: errors.S3NodeError) -> int:
    """The HTTP status of an s3node error (500 for classes not in :data:`STATUS`)."""
    return errors.lookup(STATUS, error, 500)


def _respond(request: Any, status: int, code: str, details: str) -> bytes | None:
    if request.startedWriting:
        # Headers (and maybe part of the body) are out: only a cut connection
        # tells the client that the response is incomplete.
        transport = getattr(request.channel, "transport", None)
        if transport is not None:
            transport.abortConnection()
        return None
    request.setResponseCode(status)
    for name in (b"content-disposition", b"etag", b"accept-ranges"):
        request.responseHeaders.removeHeader(name)  # set for a download that became an error
    request.setHeader(b"content-type", b"application/json")
    body = error_body(code, details)
    request.setHeader(b"content-length", str(len(body)).encode("ascii"))
    return body if request.method != b"HEAD" else b""


def install_error_handlers(app: Klein) -> None:
    """Register the gateway's error mapping on ``app``."""

    @app.handle_errors(errors.S3NodeError)  # type: ignore[arg-type]
    def s3node_error(_gateway: Any, request: Any, failure: Failure) -> bytes | None:
        error = failure.value
        status = status_for(error)
        if isinstance(error, errors.ClientDisconnected):
            return None  # nobody to answer; the access log says "connection lost"
        if isinstance(error, errors.Overloaded):
            # Expected under load, and answered before any work: not a failure.
            log.info("{method} {path} refused: {details}", method=request.method,
                     path=request.path, details=error.message, request_id=request_id_of(request))
            if not request.startedWriting:
                request.setHeader(b"retry-after", str(RETRY_AFTER).encode("ascii"))
        elif isinstance(error, errors.Unauthenticated) and not request.startedWriting:
            request.setHeader(b"www-authenticate", WWW_AUTHENTICATE)
        elif status >= 500:
            log.error("{method} {path} failed: {code}: {details}", method=request.method,
                     path=request.path, code=error.code, details=error.message,
                     request_id=request_id_of(request))
        return _respond(request, status, error.code, error.message)

    @app.handle_errors(HTTPException)  # type: ignore[arg-type]
    def routing_error(_gateway: Any, request: Any, failure: Failure) -> bytes | None:
        error = failure.value
        if getattr(error, "new_url", None):
            # werkzeug's RequestRedirect builds its Location from the client's
            # Host header (an open redirect): a path that only redirects is unknown
            return _respond(request, 404, "not_found", "no such route")
        if error.code == 405:
            allowed = sorted(getattr(error, "valid_methods", None) or ())
            if allowed and not request.startedWriting:
                request.setHeader(b"allow", ", ".join(allowed).encode("ascii"))
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.code, "bad_request")
        return _respond(request, error.code or 400, code, error.description or error.name)

    @app.handle_errors(CancelledError)  # type: ignore[arg-type]
    def cancelled(_gateway: Any, request: Any, failure: Failure) -> None:
        return None  # the client went away; there is nobody to answer

    @app.handle_errors(Exception)  # type: ignore[arg-type]
    def unexpected(_gateway: Any, request: Any, failure: Failure) -> bytes | None:
        log.failure("{method} {path} failed unexpectedly", failure,
                    method=request.method, path=request.path, request_id=request_id_of(request))
        return _respond(request, 500, "internal_error", "an unexpected error occurred")
