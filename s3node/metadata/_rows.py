"""
Records from the rows of the SQL metadata stores (SQLite and PostgreSQL share
the column order of each query): pure functions, no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from s3node.records import (
    ChunkRecord,
    DurabilityCounts,
    FileRecord,
    FileStatus,
    FileWithChunks,
    NodeAdmin,
    NodeRecord,
    NodeReplica,
    NodeState,
    RepairReason,
    RepairTask,
    ReplicaRecord,
    ReplicaState,
)

__all__ = [
    "DAMAGED_FILES",
    "FILES_BY_STATUS",
    "NODE",
    "REPAIR",
    "STORED_PER_CHUNK",
    "chunks_from_rows",
    "durability_counts",
    "file_from_row",
    "node_from_row",
    "node_replica_from_row",
    "repair_task_from_row",
    "stored_replica_counts",
    "with_chunks",
]

#: one group per chunk of a completed file, ``count(r.node_id)`` its stored
#: replicas (the same text in both SQL dialects)
STORED_PER_CHUNK = """
FROM files f
JOIN chunks c ON c.file_id = f.id
LEFT JOIN chunk_replicas r
  ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index AND r.state = 'stored'
WHERE f.status = 'completed'
GROUP BY c.file_id, c.chunk_index
"""
#: (status, files in it)
FILES_BY_STATUS = "SELECT status, count(*) FROM files GROUP BY status"
#: (completed files marked damaged,); ``WHERE damaged`` matches files_damaged_idx
DAMAGED_FILES = "SELECT count(*) FROM files WHERE damaged AND status = 'completed'"
#: the columns of a node, in the order :func:`node_from_row` reads them
NODE = (
    "id, address, weight, zone, state, capacity, used, last_seen,"
    " admin_state, down_since, drain_replicas"
)
#: the columns of a repair queue entry, in the order :func:`repair_task_from_row` reads them
REPAIR = "file_id, chunk_index, reason, priority, attempts, due_at, last_error"


def stored_replica_counts(excluded: str) -> str:
    """
    ``(stored replicas, chunks with that many, their bytes)`` over the chunks
    of completed files, not counting the replicas that the dialect's
    condition ``excluded`` on ``r.node_id`` (e.g. ``AND r.node_id <> ALL(%s)``,
    or empty) leaves out.
    """
    return f"""
SELECT stored, count(*), sum(size) FROM (
    SELECT count(r.node_id) AS stored, max(c.size) AS size
    FROM files f
    JOIN chunks c ON c.file_id = f.id
    LEFT JOIN chunk_replicas r
      ON r.file_id = c.file_id AND r.chunk_index = c.chunk_index AND r.state = 'stored'
      {excluded}
    WHERE f.status = 'completed'
    GROUP BY c.file_id, c.chunk_index
) AS per_chunk
GROUP BY stored
"""


def durability_counts(
    stored: Sequence[Sequence[Any]], statuses: Sequence[Sequence[Any]], damaged: int
) -> DurabilityCounts:
    """
    The record of the rows of :func:`stored_replica_counts`, of
    :data:`FILES_BY_STATUS` and of the count of :data:`DAMAGED_FILES`.
    """
    return DurabilityCounts(
        {int(k): int(n) for k, n, _ in stored},
        {FileStatus(k): int(n) for k, n in statuses},
        {int(k): int(b) for k, _, b in stored},
        int(damaged),
    )


def node_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> NodeRecord:
    """A node record from a row of the columns of :data:`NODE`."""
    return NodeRecord(
        node_id=row[0], address=row[1], weight=row[2], zone=row[3], state=NodeState(row[4]),
        capacity=row[5], used=row[6], last_seen=None if row[7] is None else moment(row[7]),
        admin=NodeAdmin(row[8]), down_since=None if row[9] is None else moment(row[9]),
        drain_replicas=row[10],
    )


def repair_task_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> RepairTask:
    """A repair queue entry from a row of the columns of :data:`REPAIR`."""
    return RepairTask(
        file_id=uuid.UUID(str(row[0])), index=row[1], reason=RepairReason(row[2]),
        priority=row[3], attempts=row[4], due_at=moment(row[5]), last_error=row[6],
    )


def file_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> FileRecord:
    """
    A file record from a row of ``id, filename, content_type, size,
    checksum_algorithm, checksum, chunk_size, status, created_at, updated_at,
    damaged``; ``moment`` turns the backend's timestamps into UTC datetimes.
    """
    return FileRecord(
        file_id=uuid.UUID(str(row[0])),
        filename=row[1],
        content_type=row[2],
        size=row[3],
        checksum_algorithm=row[4],
        checksum=None if row[5] is None else bytes(row[5]).hex(),
        chunk_size=row[6],
        status=FileStatus(row[7]),
        created_at=moment(row[8]),
        updated_at=moment(row[9]),
        damaged=bool(row[10]),
    )


def node_replica_from_row(row: Sequence[Any]) -> NodeReplica:
    """A node's replica from a row of ``chunk_id, file_id, chunk_index, state, file status``."""
    return NodeReplica(
        chunk_id=row[0], file_id=uuid.UUID(str(row[1])), index=row[2],
        state=ReplicaState(row[3]), file_status=FileStatus(row[4]),
    )


def chunks_from_rows(rows: Sequence[Sequence[Any]]) -> dict[uuid.UUID, list[ChunkRecord]]:
    """
    Chunk records, per file, from rows of ``file_id, chunk_index, chunk_id,
    size, checksum_algorithm, checksum, node_id, state`` ordered by file,
    index and node (``node_id`` is NULL for a chunk without replicas).
    """
    out: dict[uuid.UUID, list[ChunkRecord]] = {}
    key: tuple[uuid.UUID, int] | None = None
    head: Sequence[Any] = ()
    replicas: list[ReplicaRecord] = []

    def flush() -> None:
        if key is not None:
            out.setdefault(key[0], []).append(
                ChunkRecord(
                    file_id=key[0], index=key[1], chunk_id=head[2], size=head[3],
                    checksum_algorithm=head[4], checksum=bytes(head[5]).hex(),
                    replicas=tuple(replicas),
                )
            )

    for row in rows:
        this = (uuid.UUID(str(row[0])), row[1])
        if this != key:
            flush()
            key, head, replicas = this, row, []
        if row[6] is not None:
            replicas.append(ReplicaRecord(row[6], ReplicaState(row[7])))
    flush()
    return out


def with_chunks(record: FileRecord, row: Sequence[Any],
                found: dict[uuid.UUID, list[ChunkRecord]]) -> FileWithChunks:
    """
    ``record`` with its chunks from ``found`` (:func:`chunks_from_rows`),
    the ``sweep_attempts`` of ``row`` (the columns of :func:`file_from_row`,
    then ``sweep_attempts``) and, when ``row`` has a 13th column
    (``inline_data``) that is not NULL, the file's inline content.
    """
    inline = row[12] if len(row) > 12 else None
    return FileWithChunks(record, tuple(found.get(record.file_id, ())), row[11],
                          None if inline is None else bytes(inline))
