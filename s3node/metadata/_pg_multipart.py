"""
Multipart uploads on PostgreSQL.

A mixin of :class:`~s3node.metadata.postgres.PostgresMetadataStore`.  Each
operation that decides on an upload holds its row ``FOR UPDATE`` (completing
and aborting) or ``FOR SHARE`` (recording a part), so a part recorded while
the upload completes or aborts waits and then finds it gone.  Completion is
one transaction: the listed parts' chunk and replica rows are copied to the
object's new file (re-indexed, in order), the part files deleted with them,
the parts not listed moved to ``deleting``, the key named; no byte moves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from s3node.errors import BucketNotFound, UploadNotFound
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata._listing import (
    Bound,
    check_upload_listing,
    list_upload_page,
    new_upload_id,
    range_sql,
)
from s3node.metadata._pg_objects import complete_in, lock_bucket, name_in
from s3node.metadata._pgpool import Cursor, fetch, u
from s3node.records import MultipartUpload, ObjectPut, PartRecord, PartSpan, UploadPage

__all__ = ["PostgresMultipart", "record_part_in", "upload_in"]

_UPLOAD = f"SELECT {o.UPLOAD_COLUMNS} FROM multipart_uploads"
_PART = f"SELECT {o.PART_COLUMNS} FROM multipart_parts"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _upload(row: Sequence[Any]) -> MultipartUpload:
    return o.upload_from_row(row, _utc)


def _part(row: Sequence[Any]) -> PartRecord:
    return o.part_from_row(row, _utc)


async def upload_in(cur: Cursor, upload_id: str, lock: str = "") -> MultipartUpload:
    rows = await fetch(cur, f"{_UPLOAD} WHERE id = %s {lock}", (upload_id,))
    if not rows:
        raise UploadNotFound(f"no multipart upload {upload_id}")
    return _upload(rows[0])


async def record_part_in(cur: Cursor, upload_id: str, part_number: int, fid: str, etag: str,
                         size: int, now: datetime, checksum: str | None = None
                         ) -> uuid.UUID | None:
    """Record ``fid`` as a part; the file of the part it replaces moves to deleting."""
    rows = await fetch(cur, "SELECT file_id::text FROM multipart_parts"
                       " WHERE upload_id = %s AND part_number = %s FOR UPDATE",
                       (upload_id, part_number))
    if rows and rows[0][0] == fid:
        return None
    await cur.execute(
        "INSERT INTO multipart_parts (upload_id, part_number, file_id, etag, size,"
        " modified_at, checksum) VALUES (%s, %s, %s::uuid, %s, %s, %s, %s)"
        " ON CONFLICT (upload_id, part_number) DO UPDATE SET file_id = excluded.file_id,"
        " etag = excluded.etag, size = excluded.size, modified_at = excluded.modified_at,"
        " checksum = excluded.checksum",
        (upload_id, part_number, fid, etag, size, now, checksum))
    if not rows:
        return None
    await _delete_files(cur, [rows[0][0]], now)
    return uuid.UUID(rows[0][0])


async def _delete_files(cur: Cursor, file_ids: Sequence[str], now: datetime) -> None:
    if file_ids:
        await cur.execute("UPDATE files SET status = 'deleting', updated_at = %s"
                          " WHERE id = ANY(%s::uuid[])", (now, list(file_ids)))


class PostgresMultipart:
    """Multipart operations on ``self._db``."""

    _db: Any

    if TYPE_CHECKING:
        def _now(self) -> datetime: ...

    async def create_multipart(self, bucket: str, key: str, *, content_type: str,
                               headers: Sequence[tuple[str, str]] = ()) -> MultipartUpload:
        o.check_bucket(bucket)
        o.check_key(key)
        text = o.encode_headers(o.check_headers(headers))
        now = self._now()
        upload_id = new_upload_id(r.to_micros(now))

        async def work(cur: Cursor) -> MultipartUpload:
            await lock_bucket(cur, bucket, "SHARE")
            await cur.execute("INSERT INTO multipart_uploads (id, bucket, key, content_type,"
                              " headers, created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                              (upload_id, bucket, key, content_type, text, now))
            return await upload_in(cur, upload_id)

        return await self._db.interaction(work)  # type: ignore[no-any-return]

    async def get_multipart(self, upload_id: str) -> MultipartUpload:
        o.check_upload_id(upload_id)
        rows = await self._db.query(f"{_UPLOAD} WHERE id = %s", (upload_id,))
        if not rows:
            raise UploadNotFound(f"no multipart upload {upload_id}")
        return _upload(rows[0])

    async def complete_part(self, *, file_id: uuid.UUID, size: int, checksum: str,
                            replicas: int, upload_id: str, part_number: int,
                            etag: str, part_checksum: tuple[str, str] | None = None,
                            stored: Sequence[tuple[int, str]] = ()) -> uuid.UUID | None:
        digest = r.check_complete(file_id, size, checksum, replicas, stored)
        pair = o.check_part_checksum(part_checksum)
        o.check_upload_id(upload_id)
        o.check_part_number(part_number)
        o.check_part_etag(etag)
        fid, now = u(file_id), self._now()

        async def work(cur: Cursor) -> uuid.UUID | None:
            await upload_in(cur, upload_id, "FOR SHARE")
            await complete_in(cur, file_id, size, checksum, digest, replicas, now, stored)
            return await record_part_in(cur, upload_id, part_number, fid, etag, size, now,
                                        pair)

        return await self._db.interaction(work)  # type: ignore[no-any-return]

    async def list_parts(self, upload_id: str, *, after: int = 0,
                         limit: int) -> Sequence[PartRecord]:
        o.check_upload_id(upload_id)
        limit = r.check_limit(limit)
        await self.get_multipart(upload_id)
        rows = await self._db.query(f"{_PART} WHERE upload_id = %s AND part_number > %s"
                                    " ORDER BY part_number LIMIT %s", (upload_id, after, limit))
        return [_part(row) for row in rows]

    async def list_multipart(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                             after: str | None = None, after_upload: str | None = None,
                             limit: int) -> UploadPage:
        check_upload_listing(bucket, prefix, delimiter, after, after_upload, limit)
        if not await self._db.query("SELECT 1 FROM buckets WHERE name = %s", (bucket,)):
            raise BucketNotFound(f"no bucket {bucket}")

        async def fetch_page(lower: Bound | None, upper: str | None,
                             n: int) -> list[MultipartUpload]:
            clauses, args = range_sql(lower, upper, mark="%s", tail_column="id")
            rows = await self._db.query(
                f"{_UPLOAD} WHERE {' AND '.join(['bucket = %s', *clauses])}"
                " ORDER BY key, id LIMIT %s", (bucket, *args, n))
            return [_upload(row) for row in rows]

        return await list_upload_page(fetch_page, prefix=prefix, delimiter=delimiter,
                                      after=after, after_upload=after_upload, limit=limit)

    async def object_part(self, file_id: uuid.UUID,
                          part_number: int) -> tuple[int, PartSpan | None]:
        r.check_file_id(file_id)
        o.check_part_number(part_number)
        rows = await self._db.query(
            "SELECT (SELECT count(*) FROM object_parts WHERE file_id = %s::uuid),"
            " p.part_number, p.first_byte, p.size FROM (SELECT 1) AS one"
            " LEFT JOIN object_parts AS p ON p.file_id = %s::uuid AND p.part_number = %s",
            (u(file_id), u(file_id), part_number))
        count, number, first, size = rows[0]
        return count, None if number is None else PartSpan(number, first, size)

    async def complete_multipart(self, upload_id: str, parts: Sequence[tuple[int, str]], *,
                                 min_part_size: int, if_match: str | None = None,
                                 if_none_match: bool = False,
                                 headers: Sequence[tuple[str, str]] | None = None) -> ObjectPut:
        kept = None if headers is None else o.check_headers(headers)
        o.check_upload_id(upload_id)
        now, new_id = self._now(), uuid.uuid4()

        async def work(cur: Cursor) -> ObjectPut:
            upload = await upload_in(cur, upload_id, "FOR UPDATE")
            await lock_bucket(cur, upload.bucket, "SHARE")
            uploaded = {p.number: p for p in map(_part, await fetch(
                cur, f"{_PART} WHERE upload_id = %s", (upload_id,)))}
            listed = o.plan_completion(uploaded, parts, min_part_size)
            ids = [u(p.file_id) for p in listed]
            files = {row[0]: row[1:] for row in await fetch(
                cur, "SELECT id::text, checksum_algorithm, checksum, chunk_size, filename"
                " FROM files WHERE id = ANY(%s::uuid[])", (ids,))}
            first = files[ids[0]]
            stitched = o.Stitched(listed, [bytes(files[i][1]).hex() for i in ids], first[0])
            await cur.execute(
                "INSERT INTO files (id, filename, content_type, size, checksum_algorithm,"
                " checksum, chunk_size, status, created_at, updated_at)"
                " VALUES (%s::uuid, %s, %s, %s, %s, %s, %s, 'completed', %s, %s)",
                (u(new_id), first[3], upload.content_type, stitched.size, stitched.algorithm,
                 bytes.fromhex(stitched.checksum), first[2], now, now))
            offset = 0
            for part_id in ids:
                await cur.execute(
                    "INSERT INTO chunks (file_id, chunk_index, chunk_id, size,"
                    " checksum_algorithm, checksum) SELECT %s::uuid, chunk_index + %s,"
                    " chunk_id, size, checksum_algorithm, checksum FROM chunks"
                    " WHERE file_id = %s::uuid", (u(new_id), offset, part_id))
                await cur.execute(
                    "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state,"
                    " updated_at) SELECT %s::uuid, chunk_index + %s, chunk_id, node_id, state,"
                    " updated_at FROM chunk_replicas WHERE file_id = %s::uuid",
                    (u(new_id), offset, part_id))
                count = await fetch(cur, "SELECT count(*) FROM chunks WHERE file_id = %s::uuid",
                                    (part_id,))
                offset += count[0][0]
            await cur.execute(
                "INSERT INTO object_parts (file_id, part_number, first_byte, size)"
                " SELECT %s::uuid, unnest(%s::integer[]), unnest(%s::bigint[]),"
                " unnest(%s::bigint[])",
                (u(new_id), [p.number for p in stitched.spans],
                 [p.first for p in stitched.spans], [p.size for p in stitched.spans]))
            # the parts' rows go with their files; their chunks are the object's now
            await cur.execute("DELETE FROM files WHERE id = ANY(%s::uuid[])", (ids,))
            unlisted = [row[0] for row in await fetch(
                cur, "SELECT file_id::text FROM multipart_parts WHERE upload_id = %s",
                (upload_id,))]
            await _delete_files(cur, unlisted, now)
            await cur.execute("DELETE FROM multipart_uploads WHERE id = %s", (upload_id,))
            return await name_in(cur, upload.bucket, upload.key, new_id, stitched.etag,
                                 o.encode_headers(upload.headers if kept is None else kept), now,
                                 if_match=if_match, if_none_match=if_none_match)

        return await self._db.interaction(work)  # type: ignore[no-any-return]

    async def abort_multipart(self, upload_id: str) -> Sequence[uuid.UUID]:
        o.check_upload_id(upload_id)
        now = self._now()

        async def work(cur: Cursor) -> list[uuid.UUID]:
            await upload_in(cur, upload_id, "FOR UPDATE")
            ids = sorted(row[0] for row in await fetch(
                cur, "SELECT file_id::text FROM multipart_parts WHERE upload_id = %s",
                (upload_id,)))
            await _delete_files(cur, ids, now)
            await cur.execute("DELETE FROM multipart_uploads WHERE id = %s", (upload_id,))
            return [uuid.UUID(i) for i in ids]

        return await self._db.interaction(work)  # type: ignore[no-any-return]

    async def expired_multipart(self, *, before: datetime, limit: int) -> Sequence[str]:
        moment = r.check_aware(before, "before")
        limit = r.check_limit(limit)
        rows = await self._db.query("SELECT id FROM multipart_uploads WHERE created_at < %s"
                                    " ORDER BY created_at, id LIMIT %s", (moment, limit))
        return [row[0] for row in rows]
