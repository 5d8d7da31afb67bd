"""
What self-healing asks of the PostgreSQL metadata store (a mixin of its
store class): the walk over every chunk of completed files, the conditional
start of a repair copy, damaged files, the persistent repair queue and the
cluster-wide counters.

Several gateways may share the database: each write is one statement whose
rule holds under concurrency (a conflict target, a row lock on what it
reads), so two gateways never both start the same copy and an entry never
outlives its chunk.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from s3node.errors import FileNotFound
from s3node.metadata import _pg_queries as q
from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata import _rows
from s3node.metadata._pgpool import ReconnectingPool, u
from s3node.records import ChunkRecord, RepairReason, RepairTask

__all__ = ["PostgresRepair"]

#: sorts before every chunk key: the nil UUID, and no index is negative
_START = (str(uuid.UUID(int=0)), -1)

# The bound on f.id too: a merge join then starts both primary keys at the
# cursor, rather than reading every file before it.
SCAN_CHUNKS = f"""
WITH k AS (
    SELECT c.file_id, c.chunk_index FROM chunks c JOIN files f ON f.id = c.file_id
    WHERE f.status = 'completed' AND f.id >= %(file_id)s::uuid
      AND (c.file_id, c.chunk_index) > (%(file_id)s::uuid, %(index)s)
    ORDER BY c.file_id, c.chunk_index
    LIMIT %(limit)s
)
{q.CHUNKS_OF} JOIN k ON k.file_id = c.file_id AND k.chunk_index = c.chunk_index
ORDER BY c.file_id, c.chunk_index, r.node_id
"""
COMPLETED_CHUNK = f"""
{q.CHUNKS_OF} JOIN files f ON f.id = c.file_id
WHERE c.file_id = %s::uuid AND c.chunk_index = %s AND f.status = 'completed'
ORDER BY r.node_id
"""
# One statement: a completed file's chunk gets a writing replica on the node,
# unless the node has one writing or stored already.  Of two callers at once,
# the second waits on the first's row and re-checks its state: one wins.
# FOR SHARE holds the file completed until the commit: a start_delete waits,
# and the sweeper then sees the new row (it removes the copy from the node).
BEGIN_REPLICA = """
INSERT INTO chunk_replicas AS cr (file_id, chunk_index, chunk_id, node_id, state, updated_at)
SELECT c.file_id, c.chunk_index, c.chunk_id, %(node)s, 'writing', %(now)s
FROM chunks c JOIN files f ON f.id = c.file_id
WHERE c.file_id = %(file_id)s::uuid AND c.chunk_index = %(index)s AND f.status = 'completed'
FOR SHARE OF f
ON CONFLICT (file_id, chunk_index, node_id)
DO UPDATE SET state = 'writing', updated_at = excluded.updated_at
WHERE cr.state IN ('missing', 'corrupt')
RETURNING 1
"""
# Queued chunks take the new reason and the lower priority; the others are
# added, due now.  FOR KEY SHARE skips a chunk deleted meanwhile (and makes a
# deletion wait for the commit, which then takes the new entry along), so no
# foreign key error escapes.
ENQUEUE = """
WITH t AS (
    SELECT * FROM unnest(%(files)s::uuid[], %(indexes)s::int[], %(reasons)s::text[],
                         %(priorities)s::int[]) AS t (file_id, chunk_index, reason, priority)
), added AS (
    INSERT INTO repair_queue AS q (file_id, chunk_index, reason, priority, attempts, due_at,
                                   enqueued_at)
    SELECT c.file_id, c.chunk_index, t.reason, t.priority, 0, %(now)s, %(now)s
    FROM t JOIN chunks c ON c.file_id = t.file_id AND c.chunk_index = t.chunk_index
    FOR KEY SHARE OF c
    -- a row queued meanwhile (even by a caller that committed while this one
    -- waited on it) takes this reason and the lower priority
    ON CONFLICT (file_id, chunk_index) DO UPDATE
        SET reason = excluded.reason, priority = least(q.priority, excluded.priority)
    RETURNING (q.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) FROM added
"""
# repair_queue_due_idx serves this order
DUE_REPAIRS = f"""
SELECT {_rows.REPAIR} FROM repair_queue WHERE due_at <= %s
ORDER BY priority, due_at, file_id, chunk_index
LIMIT %s
"""
ADD_COUNTERS = """
INSERT INTO cluster_counters AS k (name, value)
SELECT * FROM unnest(%s::text[], %s::bigint[])
ON CONFLICT (name) DO UPDATE SET value = k.value + excluded.value
"""


def _chunks(rows: Sequence[Sequence[Any]]) -> list[ChunkRecord]:
    return [c for per_file in _rows.chunks_from_rows(rows).values() for c in per_file]


class PostgresRepair:
    """Chunk scans, repair copies, damaged files, the repair queue and the counters."""

    _db: ReconnectingPool

    def _now(self) -> datetime:
        raise NotImplementedError

    async def scan_chunks(
        self, *, after: tuple[uuid.UUID, int] | None, limit: int
    ) -> Sequence[ChunkRecord]:
        start, limit = rc.check_scan(after, limit)
        file_id, index = _START if start is None else (u(start[0]), start[1])
        rows = await self._db.query(
            SCAN_CHUNKS, {"file_id": file_id, "index": index, "limit": limit}
        )
        return _chunks(rows)

    async def get_completed_chunk(self, file_id: uuid.UUID, index: int) -> ChunkRecord | None:
        rc.check_chunk_key(file_id, index)
        found = _chunks(await self._db.query(COMPLETED_CHUNK, (u(file_id), index)))
        return found[0] if found else None

    async def begin_replica(self, *, file_id: uuid.UUID, index: int, node_id: str) -> bool:
        r.check_replica_key(file_id, index, node_id)
        rows = await self._db.query(
            BEGIN_REPLICA,
            {"file_id": u(file_id), "index": index, "node": node_id, "now": self._now()},
        )
        return bool(rows)

    async def set_file_damaged(self, file_id: uuid.UUID, damaged: bool) -> None:
        damaged = rc.check_damaged(file_id, damaged)
        rows = await self._db.query(
            "UPDATE files SET damaged = %s WHERE id = %s::uuid RETURNING 1",
            (damaged, u(file_id)),
        )
        if not rows:
            raise FileNotFound(f"no file {file_id}")

    # -- the repair queue ---------------------------------------------------------

    async def enqueue_repairs(
        self, tasks: Sequence[tuple[uuid.UUID, int, RepairReason, int]], *, now: datetime
    ) -> int:
        entries, moment = rc.check_repair_tasks(tasks, now)
        entries.sort(key=lambda entry: (entry[0], entry[1]))  # one lock order for every caller
        rows = await self._db.query(
            ENQUEUE,
            {"files": [u(e[0]) for e in entries], "indexes": [e[1] for e in entries],
             "reasons": [e[2] for e in entries], "priorities": [e[3] for e in entries],
             "now": moment},
        )
        return int(rows[0][0])

    async def due_repairs(self, *, now: datetime, limit: int) -> Sequence[RepairTask]:
        moment = r.check_aware(now, "now")
        limit = r.check_limit(limit)
        rows = await self._db.query(DUE_REPAIRS, (moment, limit))
        return [_rows.repair_task_from_row(row, lambda at: at.astimezone(UTC)) for row in rows]

    async def finish_repair(self, file_id: uuid.UUID, index: int) -> None:
        rc.check_chunk_key(file_id, index)
        await self._db.execute(
            "DELETE FROM repair_queue WHERE file_id = %s::uuid AND chunk_index = %s",
            (u(file_id), index),
        )

    async def defer_repair(
        self, file_id: uuid.UUID, index: int, *, until: datetime, attempts: int, error: str
    ) -> None:
        moment, text = rc.check_repair_defer(file_id, index, until, attempts, error)
        await self._db.execute(
            "UPDATE repair_queue SET due_at = %s, attempts = %s, last_error = %s"
            " WHERE file_id = %s::uuid AND chunk_index = %s",
            (moment, attempts, text, u(file_id), index),
        )

    async def repair_queue_length(self, *, now: datetime) -> tuple[int, int]:
        moment = r.check_aware(now, "now")
        rows = await self._db.query(
            "SELECT count(*), count(*) FILTER (WHERE due_at <= %s) FROM repair_queue", (moment,)
        )
        return int(rows[0][0]), int(rows[0][1])

    # -- the cluster-wide counters ------------------------------------------------

    async def add_counters(self, deltas: Mapping[str, int]) -> None:
        pairs = rc.check_counters(deltas)  # by name: one lock order for every caller
        await self._db.execute(
            ADD_COUNTERS, ([name for name, _ in pairs], [delta for _, delta in pairs])
        )

    async def read_counters(self) -> dict[str, int]:
        rows = await self._db.query("SELECT name, value FROM cluster_counters ORDER BY name")
        return {name: int(value) for name, value in rows}
