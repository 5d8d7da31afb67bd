"""
Multipart uploads on SQLite.

A mixin of :class:`~s3node.metadata.sqlite.SQLiteMetadataStore`.  Completing
an upload is one write transaction: the listed parts' chunk and replica rows
are copied to the object's new file (re-indexed, in order), the part files are
deleted with them, the parts not listed move to ``deleting``, and the key is
named; no byte moves on any node.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from s3node.errors import UploadNotFound
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata._listing import (
    Bound,
    check_upload_listing,
    list_upload_page,
    new_upload_id,
    range_sql,
)
from s3node.metadata._sqlite_db import Connection
from s3node.metadata._sqlite_objects import bucket_exists, complete_in, name_in, object_at
from s3node.records import MultipartUpload, ObjectPut, PartRecord, PartSpan, UploadPage

__all__ = ["SQLiteMultipart", "record_part_in", "upload_in"]

_UPLOAD = f"SELECT {o.UPLOAD_COLUMNS} FROM multipart_uploads"
_PART = f"SELECT {o.PART_COLUMNS} FROM multipart_parts"


def _upload(row: Sequence[Any]) -> MultipartUpload:
    return o.upload_from_row(row, r.from_micros)


def _part(row: Sequence[Any]) -> PartRecord:
    return o.part_from_row(row, r.from_micros)


def upload_in(conn: Connection, upload_id: str) -> MultipartUpload:
    row = conn.execute(f"{_UPLOAD} WHERE id = ?", (upload_id,)).fetchone()
    if row is None:
        raise UploadNotFound(f"no multipart upload {upload_id}")
    return _upload(row)


def record_part_in(conn: Connection, upload_id: str, part_number: int, fid: str, etag: str,
                   size: int, now: int, checksum: str | None = None) -> uuid.UUID | None:
    """Record ``fid`` as a part; the file of the part it replaces moves to deleting."""
    row = conn.execute("SELECT file_id FROM multipart_parts"
                       " WHERE upload_id = ? AND part_number = ?",
                       (upload_id, part_number)).fetchone()
    if row is not None and row[0] == fid:
        return None
    conn.execute(
        "INSERT INTO multipart_parts (upload_id, part_number, file_id, etag, size,"
        " modified_at, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (upload_id, part_number)"
        " DO UPDATE SET file_id = excluded.file_id, etag = excluded.etag,"
        " size = excluded.size, modified_at = excluded.modified_at,"
        " checksum = excluded.checksum",
        (upload_id, part_number, fid, etag, size, now, checksum))
    if row is None:
        return None
    _delete_files(conn, [row[0]], now)
    return uuid.UUID(row[0])


def _delete_files(conn: Connection, file_ids: Sequence[str], now: int) -> None:
    for file_id in file_ids:
        conn.execute("UPDATE files SET status = 'deleting', updated_at = ? WHERE id = ?",
                     (now, file_id))


class SQLiteMultipart:
    """Multipart operations on ``self._db``."""

    _db: Any

    if TYPE_CHECKING:
        def _now(self) -> int: ...

    async def create_multipart(self, bucket: str, key: str, *, content_type: str,
                               headers: Sequence[tuple[str, str]] = ()) -> MultipartUpload:
        o.check_bucket(bucket)
        o.check_key(key)
        text = o.encode_headers(o.check_headers(headers))
        now = self._now()
        upload_id = new_upload_id(now)

        def work(conn: Connection) -> MultipartUpload:
            bucket_exists(conn, bucket)
            conn.execute("INSERT INTO multipart_uploads (id, bucket, key, content_type,"
                         " headers, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (upload_id, bucket, key, content_type, text, now))
            return upload_in(conn, upload_id)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def get_multipart(self, upload_id: str) -> MultipartUpload:
        o.check_upload_id(upload_id)
        return await self._db.read(  # type: ignore[no-any-return]
            lambda conn: upload_in(conn, upload_id))

    async def complete_part(self, *, file_id: uuid.UUID, size: int, checksum: str,
                            replicas: int, upload_id: str, part_number: int,
                            etag: str, part_checksum: tuple[str, str] | None = None,
                            stored: Sequence[tuple[int, str]] = ()) -> uuid.UUID | None:
        digest = r.check_complete(file_id, size, checksum, replicas, stored)
        pair = o.check_part_checksum(part_checksum)
        o.check_upload_id(upload_id)
        o.check_part_number(part_number)
        o.check_part_etag(etag)
        fid, now = str(file_id), self._now()

        def work(conn: Connection) -> uuid.UUID | None:
            upload_in(conn, upload_id)
            complete_in(conn, file_id, size, checksum, digest, replicas, now, stored)
            return record_part_in(conn, upload_id, part_number, fid, etag, size, now, pair)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def list_parts(self, upload_id: str, *, after: int = 0,
                         limit: int) -> Sequence[PartRecord]:
        o.check_upload_id(upload_id)
        limit = r.check_limit(limit)

        def work(conn: Connection) -> list[PartRecord]:
            upload_in(conn, upload_id)
            rows = conn.execute(f"{_PART} WHERE upload_id = ? AND part_number > ?"
                                " ORDER BY part_number LIMIT ?",
                                (upload_id, after, limit)).fetchall()
            return [_part(row) for row in rows]

        return await self._db.read(work)  # type: ignore[no-any-return]

    async def list_multipart(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                             after: str | None = None, after_upload: str | None = None,
                             limit: int) -> UploadPage:
        check_upload_listing(bucket, prefix, delimiter, after, after_upload, limit)
        await self._db.read(lambda conn: bucket_exists(conn, bucket))

        async def fetch(lower: Bound | None, upper: str | None,
                        n: int) -> list[MultipartUpload]:
            clauses, args = range_sql(lower, upper, mark="?", tail_column="id")
            sql = (f"{_UPLOAD} WHERE {' AND '.join(['bucket = ?', *clauses])}"
                   " ORDER BY key, id LIMIT ?")
            rows = await self._db.read(
                lambda conn: conn.execute(sql, (bucket, *args, n)).fetchall())
            return [_upload(row) for row in rows]

        return await list_upload_page(fetch, prefix=prefix, delimiter=delimiter,
                                      after=after, after_upload=after_upload, limit=limit)

    async def object_part(self, file_id: uuid.UUID,
                          part_number: int) -> tuple[int, PartSpan | None]:
        fid = str(r.check_file_id(file_id))
        o.check_part_number(part_number)

        def work(conn: Connection) -> tuple[int, PartSpan | None]:
            count = conn.execute("SELECT count(*) FROM object_parts WHERE file_id = ?",
                                 (fid,)).fetchone()[0]
            row = conn.execute("SELECT part_number, first_byte, size FROM object_parts"
                               " WHERE file_id = ? AND part_number = ?",
                               (fid, part_number)).fetchone()
            return count, None if row is None else PartSpan(*row)

        return await self._db.read(work)  # type: ignore[no-any-return]

    async def complete_multipart(self, upload_id: str, parts: Sequence[tuple[int, str]], *,
                                 min_part_size: int, if_match: str | None = None,
                                 if_none_match: bool = False,
                                 headers: Sequence[tuple[str, str]] | None = None) -> ObjectPut:
        kept = None if headers is None else o.check_headers(headers)
        o.check_upload_id(upload_id)
        now, new_id = self._now(), uuid.uuid4()

        def work(conn: Connection) -> ObjectPut:
            upload = upload_in(conn, upload_id)
            uploaded = {p.number: p for p in map(_part, conn.execute(
                f"{_PART} WHERE upload_id = ?", (upload_id,)).fetchall())}
            listed = o.plan_completion(uploaded, parts, min_part_size)
            current = object_at(conn, upload.bucket, upload.key)
            o.check_condition(None if current is None else current.etag, if_match,
                              if_none_match)
            ids = [str(p.file_id) for p in listed]
            files = {row[0]: row[1:] for row in conn.execute(
                "SELECT id, checksum_algorithm, checksum, chunk_size, filename FROM files"
                f" WHERE id IN ({', '.join('?' * len(ids))})", ids).fetchall()}
            first = files[ids[0]]
            stitched = o.Stitched(listed, [bytes(files[i][1]).hex() for i in ids], first[0])
            conn.execute(
                "INSERT INTO files (id, filename, content_type, size, checksum_algorithm,"
                " checksum, chunk_size, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'completed', ?, ?)",
                (str(new_id), first[3], upload.content_type, stitched.size,
                 stitched.algorithm, bytes.fromhex(stitched.checksum), first[2], now, now))
            offset = 0
            for part_id in ids:
                conn.execute(
                    "INSERT INTO chunks (file_id, chunk_index, chunk_id, size,"
                    " checksum_algorithm, checksum) SELECT ?, chunk_index + ?, chunk_id, size,"
                    " checksum_algorithm, checksum FROM chunks WHERE file_id = ?",
                    (str(new_id), offset, part_id))
                conn.execute(
                    "INSERT INTO chunk_replicas (file_id, chunk_index, chunk_id, node_id, state,"
                    " updated_at) SELECT ?, chunk_index + ?, chunk_id, node_id, state,"
                    " updated_at FROM chunk_replicas WHERE file_id = ?",
                    (str(new_id), offset, part_id))
                offset += conn.execute("SELECT count(*) FROM chunks WHERE file_id = ?",
                                       (part_id,)).fetchone()[0]
            conn.executemany("INSERT INTO object_parts (file_id, part_number, first_byte, size)"
                             " VALUES (?, ?, ?, ?)",
                             [(str(new_id), p.number, p.first, p.size) for p in stitched.spans])
            # the parts' rows go with their files; their chunks are the object's now
            conn.execute(f"DELETE FROM files WHERE id IN ({', '.join('?' * len(ids))})", ids)
            unlisted = [row[0] for row in conn.execute(
                "SELECT file_id FROM multipart_parts WHERE upload_id = ?",
                (upload_id,)).fetchall()]
            _delete_files(conn, unlisted, now)
            conn.execute("DELETE FROM multipart_uploads WHERE id = ?", (upload_id,))
            return name_in(conn, upload.bucket, upload.key, new_id, stitched.etag,
                           o.encode_headers(upload.headers if kept is None else kept), now)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def abort_multipart(self, upload_id: str) -> Sequence[uuid.UUID]:
        o.check_upload_id(upload_id)
        now = self._now()

        def work(conn: Connection) -> list[uuid.UUID]:
            upload_in(conn, upload_id)
            ids = sorted(row[0] for row in conn.execute(
                "SELECT file_id FROM multipart_parts WHERE upload_id = ?",
                (upload_id,)).fetchall())
            _delete_files(conn, ids, now)
            conn.execute("DELETE FROM multipart_uploads WHERE id = ?", (upload_id,))
            return [uuid.UUID(i) for i in ids]

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def expired_multipart(self, *, before: datetime, limit: int) -> Sequence[str]:
        micros = r.to_micros(r.check_aware(before, "before"))
        limit = r.check_limit(limit)
        rows = await self._db.read(lambda conn: conn.execute(
            "SELECT id FROM multipart_uploads WHERE created_at < ?"
            " ORDER BY created_at, id LIMIT ?", (micros, limit)).fetchall())
        return [row[0] for row in rows]
