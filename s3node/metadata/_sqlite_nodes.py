"""
The storage-node half of the SQLite metadata store (a mixin of its store
class): nodes (their health, the operator's admin state, forgetting one),
the replicas a node holds, and the leases of the background workers that
walk the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from s3node.errors import NodeExists, NodeNotFound
from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata import _rows
from s3node.metadata import _sqlite_queries as q
from s3node.metadata._node_checks import check_health, check_node
from s3node.metadata._rows import node_replica_from_row
from s3node.metadata._sqlite_db import Connection
from s3node.records import NodeAdmin, NodeRecord, NodeReplica, NodeState, NodeUsage, ReplicaState

__all__ = ["SQLiteNodes"]


def _node(row: Sequence[Any]) -> NodeRecord:
    return _rows.node_from_row(row, r.from_micros)


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else r.to_micros(moment)


def _node_row(conn: Connection, node_id: str) -> Sequence[Any]:
    """The row of node ``node_id``; :class:`NodeNotFound` when there is none."""
    row = conn.execute(
        f"SELECT {_rows.NODE} FROM storage_nodes WHERE id = ?", (node_id,)
    ).fetchone()
    if row is None:
        raise NodeNotFound(f"no storage node {node_id!r}")
    return row  # type: ignore[no-any-return]


def _replicas_on(conn: Connection, node_id: str) -> int:
    """How many replica rows (any state) node ``node_id`` holds."""
    return int(
        conn.execute("SELECT count(*) FROM chunk_replicas WHERE node_id = ?", (node_id,))
        .fetchone()[0]
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
        check_node(node)
        seen, down = _micros(node.last_seen), _micros(node.down_since)

        def work(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO storage_nodes ({_rows.NODE}) VALUES ({q.marks(11)})"
                " ON CONFLICT (id) DO UPDATE SET"
                " address = excluded.address, weight = excluded.weight, zone = excluded.zone",
                (node.node_id, node.address, float(node.weight), node.zone, node.state.value,
                 node.capacity, node.used, seen, node.admin.value, down, node.drain_replicas),
            )

        await self._db.write(work)

    async def add_node(self, node: NodeRecord) -> NodeRecord:
        check_node(node)

        def work(conn: Connection) -> NodeRecord:
            row = conn.execute(
                "INSERT INTO storage_nodes (id, address, weight, zone) VALUES (?, ?, ?, ?)"
                f" ON CONFLICT (id) DO NOTHING RETURNING {_rows.NODE}",
                (node.node_id, node.address, float(node.weight), node.zone),
            ).fetchone()
            if row is None:
                raise NodeExists(f"storage node {node.node_id!r} is already registered")
            return _node(row)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def get_node(self, node_id: str) -> NodeRecord:
        r.check_node_id(node_id)
        return await self._db.read(  # type: ignore[no-any-return]
            lambda conn: _node(_node_row(conn, node_id))
        )

    async def set_node_admin(self, node_id: str, admin: NodeAdmin) -> NodeRecord:
        admin = rc.check_admin(node_id, admin)

        def work(conn: Connection) -> NodeRecord:
            node = _node(_node_row(conn, node_id))
            held = 0 if admin is NodeAdmin.ACTIVE else _replicas_on(conn, node_id)
            drain = rc.admin_change(node_id, node.admin, node.drain_replicas, admin, held)
            row = conn.execute(
                "UPDATE storage_nodes SET admin_state = ?, drain_replicas = ?"
                f" WHERE id = ? RETURNING {_rows.NODE}",
                (admin.value, drain, node_id),
            ).fetchone()
            return _node(row)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def forget_node(self, node_id: str, *, lost: bool) -> int:
        lost = rc.check_forget(node_id, lost)

        def work(conn: Connection) -> int:
            node = _node(_node_row(conn, node_id))
            dropped = 0
            if lost:
                dropped = conn.execute(
                    "DELETE FROM chunk_replicas WHERE node_id = ?", (node_id,)
                ).rowcount
            else:
                refusal = rc.forget_refusal(node_id, node.admin, _replicas_on(conn, node_id))
                if refusal is not None:
                    raise refusal
            conn.execute("DELETE FROM storage_nodes WHERE id = ?", (node_id,))
            return dropped

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def node_usage(self, node_id: str) -> NodeUsage:
        r.check_node_id(node_id)

        def work(conn: Connection) -> NodeUsage:
            replicas, size = conn.execute(q.NODE_USAGE, (node_id,)).fetchone()
            return NodeUsage(int(replicas), int(size))

        return await self._db.read(work)  # type: ignore[no-any-return]

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
        params = {"state": state.value, "capacity": capacity, "used": used,
                  "seen": _micros(last_seen), "now": _micros(now), "node": node_id}
        await self._db.write(lambda conn: conn.execute(q.UPDATE_HEALTH, params))

    async def list_nodes(self) -> Sequence[NodeRecord]:
        def work(conn: Connection) -> list[NodeRecord]:
            rows = conn.execute(f"SELECT {_rows.NODE} FROM storage_nodes ORDER BY id")
            return [_node(row) for row in rows]

        return await self._db.read(work)  # type: ignore[no-any-return]

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
