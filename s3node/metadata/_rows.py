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
    NodeReplica,
    ReplicaRecord,
    ReplicaState,
)

__all__ = [
    "FILES_BY_STATUS",
    "STORED_PER_CHUNK",
    "STORED_REPLICA_COUNTS",
    "chunks_from_rows",
    "durability_counts",
    "file_from_row",
    "node_replica_from_row",
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
#: (stored replicas, chunks with that many) over the chunks of completed files
STORED_REPLICA_COUNTS = f"""
SELECT stored, count(*) FROM (
    SELECT count(r.node_id) AS stored {STORED_PER_CHUNK}
) AS per_chunk
GROUP BY stored
"""
#: (status, files in it)
FILES_BY_STATUS = "SELECT status, count(*) FROM files GROUP BY status"


def durability_counts(
    stored: Sequence[Sequence[Any]], statuses: Sequence[Sequence[Any]]
) -> DurabilityCounts:
    """The record of the rows of :data:`STORED_REPLICA_COUNTS` and :data:`FILES_BY_STATUS`."""
    return DurabilityCounts(
        {int(k): int(n) for k, n in stored},
        {FileStatus(k): int(n) for k, n in statuses},
    )


def file_from_row(row: Sequence[Any], moment: Callable[[Any], datetime]) -> FileRecord:
    """
    A file record from a row of ``id, filename, content_type, size,
    checksum_algorithm, checksum, chunk_size, status, created_at, updated_at``;
    ``moment`` turns the backend's timestamps into UTC datetimes.
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
