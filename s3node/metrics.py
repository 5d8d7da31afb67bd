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
from collections.abc import Awaitable, Callable, Iterable, Iterator
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
    "metrics_site",
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
        self._added: list[MetricsPart] = []
        #: labels added to every sample of this process's registry
        #: (``worker="1"`` in a gateway with several workers)
        self.labels: dict[str, str] = {}
        #: renders the page instead of this registry (a gateway worker: its parent's)
        self.delegate: Callable[[str | None], Awaitable[tuple[bytes, str]]] | None = None

    def part(self, cls: type[P]) -> P:
        """The one ``cls`` of this process, created (and registered) on first use."""
        found = self._parts.get(cls)
        if found is None:
            found = self._parts[cls] = cls(self.registry, timer=self._timer)
        return found  # type: ignore[return-value]  # one instance of each class

    def add_part(self, part: MetricsPart) -> None:
        """
        Add a part built elsewhere: it is refreshed before each scrape, and
        when it has a ``collect()`` (:class:`s3node.metricsrelay.MetricsRelay`)
        its families join the page as they are (without :attr:`labels`).
        """
        self._added.append(part)

    async def exposition(self, accept: str | None, *, own: bool = False) -> tuple[bytes, str]:
        """
        The registry as text, in the format ``accept`` asks for (Prometheus
        text, or OpenMetrics), after every part refreshed; and its content type.

        A gateway worker's page is its parent's (:attr:`delegate`) unless
        ``own`` asks for this process's registry only.
        """
        if self.delegate is not None and not own:
            return await self.delegate(accept)
        parts = list(self._parts.values()) + ([] if own else list(self._added))
        for part in parts:
            await part.refresh()
        families: dict[str, Any] = {}
        merge_families(self.registry.collect(), self.labels, families)
        if not own:
            for part in self._added:
                collect = getattr(part, "collect", None)
                if collect is not None:
                    merge_families(collect(), {}, families)
        encoder, content_type = choose_encoder(accept or "")
        return encoder(_Families(families)), content_type  # type: ignore[arg-type]


class _Families:
    """Families already collected, in the shape the encoders take (a registry's ``collect``)."""

    def __init__(self, families: dict[str, Any]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        return iter(self._families.values())


def merge_families(families: Iterable[Any], labels: dict[str, str],
                   into: dict[str, Any]) -> None:
    """Add ``families``' samples, with ``labels`` added, to the same-named families of ``into``."""
    from prometheus_client.core import Metric
    from prometheus_client.samples import Sample

    for family in families:
        merged = into.get(family.name)
        if merged is None:
            merged = into[family.name] = Metric(family.name, family.documentation, family.type,
                                                family.unit)
        if not labels:
            merged.samples.extend(family.samples)
            continue
        for s in family.samples:
            merged.samples.append(Sample(s.name, {**s.labels, **labels}, s.value,
                                         s.timestamp, s.exemplar))


class MetricsPage(Resource):
    """``GET`` the metrics of a :class:`ProcessMetrics` (a leaf twisted.web resource)."""

    isLeaf = True

    def __init__(self, metrics: ProcessMetrics, *, own: bool = False) -> None:
        super().__init__()
        self._metrics = metrics
        self._own = own

    def render_GET(self, request: Any) -> Any:
        d = Deferred.fromCoroutine(render(self._metrics, request, own=self._own))
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


def metrics_site(metrics: ProcessMetrics, reactor: Any, *, own: bool = False) -> Any:
    """A :class:`twisted.web.server.Site` serving ``metrics`` at ``/metrics`` (and 404 elsewhere)."""
    from twisted.web.server import Site

    root = Resource()
    root.putChild(b"metrics", MetricsPage(metrics, own=own))  # type: ignore[arg-type]
    return Site(root, reactor=reactor)


async def render(metrics: ProcessMetrics, request: Any, *, own: bool = False) -> bytes:
    """The metrics in the format ``request`` accepts; sets its content type."""
    accept = request.getHeader(b"accept")
    body, content_type = await metrics.exposition(accept.decode("latin-1") if accept else None,
                                                  own=own)
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
