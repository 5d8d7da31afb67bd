"""
The storage-node half of the PostgreSQL metadata store (a mixin of its store
class): nodes, the replicas a node holds, and the leases of the background
workers that walk the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from s3node.errors import NodeNotFound
from s3node.metadata import _pg_queries as q
from s3node.metadata import _records as r
from s3node.metadata._rows import node_replica_from_row
from s3node.records import NodeRecord, NodeReplica, NodeState, ReplicaState

__all__ = ["PostgresNodes"]


def _node(row: Sequence[Any]) -> NodeRecord:
    return NodeRecord(
        node_id=row[0], address=row[1], weight=row[2], zone=row[3], state=NodeState(row[4]),
        capacity=row[5], used=row[6], last_seen=None if row[7] is None else row[7].astimezone(UTC),
    )


class PostgresNodes:
    """Node, node-replica and lease operations on ``self._db``."""

    _db: Any

    def _now(self) -> datetime:
        raise NotImplementedError

    # -- the replicas a node holds ---------------------------------------------

    async def set_replica_state_by_chunk(
        self, *, chunk_id: str, node_id: str, state: ReplicaState
    ) -> int:
        r.check_replica_by_chunk(chunk_id, node_id, state)
        rows = await self._db.query(
            "WITH changed AS (UPDATE chunk_replicas SET state = %s, updated_at = %s"
            " WHERE node_id = %s AND chunk_id = %s AND state <> %s RETURNING 1)"
            " SELECT count(*) FROM changed",
            (state.value, self._now(), node_id, chunk_id, state.value),
        )
        return int(rows[0][0])

    async def drop_node_replicas(self, node_id: str) -> int:
        r.check_node_id(node_id)
        rows = await self._db.query(
            "WITH dropped AS (DELETE FROM chunk_replicas WHERE node_id = %s RETURNING 1)"
            " SELECT count(*) FROM dropped",
            (node_id,),
        )
        return int(rows[0][0])

    async def node_replicas(
        self, *, node_id: str, after: str, upto: str | None, limit: int
    ) -> Sequence[NodeReplica]:
        limit = r.check_node_range(node_id, after, upto, limit)
        # chunk_id is collated "C" (byte order, as the nodes list their chunks)
        bound = "" if upto is None else ' AND r.chunk_id <= %(upto)s COLLATE "C"'
        rows = await self._db.query(
            "SELECT r.chunk_id, r.file_id::text, r.chunk_index, r.state, f.status"
            " FROM chunk_replicas r JOIN files f ON f.id = r.file_id"
            f' WHERE r.node_id = %(node)s AND r.chunk_id > %(after)s COLLATE "C"{bound}'
            ' ORDER BY r.chunk_id COLLATE "C", r.file_id, r.chunk_index LIMIT %(limit)s',
            {"node": node_id, "after": after, "upto": upto, "limit": limit},
        )
        return [node_replica_from_row(row) for row in rows]

    # -- storage nodes ------------------------------------------------------

    async def upsert_node(self, node: NodeRecord) -> None:
        r.check_node(node)
        await self._db.execute(
            "INSERT INTO storage_nodes"
            " (id, address, weight, zone, state, capacity, used, last_seen)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
            " address = excluded.address, weight = excluded.weight, zone = excluded.zone",
            (node.node_id, node.address, node.weight, node.zone, node.state.value,
             node.capacity, node.used, node.last_seen),
        )

    async def update_node_health(
        self,
        node_id: str,
        *,
        state: NodeState,
        capacity: int | None = None,
        used: int | None = None,
        last_seen: datetime | None = None,
    ) -> None:
        r.check_health(node_id, state, capacity, used, last_seen)
        rows = await self._db.query(
            "UPDATE storage_nodes SET state = %s, capacity = coalesce(%s, capacity),"
            " used = coalesce(%s, used), last_seen = coalesce(%s, last_seen)"
            " WHERE id = %s RETURNING 1",
            (state.value, capacity, used, last_seen, node_id),
        )
        if not rows:
            raise NodeNotFound(f"no storage node {node_id!r}")

    async def list_nodes(self) -> Sequence[NodeRecord]:
        rows = await self._db.query(
            "SELECT id, address, weight, zone, state, capacity, used, last_seen"
            " FROM storage_nodes ORDER BY id"
        )
        return [_node(row) for row in rows]

    # -- leases ---------------------------------------------------------------

    async def try_lease(self, *, name: str, holder: str, now: datetime, ttl: float) -> bool:
        moment, until = r.check_lease(name, holder, now, ttl)
        rows = await self._db.query(
            q.TRY_LEASE, {"name": name, "holder": holder, "now": moment, "until": until}
        )
        return bool(rows)

    async def release_lease(self, *, name: str, holder: str) -> None:
        r.check_lease_holder(name, holder)
        await self._db.execute(
            "DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder)
        )
