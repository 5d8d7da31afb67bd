"""
What self-healing asks of the in-memory metadata store (a mixin of
:class:`~s3node.metadata.memory.MemoryMetadataStore`): the durability
figures, the walk over every chunk of completed files, the conditional start
of a repair copy, damaged files, the persistent repair queue and the
cluster-wide counters.  Each call runs to completion without yielding, so
each is atomic, as one statement is in the SQL stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from s3node.metadata import _records as r
from s3node.metadata import _repair_checks as rc
from s3node.metadata._memory_nodes import by_node
from s3node.records import (
    ChunkRecord,
    DurabilityCounts,
    FileRecord,
    FileStatus,
    RepairReason,
    RepairTask,
    ReplicaRecord,
    ReplicaState,
)

__all__ = ["MemoryRepair"]

#: replica states that make a new copy on the same node pointless
_PRESENT = (ReplicaState.WRITING, ReplicaState.STORED)


class MemoryRepair:
    """Durability figures, chunk scans, repair copies, the repair queue and the counters."""

    files: dict[uuid.UUID, FileRecord]
    chunks: dict[uuid.UUID, dict[int, ChunkRecord]]
    repairs: dict[tuple[uuid.UUID, int], RepairTask]
    counters: dict[str, int]

    def _available(self) -> None:
        raise NotImplementedError

    def _file(self, file_id: uuid.UUID) -> FileRecord:
        raise NotImplementedError

    def _completed_chunks(self) -> list[ChunkRecord]:
        """Every chunk of the completed files, in ``(file_id, index)`` order."""
        found = []
        completed = (f for f in self.files.values() if f.status is FileStatus.COMPLETED)
        for record in sorted(completed, key=lambda f: f.file_id.int):
            chunks = self.chunks[record.file_id]
            found += [chunks[index] for index in sorted(chunks)]
        return found

    async def under_replicated_chunks(
        self, *, target: int, limit: int
    ) -> Sequence[ChunkRecord]:
        r.check_replicas(target)
        limit = r.check_limit(limit)
        self._available()
        weak = (c for c in self._completed_chunks() if len(c.nodes_with()) < target)
        return [chunk for chunk, _ in zip(weak, range(limit), strict=False)]

    async def durability_counts(
        self, *, unhealthy_nodes: Collection[str] = ()
    ) -> DurabilityCounts:
        unhealthy = set(rc.check_unhealthy(unhealthy_nodes))
        self._available()
        stored: dict[int, int] = {}
        sizes: dict[int, int] = {}
        statuses: dict[FileStatus, int] = {}
        for record in self.files.values():
            statuses[record.status] = statuses.get(record.status, 0) + 1
        for chunk in self._completed_chunks():
            n = sum(1 for node in chunk.nodes_with() if node not in unhealthy)
            stored[n] = stored.get(n, 0) + 1
            sizes[n] = sizes.get(n, 0) + chunk.size
        damaged = sum(
            1 for f in self.files.values() if f.damaged and f.status is FileStatus.COMPLETED
        )
        return DurabilityCounts(stored, statuses, sizes, damaged)

    async def scan_chunks(
        self, *, after: tuple[uuid.UUID, int] | None, limit: int
    ) -> Sequence[ChunkRecord]:
        start, limit = rc.check_scan(after, limit)
        self._available()
        bound = (-1, -1) if start is None else (start[0].int, start[1])
        later = (c for c in self._completed_chunks() if (c.file_id.int, c.index) > bound)
        return [chunk for chunk, _ in zip(later, range(limit), strict=False)]

    def _completed_chunk(self, file_id: uuid.UUID, index: int) -> ChunkRecord | None:
        record = self.files.get(file_id)
        if record is None or record.status is not FileStatus.COMPLETED:
            return None
        return self.chunks[file_id].get(index)

    async def get_completed_chunk(self, file_id: uuid.UUID, index: int) -> ChunkRecord | None:
        rc.check_chunk_key(file_id, index)
        self._available()
        return self._completed_chunk(file_id, index)

    async def begin_replica(self, *, file_id: uuid.UUID, index: int, node_id: str) -> bool:
        r.check_replica_key(file_id, index, node_id)
        self._available()
        chunk = self._completed_chunk(file_id, index)
        if chunk is None:
            return False
        if any(rep.state in _PRESENT for rep in chunk.replicas if rep.node_id == node_id):
            return False
        others = [rep for rep in chunk.replicas if rep.node_id != node_id]
        writing = ReplicaRecord(node_id, ReplicaState.WRITING)
        self.chunks[file_id][index] = replace(chunk, replicas=by_node([*others, writing]))
        return True

    async def set_file_damaged(self, file_id: uuid.UUID, damaged: bool) -> None:
        damaged = rc.check_damaged(file_id, damaged)
        self.files[file_id] = replace(self._file(file_id), damaged=damaged)

    # -- the repair queue ---------------------------------------------------------

    async def enqueue_repairs(
        self, tasks: Sequence[tuple[uuid.UUID, int, RepairReason, int]], *, now: datetime
    ) -> int:
        entries, moment = rc.check_repair_tasks(tasks, now)
        self._available()
        added = 0
        for file_id, index, reason, priority in entries:
            key = (file_id, index)
            queued = self.repairs.get(key)
            if queued is not None:
                self.repairs[key] = replace(
                    queued, reason=RepairReason(reason), priority=min(queued.priority, priority)
                )
            elif index in self.chunks.get(file_id, {}):
                self.repairs[key] = RepairTask(
                    file_id, index, RepairReason(reason), priority, 0, moment
                )
                added += 1
        return added

    async def due_repairs(self, *, now: datetime, limit: int) -> Sequence[RepairTask]:
        moment = r.check_aware(now, "now")
        limit = r.check_limit(limit)
        self._available()
        due = [task for task in self.repairs.values() if task.due_at <= moment]
        due.sort(key=lambda t: (t.priority, t.due_at, t.file_id.int, t.index))
        return due[:limit]

    async def finish_repair(self, file_id: uuid.UUID, index: int) -> None:
        rc.check_chunk_key(file_id, index)
        self._available()
        self.repairs.pop((file_id, index), None)

    async def defer_repair(
        self, file_id: uuid.UUID, index: int, *, until: datetime, attempts: int, error: str
    ) -> None:
        moment, text = rc.check_repair_defer(file_id, index, until, attempts, error)
        self._available()
        queued = self.repairs.get((file_id, index))
        if queued is not None:
            self.repairs[file_id, index] = replace(
                queued, due_at=moment, attempts=attempts, last_error=text
            )

    async def repair_queue_length(self, *, now: datetime) -> tuple[int, int]:
        moment = r.check_aware(now, "now")
        self._available()
        due = sum(1 for task in self.repairs.values() if task.due_at <= moment)
        return len(self.repairs), due

    # -- the cluster-wide counters ------------------------------------------------

    async def add_counters(self, deltas: Mapping[str, int]) -> None:
        pairs = rc.check_counters(deltas)
        self._available()
        for name, delta in pairs:
            self.counters[name] = self.counters.get(name, 0) + delta

    async def read_counters(self) -> dict[str, int]:
        self._available()
        return dict(sorted(self.counters.items()))
