"""
The PostgreSQL metadata store, on txpostgres.

Every statement is parameterised; multi-statement operations run in one
transaction (``runInteraction``); single-statement ones rely on the
statement's own atomicity.  Several gateways may share the database, so a
lifecycle rule is decided in the statement that changes the row (a
conditional ``UPDATE``), or under a row lock (``FOR UPDATE``/``FOR SHARE``)
where a read decides a write.  Connection handling, reconnection and the
mapping of "the database does not answer" to
:class:`~s3node.errors.MetadataUnavailable` live in :mod:`._pgpool`; the
operations of the background workers in :mod:`._pg_sweep`, those of nodes,
their replicas and leases in :mod:`._pg_nodes`, those of self-healing (chunk
scans, the repair queue, counters) in :mod:`._pg_repair`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2.errors

from s3node.errors import Conflict, FileNotFound
from s3node.metadata import _pg_queries as q
from s3node.metadata import _records as r
from s3node.metadata._pg_copy import PostgresCopy
from s3node.metadata._pg_multipart import PostgresMultipart
from s3node.metadata._pg_nodes import PostgresNodes
from s3node.metadata._pg_objects import PostgresObjects, complete_in
from s3node.metadata._pg_repair import PostgresRepair
from s3node.metadata._pg_sweep import PostgresSweep, chunk_rows, file_record, status_of
from s3node.metadata._pgpool import (
    Cursor,
    PostgresMigrationSession,
    ReconnectingPool,
    fetch,
    u,
)
from s3node.metadata.migrations import load_migrations, run_migrations
from s3node.records import (
    ChunkRecord,
    FileCursorPage,
    FilePage,
    FileRecord,
    FileStatus,
    FileWithChunks,
    PoolUsage,
    ReplicaState,
)

__all__ = ["PostgresMetadataStore"]

_file = file_record
_OPEN = "status IN ('pending', 'uploading')"


class PostgresMetadataStore(
    PostgresCopy, PostgresMultipart, PostgresObjects, PostgresSweep, PostgresNodes, PostgresRepair
):
    """
    :class:`~s3node.interfaces.MetadataStore` on PostgreSQL.

    :param url: ``postgresql://user[:password]@host:port/dbname``
    :param reactor: the reactor (also the clock of every timestamp written)
    :param pool_size: connections kept open
    :param clock: the clock of timestamps (default: ``reactor``)
    :param migrations_dir: read the migrations from this folder instead of
        the packaged ``postgresql`` ones (tests)
    """

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        reactor: Any,
        clock: Any = None,
        pool_size: int = 5,
        migrations_dir: Path | None = None,
        **pool_options: Any,
    ) -> None:
        self._reactor = reactor
        self._clock = reactor if clock is None else clock
        self._migrations_dir = migrations_dir
        self._db = ReconnectingPool(url, reactor=reactor, size=pool_size, **pool_options)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    # -- life cycle ---------------------------------------------------------

    async def migrate(self) -> int:
        migrations = load_migrations(self.backend, self._migrations_dir)
        return await self._db.interaction(
            lambda cur: run_migrations(PostgresMigrationSession(cur), migrations)
        )

    def pool_usage(self) -> PoolUsage:
        """How busy the store's pool is (read by the gateway's metrics at scrape time)."""
        return self._db.usage()

    async def ping(self) -> None:
        await self._db.query("SELECT 1")

    async def close(self) -> None:
        self._db.close()

    # -- files --------------------------------------------------------------

    async def create_file(
        self,
        *,
        filename: str,
        content_type: str,
        checksum_algorithm: str,
        chunk_size: int,
        file_id: uuid.UUID | None = None,
        first_chunk: ChunkRecord | None = None,
    ) -> FileRecord:
        file_id = r.check_new_file(
            filename=filename, content_type=content_type,
            checksum_algorithm=checksum_algorithm, chunk_size=chunk_size, file_id=file_id,
            first_chunk=first_chunk,
        )
        now = self._now()
        params = {"file_id": u(file_id), "filename": filename, "content_type": content_type,
                  "file_algorithm": checksum_algorithm, "chunk_size": chunk_size, "now": now}
        sql = q.CREATE_FILE
        if first_chunk is not None:  # one statement: the file, its first chunk and replicas
            sql = q.CREATE_FILE_WITH_CHUNK
            params.update(_chunk_params(first_chunk, r.check_chunk(first_chunk), now))
        try:
            rows = await self._db.query(sql, params, expect=(psycopg2.errors.UniqueViolation,))
        except psycopg2.errors.UniqueViolation:
            raise Conflict(f"file {file_id} already exists") from None
        return _file(rows[0])

    async def record_chunk(self, chunk: ChunkRecord) -> None:
        params = _chunk_params(chunk, r.check_chunk(chunk), self._now())
        files, chunks, _ = (await self._db.query(q.RECORD_CHUNK, params))[0]
        if files == 0:
            raise r.not_open(chunk.file_id, await status_of(self._db, chunk.file_id))
        if chunks == 0:
            await self._db.interaction(lambda cur: self._rerecord(cur, chunk, params))

    async def _rerecord(self, cur: Cursor, chunk: ChunkRecord, params: dict) -> None:
        """The chunk index exists: accept a retry of the same chunk, refuse another."""
        # Still uploading, and stays so until the commit (start_delete, fail_file
        # and claim_stale_uploads wait for this lock).
        status = await fetch(
            cur, "SELECT status FROM files WHERE id = %s::uuid FOR SHARE", (params["file_id"],)
        )
        if not status or status[0][0] not in r.OPEN_STATUSES:
            raise r.not_open(chunk.file_id, status[0][0] if status else None)
        rows = await fetch(
            cur,
            "SELECT chunk_id, size, checksum_algorithm, checksum FROM chunks"
            " WHERE file_id = %s::uuid AND chunk_index = %s FOR UPDATE",
            (params["file_id"], chunk.index),
        )
        if not rows:
            raise Conflict(f"chunk {chunk.index} of file {chunk.file_id} changed concurrently")
        chunk_id, size, algorithm, checksum = rows[0]
        if (chunk_id, size, algorithm, bytes(checksum)) != (
            chunk.chunk_id, chunk.size, chunk.checksum_algorithm, params["checksum"]
        ):
            raise Conflict(f"file {chunk.file_id} already has a different chunk {chunk.index}")
        for rep in chunk.replicas:
            await cur.execute(
                q.UPSERT_REPLICA,
                {"file_id": params["file_id"], "index": chunk.index, "node": rep.node_id,
                 "state": rep.state.value, "now": params["now"]},
            )

    async def touch_file(self, file_id: uuid.UUID) -> None:
        r.check_file_id(file_id)
        rows = await self._db.query(
            f"UPDATE files SET updated_at = %s WHERE id = %s::uuid AND {_OPEN} RETURNING 1",
            (self._now(), u(file_id)),
        )
        if not rows:
            raise r.not_open(file_id, await status_of(self._db, file_id))

    async def set_replica_state(
        self, *, file_id: uuid.UUID, index: int, node_id: str, state: ReplicaState
    ) -> None:
        r.check_replica_update(file_id, index, node_id, state)
        params = {"file_id": u(file_id), "index": index, "node": node_id,
                  "state": state.value, "now": self._now()}
        try:
            if await self._db.query(
                q.UPSERT_REPLICA, params, expect=(psycopg2.errors.ForeignKeyViolation,)
            ):
                return
        except psycopg2.errors.ForeignKeyViolation:
            pass  # the chunk went (its file was removed) since the SELECT saw it
        if await status_of(self._db, file_id) is None:
            raise FileNotFound(f"no file {file_id}")
        raise FileNotFound(f"file {file_id} has no chunk {index}")

    async def drop_replica(self, *, file_id: uuid.UUID, index: int, node_id: str) -> None:
        r.check_replica_key(file_id, index, node_id)
        await self._db.execute(
            "DELETE FROM chunk_replicas"
            " WHERE file_id = %s::uuid AND chunk_index = %s AND node_id = %s",
            (u(file_id), index, node_id),
        )

    async def complete_file(
        self,
        *,
        file_id: uuid.UUID,
        size: int,
        checksum: str,
        replicas: int,
        stored: Sequence[tuple[int, str]] = (),
        inline: bytes | None = None,
    ) -> FileRecord:
        digest = r.check_complete(file_id, size, checksum, replicas, stored, inline)
        now = self._now()

        async def work(cur: Cursor) -> FileRecord:
            return await complete_in(cur, file_id, size, checksum, digest, replicas, now, stored,
                                     inline)

        return await self._db.interaction(work)

    async def fail_file(self, file_id: uuid.UUID) -> bool:
        r.check_file_id(file_id)
        rows = await self._db.query(
            f"UPDATE files SET status = 'failed', updated_at = %s"
            f" WHERE id = %s::uuid AND {_OPEN} RETURNING 1",
            (self._now(), u(file_id)),
        )
        if rows:
            return True
        if await status_of(self._db, file_id) is None:
            raise FileNotFound(f"no file {file_id}")
        return False

    async def get_file(self, file_id: uuid.UUID) -> FileRecord:
        r.check_file_id(file_id)
        rows = await self._db.query(
            f"SELECT {q.FILE} FROM files f WHERE id = %s::uuid", (u(file_id),)
        )
        if not rows:
            raise FileNotFound(f"no file {file_id}")
        return _file(rows[0])

    async def get_file_with_chunks(self, file_id: uuid.UUID) -> FileWithChunks:
        r.check_file_id(file_id)

        async def work(cur: Cursor) -> tuple[list[tuple], list[tuple]]:
            await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            files = await fetch(
                cur, f"SELECT {q.FILE}, f.sweep_attempts, f.inline_data FROM files f"
                " WHERE id = %s::uuid", (u(file_id),),
            )
            if not files:
                raise FileNotFound(f"no file {file_id}")
            return files, await chunk_rows(cur, files)

        files, rows = await self._db.interaction(work)
        return (await self._with_chunks(files, rows))[0]

    async def list_files(
        self, *, page: int, per_page: int, status: FileStatus | None = None
    ) -> FilePage:
        page, per_page = r.check_page(page, per_page)
        value = r.check_status(status)
        where = "" if value is None else "WHERE f.status = %(status)s"
        params = {"status": value, "limit": per_page, "offset": (page - 1) * per_page}

        async def work(cur: Cursor) -> FilePage:
            await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            total = (await fetch(cur, f"SELECT count(*) FROM files f {where}", params))[0][0]
            rows = await fetch(
                cur,
                f"SELECT {q.FILE} FROM files f {where}"
                " ORDER BY f.created_at DESC, f.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                params,
            )
            return FilePage(tuple(map(_file, rows)), page, per_page, total)

        return await self._db.interaction(work)

    async def list_files_after(
        self, *, cursor: str | None, limit: int, status: FileStatus | None = None
    ) -> FileCursorPage:
        limit = r.check_limit(limit)
        value = r.check_status(status)
        clauses: list[str] = []
        params: dict[str, Any] = {"status": value, "limit": limit + 1}
        if value is not None:
            clauses.append("f.status = %(status)s")
        if cursor is not None:
            micros, after = r.decode_cursor(cursor)
            clauses.append("(f.created_at, f.id) < (%(at)s, %(id)s::uuid)")
            params.update(at=r.from_micros(micros), id=u(after))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.query(
            f"SELECT {q.FILE} FROM files f {where}"
            " ORDER BY f.created_at DESC, f.id DESC LIMIT %(limit)s",
            params,
        )
        files = tuple(map(_file, rows[:limit]))
        more = len(rows) > limit
        return FileCursorPage(
            files, r.encode_cursor(files[-1].created_at, files[-1].file_id) if more else None
        )

    async def start_delete(self, file_id: uuid.UUID) -> FileRecord:
        r.check_file_id(file_id)
        # one statement: the file moves to deleting and loses its key, if it has one
        rows = await self._db.query(
            f"WITH d AS (UPDATE files f SET status = 'deleting', updated_at = %(now)s"
            f" WHERE id = %(id)s::uuid AND status <> 'deleting' RETURNING {q.FILE}),"
            " k AS (DELETE FROM objects WHERE file_id = %(id)s::uuid"
            " AND EXISTS (SELECT 1 FROM d))"
            " SELECT * FROM d",
            {"now": self._now(), "id": u(file_id)},
        )
        if not rows:
            raise FileNotFound(f"no file {file_id} (or it is already being deleted)")
        return _file(rows[0])

    async def finish_delete(self, file_id: uuid.UUID) -> None:
        r.check_file_id(file_id)
        rows = await self._db.query(
            "DELETE FROM files WHERE id = %s::uuid AND status <> 'completed' RETURNING 1",
            (u(file_id),),
        )
        if not rows:
            if await status_of(self._db, file_id) is None:
                raise FileNotFound(f"no file {file_id}")
            raise Conflict(f"file {file_id} is completed: start_delete it first")

    def __repr__(self) -> str:
        return f"<PostgresMetadataStore {self._db.where}>"


def _chunk_params(chunk: ChunkRecord, digest: bytes, now: datetime) -> dict[str, Any]:
    """The parameters of ``RECORD_CHUNK`` (and ``CREATE_FILE_WITH_CHUNK``) for ``chunk``."""
    return {
        "now": now, "file_id": u(chunk.file_id), "index": chunk.index,
        "chunk_id": chunk.chunk_id, "size": chunk.size,
        "algorithm": chunk.checksum_algorithm, "checksum": digest,
        "nodes": [rep.node_id for rep in chunk.replicas],
        "states": [rep.state.value for rep in chunk.replicas],
    }
