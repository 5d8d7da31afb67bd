"""
The metadata store's seam, part FileMetadata: files, their chunks and
replicas: uploads, reads, deletes and sweeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from s3node.records import (
    ChunkRecord,
    FileCursorPage,
    FilePage,
    FileRecord,
    FileStatus,
    FileWithChunks,
    NodeReplica,
    ReplicaState,
)


class FileMetadata(Protocol):
    """
    The metadata of files, chunks and replicas.

    Part of :class:`s3node.interfaces.metadata.MetadataStore`; see there for
    the errors every method may raise.
    """

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
        """
        Create a file record in status ``uploading``; with ``first_chunk``
        (whose ``file_id`` must be ``file_id``), record that chunk as
        :meth:`record_chunk` does, in the same transaction: an upload's first
        metadata write (docs/performance.md, "Two metadata writes for a
        small upload").
        """

    async def record_chunk(self, chunk: ChunkRecord) -> None:
        """
        Insert a chunk row and one row per replica in ``chunk.replicas``,
        atomically, and move ``updated_at``.  The upload records a chunk with
        its first replicas ``writing`` *before* it sends any byte to a node.

        :raises s3node.errors.UploadAborted: the file is no longer
            ``pending``/``uploading`` (deleted, claimed by the sweeper, failed).
        """

    async def touch_file(self, file_id: uuid.UUID) -> None:
        """
        Keep an upload alive: move ``updated_at`` of a ``pending``/``uploading`` file.

        :raises s3node.errors.UploadAborted: the file is in any other state.
        """

    async def set_replica_state(
        self, *, file_id: uuid.UUID, index: int, node_id: str, state: ReplicaState
    ) -> None:
        """Insert or update one replica's state."""

    async def set_replica_state_by_chunk(
        self, *, chunk_id: str, node_id: str, state: ReplicaState
    ) -> int:
        """
        Set the state of the replica of chunk ``chunk_id`` on ``node_id``, if
        there is one (a node reports chunks by id); return how many rows changed.
        """

    async def drop_replica(self, *, file_id: uuid.UUID, index: int, node_id: str) -> None:
        """
        Remove one replica row (its chunk was deleted from the node, or the
        node confirmed it never had it).  Missing rows are not an error.
        """

    async def release_replica(
        self, *, file_id: uuid.UUID, index: int, node_id: str, keep_last: bool = False
    ) -> bool:
        """
        Give up one replica row, deciding in the same transaction whether the
        node's copy of its chunk is still needed: ``True`` when no other row
        (of any file, or another index of this one) names the same chunk id
        on ``node_id``, so the caller deletes the chunk from the node; then the
        row is dropped too, unless ``keep_last`` (the sweeper drops it only
        once the node confirmed the delete).  ``False``: copies share the
        chunk, the row is dropped and the node keeps the chunk.  A row that is
        already gone answers ``False``.  Serialised against
        :meth:`copy_object` and :meth:`copy_part` copying the file's rows.
        """

    async def drop_node_replicas(self, node_id: str) -> int:
        """
        Remove every replica row on ``node_id`` (a node declared lost for
        good); return how many rows went.
        """

    async def node_replicas(
        self, *, node_id: str, after: str, upto: str | None, limit: int
    ) -> Sequence[NodeReplica]:
        """
        The replicas recorded on ``node_id`` whose chunk id is greater than
        ``after`` and (unless ``upto`` is ``None``) at most ``upto``, in
        ascending chunk id order, at most ``limit`` of them: the reconciler
        walks a node's inventory beside this.
        """

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
        """
        In one transaction: set ``size`` and ``checksum`` and move the file to
        ``completed`` if every chunk has at least ``replicas`` stored replicas
        and the chunk sizes add up to ``size``; else raise
        :class:`s3node.errors.NotEnoughReplicas` and change nothing.

        ``stored`` names replicas (chunk index, node id) the upload has just
        written: they are set ``stored`` first, in the same transaction, as
        :meth:`set_replica_state` would (:class:`s3node.errors.FileNotFound`
        for a chunk the file does not have).  A file already completed
        ignores them.

        ``inline``, when not ``None``, is the file's whole content, kept in
        its metadata row (an *inline* file: :attr:`FileWithChunks.inline
        <s3node.records.FileWithChunks.inline>` returns it): the file must
        have no chunk, ``inline`` must be ``size`` bytes long (``b""`` for
        size 0) and ``stored`` empty, else
        :class:`s3node.errors.InvalidRequest` and nothing changes; the
        length replaces the chunk checks.  A file already completed ignores it.
        """

    async def fail_file(self, file_id: uuid.UUID) -> bool:
        """
        Move a ``pending``/``uploading`` file to ``failed``; return whether it
        moved.  A file in any other state is left as it is (a ``completed``
        file whose completion reply was lost stays ``completed``).
        """

    async def claim_stale_uploads(self, *, stale_before: datetime, limit: int) -> int:
        """
        Move up to ``limit`` ``pending``/``uploading`` files not touched since
        ``stale_before`` to ``failed``, in one conditional update; return how
        many moved.  Only then may the sweeper delete their chunks.
        """

    async def get_file(self, file_id: uuid.UUID) -> FileRecord:
        """The file record alone."""

    async def get_file_with_chunks(self, file_id: uuid.UUID) -> FileWithChunks:
        """
        The file with its chunks and their replicas, in index order, and the
        content of an inline file (``inline``; ``None`` for any other).
        """

    async def list_files(
        self, *, page: int, per_page: int, status: FileStatus | None = None
    ) -> FilePage:
        """A numbered page of files, newest first, with the total count."""

    async def list_files_after(
        self, *, cursor: str | None, limit: int, status: FileStatus | None = None
    ) -> FileCursorPage:
        """A keyset page of files, newest first; deep pages cost the same as the first."""

    async def start_delete(self, file_id: uuid.UUID) -> FileRecord:
        """
        Move a file to ``deleting``; raise :class:`s3node.errors.FileNotFound`
        when it does not exist or is already being deleted.
        """

    async def finish_delete(self, file_id: uuid.UUID) -> None:
        """Remove the file, its chunks and their replica rows."""

    async def files_to_sweep(self, *, now: datetime, limit: int) -> Sequence[FileWithChunks]:
        """
        ``failed`` and ``deleting`` files whose chunks should be removed from the
        nodes and whose retry time (``defer_sweep``) is not after ``now``,
        earliest retry first, with their chunks, every replica in any state,
        and ``sweep_attempts``.
        """

    async def defer_sweep(self, file_id: uuid.UUID, *, until: datetime, attempts: int) -> None:
        """Record a sweep that left replicas behind: retry the file at ``until``."""
