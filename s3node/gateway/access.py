"""
Every HTTP request's id, access log line and metrics.

:class:`ObservedRequest` (a :class:`~s3node.gateway.streaming.StreamingRequest`)
gives each request a random id as soon as it is dispatched and sends it back
in an ``X-Request-Id`` header on every response, errors included (the error
handlers keep it).  When the request ends — its response finished, or its
connection lost — it logs one access event with named fields (``request_id``,
``method``, ``uri``, ``route``, ``status``, ``received``, ``sent``,
``duration``, ``client``) and counts it in
:class:`~s3node.gateway.metrics.GatewayMetrics`.  :class:`ObservedSite` serves
them and replaces twisted.web's plain-text access log with those events.

Metrics are labelled by the Klein route *pattern* (``/files/<file_id>``), never
the raw path; a request no route matched is ``unmatched``.
"""

from __future__ import annotations

import re
from typing import Any

from klein.interfaces import IKleinRequest
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from werkzeug.exceptions import HTTPException

from s3node.gateway.http import GatewayChannel, error_body, new_request_id
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.streaming import StreamingRequest, StreamingSite
from s3node.metrics import Stopwatch

__all__ = [
    "REQUEST_ID_HEADER",
    "ObservedRequest",
    "ObservedSite",
    "new_request_id",
    "request_id_of",
    "route_of",
]

log = Logger()

#: the response header that carries a request's id
REQUEST_ID_HEADER = b"x-request-id"
#: every response says so: clients must not guess a type other than the one sent
NOSNIFF = (b"x-content-type-options", b"nosniff")
#: the route label of a request no route matched (404, 405, a redirect)
UNMATCHED = "unmatched"
#: the method label of methods no route serves
OTHER_METHOD = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def request_id_of(request: Any) -> str | None:
    """The id of ``request`` (``None`` for a request that did not come through the site)."""
    return getattr(request, "request_id", None)


def route_of(request: Any) -> str:
    """
    The pattern of the Klein route that matched ``request`` (``/files/<file_id>``),
    the label another front end gave it (``route_label``: the S3 API's
    ``s3:PutObject``), or :data:`UNMATCHED`.
    """
    label = getattr(request, "route_label", None)
    if label is not None:
        return str(label)
    mapper = getattr(request.getComponent(IKleinRequest), "mapper", None)
    if mapper is None:
        return UNMATCHED
    try:
        rule, _ = mapper.match(return_rule=True)
    except HTTPException:
        return UNMATCHED
    return _CONVERTER.sub(r"<\1>", rule.rule)


def _method(request: Any) -> str:
    method = request.method.decode("ascii", "replace") if request.method else ""
    return method if method in _METHODS else OTHER_METHOD


class ObservedRequest(StreamingRequest):
    """A streaming request with an id, an access log event and metrics."""

    request_id: str = ""
    _watch: Stopwatch | None = None

    def process(self) -> None:
        """Take an id, start the clock, then run the resource as usual."""
        site: Any = self.channel.site  # type: ignore[attr-defined]
        metrics: GatewayMetrics = site.metrics
        self.request_id = new_request_id()
        self.setHeader(REQUEST_ID_HEADER, self.request_id.encode("ascii"))
        self.setHeader(*NOSNIFF)
        self._watch = Stopwatch(metrics.timer)
        metrics.http_in_flight.inc()
        self.notifyFinish().addBoth(self._ended, metrics)
        if b"//" in self.path:
            # werkzeug would serve '//files' as '/files' (and redirect other such
            # paths with a Location built from the client's Host): one resource,
            # one path; an empty segment names nothing
            self._answer(404, "not_found", "no such route (a path has no empty segments)")
            return
        super().process()

    def _answer(self, status: int, code: str, details: str) -> None:
        body = error_body(code, details)
        self.setResponseCode(status)
        self.setHeader(b"content-type", b"application/json")
        self.setHeader(b"content-length", str(len(body)).encode("ascii"))
        self.write(body if self.method != b"HEAD" else b"")
        self.finish()

    def _ended(self, result: Any, metrics: GatewayMetrics) -> None:
        metrics.http_in_flight.dec()
        assert self._watch is not None
        seconds = self._watch.seconds
        route, method = route_of(self), _method(self)
        lost = isinstance(result, Failure)
        # a connection lost before any response: no status was sent
        status = str(self.code) if self.startedWriting or not lost else "none"
        received = self.body.received if getattr(self, "body", None) is not None else 0
        metrics.http_requests.labels(route, method, status).inc()
        metrics.http_duration.labels(route, method).observe(seconds)
        metrics.http_received.labels(route).inc(received)
        metrics.http_sent.labels(route).inc(self.sentLength)
        log.info(
            '{client} "{method} {uri}" {status} {received} {sent} {duration:.3f}s{lost}'
            " [{request_id}]",
            client=getattr(self.getClientAddress(), "host", "-"),
            method=method if method != OTHER_METHOD else "?",
            uri=self.uri.decode("latin-1", "replace")[:2000],
            route=route, status=status, received=received, sent=self.sentLength,
            duration=seconds, lost=" (connection lost)" if lost else "",
            request_id=self.request_id,
        )


class ObservedSite(StreamingSite):
    """
    A site of :class:`ObservedRequest`s counting into ``metrics``; its access
    log is the requests' own events (twisted.web's text lines are off).  Each
    connection is a :class:`~s3node.gateway.http.GatewayChannel`, which
    refuses hostile input in JSON; a request head must arrive within
    ``header_timeout`` seconds (``None``: no limit but the idle timeout).
    """

    requestFactory = ObservedRequest
    protocol = GatewayChannel  # type: ignore[assignment]

    def __init__(self, resource: Any, reactor: IReactorTime, *, metrics: GatewayMetrics,
                 header_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(resource, reactor, **kwargs)
        self.metrics = metrics
        self.header_timeout = header_timeout

    def refused(self, status: int) -> None:
        """Count a request the channel refused before any route saw it."""
        self.metrics.http_requests.labels(UNMATCHED, OTHER_METHOD, str(status)).inc()

    def log(self, request: Any) -> None:
        """Nothing: each :class:`ObservedRequest` logs itself when it ends."""
