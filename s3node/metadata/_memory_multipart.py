"""
Multipart uploads in the in-memory store: uploads and parts in dicts.

A mixin of :class:`~s3node.metadata.memory.MemoryMetadataStore` (after
:class:`~s3node.metadata._memory_objects.MemoryObjects`, whose buckets and
key naming it uses); each call runs without yielding, so each is atomic.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from s3node.errors import UploadNotFound
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata._listing import (
    Bound,
    check_upload_listing,
    in_range,
    list_upload_page,
    new_upload_id,
)
from s3node.records import (
    ChunkRecord,
    FileRecord,
    FileStatus,
    MultipartUpload,
    ObjectPut,
    ObjectRecord,
    PartRecord,
    PartSpan,
    UploadPage,
)

__all__ = ["MemoryMultipart"]


class MemoryMultipart:
    """Multipart uploads over the store's files, chunks and keys."""

    files: dict[uuid.UUID, FileRecord]
    chunks: dict[uuid.UUID, dict[int, ChunkRecord]]
    inline: dict[uuid.UUID, bytes]
    uploads: dict[str, MultipartUpload]
    parts: dict[str, dict[int, PartRecord]]
    object_parts: dict[uuid.UUID, tuple[PartSpan, ...]]

    if TYPE_CHECKING:
        from s3node.metadata._memory_objects import _Named

        objects: dict[str, dict[str, _Named]]
        sweeps: dict[uuid.UUID, tuple[datetime | None, int]]

        def _available(self) -> None: ...
        def _now(self) -> datetime: ...
        def _bucket(self, name: str) -> dict[str, _Named]: ...
        def _record(self, bucket: str, key: str, named: _Named) -> ObjectRecord: ...
        def _name_key(self, bucket: str, key: str, file_id: uuid.UUID, etag: str,
                      pairs: tuple[tuple[str, str], ...]) -> uuid.UUID | None: ...
        def _delete_files(self, file_ids: Sequence[uuid.UUID]) -> None: ...

        async def complete_file(self, *, file_id: uuid.UUID, size: int, checksum: str,
                                replicas: int, stored: Sequence[tuple[int, str]] = (),
                                inline: bytes | None = None) -> FileRecord: ...

    def _upload(self, upload_id: str) -> MultipartUpload:
        o.check_upload_id(upload_id)
        self._available()
        try:
            return self.uploads[upload_id]
        except KeyError:
            raise UploadNotFound(f"no multipart upload {upload_id}") from None

    async def create_multipart(self, bucket: str, key: str, *, content_type: str,
                               headers: Sequence[tuple[str, str]] = ()) -> MultipartUpload:
        o.check_bucket(bucket)
        o.check_key(key)
        pairs = o.check_headers(headers)
        self._bucket(bucket)
        now = self._now()
        upload = MultipartUpload(new_upload_id(r.to_micros(now)), bucket, key, content_type,
                                 pairs, now)
        self.uploads[upload.upload_id] = upload
        self.parts[upload.upload_id] = {}
        return upload

    async def get_multipart(self, upload_id: str) -> MultipartUpload:
        return self._upload(upload_id)

    async def complete_part(self, *, file_id: uuid.UUID, size: int, checksum: str,
                            replicas: int, upload_id: str, part_number: int,
                            etag: str, part_checksum: tuple[str, str] | None = None,
                            stored: Sequence[tuple[int, str]] = ()) -> uuid.UUID | None:
        r.check_complete(file_id, size, checksum, replicas, stored)
        o.check_part_checksum(part_checksum)
        o.check_part_number(part_number)
        o.check_part_etag(etag)
        self._upload(upload_id)
        record = await self.complete_file(file_id=file_id, size=size, checksum=checksum,
                                          replicas=replicas, stored=stored)
        return self._record_part(upload_id, part_number, file_id, etag, size, record.updated_at,
                                 part_checksum)

    def _record_part(self, upload_id: str, part_number: int, file_id: uuid.UUID, etag: str,
                     size: int, when: datetime,
                     checksum: tuple[str, str] | None = None) -> uuid.UUID | None:
        """Record ``file_id`` as a part; the file of the part it replaces moves to deleting."""
        parts = self.parts[upload_id]
        old = parts.get(part_number)
        if old is not None and old.file_id == file_id:
            return None
        parts[part_number] = PartRecord(part_number, file_id, etag, size, when, checksum)
        if old is None:
            return None
        self._delete_files([old.file_id])
        return old.file_id

    async def list_parts(self, upload_id: str, *, after: int = 0,
                         limit: int) -> Sequence[PartRecord]:
        limit = r.check_limit(limit)
        self._upload(upload_id)
        parts = self.parts[upload_id]
        return [parts[n] for n in sorted(parts) if n > after][:limit]

    async def list_multipart(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                             after: str | None = None, after_upload: str | None = None,
                             limit: int) -> UploadPage:
        check_upload_listing(bucket, prefix, delimiter, after, after_upload, limit)
        self._bucket(bucket)

        async def fetch(lower: Bound | None, upper: str | None,
                        n: int) -> list[MultipartUpload]:
            found = sorted((u for u in self.uploads.values() if u.bucket == bucket
                            and in_range(u.key, u.upload_id, lower, upper)),
                           key=lambda u: (u.key, u.upload_id))
            return found[:n]

        return await list_upload_page(fetch, prefix=prefix, delimiter=delimiter,
                                      after=after, after_upload=after_upload, limit=limit)

    async def object_part(self, file_id: uuid.UUID,
                          part_number: int) -> tuple[int, PartSpan | None]:
        r.check_file_id(file_id)
        o.check_part_number(part_number)
        self._available()
        spans = self.object_parts.get(file_id, ())
        return len(spans), next((p for p in spans if p.number == part_number), None)

    async def complete_multipart(self, upload_id: str, parts: Sequence[tuple[int, str]], *,
                                 min_part_size: int, if_match: str | None = None,
                                 if_none_match: bool = False,
                                 headers: Sequence[tuple[str, str]] | None = None) -> ObjectPut:
        kept = None if headers is None else o.check_headers(headers)
        upload = self._upload(upload_id)
        listed = o.plan_completion(self.parts[upload_id], parts, min_part_size)
        named = self._bucket(upload.bucket)
        current = named.get(upload.key)
        o.check_condition(None if current is None else current.etag, if_match, if_none_match)
        files = [self.files[p.file_id] for p in listed]
        stitched = o.Stitched(listed, [f.checksum or "" for f in files],
                              files[0].checksum_algorithm)
        now = self._now()
        file_id = uuid.uuid4()
        chunks: dict[int, ChunkRecord] = {}
        for part in listed:
            for index in sorted(self.chunks[part.file_id]):
                chunk = self.chunks[part.file_id][index]
                chunks[len(chunks)] = replace(chunk, file_id=file_id, index=len(chunks))
        self.files[file_id] = FileRecord(
            file_id, files[0].filename, upload.content_type, stitched.size,
            stitched.algorithm, stitched.checksum, files[0].chunk_size,
            FileStatus.COMPLETED, now, now)
        self.chunks[file_id] = chunks
        self.object_parts[file_id] = tuple(stitched.spans)
        for part in listed:  # their chunks now belong to the object's file
            del self.files[part.file_id], self.chunks[part.file_id]
            self.sweeps.pop(part.file_id, None)
        unlisted = {p.file_id for p in self.parts[upload_id].values()} - {
            p.file_id for p in listed}
        self._delete_files(sorted(unlisted))
        del self.uploads[upload_id], self.parts[upload_id]
        replaced = self._name_key(upload.bucket, upload.key, file_id, stitched.etag,
                                  upload.headers if kept is None else kept)
        return ObjectPut(self._record(upload.bucket, upload.key, named[upload.key]), replaced)

    async def abort_multipart(self, upload_id: str) -> Sequence[uuid.UUID]:
        self._upload(upload_id)
        ids = sorted(p.file_id for p in self.parts.pop(upload_id).values())
        del self.uploads[upload_id]
        self._delete_files(ids)
        return ids

    async def expired_multipart(self, *, before: datetime, limit: int) -> Sequence[str]:
        moment = r.check_aware(before, "before")
        limit = r.check_limit(limit)
        self._available()
        old = sorted((u for u in self.uploads.values() if u.created_at < moment),
                     key=lambda u: (u.created_at, u.upload_id))
        return [u.upload_id for u in old[:limit]]
