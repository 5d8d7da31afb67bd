"""
What the sweeper and the repair queries ask of the PostgreSQL metadata store
(a mixin of its store class): claiming stale uploads, the files due for
sweeping and their retries, under-replicated chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from twisted.internet.threads import deferToThreadPool

from s3node.metadata import _pg_queries as q
from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata import _rows
from s3node.metadata._pgpool import Cursor, ReconnectingPool, fetch, u
from s3node.records import ChunkRecord, DurabilityCounts, FileRecord, FileWithChunks

__all__ = ["PostgresSweep", "file_record", "status_of"]

#: joined chunk rows above which records are built in a thread
_FOLD_IN_THREAD = 2000


def file_record(row: Sequence[Any]) -> FileRecord:
    """A file record from a row starting with the columns of ``q.FILE``."""
    return _rows.file_from_row(row, lambda moment: moment.astimezone(UTC))


async def status_of(db: ReconnectingPool, file_id: uuid.UUID) -> str | None:
    """The status of file ``file_id``; ``None`` when there is no such file."""
    rows = await db.query("SELECT status FROM files WHERE id = %s::uuid", (u(file_id),))
    return rows[0][0] if rows else None


async def chunk_rows(cur: Cursor, files: Sequence[Sequence[Any]]) -> list[tuple]:
    """The joined chunk and replica rows of the files of ``files`` (rows of ``q.FILE``...)."""
    if not files:
        return []
    return await fetch(
        cur,
        f"{q.CHUNKS_OF} WHERE c.file_id = ANY(%s::uuid[])"
        " ORDER BY c.file_id, c.chunk_index, r.node_id",
        ([row[0] for row in files],),
    )


class PostgresSweep:
    """
    ``claim_stale_uploads``, ``files_to_sweep``, ``defer_sweep``,
    ``under_replicated_chunks`` and ``durability_counts``.
    """

    _db: ReconnectingPool
    _reactor: Any

    def _now(self) -> datetime:
        raise NotImplementedError

    async def _with_chunks(
        self, files: Sequence[Sequence[Any]], rows: list[tuple]
    ) -> list[FileWithChunks]:
        """
        The files of ``files`` (the columns of ``q.FILE``, then
        ``sweep_attempts`` and, optionally, ``inline_data``) with their chunks
        from the joined ``rows``; big
        results are built off the reactor thread.
        """
        if len(rows) < _FOLD_IN_THREAD:
            found = _rows.chunks_from_rows(rows)
        else:
            found = await deferToThreadPool(
                self._reactor, self._reactor.getThreadPool(), _rows.chunks_from_rows, rows
            )
        return [_rows.with_chunks(file_record(row), row, found) for row in files]

    async def claim_stale_uploads(self, *, stale_before: datetime, limit: int) -> int:
        before, limit = r.check_claim(stale_before, limit)
        rows = await self._db.query(
            q.CLAIM_STALE, {"now": self._now(), "before": before, "limit": limit}
        )
        return int(rows[0][0])

    async def files_to_sweep(self, *, now: datetime, limit: int) -> Sequence[FileWithChunks]:
        moment = r.check_aware(now, "now")
        limit = r.check_limit(limit)

        async def work(cur: Cursor) -> tuple[list[tuple], list[tuple]]:
            await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            files = await fetch(cur, q.DUE_FILES, (moment, limit))
            return files, await chunk_rows(cur, files)

        files, rows = await self._db.interaction(work)
        return await self._with_chunks(files, rows)

    async def defer_sweep(self, file_id: uuid.UUID, *, until: datetime, attempts: int) -> None:
        until = r.check_defer(file_id, until, attempts)
        rows = await self._db.query(
            "UPDATE files SET sweep_after = %s, sweep_attempts = %s"
            " WHERE id = %s::uuid AND status IN ('failed', 'deleting') RETURNING 1",
            (until, attempts, u(file_id)),
        )
        if not rows:
            raise r.not_swept(file_id, await status_of(self._db, file_id))

    async def under_replicated_chunks(
        self, *, target: int, limit: int
    ) -> Sequence[ChunkRecord]:
        r.check_replicas(target)
        limit = r.check_limit(limit)

        async def work(cur: Cursor) -> list[ChunkRecord]:
            await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            keys = await fetch(cur, q.UNDER_REPLICATED, (target, limit))
            if not keys:
                return []
            rows = await fetch(
                cur,
                f"{q.CHUNKS_OF} JOIN unnest(%s::uuid[], %s::int[]) AS k (file_id, chunk_index)"
                " ON k.file_id = c.file_id AND k.chunk_index = c.chunk_index"
                " ORDER BY c.file_id, c.chunk_index, r.node_id",
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
            return [c for per_file in _rows.chunks_from_rows(rows).values() for c in per_file]

        return await self._db.interaction(work)

    async def durability_counts(
        self, *, unhealthy_nodes: Collection[str] = ()
    ) -> DurabilityCounts:
        unhealthy = rc.check_unhealthy(unhealthy_nodes)
        excluded = "AND r.node_id <> ALL(%s::text[])" if unhealthy else ""

        async def work(cur: Cursor) -> DurabilityCounts:
            # one snapshot for every count
            await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return _rows.durability_counts(
                await fetch(cur, _rows.stored_replica_counts(excluded),
                            (unhealthy,) if unhealthy else None),
                await fetch(cur, _rows.FILES_BY_STATUS),
                (await fetch(cur, _rows.DAMAGED_FILES))[0][0],
            )

        return await self._db.interaction(work)
