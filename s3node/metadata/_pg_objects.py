"""
The S3 namespace on PostgreSQL: buckets, the keys that name files, access keys.

A mixin of :class:`~s3node.metadata.postgres.PostgresMetadataStore`.  Several
gateways may share the database, so each decision is taken under the row
locks it depends on: completing an object holds its bucket ``FOR SHARE``
(``delete_bucket`` takes it ``FOR UPDATE`` before it checks that the bucket is
empty) and its key's row ``FOR UPDATE`` while it points the key at the new
file; a deadlock between two of these is retried by the pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg2.errors

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
from s3node.metadata import _pg_queries as q
from s3node.metadata import _records as r
from s3node.metadata._listing import Bound, list_page, range_sql
from s3node.metadata._pg_sweep import file_record
from s3node.metadata._pgpool import Cursor, fetch, u
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

__all__ = ["PostgresObjects", "complete_in", "lock_bucket", "name_in"]

_OBJECT = f"SELECT {o.OBJECT_COLUMNS} FROM objects o JOIN files f ON f.id = o.file_id"
_KEY = f"SELECT {k.ACCESS_KEY_COLUMNS} FROM access_keys"
#: attempts at naming a key while other transactions name or unname it
_NAMING_ATTEMPTS = 8


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _object(row: Sequence[Any]) -> ObjectRecord:
    return o.object_from_row(row, _utc)


def _access_key(row: Sequence[Any]) -> AccessKey:
    return k.access_key_from_row(row, _utc)







async def lock_bucket(cur: Cursor, name: str, mode: str) -> None:
    rows = await fetch(cur, f"SELECT 1 FROM buckets WHERE name = %s FOR {mode}", (name,))
    if not rows:
        raise BucketNotFound(f"no bucket {name}")


async def complete_in(cur: Cursor, file_id: uuid.UUID, size: int, checksum: str,
                      digest: bytes, replicas: int, now: datetime,
                      stored: Sequence[tuple[int, str]] = (),
                      inline: bytes | None = None) -> FileRecord:
    """``complete_file``'s transaction (shared by ``complete_object``)."""
    rows = await fetch(
        cur, f"SELECT {q.FILE} FROM files f WHERE id = %s::uuid FOR UPDATE", (u(file_id),)
    )
    if not rows:
        raise FileNotFound(f"no file {file_id}")
    current = file_record(rows[0])
    if current.status is FileStatus.COMPLETED:
        if current.size == size and current.checksum == checksum:
            return current
        raise Conflict(f"file {file_id} is already completed with other content")
    if current.status.value not in r.OPEN_STATUSES:
        raise r.not_open(file_id, current.status.value)
    if stored:
        pairs = sorted(set(stored))
        rows = await fetch(cur, q.UPSERT_REPLICAS, {
            "file_id": u(file_id), "indexes": [i for i, _ in pairs],
            "nodes": [n for _, n in pairs], "state": "stored", "now": now})
        lacking = {i for i, _ in pairs} - {row[0] for row in rows}
        if lacking:
            raise FileNotFound(f"file {file_id} has no chunk {min(lacking)}")
    # Hold the replica rows until the commit: a concurrent set_replica_state
    # must not change what the check below counts (READ COMMITTED).
    await cur.execute(
        "SELECT 1 FROM chunk_replicas WHERE file_id = %s::uuid FOR SHARE", (u(file_id),)
    )
    stats = await fetch(cur, q.COMPLETE_CHECK, {"file_id": u(file_id), "replicas": replicas})
    r.check_completion(file_id, size, replicas, *stats[0], inline=inline)
    rows = await fetch(
        cur,
        "UPDATE files f SET size = %s, checksum = %s, status = 'completed', inline_data = %s,"
        f" updated_at = %s WHERE id = %s::uuid RETURNING {q.FILE}",
        (size, digest, inline, now, u(file_id)),
    )
    return file_record(rows[0])


async def name_in(cur: Cursor, bucket: str, key: str, file_id: uuid.UUID, etag: str,
                  headers: str, now: datetime, *, if_match: str | None = None,
                  if_none_match: bool = False) -> ObjectPut:
    """
    Point ``key`` at ``file_id`` in ``cur``'s transaction, under the key's row
    lock (the file it named moves to deleting), once the write's condition
    holds; a concurrent first write of the key makes this wait and look again.
    """
    where = "WHERE o.bucket = %s AND o.key = %s"
    fid = u(file_id)
    for _ in range(_NAMING_ATTEMPTS):
        rows = await fetch(cur, f"{_OBJECT} {where} FOR UPDATE OF o", (bucket, key))
        old = _object(rows[0]) if rows else None
        if old is not None and old.file_id == file_id:
            return ObjectPut(old, None)
        o.check_condition(None if old is None else old.etag, if_match, if_none_match)
        if old is None:
            inserted = await fetch(
                cur,
                "INSERT INTO objects (bucket, key, file_id, etag, headers, modified_at)"
                " VALUES (%s, %s, %s::uuid, %s, %s, %s)"
                " ON CONFLICT (bucket, key) DO NOTHING RETURNING 1",
                (bucket, key, fid, etag, headers, now))
            if not inserted:
                continue  # another transaction named it first: look again
        else:
            await cur.execute(
                "UPDATE objects SET file_id = %s::uuid, etag = %s, headers = %s,"
                " modified_at = %s WHERE bucket = %s AND key = %s",
                (fid, etag, headers, now, bucket, key))
            await cur.execute(
                "UPDATE files SET status = 'deleting', updated_at = %s WHERE id = %s::uuid",
                (now, u(old.file_id)))
        rows = await fetch(cur, f"{_OBJECT} {where}", (bucket, key))
        return ObjectPut(_object(rows[0]), None if old is None else old.file_id)
    raise Conflict(f"key {key!r} of bucket {bucket} keeps changing; try again")


class PostgresObjects:
    """Bucket, object and access-key operations on ``self._db``."""

    _db: Any

    if TYPE_CHECKING:
        def _now(self) -> datetime: ...

    # -- buckets ------------------------------------------------------------

    async def create_bucket(self, name: str) -> BucketRecord:
        o.check_bucket(name)
        try:
            rows = await self._db.query(
                "INSERT INTO buckets (name, created_at) VALUES (%s, %s) RETURNING created_at",
                (name, self._now()), expect=(psycopg2.errors.UniqueViolation,))
        except psycopg2.errors.UniqueViolation:
            raise BucketExists(f"bucket {name} exists") from None
        return BucketRecord(name, _utc(rows[0][0]))

    async def get_bucket(self, name: str) -> BucketRecord:
        o.check_bucket(name)
        rows = await self._db.query("SELECT created_at FROM buckets WHERE name = %s", (name,))
        if not rows:
            raise BucketNotFound(f"no bucket {name}")
        return BucketRecord(name, _utc(rows[0][0]))

    async def list_buckets(self) -> Sequence[BucketRecord]:
        rows = await self._db.query("SELECT name, created_at FROM buckets ORDER BY name")
        return [BucketRecord(name, _utc(at)) for name, at in rows]

    async def delete_bucket(self, name: str) -> Sequence[uuid.UUID]:
        o.check_bucket(name)
        now = self._now()

        async def work(cur: Cursor) -> list[uuid.UUID]:
            # FOR UPDATE waits for the objects and uploads being made in it (FOR SHARE)
            await lock_bucket(cur, name, "UPDATE")
            if await fetch(cur, "SELECT 1 FROM objects WHERE bucket = %s LIMIT 1", (name,)):
                raise BucketNotEmpty(f"bucket {name} is not empty")
            # abandoned uploads go with the bucket; a part being recorded (its upload
            # FOR SHARE) commits first, one recorded later finds no upload
            await cur.execute("SELECT 1 FROM multipart_uploads WHERE bucket = %s FOR UPDATE",
                              (name,))
            ids = sorted(row[0] for row in await fetch(
                cur, "SELECT p.file_id::text FROM multipart_parts p"
                " JOIN multipart_uploads m ON m.id = p.upload_id WHERE m.bucket = %s", (name,)))
            if ids:
                await cur.execute("UPDATE files SET status = 'deleting', updated_at = %s"
                                  " WHERE id = ANY(%s::uuid[])", (now, ids))
            # the parts' rows go by ON DELETE CASCADE
            await cur.execute("DELETE FROM multipart_uploads WHERE bucket = %s", (name,))
            await cur.execute("DELETE FROM buckets WHERE name = %s", (name,))
            return [uuid.UUID(i) for i in ids]

        return await self._db.interaction(work)  # type: ignore[no-any-return]

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
        now, text, fid = self._now(), o.encode_headers(pairs), u(file_id)

        async def work(cur: Cursor) -> ObjectPut:
            await lock_bucket(cur, bucket, "SHARE")
            await complete_in(cur, file_id, size, checksum, digest, replicas, now, stored,
                              inline)
            if await fetch(cur, "SELECT 1 FROM objects o WHERE o.file_id = %s::uuid"
                           " AND NOT (o.bucket = %s AND o.key = %s)", (fid, bucket, key)):
                raise Conflict(f"file {file_id} is already an object")
            return await name_in(cur, bucket, key, file_id, etag, text, now,
                                 if_match=if_match, if_none_match=if_none_match)

        return await self._db.interaction(work)  # type: ignore[no-any-return]

    async def get_object(self, bucket: str, key: str) -> ObjectRecord:
        o.check_bucket(bucket)
        o.check_key(key)
        rows = await self._db.query(f"{_OBJECT} WHERE o.bucket = %s AND o.key = %s",
                                    (bucket, key))
        if not rows:
            await self.get_bucket(bucket)
            raise ObjectNotFound(f"no key {key!r} in bucket {bucket}")
        return _object(rows[0])

    async def delete_object(self, bucket: str, key: str) -> uuid.UUID | None:
        o.check_bucket(bucket)
        o.check_key(key)
        rows = await self._db.query(
            "WITH k AS (DELETE FROM objects WHERE bucket = %(b)s AND key = %(k)s"
            " RETURNING file_id),"
            " f AS (UPDATE files SET status = 'deleting', updated_at = %(now)s"
            " WHERE id IN (SELECT file_id FROM k) RETURNING id)"
            " SELECT file_id::text FROM k",
            {"b": bucket, "k": key, "now": self._now()})
        if not rows:
            await self.get_bucket(bucket)
            return None
        return uuid.UUID(rows[0][0])

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
        await self.get_bucket(bucket)

        async def fetch_page(lower: Bound | None, upper: str | None,
                             n: int) -> list[ObjectRecord]:
            clauses, args = range_sql(lower, upper, mark="%s", column="o.key")
            rows = await self._db.query(
                f"{_OBJECT} WHERE {' AND '.join(['o.bucket = %s', *clauses])}"
                " ORDER BY o.key LIMIT %s", (bucket, *args, n))
            return [_object(row) for row in rows]

        return await list_page(fetch_page, prefix=prefix, delimiter=delimiter, after=after,
                                 limit=limit)

    # -- access keys --------------------------------------------------------

    async def add_access_key(self, key: AccessKey) -> None:
        k.check_access_key(key)
        try:
            await self._db.execute(
                "INSERT INTO access_keys (id, secret, description, created_at, admin, grants)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (key.access_key_id, key.secret, key.description, self._now(), key.admin,
                 k.encode_grants(key.grants)),
                expect=(psycopg2.errors.UniqueViolation,))
        except psycopg2.errors.UniqueViolation:
            raise Conflict(f"access key {key.access_key_id} exists") from None

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        o.check_access_key_id(access_key_id)
        rows = await self._db.query(f"{_KEY} WHERE id = %s AND revoked_at IS NULL",
                                    (access_key_id,))
        if not rows:
            raise AccessKeyNotFound(f"no access key {access_key_id}")
        return _access_key(rows[0])

    async def list_access_keys(self) -> Sequence[AccessKey]:
        rows = await self._db.query(f"{_KEY} ORDER BY id")
        return [_access_key(row) for row in rows]

    async def revoke_access_key(self, access_key_id: str) -> None:
        o.check_access_key_id(access_key_id)
        rows = await self._db.query(
            "UPDATE access_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL"
            " RETURNING 1", (self._now(), access_key_id))
        if not rows:
            raise AccessKeyNotFound(f"no access key {access_key_id}")

    async def _change_key(self, access_key_id: str, sql: str, args: tuple[Any, ...]) -> AccessKey:
        """Run ``sql`` (an UPDATE of the key, ``%s`` params then its id); the key after it."""
        o.check_access_key_id(access_key_id)
        rows = await self._db.query(f"{sql} RETURNING {k.ACCESS_KEY_COLUMNS}",
                                    (*args, access_key_id))
        if not rows:
            raise AccessKeyNotFound(f"no access key {access_key_id}")
        return _access_key(rows[0])

    async def set_access_key_enabled(self, access_key_id: str, enabled: bool) -> AccessKey:
        if enabled:
            return await self._change_key(
                access_key_id, "UPDATE access_keys SET revoked_at = NULL WHERE id = %s", ())
        return await self._change_key(
            access_key_id, "UPDATE access_keys SET revoked_at = coalesce(revoked_at, %s)"
            " WHERE id = %s", (self._now(),))

    async def set_access_key_grants(self, access_key_id: str, *, admin: bool,
                                    grants: Sequence[Grant]) -> AccessKey:
        if not isinstance(admin, bool):
            raise InvalidRequest("admin is true or false")
        return await self._change_key(
            access_key_id, "UPDATE access_keys SET admin = %s, grants = %s WHERE id = %s",
            (admin, k.encode_grants(grants)))

    async def delete_access_key(self, access_key_id: str) -> None:
        o.check_access_key_id(access_key_id)
        rows = await self._db.query("DELETE FROM access_keys WHERE id = %s RETURNING 1",
                                    (access_key_id,))
        if not rows:
            raise AccessKeyNotFound(f"no access key {access_key_id}")
