"""
The storage-node half of the in-memory metadata store (a mixin of
:class:`~s3node.metadata.memory.MemoryMetadataStore`): nodes (their health,
the operator's admin state, forgetting one), the replicas a node holds, and
the leases of the background workers that walk the nodes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from s3node.errors import NodeExists, NodeNotFound
from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata._node_checks import check_health, check_node
from s3node.records import (
    ChunkRecord,
    FileRecord,
    NodeAdmin,
    NodeRecord,
    NodeReplica,
    NodeState,
    NodeUsage,
    ReplicaRecord,
    ReplicaState,
)

__all__ = ["MemoryNodes", "TimeSource", "by_node"]


class TimeSource(Protocol):
    """What the store needs of a clock: Twisted's reactor or ``task.Clock``."""

    def seconds(self) -> float:
        """Seconds since the Unix epoch."""


def by_node(replicas: Iterable[ReplicaRecord]) -> tuple[ReplicaRecord, ...]:
    """Replicas in the order every store gives them back: by node id."""
    return tuple(sorted(replicas, key=lambda rep: rep.node_id))


def _utc(moment: datetime | None) -> datetime | None:
    """A checked aware timestamp as the SQL stores give it back: in UTC."""
    return None if moment is None else moment.astimezone(UTC)


class MemoryNodes:
    """Node, node-replica and lease operations on the store's dicts."""

    files: dict[uuid.UUID, FileRecord]
    chunks: dict[uuid.UUID, dict[int, ChunkRecord]]
    nodes: dict[str, NodeRecord]
    leases: dict[str, tuple[str, datetime]]

    def _available(self) -> None:
        raise NotImplementedError

    def _on_node(self, node_id: str) -> Iterator[tuple[ChunkRecord, ReplicaRecord]]:
        """Every chunk with a replica on ``node_id``, and that replica."""
        for chunks in self.chunks.values():
            for chunk in list(chunks.values()):
                for replica in chunk.replicas:
                    if replica.node_id == node_id:
                        yield chunk, replica

    def _put(self, chunk: ChunkRecord, replicas: Iterable[ReplicaRecord]) -> None:
        self.chunks[chunk.file_id][chunk.index] = replace(chunk, replicas=by_node(replicas))

    # -- the replicas a node holds ---------------------------------------------

    async def set_replica_state_by_chunk(
        self, *, chunk_id: str, node_id: str, state: ReplicaState
    ) -> int:
        r.check_replica_by_chunk(chunk_id, node_id, state)
        self._available()
        changed = 0
        for chunk, replica in list(self._on_node(node_id)):
            if chunk.chunk_id == chunk_id and replica.state is not state:
                others = (rep for rep in chunk.replicas if rep.node_id != node_id)
                self._put(chunk, [*others, ReplicaRecord(node_id, state)])
                changed += 1
        return changed

    async def drop_node_replicas(self, node_id: str) -> int:
        r.check_node_id(node_id)
        self._available()
        found = list(self._on_node(node_id))
        for chunk, _ in found:
            self._put(chunk, (rep for rep in chunk.replicas if rep.node_id != node_id))
        return len(found)

    async def node_replicas(
        self, *, node_id: str, after: str, upto: str | None, limit: int
    ) -> Sequence[NodeReplica]:
        limit = r.check_node_range(node_id, after, upto, limit)
        self._available()
        found = sorted(
            (
                (chunk.chunk_id, chunk.file_id.int, chunk.index, chunk, replica)
                for chunk, replica in self._on_node(node_id)
                if chunk.chunk_id > after and (upto is None or chunk.chunk_id <= upto)
            ),
            key=lambda row: row[:3],
        )
        return [
            NodeReplica(
                chunk.chunk_id, chunk.file_id, chunk.index, replica.state,
                self.files[chunk.file_id].status,
            )
            for *_, chunk, replica in found[:limit]
        ]

    # -- storage nodes ------------------------------------------------------

    def _node(self, node_id: str) -> NodeRecord:
        self._available()
        try:
            return self.nodes[node_id]
        except KeyError:
            raise NodeNotFound(f"no storage node {node_id!r}") from None

    async def upsert_node(self, node: NodeRecord) -> None:
        check_node(node)
        self._available()
        known = self.nodes.get(node.node_id)
        if known is None:
            known = replace(
                node, last_seen=_utc(node.last_seen), down_since=_utc(node.down_since)
            )
        self.nodes[node.node_id] = replace(
            known, address=node.address, weight=float(node.weight), zone=node.zone
        )

    async def add_node(self, node: NodeRecord) -> NodeRecord:
        check_node(node)
        self._available()
        if node.node_id in self.nodes:
            raise NodeExists(f"storage node {node.node_id!r} is already registered")
        added = NodeRecord(node.node_id, node.address, float(node.weight), node.zone)
        self.nodes[node.node_id] = added
        return added

    async def get_node(self, node_id: str) -> NodeRecord:
        r.check_node_id(node_id)
        return self._node(node_id)

    async def set_node_admin(self, node_id: str, admin: NodeAdmin) -> NodeRecord:
        admin = rc.check_admin(node_id, admin)
        node = self._node(node_id)
        held = sum(1 for _ in self._on_node(node_id))
        drain = rc.admin_change(node_id, node.admin, node.drain_replicas, admin, held)
        node = self.nodes[node_id] = replace(node, admin=admin, drain_replicas=drain)
        return node

    async def forget_node(self, node_id: str, *, lost: bool) -> int:
        lost = rc.check_forget(node_id, lost)
        node = self._node(node_id)
        held = sum(1 for _ in self._on_node(node_id))
        if not lost:
            refusal = rc.forget_refusal(node_id, node.admin, held)
            if refusal is not None:
                raise refusal
        for chunk, _ in list(self._on_node(node_id)):
            self._put(chunk, (rep for rep in chunk.replicas if rep.node_id != node_id))
        del self.nodes[node_id]
        return held

    async def node_usage(self, node_id: str) -> NodeUsage:
        r.check_node_id(node_id)
        self._available()
        found = [chunk.size for chunk, _ in self._on_node(node_id)]
        return NodeUsage(len(found), sum(found))

    async def update_node_health(
        self,
        node_id: str,
        *,
        state: NodeState,
        capacity: int | None = None,
        used: int | None = None,
        last_seen: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        check_health(node_id, state, capacity, used, last_seen, now)
        self._available()
        known = self.nodes.get(node_id)
        if known is None:
            return
        down_since = None
        if state is NodeState.DOWN:
            down_since = known.down_since if known.down_since is not None else _utc(now)
        self.nodes[node_id] = replace(
            known,
            state=state,
            capacity=known.capacity if capacity is None else capacity,
            used=known.used if used is None else used,
            last_seen=known.last_seen if last_seen is None else _utc(last_seen),
            down_since=down_since,
        )

    async def list_nodes(self) -> Sequence[NodeRecord]:
        self._available()
        return [self.nodes[node_id] for node_id in sorted(self.nodes)]

    # -- leases ---------------------------------------------------------------

    async def try_lease(self, *, name: str, holder: str, now: datetime, ttl: float) -> bool:
        moment, until = r.check_lease(name, holder, now, ttl)
        self._available()
        held = self.leases.get(name)
        if held is not None and held[0] != holder and held[1] > moment:
            return False
        self.leases[name] = (holder, until)
        return True

    async def release_lease(self, *, name: str, holder: str) -> None:
        r.check_lease_holder(name, holder)
        self._available()
        if self.leases.get(name, ("",))[0] == holder:
            del self.leases[name]
