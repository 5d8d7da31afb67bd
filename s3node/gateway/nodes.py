"""
The gateway's view of its storage nodes: clients, liveness and health checks.

:class:`NodePool` holds one storage client per node, registers the nodes in the
metadata store, and asks each node for its ``Health`` every
``health_interval`` seconds (:meth:`NodePool.service`, a periodic child of the
gateway's service, on the injected clock).  A node that doesn't answer (or fails a write) counts as
down and gets no new chunks until it answers a health check again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node._aio import aio
from s3node.errors import NodeNotFound, Overloaded, S3NodeError, TimedOut, Unavailable, describe
from s3node.gateway.fence import Fence
from s3node.gateway.periodic import Periodic
from s3node.gateway.repairplan import NodeView
from s3node.interfaces import MetadataStore, NodeClient
from s3node.records import NodeAdmin, NodeRecord, NodeState, PlacementNode

__all__ = ["NodePool", "means_node_down"]

log = Logger()

#: seconds a node gets to answer a health check
HEALTH_TIMEOUT = 3.0

#: builds a storage client for ``host:port``
ClientFactory = Callable[[str], NodeClient]


def means_node_down(error: BaseException) -> bool:
    """
    Whether a call to a node (a put) that failed with ``error`` means the node is down.

    Only a transport failure does: :class:`~s3node.errors.Unavailable` as the
    client raises it for status ``UNAVAILABLE`` (connection refused or reset,
    the node shutting down).  Not :class:`~s3node.errors.TimedOut` (one late
    answer: the next health check decides), nor
    :class:`~s3node.errors.Overloaded` (busy, not gone), nor anything else:
    :class:`~s3node.errors.InsufficientStorage` (``RESOURCE_EXHAUSTED``),
    :class:`~s3node.errors.InvalidRequest`, :class:`~s3node.errors.Conflict`
    concern that chunk or that moment.
    """
    return isinstance(error, Unavailable) and not isinstance(error, TimedOut | Overloaded)


class NodePool:
    """Storage clients and the live/down state of every node."""

    def __init__(
        self,
        store: MetadataStore,
        nodes: Sequence[NodeRecord],
        client_factory: ClientFactory,
        clock: IReactorTime,
        *,
        health_interval: float,
        health_timeout: float = HEALTH_TIMEOUT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._records: dict[str, NodeRecord] = {n.node_id: n for n in nodes}
        self._client_factory = client_factory
        self._clients = {n.node_id: client_factory(n.address) for n in nodes}
        #: ids of the nodes believed to answer
        self._live: set[str] = set()
        #: bytes free in each node's last health report
        self._free: dict[str, int] = {}
        self._interval = health_interval
        self._timeout = health_timeout
        #: how the background workers on this gateway keep out of each other's way
        self.fence = Fence()

    async def start(self) -> None:
        """
        Seed the store with the configured nodes (``--node``; a registered
        node keeps what the operator set, such as a drain), take in every node
        the store knows, and check them once (:meth:`service` goes on).
        """
        for record in self._records.values():
            try:
                await self._store.upsert_node(record)
            except S3NodeError as e:
                log.error("cannot register node {node_id}: {error}",
                         node_id=record.node_id, error=e.message)
        await self.check_all()

    def service(self) -> Periodic:
        """
        A service that, every ``health_interval`` seconds, takes in the node
        set from the store (nodes added, drained or forgotten through any
        gateway) and checks every node.
        """
        return Periodic("health checks", self.check_all, self._clock, self._interval)

    async def refresh(self) -> None:
        """
        Take in the node set the store holds: new nodes get a client, changed
        addresses a new one, forgotten nodes lose theirs; every node takes the
        operator's state (``admin``, drain count) from the store.  A store that
        does not answer leaves the pool as it is.
        """
        try:
            registered = {n.node_id: n for n in await self._store.list_nodes()}
        except S3NodeError as e:
            log.info("node set not refreshed: {error}", error=e.message)
            return
        for node_id in [n for n in self._records if n not in registered]:
            log.info("node {node_id} was forgotten", node_id=node_id)
            self.forget(node_id)
        for node_id, stored in registered.items():
            known = self._records.get(node_id)
            if known is None or known.address != stored.address:
                if known is None:
                    log.info("node {node_id} joined at {address}", node_id=node_id,
                             address=stored.address)
                old = self._clients.pop(node_id, None)
                if old is not None:
                    self._close_client(node_id, old)
                self._clients[node_id] = self._client_factory(stored.address)
                self._records[node_id] = stored
                continue
            self._records[node_id] = replace(
                known, address=stored.address, weight=stored.weight, zone=stored.zone,
                admin=stored.admin, drain_replicas=stored.drain_replicas,
                down_since=known.down_since or stored.down_since)

    async def close(self) -> None:
        """Stop the checks and close every client."""
        for client in self._clients.values():
            try:
                await aio(client.close())
            except Exception:  # noqa: BLE001 - closing is best effort
                log.failure("closing a storage client failed")

    def client(self, node_id: str) -> NodeClient:
        """The storage client of ``node_id``."""
        try:
            return self._clients[node_id]
        except KeyError:
            raise NodeNotFound(f"no storage node {node_id!r}") from None

    def forget(self, node_id: str) -> None:
        """Drop ``node_id`` from the pool (a node lost for good); its client is closed."""
        self._records.pop(node_id, None)
        self._live.discard(node_id)
        client = self._clients.pop(node_id, None)
        if client is not None:
            self._close_client(node_id, client)

    def _close_client(self, node_id: str, client: NodeClient) -> None:
        aio(client.close()).addErrback(
            lambda f: log.failure("closing the client of {node_id} failed", f, node_id=node_id))

    def is_live(self, node_id: str) -> bool:
        """Whether ``node_id`` answered its last health check and was not marked down since."""
        return node_id in self._live

    def live_nodes(self, min_free: int = 0) -> list[PlacementNode]:
        """
        The nodes new chunks may go to, ordered by id, as placement sees them.

        Leaves out the nodes whose last health report shows fewer than
        ``min_free`` bytes free; a node whose free space is not known yet stays in.
        """
        live = []
        for node_id, record in sorted(self._records.items()):
            if node_id not in self._live or record.admin is not NodeAdmin.ACTIVE:
                continue
            free = self._free.get(node_id, record.free)
            if free is not None and free < min_free:
                continue
            live.append(replace(record.for_placement(), free=free))
        return live

    def views(self, *, repair_after: float) -> dict[str, NodeView]:
        """
        Every node as the repair planner sees it: its admin state, whether it
        answers, whether it has been down for longer than ``repair_after``
        seconds (by ``down_since``, which the store keeps across restarts),
        and its free bytes.
        """
        now = self._clock.seconds()  # type: ignore[misc]
        views = {}
        for node_id, record in self._records.items():
            up = node_id in self._live
            since = record.down_since
            expired = (not up and since is not None
                       and now - since.timestamp() > repair_after)
            views[node_id] = NodeView(node_id, record.admin, up, expired,
                                      self._free.get(node_id, record.free))
        return views

    def down_nodes(self) -> list[str]:
        """The ids of the nodes that did not answer their last health check."""
        return sorted(n for n in self._records if n not in self._live)

    def members(self) -> list[PlacementNode]:
        """The nodes placement chooses among for repair: every node the operator keeps ``active``."""
        return [r.for_placement() for _, r in sorted(self._records.items())
                if r.admin is NodeAdmin.ACTIVE]

    def reported_free(self, node_id: str) -> int | None:
        """Bytes free in ``node_id``'s last health report; ``None`` before its first."""
        return self._free.get(node_id)

    def nodes(self) -> list[NodeRecord]:
        """Every node as last seen, ordered by id."""
        return [self._records[k] for k in sorted(self._records)]

    def mark_down(self, node_id: str, reason: str) -> None:
        """Stop placing on ``node_id`` until it answers a health check."""
        if node_id in self._live:
            log.error("node {node_id} marked down: {reason}", node_id=node_id, reason=reason)
            self._live.discard(node_id)
            record = self._records[node_id]
            self._records[node_id] = replace(
                record, state=NodeState.DOWN,
                down_since=record.down_since or datetime.fromtimestamp(
                    self._clock.seconds(), UTC))  # type: ignore[misc]

    def put_failed(self, node_id: str, error: BaseException) -> bool:
        """
        Take note of a put to ``node_id`` that failed with ``error``: mark the
        node down when :func:`means_node_down` says the failure means so.

        :returns: whether the failure meant the node is down
        """
        if not means_node_down(error):
            return False
        self.mark_down(node_id, describe(error))
        return True

    async def check_all(self) -> None:
        """Take in the node set from the store, then ask every node for its health, in parallel."""
        await self.refresh()
        await DeferredList(
            [Deferred.fromCoroutine(self.check(node_id)) for node_id in self._records],
            consumeErrors=True,
        )

    async def check(self, node_id: str) -> bool:
        """Ask one node for its health; record the outcome; return whether it answered."""
        was_down = self._records[node_id].state is NodeState.DOWN
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)  # type: ignore[misc]
        try:
            d = aio(self._clients[node_id].health())
            d.addTimeout(self._timeout, self._clock)
            health = await d
        except Exception as e:  # noqa: BLE001 - any failure means down
            record = self._records.get(node_id)
            if record is None:  # forgotten meanwhile
                return False
            if node_id in self._live or not was_down:
                log.error("node {node_id} does not answer: {error}", node_id=node_id,
                         error=describe(e))
            self._live.discard(node_id)
            self._records[node_id] = replace(record, state=NodeState.DOWN,
                                             down_since=record.down_since or now)
            await self._save(node_id, state=NodeState.DOWN, now=now)
            return False
        record = self._records.get(node_id)
        if record is None:
            return False
        if node_id not in self._live:
            log.info("node {node_id} is up", node_id=node_id)
        self._live.add(node_id)
        self._free[node_id] = health.free
        self._records[node_id] = replace(
            record, state=NodeState.ACTIVE, capacity=health.capacity, used=health.used,
            last_seen=now, down_since=None,
        )
        await self._save(node_id, state=NodeState.ACTIVE, capacity=health.capacity,
                         used=health.used, last_seen=now)
        return True

    async def _save(self, node_id: str, **fields: Any) -> None:
        try:
            await self._store.update_node_health(node_id, **fields)
        except S3NodeError as e:
            log.debug("cannot record health of {node_id}: {error}", node_id=node_id,
                      error=e.message)
