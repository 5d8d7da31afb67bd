"""
The S3 namespace of the in-memory store: buckets, keys and access keys in dicts.

A mixin of :class:`~s3node.metadata.memory.MemoryMetadataStore`; like the
rest of it, each call runs to completion without yielding, so each is atomic.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from s3node.errors import (
    AccessKeyNotFound,
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    Conflict,
    InvalidRequest,
    ObjectNotFound,
)
from s3node.metadata import _keys as k
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata._listing import Bound, list_page
from s3node.records import (
    AccessKey,
    BucketRecord,
    FileRecord,
    FileStatus,
    Grant,
    MultipartUpload,
    ObjectPage,
    ObjectPut,
    ObjectRecord,
    PartRecord,
    PartSpan,
)

__all__ = ["MemoryObjects"]


class _Named:
    """What a key names: the file, its ETag, headers and when it was named."""

    __slots__ = ("etag", "file_id", "headers", "modified_at")

    def __init__(self, file_id: uuid.UUID, etag: str, headers: tuple[tuple[str, str], ...],
                 modified_at: datetime) -> None:
        self.file_id = file_id
        self.etag = etag
        self.headers = headers
        self.modified_at = modified_at


class MemoryObjects:
    """Buckets (name to record), their keys (sorted) and access keys."""

    files: dict[uuid.UUID, FileRecord]

    def _objects_init(self) -> None:
        self.buckets: dict[str, BucketRecord] = {}
        #: bucket -> key -> what it names
        self.objects: dict[str, dict[str, _Named]] = {}
        #: bucket -> its keys, sorted
        self._keys: dict[str, list[str]] = {}
        self.access_keys: dict[str, AccessKey] = {}
        self.uploads: dict[str, MultipartUpload] = {}
        #: upload id -> part number -> part
        self.parts: dict[str, dict[int, PartRecord]] = {}
        #: file id -> where the parts of the multipart object it holds lie
        self.object_parts: dict[uuid.UUID, tuple[PartSpan, ...]] = {}

    if TYPE_CHECKING:  # provided by MemoryMetadataStore
        def _available(self) -> None: ...
        def _now(self) -> datetime: ...

        async def complete_file(self, *, file_id: uuid.UUID, size: int, checksum: str,
                                replicas: int, stored: Sequence[tuple[int, str]] = (),
                                inline: bytes | None = None) -> FileRecord: ...

    def _bucket(self, name: str) -> dict[str, _Named]:
        self._available()
        try:
            return self.objects[name]
        except KeyError:
            raise BucketNotFound(f"no bucket {name}") from None

    def _record(self, bucket: str, key: str, named: _Named) -> ObjectRecord:
        f = self.files[named.file_id]
        return ObjectRecord(bucket, key, named.file_id, f.size or 0, f.content_type,
                            named.etag, named.modified_at, named.headers)

    def unname_file(self, file_id: uuid.UUID) -> None:
        """Drop the key that names ``file_id``, if any (the file is being deleted)."""
        for bucket, named in self.objects.items():
            for key, entry in named.items():
                if entry.file_id == file_id:
                    del named[key]
                    keys = self._keys[bucket]
                    del keys[bisect.bisect_left(keys, key)]
                    return

    # -- buckets ------------------------------------------------------------

    async def create_bucket(self, name: str) -> BucketRecord:
        o.check_bucket(name)
        self._available()
        if name in self.buckets:
            raise BucketExists(f"bucket {name} exists")
        record = BucketRecord(name, self._now())
        self.buckets[name] = record
        self.objects[name] = {}
        self._keys[name] = []
        return record

    async def get_bucket(self, name: str) -> BucketRecord:
        o.check_bucket(name)
        self._bucket(name)
        return self.buckets[name]

    async def list_buckets(self) -> Sequence[BucketRecord]:
        self._available()
        return [self.buckets[n] for n in sorted(self.buckets)]

    async def delete_bucket(self, name: str) -> Sequence[uuid.UUID]:
        o.check_bucket(name)
        if self._bucket(name):
            raise BucketNotEmpty(f"bucket {name} is not empty")
        abandoned = [i for i, u in self.uploads.items() if u.bucket == name]
        ids = sorted(p.file_id for i in abandoned for p in self.parts.pop(i).values())
        for upload_id in abandoned:
            del self.uploads[upload_id]
        self._delete_files(ids)
        del self.buckets[name], self.objects[name], self._keys[name]
        return ids

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
        r.check_complete(file_id, size, checksum, replicas, stored, inline)
        bucket, key, etag, pairs = o.check_object(bucket, key, etag, headers)
        named = self._bucket(bucket)
        current = named.get(key)
        if current is not None and current.file_id == file_id:
            return ObjectPut(self._record(bucket, key, current), None)
        o.check_condition(None if current is None else current.etag, if_match, if_none_match)
        if self._named_by(file_id) is not None:
            raise Conflict(f"file {file_id} is already an object")
        # complete_file checks and raises before it changes anything
        await self.complete_file(file_id=file_id, size=size, checksum=checksum,
                                 replicas=replicas, stored=stored, inline=inline)
        replaced = self._name_key(bucket, key, file_id, etag, pairs)
        return ObjectPut(self._record(bucket, key, named[key]), replaced)

    def _named_by(self, file_id: uuid.UUID) -> tuple[str, str] | None:
        for bucket, entries in self.objects.items():
            for key, entry in entries.items():
                if entry.file_id == file_id:
                    return bucket, key
        return None

    def _name_key(self, bucket: str, key: str, file_id: uuid.UUID, etag: str,
                  pairs: tuple[tuple[str, str], ...]) -> uuid.UUID | None:
        """Point ``key`` at ``file_id``; the file it named before moves to deleting."""
        named = self.objects[bucket]
        old = named.get(key)
        now = self._now()
        named[key] = _Named(file_id, etag, pairs, now)
        if old is None:
            bisect.insort(self._keys[bucket], key)
            return None
        self._delete_files([old.file_id])
        return old.file_id

    def _delete_files(self, file_ids: Sequence[uuid.UUID]) -> None:
        now = self._now()
        for file_id in file_ids:
            self.files[file_id] = replace(self.files[file_id], status=FileStatus.DELETING,
                                          updated_at=now)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord:
        o.check_bucket(bucket)
        o.check_key(key)
        named = self._bucket(bucket).get(key)
        if named is None:
            raise ObjectNotFound(f"no key {key!r} in bucket {bucket}")
        return self._record(bucket, key, named)

    async def delete_object(self, bucket: str, key: str) -> uuid.UUID | None:
        o.check_bucket(bucket)
        o.check_key(key)
        named = self._bucket(bucket).pop(key, None)
        if named is None:
            return None
        keys = self._keys[bucket]
        del keys[bisect.bisect_left(keys, key)]
        self._delete_files([named.file_id])
        return named.file_id

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
        self._bucket(bucket)

        async def fetch(lower: Bound | None, upper: str | None, n: int) -> list[ObjectRecord]:
            keys = self._keys[bucket]
            if lower is None:
                start = 0
            elif lower.inclusive:
                start = bisect.bisect_left(keys, lower.key)
            else:
                start = bisect.bisect_right(keys, lower.key)
            stop = len(keys) if upper is None else bisect.bisect_left(keys, upper)
            named = self.objects[bucket]
            return [self._record(bucket, k, named[k]) for k in keys[start:min(stop, start + n)]]

        return await list_page(fetch, prefix=prefix, delimiter=delimiter, after=after,
                                 limit=limit)

    # -- access keys --------------------------------------------------------

    async def add_access_key(self, key: AccessKey) -> None:
        k.check_access_key(key)
        self._available()
        if key.access_key_id in self.access_keys:
            raise Conflict(f"access key {key.access_key_id} exists")
        self.access_keys[key.access_key_id] = replace(
            key, created_at=self._now(), revoked_at=None, grants=k.check_grants(key.grants))

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        o.check_access_key_id(access_key_id)
        self._available()
        key = self.access_keys.get(access_key_id)
        if key is None or key.revoked_at is not None:
            raise AccessKeyNotFound(f"no access key {access_key_id}")
        return key

    async def list_access_keys(self) -> Sequence[AccessKey]:
        self._available()
        return [self.access_keys[k] for k in sorted(self.access_keys)]

    async def revoke_access_key(self, access_key_id: str) -> None:
        key = await self.get_access_key(access_key_id)
        self.access_keys[access_key_id] = replace(key, revoked_at=self._now())

    def _key(self, access_key_id: str) -> AccessKey:
        o.check_access_key_id(access_key_id)
        self._available()
        key = self.access_keys.get(access_key_id)
        if key is None:
            raise AccessKeyNotFound(f"no access key {access_key_id}")
        return key

    async def set_access_key_enabled(self, access_key_id: str, enabled: bool) -> AccessKey:
        key = self._key(access_key_id)
        revoked = None if enabled else (key.revoked_at or self._now())
        key = self.access_keys[access_key_id] = replace(key, revoked_at=revoked)
        return key

    async def set_access_key_grants(self, access_key_id: str, *, admin: bool,
                                    grants: Sequence[Grant]) -> AccessKey:
        if not isinstance(admin, bool):
            raise InvalidRequest("admin is true or false")
        checked = k.check_grants(grants)
        key = self.access_keys[access_key_id] = replace(
            self._key(access_key_id), admin=admin, grants=checked)
        return key

    async def delete_access_key(self, access_key_id: str) -> None:
        self._key(access_key_id)
        del self.access_keys[access_key_id]
