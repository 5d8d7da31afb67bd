"""
Copies that share chunks, and releasing a shared chunk's replica, in memory.

A mixin of :class:`~s3node.metadata.memory.MemoryMetadataStore`; each call
runs without yielding, so each is atomic.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

from s3node.errors import FileNotFound, InvalidRequest
from s3node.metadata import _copy as c
from s3node.metadata import _objects as o
from s3node.metadata import _records as r
from s3node.metadata._memory_multipart import MemoryMultipart
from s3node.records import ChunkRecord, FileRecord, FileStatus, ObjectPut

__all__ = ["MemoryCopy"]


class MemoryCopy(MemoryMultipart):
    """``copy_object``, ``copy_part`` and ``release_replica`` over the store's dicts."""

    def _source(self, file_id: uuid.UUID) -> FileRecord:
        self._available()
        record = self.files.get(file_id)
        if record is None or record.status is not FileStatus.COMPLETED:
            raise FileNotFound(f"the copy's source {file_id} is no longer completed")
        return record

    def _copy_chunks(self, source: uuid.UUID, target: uuid.UUID, first: int,
                     count: int) -> list[ChunkRecord]:
        chunks = self.chunks.get(source, {})
        span = [chunks[i] for i in range(first, first + count) if i in chunks]
        if len(span) != count:
            raise InvalidRequest(f"file {source} has no chunks {first}..{first + count - 1}")
        self.chunks[target] = {
            k: replace(chunk, file_id=target, index=k) for k, chunk in enumerate(span)}
        return span

    async def copy_object(self, *, source: uuid.UUID, bucket: str, key: str, etag: str,
                          headers: Sequence[tuple[str, str]], content_type: str,
                          filename: str, if_match: str | None = None,
                          if_none_match: bool = False) -> ObjectPut:
        source, bucket, key, etag, pairs, content_type, filename = c.check_copy(
            source, bucket, key, etag, headers, content_type, filename)
        src = self._source(source)
        named = self._bucket(bucket)
        current = named.get(key)
        o.check_condition(None if current is None else current.etag, if_match, if_none_match)
        now, file_id = self._now(), uuid.uuid4()
        self._copy_chunks(source, file_id, 0, len(self.chunks.get(source, {})))
        if source in self.object_parts:
            self.object_parts[file_id] = self.object_parts[source]
        if source in self.inline:
            self.inline[file_id] = self.inline[source]
        self.files[file_id] = replace(src, file_id=file_id, filename=filename,
                                      content_type=content_type, created_at=now,
                                      updated_at=now, damaged=False)
        replaced = self._name_key(bucket, key, file_id, etag, pairs)
        return ObjectPut(self._record(bucket, key, named[key]), replaced)

    async def copy_part(self, *, source: uuid.UUID, first: int, count: int, upload_id: str,
                        part_number: int, etag: str, filename: str) -> uuid.UUID | None:
        source = c.check_span(source, first, count, upload_id, part_number, etag)
        filename = r.check_text(filename, "filename", 1, 1024)
        src = self._source(source)
        upload = self._upload(upload_id)
        c.refuse_inline(source, source in self.inline)
        now, file_id = self._now(), uuid.uuid4()
        span = self._copy_chunks(source, file_id, first, count)
        algorithm, digest = c.span_checksum(
            count == len(self.chunks.get(source, {})), src.checksum_algorithm,
            bytes.fromhex(src.checksum or ""), [x.checksum_algorithm for x in span],
            [bytes.fromhex(x.checksum) for x in span])
        size = sum(x.size for x in span)
        self.files[file_id] = replace(src, file_id=file_id, filename=filename,
                                      content_type=upload.content_type,
                                      size=size, checksum_algorithm=algorithm,
                                      checksum=digest.hex(), created_at=now, updated_at=now,
                                      damaged=False)
        return self._record_part(upload_id, part_number, file_id, etag, size, now)

    async def release_replica(self, *, file_id: uuid.UUID, index: int, node_id: str,
                              keep_last: bool = False) -> bool:
        r.check_replica_key(file_id, index, node_id)
        self._available()
        chunk = self.chunks.get(file_id, {}).get(index)
        if chunk is None or node_id not in {x.node_id for x in chunk.replicas}:
            return False
        last = not any(
            other.chunk_id == chunk.chunk_id and (fid, other.index) != (file_id, index)
            and any(x.node_id == node_id for x in other.replicas)
            for fid, per_file in self.chunks.items() for other in per_file.values())
        if not (last and keep_last):
            kept = tuple(x for x in chunk.replicas if x.node_id != node_id)
            self.chunks[file_id][index] = replace(chunk, replicas=kept)
        return last
