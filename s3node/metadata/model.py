"""
The records the metadata store reads and writes.

Plain frozen dataclasses and enums, shared by every :class:`~s3node.interfaces.MetadataStore`
implementation and by the gateway.  No I/O here.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime


class FileStatus(str, enum.Enum):
    """The life cycle of a file record."""

    PENDING = "pending"  #: created, no byte received yet
    UPLOADING = "uploading"  #: chunks are being written
    COMPLETED = "completed"  #: every chunk has its replicas stored; readable
    FAILED = "failed"  #: the upload failed; its chunks await the sweeper
    DELETING = "deleting"  #: deleted by a client; its chunks await the sweeper


class ReplicaState(str, enum.Enum):
    """What the metadata store believes of one replica of one chunk."""

    WRITING = "writing"  #: a write to the node is under way
    STORED = "stored"  #: the node acknowledged the chunk
    MISSING = "missing"  #: the node does not have it (any more)
    CORRUPT = "corrupt"  #: the node reported a checksum mismatch


class NodeState(str, enum.Enum):
    """The state of a storage node as the gateways see it."""

    ACTIVE = "active"  #: answering; new chunks may be placed on it
    DRAINING = "draining"  #: answering; no new chunks are placed on it
    DOWN = "down"  #: not answering health checks


@dataclass(frozen=True)
class FileRecord:
    """One file (one upload)."""

    file_id: uuid.UUID
    filename: str
    content_type: str
    #: bytes; ``None`` until the upload completes
    size: int | None
    checksum_algorithm: str
    #: lowercase hex digest of the whole file; ``None`` until the upload completes
    checksum: str | None
    chunk_size: int
    status: FileStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReplicaRecord:
    """One replica of one chunk on one node."""

    node_id: str
    state: ReplicaState


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk of a file and where its replicas live."""

    file_id: uuid.UUID
    index: int
    #: the id the storage nodes know the chunk by (32 to 64 lowercase hex)
    chunk_id: str
    size: int
    checksum_algorithm: str
    #: lowercase hex digest of the chunk's bytes
    checksum: str
    replicas: tuple[ReplicaRecord, ...] = ()

    def nodes_with(self, state: ReplicaState = ReplicaState.STORED) -> tuple[str, ...]:
        """The ids of the nodes holding a replica in ``state``."""
        return tuple(r.node_id for r in self.replicas if r.state is state)


@dataclass(frozen=True)
class FileWithChunks:
    """A file record with its chunks in index order."""

    file: FileRecord
    chunks: tuple[ChunkRecord, ...]


@dataclass(frozen=True)
class NodeRecord:
    """A storage node known to the gateways."""

    node_id: str
    #: ``host:port`` of the node's gRPC listener
    address: str
    weight: float = 1.0
    zone: str = ""
    state: NodeState = NodeState.ACTIVE
    #: bytes; ``None`` until the node has answered a health check
    capacity: int | None = None
    used: int | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True)
class FilePage:
    """One page of a numbered file listing (newest first)."""

    files: tuple[FileRecord, ...]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        """How many pages of ``per_page`` files hold ``total`` files."""
        return (self.total + self.per_page - 1) // self.per_page


@dataclass(frozen=True)
class FileCursorPage:
    """One page of a keyset (cursor) file listing (newest first)."""

    files: tuple[FileRecord, ...]
    #: opaque; pass it back to get the next page; ``None`` on the last page
    next_cursor: str | None
