"""
The S3 namespace on SQLite: buckets, the keys that name files, access keys.

A mixin of :class:`~s3node.metadata.sqlite.SQLiteMetadataStore`; each
operation is one function run in one transaction, and writes hold SQLite's
write lock for their whole transaction, so a check (the bucket exists, it is
empty) still holds when the change it decides commits.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from s3node.errors import (
    AccessKeyNotFound,
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    Conflict,
    FileNotFound,
    InvalidRequest,
    ObjectNotFound,
)
from s3node.metadata import _keys as k
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata import _sqlite_queries as q
from s3node.metadata._listing import Bound, list_page, range_sql
from s3node.metadata._sqlite_db import Connection
from s3node.metadata._sqlite_sweep import file_record
from s3node.records import (
    AccessKey,
    BucketRecord,
    FileRecord,
    FileStatus,
    Grant,
    ObjectPage,
    ObjectPut,
    ObjectRecord,
)

__all__ = ["SQLiteObjects", "bucket_exists", "complete_in", "name_in", "object_at"]

# an object with its file's size and content type
_OBJECT = f"SELECT {o.OBJECT_COLUMNS} FROM objects o JOIN files f ON f.id = o.file_id"
_KEY = f"SELECT {k.ACCESS_KEY_COLUMNS} FROM access_keys"


def _object(row: Sequence[Any]) -> ObjectRecord:
    return o.object_from_row(row, r.from_micros)


def _access_key(row: Sequence[Any]) -> AccessKey:
    return k.access_key_from_row(row, r.from_micros)






def bucket_exists(conn: Connection, name: str) -> None:
    if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
        raise BucketNotFound(f"no bucket {name}")


def complete_in(conn: Connection, file_id: uuid.UUID, size: int, checksum: str,
                digest: bytes, replicas: int, now: int,
                stored: Sequence[tuple[int, str]] = (),
                inline: bytes | None = None) -> FileRecord:
    """``complete_file``'s transaction (shared by ``complete_object``)."""
    fid = str(file_id)
    row = conn.execute(f"SELECT {q.FILE} FROM files f WHERE id = ?", (fid,)).fetchone()
    if row is None:
        raise FileNotFound(f"no file {file_id}")
    current = file_record(row)
    if current.status is FileStatus.COMPLETED:
        if current.size == size and current.checksum == checksum:
            return current
        raise Conflict(f"file {file_id} is already completed with other content")
    if current.status.value not in r.OPEN_STATUSES:
        raise r.not_open(file_id, current.status.value)
    for index, node_id in stored:
        if not conn.execute(q.UPSERT_REPLICA, {"file_id": fid, "index": index, "node": node_id,
                                               "state": "stored", "now": now}).rowcount:
            raise FileNotFound(f"file {file_id} has no chunk {index}")
    stats = conn.execute(q.COMPLETE_CHECK, (replicas, fid)).fetchone()
    r.check_completion(file_id, size, replicas, *stats, inline=inline)
    row = conn.execute(
        "UPDATE files SET size = ?, checksum = ?, status = 'completed', inline_data = ?,"
        f" updated_at = ? WHERE id = ? RETURNING {q.FILE}",
        (size, digest, inline, now, fid),
    ).fetchone()
    return file_record(row)


def object_at(conn: Connection, bucket: str, key: str) -> ObjectRecord | None:
    """The object ``bucket``/``key`` names, if any."""
    row = conn.execute(f"{_OBJECT} WHERE o.bucket = ? AND o.key = ?", (bucket, key)).fetchone()
    return None if row is None else _object(row)


def name_in(conn: Connection, bucket: str, key: str, file_id: uuid.UUID, etag: str,
            headers: str, now: int) -> ObjectPut:
    """Point ``key`` at ``file_id`` (the file it named moves to deleting), in ``conn``'s transaction."""
    old = object_at(conn, bucket, key)
    conn.execute(
        "INSERT INTO objects (bucket, key, file_id, etag, headers, modified_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, key) DO UPDATE SET"
        " file_id = excluded.file_id, etag = excluded.etag,"
        " headers = excluded.headers, modified_at = excluded.modified_at",
        (bucket, key, str(file_id), etag, headers, now))
    if old is not None:
        conn.execute("UPDATE files SET status = 'deleting', updated_at = ? WHERE id = ?",
                     (now, str(old.file_id)))
    new = object_at(conn, bucket, key)
    assert new is not None
    return ObjectPut(new, None if old is None else old.file_id)


class SQLiteObjects:
    """Bucket, object and access-key operations on ``self._db``."""

    _db: Any

    if TYPE_CHECKING:
        def _now(self) -> int: ...

    # -- buckets ------------------------------------------------------------

    async def create_bucket(self, name: str) -> BucketRecord:
        o.check_bucket(name)
        now = self._now()

        def work(conn: Connection) -> BucketRecord:
            try:
                conn.execute("INSERT INTO buckets (name, created_at) VALUES (?, ?)", (name, now))
            except sqlite3.IntegrityError:
                raise BucketExists(f"bucket {name} exists") from None
            return BucketRecord(name, r.from_micros(now))

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def get_bucket(self, name: str) -> BucketRecord:
        o.check_bucket(name)

        def work(conn: Connection) -> BucketRecord:
            row = conn.execute("SELECT name, created_at FROM buckets WHERE name = ?",
                               (name,)).fetchone()
            if row is None:
                raise BucketNotFound(f"no bucket {name}")
            return BucketRecord(row[0], r.from_micros(row[1]))

        return await self._db.read(work)  # type: ignore[no-any-return]

    async def list_buckets(self) -> Sequence[BucketRecord]:
        rows = await self._db.read(lambda conn: conn.execute(
            "SELECT name, created_at FROM buckets ORDER BY name").fetchall())
        return [BucketRecord(name, r.from_micros(at)) for name, at in rows]

    async def delete_bucket(self, name: str) -> Sequence[uuid.UUID]:
        o.check_bucket(name)
        now = self._now()

        def work(conn: Connection) -> list[uuid.UUID]:
            bucket_exists(conn, name)
            if conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1",
                            (name,)).fetchone() is not None:
                raise BucketNotEmpty(f"bucket {name} is not empty")
            # abandoned uploads go with the bucket, their parts' files to the sweeper
            ids = sorted(row[0] for row in conn.execute(
                "SELECT p.file_id FROM multipart_parts p JOIN multipart_uploads m"
                " ON m.id = p.upload_id WHERE m.bucket = ?", (name,)).fetchall())
            for file_id in ids:
                conn.execute("UPDATE files SET status = 'deleting', updated_at = ? WHERE id = ?",
                             (now, file_id))
            conn.execute("DELETE FROM multipart_parts WHERE upload_id IN"
                         " (SELECT id FROM multipart_uploads WHERE bucket = ?)", (name,))
            conn.execute("DELETE FROM multipart_uploads WHERE bucket = ?", (name,))
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))
            return [uuid.UUID(i) for i in ids]

        return await self._db.write(work)  # type: ignore[no-any-return]

    # -- objects ------------------------------------------------------------

    async def complete_object(
        self,
        *,
        file_id: uuid.UUID,
        size: int,
        checksum: str,
        replicas: int,
        bucket: str,
        key: str,
        etag: str,
        headers: Sequence[tuple[str, str]] = (),
        if_match: str | None = None,
        if_none_match: bool = False,
        stored: Sequence[tuple[int, str]] = (),
        inline: bytes | None = None,
    ) -> ObjectPut:
        digest = r.check_complete(file_id, size, checksum, replicas, stored, inline)
        bucket, key, etag, pairs = o.check_object(bucket, key, etag, headers)
        fid, now, text = str(file_id), self._now(), o.encode_headers(pairs)

        def work(conn: Connection) -> ObjectPut:
            bucket_exists(conn, bucket)
            complete_in(conn, file_id, size, checksum, digest, replicas, now, stored, inline)
            old = object_at(conn, bucket, key)
            if old is not None and old.file_id == file_id:
                return ObjectPut(old, None)
            o.check_condition(None if old is None else old.etag, if_match, if_none_match)
            named = conn.execute("SELECT 1 FROM objects WHERE file_id = ?", (fid,)).fetchone()
            if named is not None:
                raise Conflict(f"file {file_id} is already an object")
            return name_in(conn, bucket, key, file_id, etag, text, now)

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def get_object(self, bucket: str, key: str) -> ObjectRecord:
        o.check_bucket(bucket)
        o.check_key(key)

        def work(conn: Connection) -> ObjectRecord:
            row = conn.execute(f"{_OBJECT} WHERE o.bucket = ? AND o.key = ?",
                               (bucket, key)).fetchone()
            if row is None:
                bucket_exists(conn, bucket)
                raise ObjectNotFound(f"no key {key!r} in bucket {bucket}")
            return _object(row)

        return await self._db.read(work)  # type: ignore[no-any-return]

    async def delete_object(self, bucket: str, key: str) -> uuid.UUID | None:
        o.check_bucket(bucket)
        o.check_key(key)
        now = self._now()

        def work(conn: Connection) -> uuid.UUID | None:
            row = conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?"
                               " RETURNING file_id", (bucket, key)).fetchone()
            if row is None:
                bucket_exists(conn, bucket)
                return None
            conn.execute("UPDATE files SET status = 'deleting', updated_at = ? WHERE id = ?",
                         (now, row[0]))
            return uuid.UUID(row[0])

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str | None = None,
        limit: int,
    ) -> ObjectPage:
        o.check_listing(bucket, prefix, delimiter, after, limit)

        def exists(conn: Connection) -> None:
            bucket_exists(conn, bucket)

        await self._db.read(exists)

        async def fetch(lower: Bound | None, upper: str | None, n: int) -> list[ObjectRecord]:
            clauses, args = range_sql(lower, upper, mark="?", column="o.key")
            sql = (f"{_OBJECT} WHERE {' AND '.join(['o.bucket = ?', *clauses])}"
                   " ORDER BY o.key LIMIT ?")
            rows = await self._db.read(
                lambda conn: conn.execute(sql, (bucket, *args, n)).fetchall())
            return [_object(row) for row in rows]

        return await list_page(fetch, prefix=prefix, delimiter=delimiter, after=after,
                                 limit=limit)

    # -- access keys --------------------------------------------------------

    async def add_access_key(self, key: AccessKey) -> None:
        k.check_access_key(key)
        now = self._now()

        def work(conn: Connection) -> None:
            try:
                conn.execute("INSERT INTO access_keys (id, secret, description, created_at,"
                             " admin, grants) VALUES (?, ?, ?, ?, ?, ?)",
                             (key.access_key_id, key.secret, key.description, now,
                              int(key.admin), k.encode_grants(key.grants)))
            except sqlite3.IntegrityError:
                raise Conflict(f"access key {key.access_key_id} exists") from None

        await self._db.write(work)

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        o.check_access_key_id(access_key_id)

        def work(conn: Connection) -> AccessKey:
            row = conn.execute(f"{_KEY} WHERE id = ? AND revoked_at IS NULL",
                               (access_key_id,)).fetchone()
            if row is None:
                raise AccessKeyNotFound(f"no access key {access_key_id}")
            return _access_key(row)

        return await self._db.read(work)  # type: ignore[no-any-return]

    async def list_access_keys(self) -> Sequence[AccessKey]:
        rows = await self._db.read(
            lambda conn: conn.execute(f"{_KEY} ORDER BY id").fetchall())
        return [_access_key(row) for row in rows]

    async def revoke_access_key(self, access_key_id: str) -> None:
        o.check_access_key_id(access_key_id)
        now = self._now()

        def work(conn: Connection) -> None:
            if not conn.execute("UPDATE access_keys SET revoked_at = ?"
                                " WHERE id = ? AND revoked_at IS NULL",
                                (now, access_key_id)).rowcount:
                raise AccessKeyNotFound(f"no access key {access_key_id}")

        await self._db.write(work)

    async def _change_key(self, access_key_id: str, sql: str, args: tuple[Any, ...]) -> AccessKey:
        """Run ``sql`` (an UPDATE of the key, ``?`` params then its id); the key after it."""
        o.check_access_key_id(access_key_id)

        def work(conn: Connection) -> AccessKey:
            if not conn.execute(sql, (*args, access_key_id)).rowcount:
                raise AccessKeyNotFound(f"no access key {access_key_id}")
            return _access_key(conn.execute(f"{_KEY} WHERE id = ?", (access_key_id,)).fetchone())

        return await self._db.write(work)  # type: ignore[no-any-return]

    async def set_access_key_enabled(self, access_key_id: str, enabled: bool) -> AccessKey:
        if enabled:
            return await self._change_key(
                access_key_id, "UPDATE access_keys SET revoked_at = NULL WHERE id = ?", ())
        return await self._change_key(
            access_key_id, "UPDATE access_keys SET revoked_at = coalesce(revoked_at, ?)"
            " WHERE id = ?", (self._now(),))

    async def set_access_key_grants(self, access_key_id: str, *, admin: bool,
                                    grants: Sequence[Grant]) -> AccessKey:
        if not isinstance(admin, bool):
            raise InvalidRequest("admin is true or false")
        return await self._change_key(
            access_key_id, "UPDATE access_keys SET admin = ?, grants = ? WHERE id = ?",
            (int(admin), k.encode_grants(grants)))

    async def delete_access_key(self, access_key_id: str) -> None:
        o.check_access_key_id(access_key_id)

        def work(conn: Connection) -> None:
            if not conn.execute("DELETE FROM access_keys WHERE id = ?",
                                (access_key_id,)).rowcount:
                raise AccessKeyNotFound(f"no access key {access_key_id}")

        await self._db.write(work)
