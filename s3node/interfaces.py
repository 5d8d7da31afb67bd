"""
The seams of s3node, as :class:`typing.Protocol` classes.

Each seam has several implementations that pass one contract test suite:
chunk stores (disk, memory, a remote node over gRPC), metadata stores
(SQLite, PostgreSQL, memory), placement strategies and checksum algorithms (pluggy
plugins, see :mod:`s3node.hookspecs`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from s3node.records import (
    ChunkRecord,
    FileCursorPage,
    FilePage,
    FileRecord,
    FileStatus,
    FileWithChunks,
    NodeRecord,
    NodeState,
    PlacementNode,
    ReplicaState,
)

if TYPE_CHECKING:
    from s3node.storage.types import ChunkInfo, ChunkPage, ChunkRead, PutResult, StoreUsage


@runtime_checkable
class Checksum(Protocol):
    """A streaming hasher shaped like :mod:`hashlib` objects."""

    #: the algorithm's registered name, stored beside every digest
    name: str

    def update(self, data: bytes, /) -> None:
        """Feed more bytes."""

    def digest(self) -> bytes:
        """The digest of everything fed so far."""

    def hexdigest(self) -> str:
        """:meth:`digest` as lowercase hex."""


class ChecksumAlgorithm(Protocol):
    """A named factory of :class:`Checksum` objects."""

    name: str

    def __call__(self) -> Checksum:
        """A new, empty hasher."""


class PlacementStrategy(Protocol):
    """Chooses which storage nodes hold a chunk."""

    name: str

    def preference_list(self, key: str, nodes: Sequence[PlacementNode]) -> list[str]:
        """
        Order the ids of ``nodes`` for the chunk ``key``.

        The first R ids are the replica homes, the rest are handoffs in the
        order they should be tried.  The result is a deterministic function of
        ``key`` and the ids, weights and zones of ``nodes``.
        """


class MetadataStore(Protocol):
    """
    Where files, chunks, replicas and storage nodes are recorded.

    Every method is a coroutine function.  A database that does not answer
    raises :class:`s3node.errors.MetadataUnavailable`; an unknown file raises
    :class:`s3node.errors.FileNotFound`.
    """

    async def migrate(self) -> int:
        """Apply the pending migrations; return the schema version reached."""

    async def ping(self) -> None:
        """Return when the database answers a trivial query."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def create_file(
        self,
        *,
        filename: str,
        content_type: str,
        checksum_algorithm: str,
        chunk_size: int,
        file_id: uuid.UUID | None = None,
    ) -> FileRecord:
        """Create a file record in status ``uploading``."""

    async def record_chunk(self, chunk: ChunkRecord) -> None:
        """Insert a chunk row and one row per replica in ``chunk.replicas``, atomically."""

    async def set_replica_state(
        self, *, file_id: uuid.UUID, index: int, node_id: str, state: ReplicaState
    ) -> None:
        """Insert or update one replica's state."""

    async def complete_file(
        self, *, file_id: uuid.UUID, size: int, checksum: str, replicas: int
    ) -> FileRecord:
        """
        In one transaction: set ``size`` and ``checksum`` and move the file to
        ``completed`` if every chunk has at least ``replicas`` stored replicas
        and the chunk sizes add up to ``size``; else raise
        :class:`s3node.errors.NotEnoughReplicas` and change nothing.
        """

    async def fail_file(self, file_id: uuid.UUID) -> None:
        """Move a file to ``failed`` (unless it is already being deleted)."""

    async def get_file(self, file_id: uuid.UUID) -> FileRecord:
        """The file record alone."""

    async def get_file_with_chunks(self, file_id: uuid.UUID) -> FileWithChunks:
        """The file with its chunks and their replicas, in index order."""

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

    async def files_to_sweep(
        self, *, stale_before: datetime, limit: int
    ) -> Sequence[FileWithChunks]:
        """
        Files whose chunks should be removed from the nodes: ``failed`` and
        ``deleting`` files, and ``pending``/``uploading`` files last updated
        before ``stale_before`` (left by a gateway that crashed).
        """

    async def upsert_node(self, node: NodeRecord) -> None:
        """Register a storage node, or update its address, weight and zone."""

    async def update_node_health(
        self,
        node_id: str,
        *,
        state: NodeState,
        capacity: int | None = None,
        used: int | None = None,
        last_seen: datetime | None = None,
    ) -> None:
        """Record the outcome of a health check."""

    async def list_nodes(self) -> Sequence[NodeRecord]:
        """Every registered node, ordered by id."""

    async def under_replicated_chunks(
        self, *, target: int, limit: int
    ) -> Sequence[ChunkRecord]:
        """Chunks of completed files with fewer than ``target`` stored replicas."""


class ChunkStore(Protocol):
    """
    Where chunks are kept: :class:`s3node.storage.diskstore.DiskChunkStore` (a
    node's disk), :class:`s3node.storage.memorystore.MemoryChunkStore` (the test
    fake) and :class:`s3node.storage.remotestore.RemoteChunkStore` (a node over
    gRPC); one contract suite (``tests/storage/test_store_contract.py``) runs
    against all three.

    Every method is an asyncio coroutine function.  Chunk ids are checked with
    :func:`s3node.core.ids.validate_chunk_id` before anything else
    (:class:`s3node.errors.InvalidChunkId`); an unknown chunk raises
    :class:`s3node.errors.ChunkNotFound`.
    """

    async def put(
        self, chunk_id: str, *, size: int, algorithm: str, digest: str, data: AsyncIterable[bytes]
    ) -> PutResult:
        """
        Store the chunk ``data`` yields, verifying ``size`` and ``digest`` as
        it arrives; it becomes visible only once complete and verified.
        Putting an identical chunk again returns ``created=False``; other
        content under a stored id raises :class:`s3node.errors.ChunkExists`.
        """

    async def read(
        self, chunk_id: str, *, offset: int = 0, length: int | None = None, verify: bool = False
    ) -> ChunkRead:
        """
        Open ``length`` bytes from ``offset`` (to the end when ``None``).
        Whole-chunk reads, and reads with ``verify``, check the digest and
        quarantine a chunk that fails (iteration raises
        :class:`s3node.errors.CorruptChunk`).
        """

    async def stat(self, chunk_id: str) -> ChunkInfo:
        """The chunk's record, without reading its bytes."""

    async def delete(self, chunk_id: str) -> bool:
        """Remove the chunk; ``False`` when there was none."""

    async def list(self, *, after: str = "", limit: int = 0) -> ChunkPage:
        """Up to ``limit`` (0: the default) ids greater than ``after``, ascending."""

    async def usage(self) -> StoreUsage:
        """Capacity, used and free bytes and the chunk count."""
