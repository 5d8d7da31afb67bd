"""
Cluster administration, protocol-neutral: the node set, drains, the movement
plan and the durability view.  The HTTP routes (``/nodes``, ``/cluster`` in
:mod:`s3node.gateway.app`) are thin adapters over :class:`ClusterAdmin`.

The node set lives in the metadata database; a change made through one
gateway reaches the others at their next health-check round
(:meth:`~s3node.gateway.nodes.NodePool.refresh`), and this gateway's pool at
once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node.errors import InvalidRequest, NodeExists
from s3node.gateway.counters import (
    COPIES_MADE,
    COPY_BYTES,
    CORRUPT_BY_READ,
    CORRUPT_BY_SCRUB,
    FAILURES,
    REPLICAS_DROPPED,
)
from s3node.gateway.nodes import NodePool
from s3node.gateway.repair import RepairSettings
from s3node.gateway.repairplan import NodeView, plan_chunk
from s3node.interfaces import MetadataStore, PlacementStrategy
from s3node.records import DurabilityCounts, NodeAdmin, NodeRecord, PlacementNode

__all__ = ["ClusterAdmin", "MovementPlan", "durability_json", "node_json"]

log = Logger()

#: what a node id may be: what the ``--node`` option accepts
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
#: ``host:port`` of a storage node's gRPC listener
ADDRESS = re.compile(r"[A-Za-z0-9.\-]{1,253}:[0-9]{1,5}|\[[0-9A-Fa-f:.]{2,45}\]:[0-9]{1,5}")
#: chunks read per page while a plan walks every chunk
PLAN_PAGE = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def node_json(node: NodeRecord, *, live: bool | None = None) -> dict[str, Any]:
    """One node as the ``/nodes`` routes show it."""
    out: dict[str, Any] = {
        "node_id": node.node_id,
        "address": node.address,
        "weight": node.weight,
        "zone": node.zone,
        "state": node.state.value,
        "admin": node.admin.value,
        "capacity": node.capacity,
        "used": node.used,
        "free": node.free,
        "last_seen": _iso(node.last_seen),
        "down_since": _iso(node.down_since),
    }
    if live is not None:
        out["live"] = live
    return out


def durability_json(counts: DurabilityCounts, replicas: int) -> dict[str, Any]:
    """The durability part of ``GET /cluster`` and of ``/health``."""
    keys = range(max([replicas, *counts.chunks_by_stored_replicas]) + 1)
    return {
        "chunks_by_healthy_replicas": {
            str(k): counts.chunks_by_stored_replicas.get(k, 0) for k in keys},
        "chunks_below_target": sum(
            n for k, n in counts.chunks_by_stored_replicas.items() if k < replicas),
        "bytes_at_risk": sum(
            n for k, n in counts.bytes_by_stored_replicas.items() if k < replicas),
        "damaged_files": counts.damaged_files,
    }


@dataclass(frozen=True)
class MovementPlan:
    """What repair would write and drop for a node set, counted over every chunk."""

    #: chunks that would change
    chunks: int
    #: copies that would be written
    copies: int
    #: bytes of those copies
    bytes: int
    #: replicas that would be dropped
    drops: int
    #: chunks examined
    examined: int
    #: replicas examined (``stored`` ones)
    replicas: int

    def json(self) -> dict[str, Any]:
        """The plan as ``GET /cluster/plan`` shows it."""
        return {
            "chunks": self.chunks, "copies": self.copies, "bytes": self.bytes,
            "drops": self.drops, "chunks_examined": self.examined,
            "replicas_examined": self.replicas,
            "fraction_of_replicas_moving": (self.copies / self.replicas) if self.replicas else 0.0,
        }


class ClusterAdmin:
    """Adds, drains and forgets nodes; plans movement; tells how exposed the cluster is."""

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        placement: PlacementStrategy,
        clock: IReactorTime,
        *,
        settings: RepairSettings,
    ) -> None:
        self._store = store
        self._pool = pool
        self._placement = placement
        self._clock = clock
        self.settings = settings

    # -- nodes ----------------------------------------------------------------

    @staticmethod
    def parse_node(body: Mapping[str, Any]) -> NodeRecord:
        """A new node from a ``POST /nodes`` body; :class:`InvalidRequest` says what is wrong."""
        node_id, address = body.get("node_id"), body.get("address")
        if not isinstance(node_id, str) or not NODE_ID.fullmatch(node_id):
            raise InvalidRequest(
                "node_id: 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if not isinstance(address, str) or not ADDRESS.fullmatch(address):
            raise InvalidRequest("address: HOST:PORT of the node's gRPC listener")
        weight = body.get("weight", 1.0)
        if (not isinstance(weight, int | float) or isinstance(weight, bool)
                or not 0 < weight <= 1000):
            raise InvalidRequest("weight: a number above 0, at most 1000")
        zone = body.get("zone", "")
        if not isinstance(zone, str) or len(zone) > 63:
            raise InvalidRequest("zone: a string of at most 63 characters")
        unknown = set(body) - {"node_id", "address", "weight", "zone"}
        if unknown:
            raise InvalidRequest(f"unknown fields: {', '.join(sorted(unknown))}")
        return NodeRecord(node_id, address, float(weight), zone)

    async def add_node(self, node: NodeRecord) -> NodeRecord:
        """Register ``node`` and take it into this gateway's pool at once."""
        if node.node_id in self._pool.views(repair_after=self.settings.repair_after):
            raise NodeExists(f"a node {node.node_id!r} is registered already")
        stored = await self._store.add_node(node)
        await self._pool.refresh()
        await self._pool.check(node.node_id)
        log.info("node {node_id} added at {address}", node_id=node.node_id,
                 address=node.address)
        return stored

    async def drain(self, node_id: str) -> dict[str, Any]:
        """Start draining ``node_id``: no new chunks; repair copies its replicas elsewhere."""
        await self._store.set_node_admin(node_id, NodeAdmin.DRAINING)
        await self._pool.refresh()
        log.info("node {node_id} is draining", node_id=node_id)
        return await self.node(node_id)

    async def forget(self, node_id: str, *, lost: bool) -> int:
        """Remove ``node_id`` from the cluster (drained, or ``lost`` for good)."""
        dropped = await self._store.forget_node(node_id, lost=lost)
        self._pool.forget(node_id)
        if lost:
            log.warn(  # noqa: G010 - twisted.logger.Logger spells it warn
                "node {node_id} declared lost: {dropped} replica rows dropped; repair will"
                " copy them again", node_id=node_id, dropped=dropped)
        else:
            log.info("node {node_id} forgotten", node_id=node_id)
        return dropped

    async def node(self, node_id: str) -> dict[str, Any]:
        """One node with what it holds and how its drain goes."""
        record = await self._store.get_node(node_id)
        usage = await self._store.node_usage(node_id)
        live = self._pool.is_live(node_id)
        pooled = {n.node_id: n for n in self._pool.nodes()}.get(node_id)
        if pooled is not None:  # this gateway's own view of its health is fresher
            record = replace(record, state=pooled.state, capacity=pooled.capacity,
                             used=pooled.used, last_seen=pooled.last_seen)
        out = node_json(record, live=live)
        out["replicas"] = usage.replicas
        out["bytes"] = usage.bytes
        drain = None
        if record.admin is not NodeAdmin.ACTIVE and record.drain_replicas is not None:
            total = record.drain_replicas
            drain = {
                "replicas_at_start": total,
                "remaining": usage.replicas,
                "progress": 1.0 if total == 0 else max(0.0, 1 - usage.replicas / total),
            }
        out["drain"] = drain
        return out

    # -- the plan and the view --------------------------------------------------

    def _views_with(self, extra: NodeRecord | None
                    ) -> tuple[dict[str, NodeView], list[PlacementNode]]:
        views = self._pool.views(repair_after=self.settings.repair_after)
        members = self._pool.members()
        if extra is not None:
            views[extra.node_id] = NodeView(extra.node_id, NodeAdmin.ACTIVE, up=True)
            members = sorted([*members, extra.for_placement()], key=lambda n: n.node_id)
        return views, members

    async def plan(self, *, add: NodeRecord | None = None) -> MovementPlan:
        """
        Count what repair would copy and drop for the current node set (plus
        ``add``, a node not registered yet): one walk over every chunk.
        """
        views, members = self._views_with(add)

        def order(chunk_id: str) -> Sequence[str]:
            return self._placement.preference_list(chunk_id, members)

        chunks = copies = size = drops = examined = replicas = 0
        after = None
        while True:
            page = await self._store.scan_chunks(after=after, limit=PLAN_PAGE)
            for chunk in page:
                p = plan_chunk(chunk, views, order, self.settings.replicas)
                examined += 1
                replicas += len(chunk.nodes_with())
                if p.copies or (p.drops and p.may_drop):
                    chunks += 1
                    copies += len(p.copies)
                    size += chunk.size * len(p.copies)
                    drops += len(p.drops) if p.may_drop else 0
            if len(page) < PLAN_PAGE:
                break
            after = (page[-1].file_id, page[-1].index)
        return MovementPlan(chunks, copies, size, drops, examined, replicas)

    async def cluster(self) -> dict[str, Any]:
        """The durability view: how exposed the cluster is, and whether it is getting better."""
        down = [n.node_id for n in self._pool.nodes() if not self._pool.is_live(n.node_id)]
        counts = await self._store.durability_counts(unhealthy_nodes=down)
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)  # type: ignore[misc]
        queued, due = await self._store.repair_queue_length(now=now)
        counters = await self._store.read_counters()
        views = self._pool.views(repair_after=self.settings.repair_after)
        nodes = []
        for record in self._pool.nodes():
            item = node_json(record, live=self._pool.is_live(record.node_id))
            item["repair_after_passed"] = views[record.node_id].expired
            nodes.append(item)
        return {
            "replicas": self.settings.replicas,
            **durability_json(counts, self.settings.replicas),
            "files_by_status": {s.value: n for s, n in counts.files_by_status.items()},
            "repair": {
                "queued": queued,
                "due": due,
                "copies": counters.get(COPIES_MADE, 0),
                "bytes": counters.get(COPY_BYTES, 0),
                "failures": counters.get(FAILURES, 0),
                "replicas_dropped": counters.get(REPLICAS_DROPPED, 0),
                "bandwidth": self.settings.bandwidth,
                "concurrency": self.settings.concurrency,
                "repair_after": self.settings.repair_after,
            },
            "corruptions": {
                "found_by_scrub": counters.get(CORRUPT_BY_SCRUB, 0),
                "found_by_read": counters.get(CORRUPT_BY_READ, 0),
            },
            "nodes_down": sorted(down),
            "nodes": nodes,
        }
