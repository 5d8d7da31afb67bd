"""
:class:`LeasedWorker`: what the gateway's lease-holding background workers share.

The sweeper and the reconciler each run on the one gateway that holds the
background lease (:mod:`s3node.gateway.lease`), every so many seconds, over
the metadata store and the node pool, counting into the gateway's metrics.
This base holds those collaborators, tells the time on the injected clock,
and turns the worker's :meth:`~LeasedWorker.run` into its periodic service.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.interfaces import IReactorTime

from s3node.gateway.lease import Lease
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.gateway.periodic import Periodic
from s3node.interfaces import MetadataStore

__all__ = ["LeasedWorker"]


class LeasedWorker:
    """A background job over the store and the nodes, run while this gateway holds the lease."""

    #: the name of the worker's service
    name = ""

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        clock: IReactorTime,
        lease: Lease,
        *,
        interval: float,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._clock = clock
        self._lease = lease
        self._interval = interval
        self._metrics = metrics if metrics is not None else GatewayMetrics()

    async def run(self) -> object:
        """One round of the job (each worker checks the lease first)."""
        raise NotImplementedError

    def service(self) -> Periodic:
        """A service that runs :meth:`run` every ``interval`` seconds (the first one interval on)."""
        return Periodic(self.name, self.run, self._clock, self._interval)

    def _seconds(self) -> float:
        return self._clock.seconds()  # type: ignore[misc,no-any-return]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._seconds(), UTC)
