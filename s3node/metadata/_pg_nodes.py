"""
The storage-node half of the PostgreSQL metadata store (a mixin of its store
class): nodes (their health, the operator's admin state, forgetting one),
the replicas a node holds, and the leases of the background workers that
walk the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from s3node.errors import NodeExists, NodeNotFound
from s3node.metadata import _pg_queries as q
from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata import _rows
from s3node.metadata._node_checks import check_health, check_node
from s3node.metadata._pgpool import Cursor, fetch
from s3node.metadata._rows import node_replica_from_row
from s3node.records import NodeAdmin, NodeRecord, NodeReplica, NodeState, NodeUsage, ReplicaState

__all__ = ["PostgresNodes"]


def _node(row: Sequence[Any]) -> NodeRecord:
    return _rows.node_from_row(row, lambda moment: moment.astimezone(UTC))


async def _locked_node(cur: Cursor, node_id: str) -> NodeRecord:
    """
    Node ``node_id``, its row locked until the transaction ends (admin changes
    and forgets of one node queue); :class:`NodeNotFound` when there is none.
    """
    rows = await fetch(
        cur, f"SELECT {_rows.NODE} FROM storage_nodes WHERE id = %s FOR UPDATE", (node_id,)
    )
    if not rows:
        raise NodeNotFound(f"no storage node {node_id!r}")
    return _node(rows[0])


async def _replicas_on(cur: Cursor, node_id: str) -> int:
    """How many replica rows (any state) node ``node_id`` holds."""
    rows = await fetch(cur, "SELECT count(*) FROM chunk_replicas WHERE node_id = %s", (node_id,))
    return int(rows[0][0])


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
        check_node(node)
        await self._db.execute(
            f"INSERT INTO storage_nodes ({_rows.NODE})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
            " address = excluded.address, weight = excluded.weight, zone = excluded.zone",
            (node.node_id, node.address, node.weight, node.zone, node.state.value,
             node.capacity, node.used, node.last_seen, node.admin.value, node.down_since,
             node.drain_replicas),
        )

    async def add_node(self, node: NodeRecord) -> NodeRecord:
        check_node(node)
        rows = await self._db.query(
            "INSERT INTO storage_nodes (id, address, weight, zone) VALUES (%s, %s, %s, %s)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {_rows.NODE}",
            (node.node_id, node.address, node.weight, node.zone),
        )
        if not rows:
            raise NodeExists(f"storage node {node.node_id!r} is already registered")
        return _node(rows[0])

    async def get_node(self, node_id: str) -> NodeRecord:
        r.check_node_id(node_id)
        rows = await self._db.query(
            f"SELECT {_rows.NODE} FROM storage_nodes WHERE id = %s", (node_id,)
        )
        if not rows:
            raise NodeNotFound(f"no storage node {node_id!r}")
        return _node(rows[0])

    async def set_node_admin(self, node_id: str, admin: NodeAdmin) -> NodeRecord:
        admin = rc.check_admin(node_id, admin)

        async def work(cur: Cursor) -> NodeRecord:
            node = await _locked_node(cur, node_id)
            held = 0 if admin is NodeAdmin.ACTIVE else await _replicas_on(cur, node_id)
            drain = rc.admin_change(node_id, node.admin, node.drain_replicas, admin, held)
            rows = await fetch(
                cur,
                "UPDATE storage_nodes SET admin_state = %s, drain_replicas = %s"
                f" WHERE id = %s RETURNING {_rows.NODE}",
                (admin.value, drain, node_id),
            )
            return _node(rows[0])

        return await self._db.interaction(work)

    async def forget_node(self, node_id: str, *, lost: bool) -> int:
        lost = rc.check_forget(node_id, lost)

        async def work(cur: Cursor) -> int:
            node = await _locked_node(cur, node_id)
            dropped = 0
            if lost:
                rows = await fetch(
                    cur,
                    "WITH dropped AS (DELETE FROM chunk_replicas WHERE node_id = %s RETURNING 1)"
                    " SELECT count(*) FROM dropped",
                    (node_id,),
                )
                dropped = int(rows[0][0])
            else:
                refusal = rc.forget_refusal(node_id, node.admin, await _replicas_on(cur, node_id))
                if refusal is not None:
                    raise refusal
            await cur.execute("DELETE FROM storage_nodes WHERE id = %s", (node_id,))
            return dropped

        return await self._db.interaction(work)

    async def node_usage(self, node_id: str) -> NodeUsage:
        r.check_node_id(node_id)
        rows = await self._db.query(
            "SELECT count(*), coalesce(sum(c.size), 0) FROM chunk_replicas r"
            " JOIN chunks c ON c.file_id = r.file_id AND c.chunk_index = r.chunk_index"
            " WHERE r.node_id = %s",
            (node_id,),
        )
        return NodeUsage(int(rows[0][0]), int(rows[0][1]))

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
        # down_since follows state: kept (or set to now) while down, cleared when active
        await self._db.execute(
            "UPDATE storage_nodes SET state = %(state)s, capacity = coalesce(%(capacity)s,"
            " capacity), used = coalesce(%(used)s, used), last_seen = coalesce(%(seen)s,"
            " last_seen), down_since = CASE WHEN %(state)s = 'down'"
            " THEN coalesce(down_since, %(now)s) END WHERE id = %(node)s",
            {"state": state.value, "capacity": capacity, "used": used, "seen": last_seen,
             "now": now, "node": node_id},
        )

    async def list_nodes(self) -> Sequence[NodeRecord]:
        rows = await self._db.query(f"SELECT {_rows.NODE} FROM storage_nodes ORDER BY id")
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
