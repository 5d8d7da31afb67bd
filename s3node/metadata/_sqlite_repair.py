"""
What self-healing asks of the SQLite metadata store (a mixin of its store
class): the walk over every chunk of completed files, the conditional start
of a repair copy, damaged files, the persistent repair queue and the
cluster-wide counters.  Each operation is one transaction (see
:mod:`.sqlite`); writes hold the database's write lock throughout.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from s3node.errors import FileNotFound
from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata import _rows
from s3node.metadata import _sqlite_queries as q
from s3node.metadata._sqlite_db import Connection
from s3node.records import ChunkRecord, RepairReason, RepairTask

__all__ = ["SQLiteRepair"]

#: sorts before every chunk key: no file id is empty text, no index is negative
_START = ("", -1)

# CROSS JOIN keeps chunks the outer loop: the primary key's order is the
# walk's order, and the LIMIT stops it early
SCAN_CHUNKS = f"""
WITH k AS (
    SELECT c.file_id, c.chunk_index FROM chunks c CROSS JOIN files f
    WHERE f.id = c.file_id AND f.status = 'completed'
      AND c.file_id >= :file_id AND (c.file_id > :file_id OR c.chunk_index > :index)
    ORDER BY c.file_id, c.chunk_index
    LIMIT :limit
)
{q.CHUNKS_OF} JOIN k ON k.file_id = c.file_id AND k.chunk_index = c.chunk_index
ORDER BY c.file_id, c.chunk_index, r.node_id
"""
COMPLETED_CHUNK = f"""
{q.CHUNKS_OF} JOIN files f ON f.id = c.file_id
WHERE c.file_id = ? AND c.chunk_index = ? AND f.status = 'completed'
ORDER BY r.node_id
"""
# one statement: a completed file's chunk gets a writing replica on the node,
# unless the node has one writing or stored already
BEGIN_REPLICA = """
INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state, updated_at)
SELECT c.file_id, c.chunk_index, c.chunk_id, :node, 'writing', :now
FROM chunks c JOIN files f ON f.id = c.file_id
WHERE c.file_id = :file_id AND c.chunk_index = :index AND f.status = 'completed'
ON CONFLICT (file_id, chunk_index, node_id)
DO UPDATE SET state = 'writing', updated_at = excluded.updated_at
WHERE chunk_replicas.state IN ('missing', 'corrupt')
"""
REQUEUE = (
    "UPDATE repair_queue SET reason = :reason, priority = min(priority, :priority)"
    " WHERE file_id = :file_id AND chunk_index = :index"
)
# no chunk row, no entry
ENQUEUE = """
INSERT INTO repair_queue (file_id, chunk_index, reason, priority, attempts, due_at, enqueued_at)
SELECT c.file_id, c.chunk_index, :reason, :priority, 0, :now, :now FROM chunks c
WHERE c.file_id = :file_id AND c.chunk_index = :index
ON CONFLICT (file_id, chunk_index) DO NOTHING
"""
# repair_queue_due_idx serves this order
DUE_REPAIRS = f"""
SELECT {_rows.REPAIR} FROM repair_queue WHERE due_at <= ?
ORDER BY priority, due_at, file_id, chunk_index
LIMIT ?
"""
ADD_COUNTER = (
    "INSERT INTO cluster_counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)


def _chunks(rows: Sequence[Sequence[Any]]) -> list[ChunkRecord]:
    return [c for per_file in _rows.chunks_from_rows(rows).values() for c in per_file]


class SQLiteRepair:
    """Chunk scans, repair copies, damaged files, the repair queue and the counters."""

    _db: Any

    def _now(self) -> int:
        raise NotImplementedError

    async def scan_chunks(
        self, *, after: tuple[uuid.UUID, int] | None, limit: int
    ) -> Sequence[ChunkRecord]:
        start, limit = rc.check_scan(after, limit)
        file_id, index = _START if start is None else (str(start[0]), start[1])
        params = {"file_id": file_id, "index": index, "limit": limit}
        return await self._db.read(  # type: ignore[no-any-return]
            lambda conn: _chunks(conn.execute(SCAN_CHUNKS, params).fetchall())
        )

    async def get_completed_chunk(self, file_id: uuid.UUID, index: int) -> ChunkRecord | None:
        rc.check_chunk_key(file_id, index)

        def work(conn: Connection) -> ChunkRecord | None:
            found = _chunks(conn.execute(COMPLETED_CHUNK, (str(file_id), index)).fetchall())
            return found[0] if found else None

        return await self._db.read(work)  # type: ignore[no-any-return]

    async def begin_replica(self, *, file_id: uuid.UUID, index: int, node_id: str) -> bool:
        r.check_replica_key(file_id, index, node_id)
        params = {"file_id": str(file_id), "index": index, "node": node_id, "now": self._now()}
        changed = await self._db.write(lambda conn: conn.execute(BEGIN_REPLICA, params).rowcount)
        return bool(changed)

    async def set_file_damaged(self, file_id: uuid.UUID, damaged: bool) -> None:
        damaged = rc.check_damaged(file_id, damaged)

        def work(conn: Connection) -> None:
            if not conn.execute(
                "UPDATE files SET damaged = ? WHERE id = ?", (int(damaged), str(file_id))
            ).rowcount:
                raise FileNotFound(f"no file {file_id}")

        await self._db.write(work)

    # -- the repair queue ---------------------------------------------------------

    async def enqueue_repairs(
        self, tasks: Sequence[tuple[uuid.UUID, int, RepairReason, int]], *, now: datetime
    ) -> int:
        entries, moment = rc.check_repair_tasks(tasks, now)
        at = r.to_micros(moment)
        params = [
            {"file_id": str(file_id), "index": index, "reason": reason, "priority": priority,
             "now": at}
            for file_id, index, reason, priority in entries
        ]

        def work(conn: Connection) -> int:
            conn.executemany(REQUEUE, params)
            return int(conn.executemany(ENQUEUE, params).rowcount)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def due_repairs(self, *, now: datetime, limit: int) -> Sequence[RepairTask]:
        moment = r.to_micros(r.check_aware(now, "now"))
        limit = r.check_limit(limit)

        def work(conn: Connection) -> list[RepairTask]:
            rows = conn.execute(DUE_REPAIRS, (moment, limit)).fetchall()
            return [_rows.repair_task_from_row(row, r.from_micros) for row in rows]

        return await self._db.read(work)  # type: ignore[no-any-return]

    async def finish_repair(self, file_id: uuid.UUID, index: int) -> None:
        rc.check_chunk_key(file_id, index)
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM repair_queue WHERE file_id = ? AND chunk_index = ?",
                (str(file_id), index),
            )
        )

    async def defer_repair(
        self, file_id: uuid.UUID, index: int, *, until: datetime, attempts: int, error: str
    ) -> None:
        moment, text = rc.check_repair_defer(file_id, index, until, attempts, error)
        params = (r.to_micros(moment), attempts, text, str(file_id), index)
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE repair_queue SET due_at = ?, attempts = ?, last_error = ?"
                " WHERE file_id = ? AND chunk_index = ?",
                params,
            )
        )

    async def repair_queue_length(self, *, now: datetime) -> tuple[int, int]:
        moment = r.to_micros(r.check_aware(now, "now"))

        def work(conn: Connection) -> tuple[int, int]:
            total, due = conn.execute(
                "SELECT count(*), coalesce(sum(due_at <= ?), 0) FROM repair_queue", (moment,)
            ).fetchone()
            return int(total), int(due)

        return await self._db.read(work)  # type: ignore[no-any-return]

    # -- the cluster-wide counters ------------------------------------------------

    async def add_counters(self, deltas: Mapping[str, int]) -> None:
        pairs = list(rc.check_counters(deltas))

        def work(conn: Connection) -> None:
            # one statement a counter: executemany of this upsert failed under
            # load with "bad parameter or other API misuse" (SQLITE_MISUSE)
            for pair in pairs:
                conn.execute(ADD_COUNTER, pair)

        await self._db.write(work)

    async def read_counters(self) -> dict[str, int]:
        def work(conn: Connection) -> dict[str, int]:
            rows = conn.execute("SELECT name, value FROM cluster_counters ORDER BY name")
            return {name: int(value) for name, value in rows}

        return await self._db.read(work)  # type: ignore[no-any-return]
