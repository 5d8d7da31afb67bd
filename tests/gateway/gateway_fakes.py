"""
Fakes of the gateway's collaborators, for tests of the gateway layer alone.

:class:`FakeStore` keeps the :class:`~s3node.interfaces.MetadataStore` contract
in dicts; :class:`FakeNode` is an in-memory storage client with the
:class:`s3node.storage.client.StorageClient` coroutine API and switches to make
it fail, corrupt or stall.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from s3node.errors import (
    ChunkNotFound,
    FileNotFound,
    InvalidRequest,
    MetadataUnavailable,
    NotEnoughReplicas,
    Unavailable,
)
from s3node.records import (
    ChunkRecord,
    FileCursorPage,
    FilePage,
    FileRecord,
    FileStatus,
    FileWithChunks,
    NodeRecord,
    NodeState,
    ReplicaRecord,
    ReplicaState,
)


class FakeStore:
    """An in-memory MetadataStore; ``down = True`` makes every call fail."""

    def __init__(self) -> None:
        self.files: dict[uuid.UUID, FileRecord] = {}
        self.chunks: dict[uuid.UUID, dict[int, ChunkRecord]] = {}
        self.nodes: dict[str, NodeRecord] = {}
        self.down = False
        self._tick = 0

    def _check(self) -> None:
        if self.down:
            raise MetadataUnavailable("the fake database is down")

    def _now(self) -> datetime:
        self._tick += 1
        return datetime(2026, 1, 1, tzinfo=UTC).replace(microsecond=self._tick % 10**6)

    async def migrate(self) -> int:
        return 1

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        pass

    async def create_file(self, *, filename: str, content_type: str, checksum_algorithm: str,
                          chunk_size: int, file_id: uuid.UUID | None = None) -> FileRecord:
        self._check()
        now = self._now()
        record = FileRecord(file_id or uuid.uuid4(), filename, content_type, None,
                            checksum_algorithm, None, chunk_size, FileStatus.UPLOADING, now, now)
        self.files[record.file_id] = record
        self.chunks[record.file_id] = {}
        return record

    async def record_chunk(self, chunk: ChunkRecord) -> None:
        self._check()
        self.chunks[chunk.file_id][chunk.index] = chunk

    async def set_replica_state(self, *, file_id: uuid.UUID, index: int, node_id: str,
                                state: ReplicaState) -> None:
        self._check()
        chunk = self.chunks[file_id][index]
        others = tuple(r for r in chunk.replicas if r.node_id != node_id)
        self.chunks[file_id][index] = replace(
            chunk, replicas=(*others, ReplicaRecord(node_id, state)))

    async def complete_file(self, *, file_id: uuid.UUID, size: int, checksum: str,
                            replicas: int) -> FileRecord:
        self._check()
        chunks = self.chunks[file_id].values()
        if any(len(c.nodes_with()) < replicas for c in chunks):
            raise NotEnoughReplicas("a chunk has too few replicas")
        if sum(c.size for c in chunks) != size:
            raise NotEnoughReplicas("chunk sizes don't add up")
        record = replace(self.files[file_id], size=size, checksum=checksum,
                         status=FileStatus.COMPLETED)
        self.files[file_id] = record
        return record

    async def fail_file(self, file_id: uuid.UUID) -> None:
        self._check()
        record = self.files[file_id]
        if record.status is not FileStatus.DELETING:
            self.files[file_id] = replace(record, status=FileStatus.FAILED)

    async def get_file(self, file_id: uuid.UUID) -> FileRecord:
        self._check()
        try:
            return self.files[file_id]
        except KeyError:
            raise FileNotFound(f"no file {file_id}") from None

    async def get_file_with_chunks(self, file_id: uuid.UUID) -> FileWithChunks:
        record = await self.get_file(file_id)
        chunks = self.chunks[file_id]
        return FileWithChunks(record, tuple(chunks[i] for i in sorted(chunks)))

    def _listed(self, status: FileStatus | None) -> list[FileRecord]:
        files = [f for f in self.files.values() if status is None or f.status is status]
        return sorted(files, key=lambda f: (f.created_at, str(f.file_id)), reverse=True)

    async def list_files(self, *, page: int, per_page: int,
                         status: FileStatus | None = None) -> FilePage:
        self._check()
        files = self._listed(status)
        start = (page - 1) * per_page
        return FilePage(tuple(files[start:start + per_page]), page, per_page, len(files))

    async def list_files_after(self, *, cursor: str | None, limit: int,
                               status: FileStatus | None = None) -> FileCursorPage:
        self._check()
        files = self._listed(status)
        start = 0
        if cursor is not None:
            ids = [str(f.file_id) for f in files]
            if cursor not in ids:
                raise InvalidRequest("bad cursor")
            start = ids.index(cursor) + 1
        page = files[start:start + limit]
        more = start + limit < len(files)
        return FileCursorPage(tuple(page), str(page[-1].file_id) if more and page else None)

    async def start_delete(self, file_id: uuid.UUID) -> FileRecord:
        record = await self.get_file(file_id)
        if record.status is FileStatus.DELETING:
            raise FileNotFound(f"no file {file_id}")
        record = replace(record, status=FileStatus.DELETING)
        self.files[file_id] = record
        return record

    async def finish_delete(self, file_id: uuid.UUID) -> None:
        self._check()
        self.files.pop(file_id, None)
        self.chunks.pop(file_id, None)

    async def files_to_sweep(self, *, stale_before: datetime,
                             limit: int) -> Sequence[FileWithChunks]:
        self._check()
        out = []
        for f in list(self.files.values()):
            stale = f.status in (FileStatus.PENDING, FileStatus.UPLOADING) and (
                f.updated_at < stale_before)
            if f.status in (FileStatus.FAILED, FileStatus.DELETING) or stale:
                out.append(await self.get_file_with_chunks(f.file_id))
        return out[:limit]

    async def upsert_node(self, node: NodeRecord) -> None:
        self._check()
        self.nodes[node.node_id] = node

    async def update_node_health(self, node_id: str, *, state: NodeState,
                                 capacity: int | None = None, used: int | None = None,
                                 last_seen: datetime | None = None) -> None:
        self._check()
        self.nodes[node_id] = replace(self.nodes[node_id], state=state, capacity=capacity,
                                      used=used, last_seen=last_seen)

    async def list_nodes(self) -> Sequence[NodeRecord]:
        self._check()
        return [self.nodes[k] for k in sorted(self.nodes)]

    async def under_replicated_chunks(self, *, target: int,
                                      limit: int) -> Sequence[ChunkRecord]:
        return []


@dataclass(frozen=True)
class FakeHealth:
    node_id: str
    capacity: int
    used: int
    free: int
    chunk_count: int


class FakeNode:
    """An in-memory storage client; set ``down`` or ``corrupt`` to misbehave."""

    message_size = 64 * 1024

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.chunks: dict[str, bytes] = {}
        self.down = False
        #: ids of chunks whose bytes come back flipped
        self.corrupt: set[str] = set()
        self.puts = 0
        self.reads = 0
        #: when set, puts wait until the event is set (a stalled node)
        self.gate: asyncio.Event | None = None
        #: puts waiting at ``gate`` right now
        self.stalled = 0

    def _check(self) -> None:
        if self.down:
            raise Unavailable(f"node {self.node_id} is down")

    async def put_chunk(self, chunk_id: str, data: bytes, *, algorithm: str,
                        digest: str, timeout: float | None = None) -> None:
        await asyncio.sleep(0)
        if self.gate is not None and not self.gate.is_set():
            self.stalled += 1
            try:
                await self.gate.wait()
            finally:
                self.stalled -= 1
        self._check()
        assert algorithm == "sha256" and hashlib.sha256(data).hexdigest() == digest
        self.chunks[chunk_id] = bytes(data)
        self.puts += 1

    async def _stream(self, data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), self.message_size):
            await asyncio.sleep(0)
            self._check()
            yield data[i:i + self.message_size]

    def get_chunk(self, chunk_id: str, *, offset: int = 0, length: int | None = None,
                  timeout: float | None = None) -> AsyncIterator[bytes]:
        self._check()
        if chunk_id not in self.chunks:
            raise ChunkNotFound(chunk_id)
        self.reads += 1
        data = self.chunks[chunk_id]
        if chunk_id in self.corrupt:
            data = bytes([data[0] ^ 1]) + data[1:]
        end = len(data) if length is None else offset + length
        return self._stream(data[offset:end])

    async def delete_chunk(self, chunk_id: str, *, timeout: float | None = None) -> None:
        self._check()
        if self.chunks.pop(chunk_id, None) is None:
            raise ChunkNotFound(chunk_id)

    async def health(self) -> FakeHealth:
        self._check()
        used = sum(map(len, self.chunks.values()))
        return FakeHealth(self.node_id, 10**9, used, 10**9 - used, len(self.chunks))

    async def close(self) -> None:
        pass
