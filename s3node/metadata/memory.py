"""
The in-memory metadata store (``--db memory:``): real code that doubles as the test fake.

:class:`MemoryMetadataStore` keeps files, chunks, replicas and storage nodes
in dicts and passes the same contract suite as the SQLite and PostgreSQL
stores (``tests/metadata/test_contract_*.py``): the same input checks (the
:mod:`._records` helpers), the same errors, the same ordering and the same
opaque cursors.  Nothing survives the process, so it suits tests of the
layers above the metadata store (the gateway's run over it) and throwaway
demonstrations, never a deployment.

Each operation runs to completion without yielding to the reactor, so every
call is atomic, as one transaction is in the SQL stores: a lifecycle rule
(only ``pending``/``uploading`` files record chunks, complete or fail; see
``docs/durability.md``) is decided in the same call that changes the file.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from s3node.errors import Conflict, FileNotFound, MetadataUnavailable
from s3node.metadata import _records as r
from s3node.metadata._memory_copy import MemoryCopy
from s3node.metadata._memory_nodes import MemoryNodes, TimeSource, by_node
from s3node.metadata._memory_objects import MemoryObjects
from s3node.metadata._memory_repair import MemoryRepair
from s3node.records import (
    ChunkRecord,
    FileCursorPage,
    FilePage,
    FileRecord,
    FileStatus,
    FileWithChunks,
    NodeRecord,
    RepairTask,
    ReplicaRecord,
    ReplicaState,
)

__all__ = ["MemoryMetadataStore"]

_OPEN = (FileStatus.PENDING, FileStatus.UPLOADING)
_SWEPT = (FileStatus.FAILED, FileStatus.DELETING)


def _newest_first(record: FileRecord) -> tuple[int, int]:
    """The listing order's key, descending: ``created_at``, then the id's bytes (as SQL)."""
    return r.to_micros(record.created_at), record.file_id.int


class MemoryMetadataStore(MemoryCopy, MemoryObjects, MemoryNodes, MemoryRepair):
    """
    :class:`~s3node.interfaces.MetadataStore` in dicts.

    :param clock: the clock of ``created_at``/``updated_at`` (anything with
        ``seconds()``: the reactor, or a :class:`twisted.internet.task.Clock`)
    :param reactor: taken as the clock when ``clock`` is not given, so
        :func:`~s3node.metadata.open_metadata_store` can open it like the others

    The records are kept in public dicts that tests may read (change them
    only through the methods): :attr:`files` (file id to
    :class:`FileRecord`), :attr:`chunks` (file id to chunk index to
    :class:`ChunkRecord`, replicas ordered by node id), :attr:`inline` (file
    id to the content of an inline file), :attr:`nodes` (node
    id to :class:`NodeRecord`), :attr:`sweeps` (file id to its retry time
    and sweep attempts, for the files claimed or deferred; the others have
    ``(None, 0)``), :attr:`leases` (lease name to holder and expiry),
    :attr:`repairs` (``(file id, chunk index)`` to its
    :class:`~s3node.records.RepairTask` in the repair queue) and
    :attr:`counters` (cluster-wide counter name to value).

    Set :attr:`down` to simulate a database outage: every call then raises
    :class:`~s3node.errors.MetadataUnavailable` (after checking its
    arguments, as the SQL stores check theirs before any I/O) until it is
    cleared.  After :meth:`close` every call raises it for good.
    """

    backend = "memory"

    def __init__(
        self, *, clock: TimeSource | None = None, reactor: TimeSource | None = None
    ) -> None:
        chosen = clock if clock is not None else reactor
        if chosen is None:
            raise TypeError("MemoryMetadataStore needs a clock (or a reactor)")
        self._clock: TimeSource = chosen
        self.files: dict[uuid.UUID, FileRecord] = {}
        self.chunks: dict[uuid.UUID, dict[int, ChunkRecord]] = {}
        self.inline: dict[uuid.UUID, bytes] = {}
        self.nodes: dict[str, NodeRecord] = {}
        self.sweeps: dict[uuid.UUID, tuple[datetime | None, int]] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}
        self._objects_init()
        self.repairs: dict[tuple[uuid.UUID, int], RepairTask] = {}
        self.counters: dict[str, int] = {}
        #: the outage switch: while true every call raises MetadataUnavailable
        self.down = False
        self.closed = False

    def _now(self) -> datetime:
        return r.from_micros(round(self._clock.seconds() * 1_000_000))

    def _available(self) -> None:
        if self.closed:
            raise MetadataUnavailable("the metadata store is closed")
        if self.down:
            raise MetadataUnavailable("the in-memory metadata store is down (its outage switch)")

    def _file(self, file_id: uuid.UUID) -> FileRecord:
        self._available()
        try:
            return self.files[file_id]
        except KeyError:
            raise FileNotFound(f"no file {file_id}") from None

    def _open_file(self, file_id: uuid.UUID) -> FileRecord:
        """The file, if its upload is under way; else :class:`UploadAborted`."""
        record = self._file(file_id)
        if record.status not in _OPEN:
            raise r.not_open(file_id, record.status.value)
        return record

    def _with_chunks(self, record: FileRecord) -> FileWithChunks:
        chunks = self.chunks[record.file_id]
        attempts = self.sweeps.get(record.file_id, (None, 0))[1]
        return FileWithChunks(record, tuple(chunks[i] for i in sorted(chunks)), attempts,
                              self.inline.get(record.file_id))

    # -- life cycle ---------------------------------------------------------

    async def migrate(self) -> int:
        """There is no schema to migrate: check the store is open and return 0."""
        self._available()
        return 0

    async def ping(self) -> None:
        self._available()

    async def close(self) -> None:
        self.closed = True

    # -- files --------------------------------------------------------------

    async def create_file(
        self,
        *,
        filename: str,
        content_type: str,
        checksum_algorithm: str,
        chunk_size: int,
        file_id: uuid.UUID | None = None,
        first_chunk: ChunkRecord | None = None,
    ) -> FileRecord:
        file_id = r.check_new_file(
            filename=filename, content_type=content_type,
            checksum_algorithm=checksum_algorithm, chunk_size=chunk_size, file_id=file_id,
            first_chunk=first_chunk,
        )
        if first_chunk is not None:
            r.check_chunk(first_chunk)
        self._available()
        if file_id in self.files:
            raise Conflict(f"file {file_id} already exists")
        now = self._now()
        record = FileRecord(
            file_id, filename, content_type, None, checksum_algorithm, None, chunk_size,
            FileStatus.UPLOADING, now, now,
        )
        self.files[file_id] = record
        self.chunks[file_id] = {}
        if first_chunk is not None:
            self._record_chunk(first_chunk)
        return self.files[file_id]

    async def record_chunk(self, chunk: ChunkRecord) -> None:
        r.check_chunk(chunk)
        self._record_chunk(chunk)

    def _record_chunk(self, chunk: ChunkRecord) -> None:
        record = self._open_file(chunk.file_id)
        chunks = self.chunks[chunk.file_id]
        existing = chunks.get(chunk.index)
        replicas: dict[str, ReplicaRecord] = {}
        if existing is not None:
            if (existing.chunk_id, existing.size, existing.checksum_algorithm,
                    existing.checksum) != (chunk.chunk_id, chunk.size,
                                           chunk.checksum_algorithm, chunk.checksum):
                raise Conflict(
                    f"file {chunk.file_id} already has a different chunk {chunk.index}"
                )
            replicas = {rep.node_id: rep for rep in existing.replicas}
        replicas.update((rep.node_id, rep) for rep in chunk.replicas)
        chunks[chunk.index] = replace(chunk, replicas=by_node(replicas.values()))
        self.files[chunk.file_id] = replace(
            record, status=FileStatus.UPLOADING, updated_at=self._now()
        )

    async def touch_file(self, file_id: uuid.UUID) -> None:
        r.check_file_id(file_id)
        record = self._open_file(file_id)
        self.files[file_id] = replace(record, updated_at=self._now())

    async def set_replica_state(
        self, *, file_id: uuid.UUID, index: int, node_id: str, state: ReplicaState
    ) -> None:
        r.check_replica_update(file_id, index, node_id, state)
        self._set_replica_state(file_id, index, node_id, state)

    def _set_replica_state(self, file_id: uuid.UUID, index: int, node_id: str,
                           state: ReplicaState) -> None:
        self._file(file_id)
        chunk = self.chunks[file_id].get(index)
        if chunk is None:
            raise FileNotFound(f"file {file_id} has no chunk {index}")
        others = (rep for rep in chunk.replicas if rep.node_id != node_id)
        self.chunks[file_id][index] = replace(
            chunk, replicas=by_node([*others, ReplicaRecord(node_id, state)])
        )

    async def drop_replica(self, *, file_id: uuid.UUID, index: int, node_id: str) -> None:
        r.check_replica_key(file_id, index, node_id)
        self._available()
        chunk = self.chunks.get(file_id, {}).get(index)
        if chunk is not None:
            kept = tuple(rep for rep in chunk.replicas if rep.node_id != node_id)
            self.chunks[file_id][index] = replace(chunk, replicas=kept)

    async def complete_file(
        self,
        *,
        file_id: uuid.UUID,
        size: int,
        checksum: str,
        replicas: int,
        stored: Sequence[tuple[int, str]] = (),
        inline: bytes | None = None,
    ) -> FileRecord:
        r.check_complete(file_id, size, checksum, replicas, stored, inline)
        current = self._file(file_id)
        if current.status is FileStatus.COMPLETED:
            if current.size == size and current.checksum == checksum:
                return current
            raise Conflict(f"file {file_id} is already completed with other content")
        if current.status not in _OPEN:
            raise r.not_open(file_id, current.status.value)
        before = dict(self.chunks[file_id])
        try:
            for index, node_id in stored:
                self._set_replica_state(file_id, index, node_id, ReplicaState.STORED)
            return self._complete(current, size, checksum, replicas, inline)
        except BaseException:
            self.chunks[file_id] = before  # nothing changes
            raise

    def _complete(self, current: FileRecord, size: int, checksum: str,
                  replicas: int, inline: bytes | None = None) -> FileRecord:
        file_id = current.file_id
        chunks = self.chunks[file_id].values()
        stored = [len(chunk.nodes_with()) for chunk in chunks]
        r.check_completion(
            file_id, size, replicas,
            len(stored),
            sum(chunk.size for chunk in chunks),
            max(self.chunks[file_id], default=-1),
            sum(1 for n in stored if n < replicas),
            min(stored, default=None),
            inline=inline,
        )
        if inline is not None:
            self.inline[file_id] = inline
        record = replace(
            current, size=size, checksum=checksum, status=FileStatus.COMPLETED,
            updated_at=self._now(),
        )
        self.files[file_id] = record
        return record

    async def fail_file(self, file_id: uuid.UUID) -> bool:
        r.check_file_id(file_id)
        record = self._file(file_id)
        if record.status not in _OPEN:
            return False
        self.files[file_id] = replace(record, status=FileStatus.FAILED, updated_at=self._now())
        return True

    async def claim_stale_uploads(self, *, stale_before: datetime, limit: int) -> int:
        before, limit = r.check_claim(stale_before, limit)
        self._available()
        stale = sorted(
            (f for f in self.files.values() if f.status in _OPEN and f.updated_at < before),
            key=lambda f: (f.updated_at, f.file_id.int),
        )[:limit]
        now = self._now()
        for record in stale:
            self.files[record.file_id] = replace(
                record, status=FileStatus.FAILED, updated_at=now
            )
            self.sweeps[record.file_id] = (now, 0)
        return len(stale)

    async def get_file(self, file_id: uuid.UUID) -> FileRecord:
        r.check_file_id(file_id)
        return self._file(file_id)

    async def get_file_with_chunks(self, file_id: uuid.UUID) -> FileWithChunks:
        r.check_file_id(file_id)
        return self._with_chunks(self._file(file_id))

    def _listed(self, status: str | None) -> list[FileRecord]:
        """The files in ``status`` (every status when ``None``), newest first."""
        self._available()
        files = (f for f in self.files.values() if status is None or f.status.value == status)
        return sorted(files, key=_newest_first, reverse=True)

    async def list_files(
        self, *, page: int, per_page: int, status: FileStatus | None = None
    ) -> FilePage:
        page, per_page = r.check_page(page, per_page)
        files = self._listed(r.check_status(status))
        start = (page - 1) * per_page
        return FilePage(tuple(files[start:start + per_page]), page, per_page, len(files))

    async def list_files_after(
        self, *, cursor: str | None, limit: int, status: FileStatus | None = None
    ) -> FileCursorPage:
        limit = r.check_limit(limit)
        value = r.check_status(status)
        bound = None if cursor is None else r.decode_cursor(cursor)
        files = self._listed(value)
        if bound is not None:
            files = [f for f in files if _newest_first(f) < (bound[0], bound[1].int)]
        page = tuple(files[:limit])
        more = len(files) > limit
        return FileCursorPage(
            page, r.encode_cursor(page[-1].created_at, page[-1].file_id) if more else None
        )

    async def start_delete(self, file_id: uuid.UUID) -> FileRecord:
        r.check_file_id(file_id)
        self._available()
        record = self.files.get(file_id)
        if record is None or record.status is FileStatus.DELETING:
            raise FileNotFound(f"no file {file_id} (or it is already being deleted)")
        record = replace(record, status=FileStatus.DELETING, updated_at=self._now())
        self.files[file_id] = record
        self.unname_file(file_id)
        return record

    async def finish_delete(self, file_id: uuid.UUID) -> None:
        r.check_file_id(file_id)
        if self._file(file_id).status is FileStatus.COMPLETED:
            raise Conflict(f"file {file_id} is completed: start_delete it first")
        del self.files[file_id]
        del self.chunks[file_id]
        self.inline.pop(file_id, None)
        self.sweeps.pop(file_id, None)
        self.object_parts.pop(file_id, None)
        for key in [key for key in self.repairs if key[0] == file_id]:
            del self.repairs[key]  # the queue entries go with their chunks

    async def files_to_sweep(self, *, now: datetime, limit: int) -> Sequence[FileWithChunks]:
        moment = r.check_aware(now, "now")
        limit = r.check_limit(limit)
        self._available()
        due: list[tuple[datetime, datetime, int, FileRecord]] = []
        for record in self.files.values():
            after = self.sweeps.get(record.file_id, (None, 0))[0]
            if record.status in _SWEPT and (after is None or after <= moment):
                at = record.updated_at if after is None else after
                due.append((at, record.updated_at, record.file_id.int, record))
        due.sort(key=lambda key: key[:3])
        return [self._with_chunks(key[3]) for key in due[:limit]]

    async def defer_sweep(self, file_id: uuid.UUID, *, until: datetime, attempts: int) -> None:
        until = r.check_defer(file_id, until, attempts)
        record = self._file(file_id)
        if record.status not in _SWEPT:
            raise r.not_swept(file_id, record.status.value)
        self.sweeps[file_id] = (until, attempts)

    def __repr__(self) -> str:
        return f"<MemoryMetadataStore {len(self.files)} files, {len(self.nodes)} nodes>"
