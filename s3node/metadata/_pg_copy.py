"""
Copies that share chunks, and releasing a shared chunk's replica, on PostgreSQL.

A mixin of :class:`~s3node.metadata.postgres.PostgresMetadataStore`.  Several
gateways may share the database, so the decisions take row locks:

- a copy holds its source file's row ``FOR SHARE`` while it copies the
  source's chunk and replica rows, so the source cannot move to ``deleting``
  (a DeleteObject, an overwrite) until the copy's rows are committed;
- ``release_replica`` holds the file's row ``FOR NO KEY UPDATE``, which waits
  for such a copy, before it counts the other rows that name the chunk on the
  node: a copy committed meanwhile is counted, one that starts later copies
  the rows as they are after the release.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from s3node.errors import FileNotFound, InvalidRequest
from s3node.metadata import _copy as c
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata._pg_multipart import record_part_in, upload_in
from s3node.metadata._pg_objects import lock_bucket, name_in
from s3node.metadata._pgpool import Cursor, fetch, u
from s3node.records import ObjectPut

__all__ = ["PostgresCopy"]

_NEW_FILE = (
    "INSERT INTO files (id, filename, content_type, size, checksum_algorithm, checksum,"
    " chunk_size, status, created_at, updated_at, inline_data)"
    " VALUES (%s::uuid, %s, %s, %s, %s, %s, %s, 'completed', %s, %s, %s)")


async def _source(cur: Cursor, file_id: uuid.UUID) -> Sequence[Any]:
    rows = await fetch(cur, "SELECT filename, size, checksum_algorithm, checksum, chunk_size,"
                       " status, inline_data FROM files WHERE id = %s::uuid FOR SHARE",
                       (u(file_id),))
    if not rows or rows[0][5] != "completed":
        raise FileNotFound(f"the copy's source {file_id} is no longer completed")
    return rows[0]


async def _copy_rows(cur: Cursor, source: uuid.UUID, target: uuid.UUID, first: int,
                     count: int) -> None:
    span = (u(source), first, first + count)
    await cur.execute(
        "INSERT INTO chunks (file_id, chunk_index, chunk_id, size, checksum_algorithm,"
        " checksum) SELECT %s::uuid, chunk_index - %s, chunk_id, size, checksum_algorithm,"
        " checksum FROM chunks WHERE file_id = %s::uuid AND chunk_index >= %s"
        " AND chunk_index < %s", (u(target), first, *span))
    await cur.execute(
        "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state,"
        " updated_at) SELECT %s::uuid, chunk_index - %s, chunk_id, node_id, state, updated_at"
        " FROM chunk_replicas WHERE file_id = %s::uuid AND chunk_index >= %s"
        " AND chunk_index < %s", (u(target), first, *span))


class PostgresCopy:
    """``copy_object``, ``copy_part`` and ``release_replica`` on ``self._db``."""

    _db: Any

    if TYPE_CHECKING:
        def _now(self) -> datetime: ...

    async def copy_object(self, *, source: uuid.UUID, bucket: str, key: str, etag: str,
                          headers: Sequence[tuple[str, str]], content_type: str,
                          filename: str, if_match: str | None = None,
                          if_none_match: bool = False) -> ObjectPut:
        source, bucket, key, etag, pairs, content_type, filename = c.check_copy(
            source, bucket, key, etag, headers, content_type, filename)
        now, new_id = self._now(), uuid.uuid4()

        async def work(cur: Cursor) -> ObjectPut:
            src = await _source(cur, source)
            await lock_bucket(cur, bucket, "SHARE")
            await cur.execute(_NEW_FILE, (u(new_id), filename, content_type, src[1], src[2],
                                          src[3], src[4], now, now, src[6]))
            await _copy_rows(cur, source, new_id, 0, 1 << 62)
            await cur.execute(
                "INSERT INTO object_parts (file_id, part_number, first_byte, size)"
                " SELECT %s::uuid, part_number, first_byte, size FROM object_parts"
                " WHERE file_id = %s::uuid", (u(new_id), u(source)))
            return await name_in(cur, bucket, key, new_id, etag, o.encode_headers(pairs), now,
                                 if_match=if_match, if_none_match=if_none_match)

        return await self._db.interaction(work)  # type: ignore[no-any-return]

    async def copy_part(self, *, source: uuid.UUID, first: int, count: int, upload_id: str,
                        part_number: int, etag: str, filename: str) -> uuid.UUID | None:
        source = c.check_span(source, first, count, upload_id, part_number, etag)
        filename = r.check_text(filename, "filename", 1, 1024)
        now, new_id = self._now(), uuid.uuid4()

        async def work(cur: Cursor) -> uuid.UUID | None:
            src = await _source(cur, source)
            upload = await upload_in(cur, upload_id, "FOR SHARE")
            c.refuse_inline(source, src[6] is not None)
            rows = await fetch(
                cur, "SELECT size, checksum_algorithm, checksum FROM chunks"
                " WHERE file_id = %s::uuid AND chunk_index >= %s AND chunk_index < %s"
                " ORDER BY chunk_index", (u(source), first, first + count))
            if len(rows) != count:
                raise InvalidRequest(f"file {source} has no chunks {first}..{first + count - 1}")
            total = (await fetch(cur, "SELECT count(*) FROM chunks WHERE file_id = %s::uuid",
                                 (u(source),)))[0][0]
            algorithm, digest = c.span_checksum(
                count == total, src[2], bytes(src[3]), [row[1] for row in rows],
                [bytes(row[2]) for row in rows])
            size = sum(row[0] for row in rows)
            await cur.execute(_NEW_FILE, (u(new_id), filename, upload.content_type, size,
                                          algorithm, digest, src[4], now, now, None))
            await _copy_rows(cur, source, new_id, first, count)
            return await record_part_in(cur, upload_id, part_number, u(new_id), etag, size, now)

        return await self._db.interaction(work)  # type: ignore[no-any-return]

    async def release_replica(self, *, file_id: uuid.UUID, index: int, node_id: str,
                              keep_last: bool = False) -> bool:
        r.check_replica_key(file_id, index, node_id)
        key = (u(file_id), index, node_id)

        async def work(cur: Cursor) -> bool:
            await cur.execute("SELECT 1 FROM files WHERE id = %s::uuid FOR NO KEY UPDATE",
                              (key[0],))
            rows = await fetch(cur, "SELECT chunk_id FROM chunk_replicas"
                               " WHERE file_id = %s::uuid AND chunk_index = %s"
                               " AND node_id = %s FOR UPDATE", key)
            if not rows:
                return False
            others = await fetch(
                cur, "SELECT 1 FROM chunk_replicas WHERE node_id = %s AND chunk_id = %s"
                " AND NOT (file_id = %s::uuid AND chunk_index = %s) LIMIT 1",
                (node_id, rows[0][0], key[0], index))
            last = not others
            if not (last and keep_last):
                await cur.execute("DELETE FROM chunk_replicas WHERE file_id = %s::uuid"
                                  " AND chunk_index = %s AND node_id = %s", key)
            return last

        return await self._db.interaction(work)  # type: ignore[no-any-return]
