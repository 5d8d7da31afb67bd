"""
The metadata store's seam, part DurabilityMetadata: what durability needs:
under-replicated chunks, new replicas and the repair queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from s3node.records import (
    ChunkRecord,
    DurabilityCounts,
    RepairReason,
    RepairTask,
)


class DurabilityMetadata(Protocol):
    """
    The metadata durability and repair work from.

    Part of :class:`s3node.interfaces.metadata.MetadataStore`; see there for
    the errors every method may raise.
    """

    async def under_replicated_chunks(
        self, *, target: int, limit: int
    ) -> Sequence[ChunkRecord]:
        """Chunks of completed files with fewer than ``target`` stored replicas."""

    async def durability_counts(
        self, *, unhealthy_nodes: Collection[str] = ()
    ) -> DurabilityCounts:
        """
        How many chunks of completed files (and how many bytes of them) have
        0, 1, 2... ``stored`` replicas, not counting replicas on
        ``unhealthy_nodes`` (nodes that are down); how many files are in each
        status; how many completed files are ``damaged``.  One read over every
        chunk (for the periodic figures and ``GET /cluster``).
        """

    async def scan_chunks(
        self, *, after: tuple[uuid.UUID, int] | None, limit: int
    ) -> Sequence[ChunkRecord]:
        """
        The chunks of completed files, with every replica in any state, in
        ``(file_id, index)`` order after ``after`` (``None``: from the first),
        at most ``limit``: the repair planner walks every chunk with this.
        """

    async def get_completed_chunk(self, file_id: uuid.UUID, index: int) -> ChunkRecord | None:
        """
        One chunk with every replica in any state, if its file is ``completed``;
        ``None`` if the file is in any other state or the chunk is gone.
        """

    async def begin_replica(
        self, *, file_id: uuid.UUID, index: int, node_id: str
    ) -> bool:
        """
        Record that a copy of a chunk of a completed file is being written to
        ``node_id`` (repair): in one statement, insert the replica as
        ``writing``, or turn a ``missing``/``corrupt`` row on that node into
        ``writing``.  Return ``False`` and change nothing if the file is not
        ``completed`` (deleted meanwhile), the chunk is gone, or the node
        already has a ``writing`` or ``stored`` replica of it.
        """

    async def set_file_damaged(self, file_id: uuid.UUID, damaged: bool) -> None:
        """Mark a file as having (or, after a recovery, no longer having) an unreadable chunk."""

    async def enqueue_repairs(
        self,
        tasks: Sequence[tuple[uuid.UUID, int, RepairReason, int]],
        *,
        now: datetime,
    ) -> int:
        """
        Add ``(file_id, index, reason, priority)`` entries to the persistent
        repair queue, due ``now``; a chunk already queued keeps its entry
        (its due time, attempts and error) but takes the new reason and the
        lower priority.  Entries for chunks that are gone are skipped.  Return
        how many entries are new.
        """

    async def due_repairs(self, *, now: datetime, limit: int) -> Sequence[RepairTask]:
        """
        Up to ``limit`` queued entries due at ``now``: lowest priority (fewest
        healthy replicas) first, then earliest due.
        """

    async def finish_repair(self, file_id: uuid.UUID, index: int) -> None:
        """Remove a chunk's queue entry (repaired, or nothing to do).  A missing entry is not an error."""

    async def defer_repair(
        self,
        file_id: uuid.UUID,
        index: int,
        *,
        until: datetime,
        attempts: int,
        error: str,
    ) -> None:
        """Record a failed try: the entry is due again at ``until``."""

    async def repair_queue_length(self, *, now: datetime) -> tuple[int, int]:
        """How many entries the repair queue holds, and how many of them are due at ``now``."""
