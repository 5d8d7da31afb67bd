"""
The durability figures: how many chunks have 0, 1, 2... healthy replicas, and
how many files are in each status, counted every so often for ``/metrics``.

One :meth:`~s3node.interfaces.MetadataStore.durability_counts` read per
``interval`` seconds (:meth:`DurabilityFigures.service`, a child of the
gateway's service, first at once), never per scrape: on a large database the
count reads every replica row.  The metrics collector
(:class:`s3node.gateway.metrics.GatewayState`) exports the last figures with
the time they were counted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node.errors import S3NodeError
from s3node.gateway.periodic import Periodic
from s3node.interfaces import MetadataStore
from s3node.records import DurabilityCounts

__all__ = ["DurabilityFigures", "Figures"]

log = Logger()


@dataclass(frozen=True)
class Figures:
    """One count, and when it was made (seconds since the epoch, on the injected clock)."""

    counts: DurabilityCounts
    at: float


class DurabilityFigures:
    """Count the durability figures every ``interval`` seconds; :attr:`last` holds the latest."""

    def __init__(self, store: MetadataStore, clock: IReactorTime, *, interval: float,
                 unhealthy: Callable[[], Collection[str]] = tuple) -> None:
        self._store = store
        #: the nodes whose replicas do not count (down), asked at each count
        self._unhealthy = unhealthy
        self._clock = clock
        self._interval = interval
        #: the latest figures, ``None`` until the first count succeeded
        self.last: Figures | None = None

    def service(self) -> Periodic:
        """A service that counts at once, then every ``interval`` seconds."""
        return Periodic("durability figures", self.count, self._clock, self._interval, now=True)

    async def count(self) -> Figures | None:
        """Count now; keep (and return) the figures, or ``None`` when the store fails."""
        try:
            counts = await self._store.durability_counts(unhealthy_nodes=self._unhealthy())
        except S3NodeError as e:
            log.info("durability figures not counted: {error}", error=e.message)
            return None
        self.last = Figures(counts, self._clock.seconds())  # type: ignore[misc]
        return self.last
