"""The storage-node half of the SQLite metadata store (a mixin of its store class)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from s3node.errors import NodeNotFound
from s3node.metadata import _records as r
from s3node.metadata._sqlite_db import Connection
from s3node.records import NodeRecord, NodeState

__all__ = ["SQLiteNodes"]


def _node(row: Sequence[Any]) -> NodeRecord:
    return NodeRecord(
        node_id=row[0], address=row[1], weight=row[2], zone=row[3], state=NodeState(row[4]),
        capacity=row[5], used=row[6], last_seen=None if row[7] is None else r.from_micros(row[7]),
    )


class SQLiteNodes:
    """``upsert_node``, ``update_node_health`` and ``list_nodes`` on ``self._db``."""

    _db: Any

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
