"""
The records every layer shares: files, chunks, replicas and storage nodes.

Plain frozen dataclasses and enums with no I/O and no imports from s3node.
The metadata stores (:class:`~s3node.interfaces.MetadataStore`) read and write
them, the gateway passes them around, and :mod:`s3node.interfaces` names them
in its seams: this module sits below all of them, so dependencies point one
way (``metadata`` -> ``records`` <- ``gateway``, ``interfaces``, ``builtin``).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ALL_BUCKETS",
    "FILES_SCOPE",
    "GRANT_SCOPE_PATTERN",
    "MAX_PAGE_SIZE",
    "AccessKey",
    "BucketRecord",
    "ChunkRecord",
    "DurabilityCounts",
    "FileCursorPage",
    "FilePage",
    "FileRecord",
    "FileStatus",
    "FileWithChunks",
    "Grant",
    "MultipartUpload",
    "NodeAdmin",
    "NodeRecord",
    "NodeReplica",
    "NodeState",
    "NodeUsage",
    "ObjectPage",
    "ObjectPut",
    "ObjectRecord",
    "PartRecord",
    "PartSpan",
    "PlacementNode",
    "PoolUsage",
    "RepairReason",
    "RepairTask",
    "ReplicaRecord",
    "ReplicaState",
    "UploadPage",
]

#: the largest page a file listing returns (``per_page`` and ``limit``), in
#: every metadata store and at the gateway's ``GET /files``
MAX_PAGE_SIZE = 1000


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
    """Whether a storage node answers, as the gateways' health checks see it."""

    ACTIVE = "active"  #: answering health checks
    DOWN = "down"  #: not answering health checks


class NodeAdmin(str, enum.Enum):
    """What the operator wants of a storage node (``POST /nodes/{id}/drain``...)."""

    ACTIVE = "active"  #: a member: new chunks may be placed on it
    DRAINING = "draining"  #: no new chunks; repair copies its replicas elsewhere
    DRAINED = "drained"  #: drained: holds no replica; may be forgotten


class RepairReason(str, enum.Enum):
    """Why a chunk is in the repair queue (the planner's verdict when it queued it)."""

    #: fewer than R healthy replicas: missing, corrupt, on a node down too long or forgotten
    DEGRADED = "degraded"
    #: a replica sits on a draining node
    DRAINING = "draining"
    #: R healthy replicas, but not on the nodes placement prefers (handoffs, a node added)
    MISPLACED = "misplaced"


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
    #: some chunk of the file has no replica left to read (every one missing,
    #: corrupt or on a forgotten node): downloads answer ``file_damaged``
    damaged: bool = False


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
    #: sweeps of this file that left replicas behind (see ``files_to_sweep``)
    sweep_attempts: int = 0
    #: the whole content of a completed *inline* file, kept in its metadata
    #: row instead of chunks (it then has none); ``None`` for every other
    #: file, and possibly in ``files_to_sweep``'s results
    inline: bytes | None = None


@dataclass(frozen=True)
class NodeReplica:
    """One replica the metadata records on a given node, with its chunk and file."""

    chunk_id: str
    file_id: uuid.UUID
    index: int
    state: ReplicaState
    file_status: FileStatus


@dataclass(frozen=True)
class PlacementNode:
    """
    What a placement strategy may know of a storage node.

    Strategies order nodes by these fields alone, so the same set of
    ``(node_id, weight, zone)`` gives the same order in every process.
    """

    node_id: str
    weight: float = 1.0
    #: a failure domain; nodes in distinct zones are preferred for the replicas
    zone: str = ""
    #: bytes the node last reported free; ``None`` while unknown
    free: int | None = None


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
    admin: NodeAdmin = NodeAdmin.ACTIVE
    #: when a health check first found the node down (``None`` while it answers)
    down_since: datetime | None = None
    #: replica rows the node held when its drain started (``None``: never drained)
    drain_replicas: int | None = None

    @property
    def free(self) -> int | None:
        """Bytes free as last reported; ``None`` until the node has answered."""
        if self.capacity is None or self.used is None:
            return None
        return max(0, self.capacity - self.used)

    def for_placement(self) -> PlacementNode:
        """The part of this record a placement strategy sees."""
        return PlacementNode(self.node_id, self.weight, self.zone, self.free)


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


@dataclass(frozen=True)
class DurabilityCounts:
    """What :meth:`~s3node.interfaces.MetadataStore.durability_counts` counts."""

    #: stored-replica count -> how many chunks of completed files have that many
    #: (replicas on the nodes the caller names unhealthy are not counted)
    chunks_by_stored_replicas: dict[int, int]
    #: how many files are in each status (statuses with no file are left out)
    files_by_status: dict[FileStatus, int]
    #: stored-replica count -> the bytes of those chunks (same keys as above)
    bytes_by_stored_replicas: dict[int, int] = field(default_factory=dict)
    #: completed files marked ``damaged``
    damaged_files: int = 0


@dataclass(frozen=True)
class NodeUsage:
    """What the metadata records on one node (``GET /nodes/{id}``)."""

    #: replica rows on the node, in any state
    replicas: int
    #: the bytes of those replicas' chunks
    bytes: int


@dataclass(frozen=True)
class RepairTask:
    """One chunk in the persistent repair queue."""

    file_id: uuid.UUID
    index: int
    reason: RepairReason
    #: healthy replicas when queued; fewer come out of the queue first
    priority: int
    #: failed tries so far
    attempts: int
    #: not tried before this time
    due_at: datetime
    #: why the last try failed (``None`` before the first failure)
    last_error: str | None = None


@dataclass(frozen=True)
class PoolUsage:
    """A metadata store's pool of connections (PostgreSQL) or threads (SQLite), now."""

    size: int
    #: connections or threads running an operation
    in_use: int
    #: operations waiting for one
    waiting: int


@dataclass(frozen=True)
class BucketRecord:
    """One bucket of the S3 namespace."""

    name: str
    created_at: datetime


@dataclass(frozen=True)
class ObjectRecord:
    """
    One visible object: the completed file that a bucket's key names now.

    A key names at most one file at a time; the file holds the bytes (its
    chunks), the object the name and what S3 clients sent along.
    """

    bucket: str
    key: str
    file_id: uuid.UUID
    size: int
    content_type: str
    #: the ETag, unquoted: hex MD5 of the body, or ``hex-N`` for multipart
    etag: str
    #: when the key came to name this file (S3's ``Last-Modified``)
    modified_at: datetime
    #: the other headers stored with the object, lower-case names, in order:
    #: Content-Encoding/Disposition/Language, Cache-Control, Expires,
    #: ``x-amz-meta-*``, ``x-amz-checksum-*``
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ObjectPut:
    """What making an object visible did: the object, and the file it replaced."""

    object: ObjectRecord
    #: the file the key named before (now ``deleting``), if any
    replaced: uuid.UUID | None


@dataclass(frozen=True)
class ObjectPage:
    """One page of a bucket listing, in byte order of the keys."""

    #: the objects of the page (keys under the prefix, not rolled up)
    objects: tuple[ObjectRecord, ...]
    #: the common prefixes (prefix + ... + delimiter) the page rolled up
    prefixes: tuple[str, ...]
    #: whether more entries follow
    truncated: bool
    #: the last key or common prefix of the page, to list on from (``None``
    #: when the page is empty)
    last: str | None


#: the scope of a grant on the REST ``/files`` namespace
FILES_SCOPE = "/files"
#: the scope of a grant on every bucket
ALL_BUCKETS = "*"
#: what a grant's scope may be: ``*``, ``/files`` or a bucket name's characters
GRANT_SCOPE_PATTERN = r"^(\*|/files|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$"


@dataclass(frozen=True)
class Grant:
    """
    What a user key may do in one scope: :data:`ALL_BUCKETS`, :data:`FILES_SCOPE`
    or one bucket (docs/security.md, "Permissions").
    """

    scope: str
    read: bool = False
    write: bool = False


@dataclass(frozen=True)
class AccessKey:
    """
    An access key (for S3 and the REST API): its id, its secret, when it was
    created or disabled (``revoked_at``), and what it may do: everything
    (``admin``) or what its ``grants`` say.
    """

    access_key_id: str
    #: SigV4 derives its signing key from the secret itself, so it is stored as is
    secret: str
    created_at: datetime
    description: str = ""
    #: when it was disabled (``None``: enabled)
    revoked_at: datetime | None = None
    admin: bool = False
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class MultipartUpload:
    """An S3 multipart upload under way: where its object goes and what it carries."""

    upload_id: str
    bucket: str
    key: str
    content_type: str
    headers: tuple[tuple[str, str], ...]
    created_at: datetime


@dataclass(frozen=True)
class UploadPage:
    """One page of ListMultipartUploads, by key then upload id (oldest first)."""

    #: the uploads of the page (keys under the prefix, not rolled up)
    uploads: tuple[MultipartUpload, ...]
    #: the common prefixes (prefix + ... + delimiter) the page rolled up
    prefixes: tuple[str, ...]
    #: whether more entries follow
    truncated: bool
    #: the key of the page's last upload, or its last common prefix (``None``: empty page)
    next_key: str | None
    #: the id of the page's last upload, when the page ends with one
    next_upload_id: str | None


@dataclass(frozen=True)
class PartSpan:
    """Where one part of a completed multipart object lies in the object's bytes."""

    #: the number the part was uploaded under
    number: int
    #: the offset of its first byte in the object
    first: int
    size: int


@dataclass(frozen=True)
class PartRecord:
    """One uploaded part of a multipart upload: a completed file named by no key."""

    number: int
    file_id: uuid.UUID
    #: hex MD5 of the part, unquoted
    etag: str
    size: int
    modified_at: datetime
    #: the part's verified ``x-amz-checksum-*`` header and base64 value, if it had one
    checksum: tuple[str, str] | None = None
