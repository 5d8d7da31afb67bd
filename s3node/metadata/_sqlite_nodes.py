"""
The storage-node half of the SQLite metadata store (a mixin of its store
class): nodes, the replicas a node holds, and the leases of the background
workers that walk the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from s3node.errors import NodeNotFound
from s3node.metadata import _records as r
from s3node.metadata import _sqlite_queries as q
from s3node.metadata._rows import node_replica_from_row
from s3node.metadata._sqlite_db import Connection
from s3node.records import NodeRecord, NodeReplica, NodeState, ReplicaState

__all__ = ["SQLiteNodes"]


def _node(row: Sequence[Any]) -> NodeRecord:
    return NodeRecord(
        node_id=row[0], address=row[1], weight=row[2], zone=row[3], state=NodeState(row[4]),
        capacity=row[5], used=row[6], last_seen=None if row[7] is None else r.from_micros(row[7]),
    )


class SQLiteNodes:
    """Node, node-replica and lease operations on ``self._db``."""

    _db: Any

    def _now(self) -> int:
        raise NotImplementedError

    # -- the replicas a node holds ---------------------------------------------

    async def set_replica_state_by_chunk(
        self, *, chunk_id: str, node_id: str, state: ReplicaState
    ) -> int:
        r.check_replica_by_chunk(chunk_id, node_id, state)
        params = (state.value, self._now(), node_id, chunk_id, state.value)
        return await self._db.write(  # type: ignore[no-any-return]
            lambda conn: conn.execute(
                "UPDATE chunk_replicas SET state = ?, updated_at = ?"
                " WHERE node_id = ? AND chunk_id = ? AND state <> ?",
                params,
            ).rowcount
        )

    async def drop_node_replicas(self, node_id: str) -> int:
        r.check_node_id(node_id)
        return await self._db.write(  # type: ignore[no-any-return]
            lambda conn: conn.execute(
                "DELETE FROM chunk_replicas WHERE node_id = ?", (node_id,)
            ).rowcount
        )

    async def node_replicas(
        self, *, node_id: str, after: str, upto: str | None, limit: int
    ) -> Sequence[NodeReplica]:
        limit = r.check_node_range(node_id, after, upto, limit)
        bound, args = ("", ()) if upto is None else (" AND r.chunk_id <= ?", (upto,))

        def work(conn: Connection) -> list[NodeReplica]:
            rows = conn.execute(
                "SELECT r.chunk_id, r.file_id, r.chunk_index, r.state, f.status"
                " FROM chunk_replicas r JOIN files f ON f.id = r.file_id"
                f" WHERE r.node_id = ? AND r.chunk_id > ?{bound}"
                " ORDER BY r.chunk_id, r.file_id, r.chunk_index LIMIT ?",
                (node_id, after, *args, limit),
            )
            return [node_replica_from_row(row) for row in rows]

        return await self._db.read(work)

    # -- storage nodes ------------------------------------------------------

    async def upsert_node(self, node: NodeRecord) -> None:
        r.check_node(node)
        seen = None if node.last_seen is None else r.to_micros(node.last_seen)

        def work(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO storage_nodes (id, address, weight, zone, state, capacity, used,"
                " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " address = excluded.address, weight = excluded.weight, zone = excluded.zone",
                (node.node_id, node.address, float(node.weight), node.zone, node.state.value,
                 node.capacity, node.used, seen),
            )

        await self._db.write(work)

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
        seen = None if last_seen is None else r.to_micros(last_seen)

        def work(conn: Connection) -> None:
            changed = conn.execute(
                "UPDATE storage_nodes SET state = ?, capacity = coalesce(?, capacity),"
                " used = coalesce(?, used), last_seen = coalesce(?, last_seen) WHERE id = ?",
                (state.value, capacity, used, seen, node_id),
            ).rowcount
            if not changed:
                raise NodeNotFound(f"no storage node {node_id!r}")

        await self._db.write(work)

    async def list_nodes(self) -> Sequence[NodeRecord]:
        def work(conn: Connection) -> list[NodeRecord]:
            rows = conn.execute(
                "SELECT id, address, weight, zone, state, capacity, used, last_seen"
                " FROM storage_nodes ORDER BY id"
            )
            return [_node(row) for row in rows]

        return await self._db.read(work)

    # -- leases ---------------------------------------------------------------

    async def try_lease(self, *, name: str, holder: str, now: datetime, ttl: float) -> bool:
        moment, until = r.check_lease(name, holder, now, ttl)
        params = {"name": name, "holder": holder, "now": r.to_micros(moment),
                  "until": r.to_micros(until)}
        changed = await self._db.write(lambda conn: conn.execute(q.TRY_LEASE, params).rowcount)
        return bool(changed)

    async def release_lease(self, *, name: str, holder: str) -> None:
        r.check_lease_holder(name, holder)
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)
            )
        )
