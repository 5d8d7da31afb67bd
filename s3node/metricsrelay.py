"""
:class:`MetricsRelay`: other local processes' ``s3node_`` metrics, on this process's page.

Standalone runs its storage nodes as child processes, each with its own
registry served on a loopback ``/metrics`` port (``--metrics-listen``).  The
gateway's ``/metrics`` stays the one page to scrape: before each scrape the
relay fetches every source's page (in parallel, each within ``timeout``
seconds), and at collection it yields their ``s3node_`` families, the samples
of every source merged under one family each and labelled as the source
says (``worker="2"``; a node's families already carry ``node``).  A source
that does not answer is left out of that scrape and logged.  The children's
own ``process_*``/``python_*`` metrics stay on their own pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.defer import DeferredList
from twisted.logger import Logger

from s3node.metrics import MetricsPart, merge_families

__all__ = ["MetricsRelay", "Source"]

log = Logger()

#: one page to relay: its name (for the log), its URL and the labels added to its samples
Source = tuple[str, str, dict[str, str]]


class MetricsRelay(MetricsPart):
    """
    Relays the ``s3node_`` families of the pages ``sources()`` names.

    :param sources: called before each scrape (the pages move when a child restarts)
    :param agent: a :class:`twisted.web.client.Agent` (or anything with its ``request``)
    """

    def __init__(self, sources: Callable[[], list[Source]], agent: Any,
                 reactor: Any, *, timeout: float = 5.0) -> None:
        super().__init__()
        self._sources = sources
        self._agent = agent
        self._reactor = reactor
        self._timeout = timeout
        self._families: dict[str, Metric] = {}

    async def refresh(self) -> None:
        sources = self._sources()
        pages = await DeferredList([self._fetch(url) for _, url, _ in sources],
                                   consumeErrors=True)
        families: dict[str, Metric] = {}
        for (name, url, labels), (ok, text) in zip(sources, pages):
            if not ok:
                log.warn("no metrics from {source} ({url}): {error}",  # noqa: G010
                         source=name, url=url, error=text.getErrorMessage())
                continue
            # ``_created`` comes back as gauge families of its own, which would
            # clash with this process's counters' own ``_created``: left out
            wanted = (f for f in text_string_to_metric_families(text)
                      if f.name.startswith("s3node_") and not f.name.endswith("_created"))
            merge_families(wanted, labels, families)
        self._families = families

    def _fetch(self, url: str) -> Any:
        from twisted.web.client import readBody

        d = self._agent.request(b"GET", url.encode("ascii"))
        d.addCallback(readBody)
        d.addCallback(lambda body: body.decode("utf-8"))
        d.addTimeout(self._timeout, self._reactor)
        return d

    def collect(self) -> Iterator[Metric]:
        """The families fetched by the last :meth:`refresh`."""
        return iter(list(self._families.values()))
