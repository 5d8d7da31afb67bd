"""
Copies that share chunks, and releasing a shared chunk's replica, on SQLite.

A mixin of :class:`~s3node.metadata.sqlite.SQLiteMetadataStore`.  Writes hold
SQLite's write lock for their whole transaction, so the source a copy checks
is still ``completed`` when its rows are copied, and ``release_replica``'s
count of the rows naming a chunk on a node cannot miss a copy under way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from s3node.errors import FileNotFound, InvalidRequest
from s3node.metadata import _copy as c
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata._sqlite_db import Connection
from s3node.metadata._sqlite_multipart import record_part_in, upload_in
from s3node.metadata._sqlite_objects import bucket_exists, name_in, object_at
from s3node.records import ObjectPut

__all__ = ["SQLiteCopy"]

_SOURCE = ("SELECT filename, size, checksum_algorithm, checksum, chunk_size, status,"
           " inline_data FROM files WHERE id = ?")
_NEW_FILE = (
    "INSERT INTO files (id, filename, content_type, size, checksum_algorithm, checksum,"
    " chunk_size, status, created_at, updated_at, inline_data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 'completed', ?, ?, ?)")


def _source(conn: Connection, file_id: uuid.UUID) -> Sequence[Any]:
    row = conn.execute(_SOURCE, (str(file_id),)).fetchone()
    if row is None or row[5] != "completed":
        raise FileNotFound(f"the copy's source {file_id} is no longer completed")
    return row  # type: ignore[no-any-return]


def _copy_rows(conn: Connection, source: uuid.UUID, target: uuid.UUID, first: int,
               count: int) -> None:
    span = (str(source), first, first + count)
    conn.execute(
        "INSERT INTO chunks (file_id, chunk_index, chunk_id, size, checksum_algorithm,"
        " checksum) SELECT ?, chunk_index - ?, chunk_id, size, checksum_algorithm, checksum"
        " FROM chunks WHERE file_id = ? AND chunk_index >= ? AND chunk_index < ?",
        (str(target), first, *span))
    conn.execute(
        "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state,"
        " updated_at) SELECT ?, chunk_index - ?, chunk_id, node_id, state, updated_at"
        " FROM chunk_replicas WHERE file_id = ? AND chunk_index >= ? AND chunk_index < ?",
        (str(target), first, *span))


class SQLiteCopy:
    """``copy_object``, ``copy_part`` and ``release_replica`` on ``self._db``."""

    _db: Any

    if TYPE_CHECKING:
        def _now(self) -> int: ...

    async def copy_object(self, *, source: uuid.UUID, bucket: str, key: str, etag: str,
                          headers: Sequence[tuple[str, str]], content_type: str,
                          filename: str, if_match: str | None = None,
                          if_none_match: bool = False) -> ObjectPut:
        source, bucket, key, etag, pairs, content_type, filename = c.check_copy(
            source, bucket, key, etag, headers, content_type, filename)
        now, new_id = self._now(), uuid.uuid4()

        def work(conn: Connection) -> ObjectPut:
            src = _source(conn, source)
            bucket_exists(conn, bucket)
            current = object_at(conn, bucket, key)
            o.check_condition(None if current is None else current.etag, if_match,
                              if_none_match)
            conn.execute(_NEW_FILE, (str(new_id), filename, content_type, src[1], src[2],
                                     src[3], src[4], now, now, src[6]))
            _copy_rows(conn, source, new_id, 0, 1 << 62)
            conn.execute("INSERT INTO object_parts (file_id, part_number, first_byte, size)"
                         " SELECT ?, part_number, first_byte, size FROM object_parts"
                         " WHERE file_id = ?", (str(new_id), str(source)))
            return name_in(conn, bucket, key, new_id, etag, o.encode_headers(pairs), now)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def copy_part(self, *, source: uuid.UUID, first: int, count: int, upload_id: str,
                        part_number: int, etag: str, filename: str) -> uuid.UUID | None:
        source = c.check_span(source, first, count, upload_id, part_number, etag)
        filename = r.check_text(filename, "filename", 1, 1024)
        now, new_id = self._now(), uuid.uuid4()

        def work(conn: Connection) -> uuid.UUID | None:
            src = _source(conn, source)
            upload = upload_in(conn, upload_id)
            c.refuse_inline(source, src[6] is not None)
            rows = conn.execute(
                "SELECT size, checksum_algorithm, checksum FROM chunks WHERE file_id = ?"
                " AND chunk_index >= ? AND chunk_index < ? ORDER BY chunk_index",
                (str(source), first, first + count)).fetchall()
            if len(rows) != count:
                raise InvalidRequest(f"file {source} has no chunks {first}..{first + count - 1}")
            total = conn.execute("SELECT count(*) FROM chunks WHERE file_id = ?",
                                 (str(source),)).fetchone()[0]
            algorithm, digest = c.span_checksum(
                count == total, src[2], bytes(src[3]), [row[1] for row in rows],
                [bytes(row[2]) for row in rows])
            size = sum(row[0] for row in rows)
            conn.execute(_NEW_FILE, (str(new_id), filename, upload.content_type, size,
                                     algorithm, digest, src[4], now, now, None))
            _copy_rows(conn, source, new_id, first, count)
            return record_part_in(conn, upload_id, part_number, str(new_id), etag, size, now)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def release_replica(self, *, file_id: uuid.UUID, index: int, node_id: str,
                              keep_last: bool = False) -> bool:
        r.check_replica_key(file_id, index, node_id)
        key = (str(file_id), index, node_id)

        def work(conn: Connection) -> bool:
            row = conn.execute("SELECT chunk_id FROM chunk_replicas WHERE file_id = ?"
                               " AND chunk_index = ? AND node_id = ?", key).fetchone()
            if row is None:
                return False
            last = conn.execute(
                "SELECT 1 FROM chunk_replicas WHERE node_id = ? AND chunk_id = ?"
                " AND NOT (file_id = ? AND chunk_index = ?) LIMIT 1",
                (node_id, row[0], key[0], index)).fetchone() is None
            if not (last and keep_last):
                conn.execute("DELETE FROM chunk_replicas WHERE file_id = ? AND chunk_index = ?"
                             " AND node_id = ?", key)
            return last

        return await self._db.write(work)  # type: ignore[no-any-return]
