"""
What every role shares for Prometheus: one registry per process and the page that serves it.

A role's ``makeService`` path creates one :class:`ProcessMetrics` (standalone:
one for the gateway and all its nodes) and hands it down; nothing uses
prometheus_client's global default registry, so a test process can build many
gateways and nodes side by side.  Each side keeps its instruments in one
class — :class:`s3node.gateway.metrics.GatewayMetrics`,
:class:`s3node.storage.metrics.StorageMetrics` — created once per process by
:meth:`ProcessMetrics.part`.

:class:`MetricsPage` renders the registry on the reactor thread, after
awaiting each part's :meth:`~MetricsPart.refresh` (what must be read
asynchronously, such as a node's free space), so the custom collectors read
live state without racing the reactor.  prometheus_client's own Twisted
resource renders in the global reactor's thread pool instead; see
``docs/metrics.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

__all__ = [
    "PREFIX",
    "MetricsPage",
    "MetricsPart",
    "ProcessMetrics",
    "Stopwatch",
    "error_code",
    "render",
    "timed",
]

log = Logger()

#: every s3node metric name starts with this
PREFIX = "s3node_"

P = TypeVar("P", bound="MetricsPart")

#: a monotonic clock in seconds, for durations (tests inject a fake one)
Timer = Callable[[], float]


class MetricsPart:
    """
    One side's instruments (gateway or storage), registered in ``registry``
    (a private one when ``None``: components built without metrics count into
    a registry nobody scrapes).

    :param timer: a monotonic clock in seconds for durations
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 timer: Timer = time.perf_counter) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.timer = timer

    async def refresh(self) -> None:
        """Read, before a scrape, the state that can only be read asynchronously (none here)."""


class ProcessMetrics:
    """
    The metrics of one process: a :class:`~prometheus_client.CollectorRegistry`
    with the process, platform and garbage-collector collectors, and the parts
    (one instance of each side's class) registered in it.

    :param timer: the clock every part measures durations with
    """

    def __init__(self, *, timer: Timer = time.perf_counter) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._timer = timer
        self._parts: dict[type[Any], MetricsPart] = {}

    def part(self, cls: type[P]) -> P:
        """The one ``cls`` of this process, created (and registered) on first use."""
        found = self._parts.get(cls)
        if found is None:
            found = self._parts[cls] = cls(self.registry, timer=self._timer)
        return found  # type: ignore[return-value]  # one instance of each class

    def add_part(self, part: MetricsPart) -> None:
        """Add a part built elsewhere (in this registry): it is refreshed before each scrape."""
        self._parts[type(part)] = part

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """
        The registry as text, in the format ``accept`` asks for (Prometheus
        text, or OpenMetrics), after every part refreshed; and its content type.
        """
        for part in list(self._parts.values()):
            await part.refresh()
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class MetricsPage(Resource):
    """``GET`` the metrics of a :class:`ProcessMetrics` (a leaf twisted.web resource)."""

    isLeaf = True

    def __init__(self, metrics: ProcessMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request: Any) -> Any:
        d = Deferred.fromCoroutine(render(self._metrics, request))
        d.addCallbacks(self._write, self._failed, callbackArgs=(request,),
                       errbackArgs=(request,))
        return NOT_DONE_YET

    def _write(self, body: bytes, request: Any) -> None:
        if request.channel is not None:  # else the scraper went away meanwhile
            request.write(body)
            request.finish()

    def _failed(self, failure: Any, request: Any) -> None:
        log.failure("rendering the metrics failed", failure)
        if request.channel is not None:
            request.setResponseCode(500)
            request.finish()


async def render(metrics: ProcessMetrics, request: Any) -> bytes:
    """The metrics in the format ``request`` accepts; sets its content type."""
    accept = request.getHeader(b"accept")
    body, content_type = await metrics.exposition(accept.decode("latin-1") if accept else None)
    request.setHeader(b"content-type", content_type.encode("ascii"))
    return body


class Stopwatch:
    """Measures one duration on a :data:`Timer`: ``watch.seconds`` since it was made."""

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._start = timer()

    @property
    def seconds(self) -> float:
        """Seconds since the stopwatch was made."""
        return max(0.0, self._timer() - self._start)


@contextmanager
def timed(timer: Timer, done: Callable[[float, BaseException | None], None]) -> Iterator[None]:
    """Call ``done(seconds, error)`` when the block ends (``error`` is ``None`` on success)."""
    watch = Stopwatch(timer)
    try:
        yield
    except BaseException as e:
        done(watch.seconds, e)
        raise
    done(watch.seconds, None)


def error_code(error: BaseException | None) -> str:
    """
    A bounded label for how something ended: ``ok``, an s3node error's
    ``code``, ``cancelled``, or ``internal`` for anything else.
    """
    from twisted.internet.defer import CancelledError

    from s3node.errors import S3NodeError

    if error is None:
        return "ok"
    if isinstance(error, S3NodeError):
        return error.code
    if isinstance(error, CancelledError):
        return "cancelled"
    return "internal"
