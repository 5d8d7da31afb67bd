"""The storage-node half of the PostgreSQL metadata store (a mixin of its store class)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from s3node.errors import NodeNotFound
from s3node.metadata import _records as r
from s3node.records import NodeRecord, NodeState

__all__ = ["PostgresNodes"]


def _node(row: Sequence[Any]) -> NodeRecord:
    return NodeRecord(
        node_id=row[0], address=row[1], weight=row[2], zone=row[3], state=NodeState(row[4]),
        capacity=row[5], used=row[6], last_seen=None if row[7] is None else row[7].astimezone(UTC),
    )


class PostgresNodes:
    """``upsert_node``, ``update_node_health`` and ``list_nodes`` on ``self._db``."""

    _db: Any

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
