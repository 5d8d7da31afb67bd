"""
The SQLite metadata store, for one machine (``--db sqlite:PATH``).

Each operation is one function run in a transaction on a worker thread
(:mod:`._sqlite_db`); writes hold SQLite's write lock for their whole
transaction, so concurrent writers queue rather than interleave, and a
lifecycle rule read in a transaction still holds when it commits.  The
operations of the background workers are in :mod:`._sqlite_sweep`, those of
nodes, their replicas and leases in :mod:`._sqlite_nodes`, those of
self-healing (chunk scans, the repair queue, counters) in :mod:`._sqlite_repair`.

Commits are durable by default (``PRAGMA synchronous = FULL``): a completed
upload survives a power cut.  ``synchronous="normal"`` is faster, but a power
cut may undo the last commits, acknowledged uploads included.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s3node.errors import Conflict, FileNotFound
from s3node.metadata import _records as r
from s3node.metadata import _sqlite_queries as q
from s3node.metadata._sqlite_copy import SQLiteCopy
from s3node.metadata._sqlite_db import Connection, SQLiteDatabase, SQLiteMigrationSession
from s3node.metadata._sqlite_multipart import SQLiteMultipart
from s3node.metadata._sqlite_nodes import SQLiteNodes
from s3node.metadata._sqlite_objects import SQLiteObjects, complete_in
from s3node.metadata._sqlite_repair import SQLiteRepair
from s3node.metadata._sqlite_sweep import SQLiteSweep, chunks, file_record
from s3node.metadata.migrations import load_migrations, run_migrations, run_to_completion
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

__all__ = ["SQLiteMetadataStore"]


_file = file_record
_OPEN = "status IN ('pending', 'uploading')"


class SQLiteMetadataStore(
    SQLiteCopy, SQLiteMultipart, SQLiteObjects, SQLiteSweep, SQLiteNodes, SQLiteRepair
):
    """
    :class:`~s3node.interfaces.MetadataStore` on an SQLite file.

    :param path: the database file, or ``:memory:`` (a private in-memory
        database, for tests of other layers)
    :param reactor: the reactor results are delivered to
    :param clock: the clock of timestamps (default: ``reactor``)
    :param migrations_dir: read the migrations from this folder instead of
        the packaged ``sqlite`` ones (tests)
    :param synchronous: ``PRAGMA synchronous``: ``"full"`` (the default:
        every commit is on disk before it returns) or ``"normal"`` (a power
        cut may undo the last commits); ``options`` go to
        :class:`~s3node.metadata._sqlite_db.SQLiteDatabase`
    """

    backend = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        reactor: Any,
        clock: Any = None,
        migrations_dir: Path | None = None,
        synchronous: str = "full",
        **options: Any,
    ) -> None:
        self._clock = reactor if clock is None else clock
        self._migrations_dir = migrations_dir
        self._db = SQLiteDatabase(path, reactor=reactor, synchronous=synchronous, **options)

    def _now(self) -> int:
        return round(self._clock.seconds() * 1_000_000)

    async def migrate(self) -> int:
        migrations = load_migrations(self.backend, self._migrations_dir)
        return await self._db.write(
            lambda conn: run_to_completion(
                run_migrations(SQLiteMigrationSession(conn), migrations)
            )
        )

    def pool_usage(self) -> PoolUsage:
        """How busy the store's pool is (read by the gateway's metrics at scrape time)."""
        return self._db.usage()

    async def ping(self) -> None:
        await self._db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._db.close()

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
        digest = None if first_chunk is None else r.check_chunk(first_chunk)
        now = self._now()

        def work(conn: Connection) -> FileRecord:
            try:
                row = conn.execute(
                    "INSERT INTO files (id, filename, content_type, checksum_algorithm,"
                    " chunk_size, status, created_at, updated_at)"
                    f" VALUES (?, ?, ?, ?, ?, 'uploading', ?, ?) RETURNING {q.FILE}",
                    (str(file_id), filename, content_type, checksum_algorithm, chunk_size,
                     now, now),
                ).fetchone()
            except sqlite3.IntegrityError:
                raise Conflict(f"file {file_id} already exists") from None
            if first_chunk is not None and digest is not None:
                _record_chunk_in(conn, first_chunk, digest, now)
            return _file(row)

        return await self._db.write(work)

    async def record_chunk(self, chunk: ChunkRecord) -> None:
        digest = r.check_chunk(chunk)
        now = self._now()
        await self._db.write(lambda conn: _record_chunk_in(conn, chunk, digest, now))

    async def touch_file(self, file_id: uuid.UUID) -> None:
        r.check_file_id(file_id)
        fid, now = str(file_id), self._now()

        def work(conn: Connection) -> None:
            if not conn.execute(
                f"UPDATE files SET updated_at = ? WHERE id = ? AND {_OPEN}", (now, fid)
            ).rowcount:
                raise r.not_open(file_id, q.status_of(conn, fid))

        await self._db.write(work)

    async def set_replica_state(
        self, *, file_id: uuid.UUID, index: int, node_id: str, state: ReplicaState
    ) -> None:
        r.check_replica_update(file_id, index, node_id, state)

        params = {"file_id": str(file_id), "index": index, "node": node_id,
                  "state": state.value, "now": self._now()}

        def work(conn: Connection) -> None:
            if not conn.execute(q.UPSERT_REPLICA, params).rowcount:
                if q.status_of(conn, str(file_id)) is None:
                    raise FileNotFound(f"no file {file_id}")
                raise FileNotFound(f"file {file_id} has no chunk {index}")

        await self._db.write(work)

    async def drop_replica(self, *, file_id: uuid.UUID, index: int, node_id: str) -> None:
        r.check_replica_key(file_id, index, node_id)
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM chunk_replicas WHERE file_id = ? AND chunk_index = ? AND node_id = ?",
                (str(file_id), index, node_id),
            )
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

        def work(conn: Connection) -> FileRecord:
            return complete_in(conn, file_id, size, checksum, digest, replicas, now, stored,
                               inline)

        return await self._db.write(work)

    async def fail_file(self, file_id: uuid.UUID) -> bool:
        r.check_file_id(file_id)
        fid, now = str(file_id), self._now()

        def work(conn: Connection) -> bool:
            if conn.execute(
                f"UPDATE files SET status = 'failed', updated_at = ? WHERE id = ? AND {_OPEN}",
                (now, fid),
            ).rowcount:
                return True
            if q.status_of(conn, fid) is None:
                raise FileNotFound(f"no file {file_id}")
            return False

        return await self._db.write(work)

    async def get_file(self, file_id: uuid.UUID) -> FileRecord:
        r.check_file_id(file_id)

        def work(conn: Connection) -> FileRecord:
            row = conn.execute(
                f"SELECT {q.FILE} FROM files f WHERE id = ?", (str(file_id),)
            ).fetchone()
            if row is None:
                raise FileNotFound(f"no file {file_id}")
            return _file(row)

        return await self._db.read(work)

    async def get_file_with_chunks(self, file_id: uuid.UUID) -> FileWithChunks:
        r.check_file_id(file_id)
        fid = str(file_id)

        def work(conn: Connection) -> FileWithChunks:
            row = conn.execute(
                f"SELECT {q.FILE}, sweep_attempts, inline_data FROM files f WHERE id = ?",
                (fid,),
            ).fetchone()
            if row is None:
                raise FileNotFound(f"no file {file_id}")
            return chunks(conn, [row])[0]

        return await self._db.read(work)

    async def list_files(
        self, *, page: int, per_page: int, status: FileStatus | None = None
    ) -> FilePage:
        page, per_page = r.check_page(page, per_page)
        value = r.check_status(status)
        where, args = ("", ()) if value is None else ("WHERE f.status = ?", (value,))

        def work(conn: Connection) -> FilePage:
            total = conn.execute(f"SELECT count(*) FROM files f {where}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {q.FILE} FROM files f {where}"
                " ORDER BY f.created_at DESC, f.id DESC LIMIT ? OFFSET ?",
                (*args, per_page, (page - 1) * per_page),
            ).fetchall()
            return FilePage(tuple(map(_file, rows)), page, per_page, total)

        return await self._db.read(work)

    async def list_files_after(
        self, *, cursor: str | None, limit: int, status: FileStatus | None = None
    ) -> FileCursorPage:
        limit = r.check_limit(limit)
        value = r.check_status(status)
        clauses: list[str] = []
        args: list[Any] = []
        if value is not None:
            clauses.append("f.status = ?")
            args.append(value)
        if cursor is not None:
            micros, after = r.decode_cursor(cursor)
            # created_at <= ? bounds the index range; the rest breaks ties by id
            clauses.append("f.created_at <= ? AND (f.created_at < ? OR f.id < ?)")
            args += [micros, micros, str(after)]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""

        def work(conn: Connection) -> list[tuple]:
            return conn.execute(
                f"SELECT {q.FILE} FROM files f {where}"
                " ORDER BY f.created_at DESC, f.id DESC LIMIT ?",
                (*args, limit + 1),
            ).fetchall()

        rows = await self._db.read(work)
        files = tuple(map(_file, rows[:limit]))
        more = len(rows) > limit
        return FileCursorPage(
            files, r.encode_cursor(files[-1].created_at, files[-1].file_id) if more else None
        )

    async def start_delete(self, file_id: uuid.UUID) -> FileRecord:
        r.check_file_id(file_id)
        fid, now = str(file_id), self._now()

        def work(conn: Connection) -> FileRecord:
            row = conn.execute(
                "UPDATE files SET status = 'deleting', updated_at = ?"
                f" WHERE id = ? AND status <> 'deleting' RETURNING {q.FILE}",
                (now, fid),
            ).fetchone()
            if row is None:
                raise FileNotFound(f"no file {file_id} (or it is already being deleted)")
            conn.execute("DELETE FROM objects WHERE file_id = ?", (fid,))
            return _file(row)

        return await self._db.write(work)

    async def finish_delete(self, file_id: uuid.UUID) -> None:
        r.check_file_id(file_id)
        fid = str(file_id)

        def work(conn: Connection) -> None:
            deleted = conn.execute(
                "DELETE FROM files WHERE id = ? AND status <> 'completed'", (fid,)
            ).rowcount
            if not deleted:
                if q.status_of(conn, fid) is None:
                    raise FileNotFound(f"no file {file_id}")
                raise Conflict(f"file {file_id} is completed: start_delete it first")

        await self._db.write(work)

    def __repr__(self) -> str:
        return f"<SQLiteMetadataStore {self._db.path}>"


def _record_chunk_in(conn: Connection, chunk: ChunkRecord, digest: bytes, now: int) -> None:
    """``record_chunk``'s transaction (also ``create_file``'s, with a first chunk)."""
    fid = str(chunk.file_id)
    if not conn.execute(
        f"UPDATE files SET updated_at = ?, status = 'uploading' WHERE id = ? AND {_OPEN}",
        (now, fid),
    ).rowcount:
        raise r.not_open(chunk.file_id, q.status_of(conn, fid))
    inserted = conn.execute(
        "INSERT INTO chunks (file_id, chunk_index, chunk_id, size, checksum_algorithm,"
        " checksum) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (fid, chunk.index, chunk.chunk_id, chunk.size, chunk.checksum_algorithm, digest),
    ).rowcount
    if not inserted:
        existing = conn.execute(
            "SELECT chunk_id, size, checksum_algorithm, checksum FROM chunks"
            " WHERE file_id = ? AND chunk_index = ?",
            (fid, chunk.index),
        ).fetchone()
        if tuple(existing) != (chunk.chunk_id, chunk.size, chunk.checksum_algorithm, digest):
            raise Conflict(f"file {chunk.file_id} already has a different chunk {chunk.index}")
    conn.executemany(
        q.UPSERT_REPLICA,
        [{"file_id": fid, "index": chunk.index, "node": rep.node_id,
          "state": rep.state.value, "now": now} for rep in chunk.replicas],
    )
