"""
What the sweeper and the repair queries ask of the SQLite metadata store (a
mixin of its store class): claiming stale uploads, the files due for
sweeping and their retries, under-replicated chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata import _rows
from s3node.metadata import _sqlite_queries as q
from s3node.metadata._sqlite_db import Connection
from s3node.records import ChunkRecord, DurabilityCounts, FileRecord, FileWithChunks

__all__ = ["SQLiteSweep", "chunks", "file_record"]


def file_record(row: Sequence[Any]) -> FileRecord:
    """A file record from a row starting with the columns of ``q.FILE``."""
    return _rows.file_from_row(row, r.from_micros)


def chunks(conn: Connection, rows: Sequence[Sequence[Any]]) -> list[FileWithChunks]:
    """
    The files of ``rows`` (the columns of ``q.FILE``, then ``sweep_attempts``
    and, optionally, ``inline_data``) with their chunks and every replica, in
    the order of ``rows``.
    """
    if not rows:
        return []
    chunk_rows = conn.execute(
        f"{q.CHUNKS_OF} WHERE c.file_id IN ({q.marks(len(rows))})"
        " ORDER BY c.file_id, c.chunk_index, r.node_id",
        [row[0] for row in rows],
    ).fetchall()
    found = _rows.chunks_from_rows(chunk_rows)
    return [_rows.with_chunks(file_record(row), row, found) for row in rows]


class SQLiteSweep:
    """
    ``claim_stale_uploads``, ``files_to_sweep``, ``defer_sweep``,
    ``under_replicated_chunks`` and ``durability_counts``.
    """

    _db: Any

    def _now(self) -> int:
        raise NotImplementedError

    async def claim_stale_uploads(self, *, stale_before: datetime, limit: int) -> int:
        before, limit = r.check_claim(stale_before, limit)
        params = {"now": self._now(), "before": r.to_micros(before), "limit": limit}
        return await self._db.write(  # type: ignore[no-any-return]
            lambda conn: conn.execute(q.CLAIM_STALE, params).rowcount
        )

    async def files_to_sweep(self, *, now: datetime, limit: int) -> Sequence[FileWithChunks]:
        moment = r.to_micros(r.check_aware(now, "now"))
        limit = r.check_limit(limit)
        return await self._db.read(  # type: ignore[no-any-return]
            lambda conn: chunks(conn, conn.execute(q.DUE_FILES, (moment, limit)).fetchall())
        )

    async def defer_sweep(self, file_id: uuid.UUID, *, until: datetime, attempts: int) -> None:
        at = r.to_micros(r.check_defer(file_id, until, attempts))
        fid = str(file_id)

        def work(conn: Connection) -> None:
            if not conn.execute(
                "UPDATE files SET sweep_after = ?, sweep_attempts = ?"
                " WHERE id = ? AND status IN ('failed', 'deleting')",
                (at, attempts, fid),
            ).rowcount:
                raise r.not_swept(file_id, q.status_of(conn, fid))

        await self._db.write(work)

    async def under_replicated_chunks(
        self, *, target: int, limit: int
    ) -> Sequence[ChunkRecord]:
        r.check_replicas(target)
        limit = r.check_limit(limit)

        def work(conn: Connection) -> list[ChunkRecord]:
            keys = conn.execute(q.UNDER_REPLICATED, (target, limit)).fetchall()
            if not keys:
                return []
            rows = conn.execute(
                f"{q.CHUNKS_OF} WHERE (c.file_id, c.chunk_index) IN"
                f" (VALUES {', '.join(['(?, ?)'] * len(keys))})"
                " ORDER BY c.file_id, c.chunk_index, r.node_id",
                [v for key in keys for v in key],
            ).fetchall()
            return [c for per_file in _rows.chunks_from_rows(rows).values() for c in per_file]

        return await self._db.read(work)

    async def durability_counts(
        self, *, unhealthy_nodes: Collection[str] = ()
    ) -> DurabilityCounts:
        unhealthy = rc.check_unhealthy(unhealthy_nodes)
        excluded = f"AND r.node_id NOT IN ({q.marks(len(unhealthy))})" if unhealthy else ""

        def work(conn: Connection) -> DurabilityCounts:
            return _rows.durability_counts(
                conn.execute(_rows.stored_replica_counts(excluded), unhealthy).fetchall(),
                conn.execute(_rows.FILES_BY_STATUS).fetchall(),
                conn.execute(_rows.DAMAGED_FILES).fetchone()[0],
            )

        return await self._db.read(work)  # type: ignore[no-any-return]
