"""
The seams of s3node, as :class:`typing.Protocol` classes.

Each seam has several implementations that pass one contract test suite:
chunk stores (disk, memory; the suite also runs through gRPC against a real
node), metadata stores (SQLite, PostgreSQL, memory), placement strategies and
checksum algorithms (pluggy plugins, see :mod:`s3node.hookspecs`), and the
gateway's client of a storage node (:class:`NodeClient`: the gRPC
:class:`~s3node.storage.client.StorageClient`, and the tests' fake).

Dependencies point one way: at run time this module imports nothing from
s3node but :mod:`s3node.records`; the storage value types it names are
imported for type checking only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from s3node.records import (
    AccessKey,
    BucketRecord,
    ChunkRecord,
    DurabilityCounts,
    FileCursorPage,
    FilePage,
    FileRecord,
    FileStatus,
    FileWithChunks,
    Grant,
    MultipartUpload,
    NodeAdmin,
    NodeRecord,
    NodeReplica,
    NodeState,
    NodeUsage,
    ObjectPage,
    ObjectPut,
    ObjectRecord,
    PartRecord,
    PartSpan,
    PlacementNode,
    RepairReason,
    RepairTask,
    ReplicaState,
    UploadPage,
)

if TYPE_CHECKING:
    from s3node.storage.types import (
        ChunkInfo,
        ChunkPage,
        ChunkRead,
        NodeHealth,
        PutResult,
        QuarantinePage,
        StoreUsage,
    )


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
        self, *, file_id: uuid.UUID, size: int, checksum: str, replicas: int
    ) -> FileRecord:
        """
        In one transaction: set ``size`` and ``checksum`` and move the file to
        ``completed`` if every chunk has at least ``replicas`` stored replicas
        and the chunk sizes add up to ``size``; else raise
        :class:`s3node.errors.NotEnoughReplicas` and change nothing.
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

    async def files_to_sweep(self, *, now: datetime, limit: int) -> Sequence[FileWithChunks]:
        """
        ``failed`` and ``deleting`` files whose chunks should be removed from the
        nodes and whose retry time (``defer_sweep``) is not after ``now``,
        earliest retry first, with their chunks, every replica in any state,
        and ``sweep_attempts``.
        """

    async def defer_sweep(self, file_id: uuid.UUID, *, until: datetime, attempts: int) -> None:
        """Record a sweep that left replicas behind: retry the file at ``until``."""

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
        now: datetime | None = None,
    ) -> None:
        """
        Record the outcome of a health check.  ``down_since`` follows
        ``state``: a node found ``down`` keeps the ``down_since`` it has, or
        gets ``now`` (when given) if it had none; a node found ``active`` has
        it cleared.  ``capacity``, ``used`` and ``last_seen`` change only when
        given.  A node that is not registered (forgotten meanwhile) is not an
        error: nothing changes.
        """

    async def list_nodes(self) -> Sequence[NodeRecord]:
        """Every registered node, ordered by id."""

    async def add_node(self, node: NodeRecord) -> NodeRecord:
        """
        Register a new node (``POST /nodes``) with ``node``'s address, weight
        and zone, state ``active``, admin ``active``; return it as stored.

        :raises s3node.errors.Conflict: a node with that id is registered
            (``upsert_node`` is the seeding form that updates instead).
        """

    async def get_node(self, node_id: str) -> NodeRecord:
        """
        One registered node.

        :raises s3node.errors.NodeNotFound: no node has that id.
        """

    async def set_node_admin(self, node_id: str, admin: NodeAdmin) -> NodeRecord:
        """
        Set what the operator wants of a node, and return the node.  Moving to
        ``draining`` records in ``drain_replicas`` how many replica rows (any
        state) the node holds at that moment, in the same transaction; a node
        already ``draining`` keeps its count.  Moving to ``drained`` succeeds
        only while the node holds no replica row.

        :raises s3node.errors.NodeNotFound: no node has that id.
        :raises s3node.errors.Conflict: ``drained`` asked of a node that still
            holds replica rows.
        """

    async def forget_node(self, node_id: str, *, lost: bool) -> int:
        """
        Remove a node from the cluster in one transaction: its row, and (only
        when ``lost``) every replica row on it; return how many replica rows
        went.  Without ``lost`` the node must be ``drained`` and hold no
        replica row.

        :raises s3node.errors.NodeNotFound: no node has that id.
        :raises s3node.errors.Conflict: not ``lost``, and the node is not
            drained or still holds replica rows.
        """

    async def node_usage(self, node_id: str) -> NodeUsage:
        """The replica rows recorded on ``node_id`` (any state) and their chunks' bytes."""

    async def try_lease(self, *, name: str, holder: str, now: datetime, ttl: float) -> bool:
        """
        Take or renew the lease ``name`` for ``holder`` until ``now + ttl``
        seconds, in one conditional statement; ``False`` while another holder's
        lease has not expired.  Several gateways sharing a database run a
        background worker only while they hold its lease.
        """

    async def release_lease(self, *, name: str, holder: str) -> None:
        """Give the lease up (at shutdown) if ``holder`` holds it."""

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

    async def add_counters(self, deltas: Mapping[str, int]) -> None:
        """Add to the cluster-wide counters (repairs done, corruptions found...) in one transaction."""

    async def read_counters(self) -> dict[str, int]:
        """Every cluster-wide counter that has been added to, by name."""

    # -- the S3 namespace: buckets, keys, access keys (docs/s3.md) ------------

    async def create_bucket(self, name: str) -> BucketRecord:
        """
        Create an empty bucket.

        :raises s3node.errors.BucketExists: a bucket has that name.
        """

    async def get_bucket(self, name: str) -> BucketRecord:
        """
        One bucket.

        :raises s3node.errors.BucketNotFound: no bucket has that name.
        """

    async def list_buckets(self) -> Sequence[BucketRecord]:
        """Every bucket, by name in byte order."""

    async def delete_bucket(self, name: str) -> Sequence[uuid.UUID]:
        """
        Remove a bucket that names no object, in one transaction with the
        emptiness check.  Multipart uploads under way in it are aborted in the
        same transaction (as S3 does): their parts' files move to deleting.

        :returns: the files of those parts, for the sweeper.
        :raises s3node.errors.BucketNotFound: no bucket has that name.
        :raises s3node.errors.BucketNotEmpty: it still names an object.
        """

    async def complete_object(
        self,
        *,
        file_id: uuid.UUID,
        size: int,
        checksum: str,
        replicas: int,
        bucket: str,
        key: str,
        etag: str,
        headers: Sequence[tuple[str, str]] = (),
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectPut:
        """
        In one transaction: complete the file as :meth:`complete_file` does,
        and make ``bucket``/``key`` name it.  The file the key named before,
        if any, moves to ``deleting`` (the sweeper removes its chunks) and is
        returned as ``replaced``: readers see the old object or the new one,
        never neither.  A conditional write is decided in the same
        transaction: ``if_none_match`` only while the key names nothing,
        ``if_match`` only while it names an object with that ETag.

        :raises s3node.errors.BucketNotFound: the bucket does not exist
            (deleted meanwhile); nothing changes, the file stays ``uploading``.
        :raises s3node.errors.PreconditionFailed: the condition does not
            hold; nothing changes.
        """

    async def get_object(self, bucket: str, key: str) -> ObjectRecord:
        """
        The object ``key`` names in ``bucket``.

        :raises s3node.errors.BucketNotFound: no such bucket.
        :raises s3node.errors.ObjectNotFound: the bucket has no such key.
        """

    async def delete_object(self, bucket: str, key: str) -> uuid.UUID | None:
        """
        Unname ``key`` and move its file to ``deleting``, in one transaction;
        return the file's id, or ``None`` when the key named nothing.

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str | None = None,
        limit: int,
    ) -> ObjectPage:
        """
        Up to ``limit`` entries of ``bucket`` in byte order of their keys:
        objects whose key starts with ``prefix`` and is greater than
        ``after``; with a ``delimiter``, keys that hold it after the prefix
        roll up into one common prefix each (prefix + ... + delimiter).
        ``after`` equal to (or inside) a common prefix skips that whole
        prefix.  Every query seeks the ``(bucket, key)`` index, so a deep
        page costs what the first does.

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def create_multipart(self, bucket: str, key: str, *, content_type: str,
                               headers: Sequence[tuple[str, str]] = ()) -> MultipartUpload:
        """
        Begin a multipart upload of ``bucket``/``key`` with a new random id.

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def get_multipart(self, upload_id: str) -> MultipartUpload:
        """
        A multipart upload under way.

        :raises s3node.errors.UploadNotFound: none has that id (any more).
        """

    async def copy_object(
        self,
        *,
        source: uuid.UUID,
        bucket: str,
        key: str,
        etag: str,
        headers: Sequence[tuple[str, str]],
        content_type: str,
        filename: str,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectPut:
        """
        In one transaction: make a new completed file whose chunk and replica
        rows are those of ``source`` (a ``completed`` file; its chunks are
        shared, no byte moves) and name it ``bucket``/``key`` as
        :meth:`complete_object` does.

        :raises s3node.errors.FileNotFound: ``source`` is no longer completed
            (deleted or replaced meanwhile).
        :raises s3node.errors.BucketNotFound: no such bucket.
        :raises s3node.errors.PreconditionFailed: the write's condition fails.
        """

    async def copy_part(
        self,
        *,
        source: uuid.UUID,
        first: int,
        count: int,
        upload_id: str,
        part_number: int,
        etag: str,
        filename: str,
    ) -> uuid.UUID | None:
        """
        In one transaction: make a new completed file of chunks ``first`` to
        ``first + count - 1`` of ``source`` (shared, re-indexed from 0) and
        record it as part ``part_number`` of an upload, as
        :meth:`complete_part` does (the part it replaces is returned).

        :raises s3node.errors.FileNotFound: ``source`` is no longer completed.
        :raises s3node.errors.UploadNotFound: no such upload.
        :raises s3node.errors.InvalidRequest: the chunks are not in ``source``.
        """

    async def complete_part(
        self,
        *,
        file_id: uuid.UUID,
        size: int,
        checksum: str,
        replicas: int,
        upload_id: str,
        part_number: int,
        etag: str,
        part_checksum: tuple[str, str] | None = None,
    ) -> uuid.UUID | None:
        """
        In one transaction: complete a part's file as :meth:`complete_file`
        does and record it as part ``part_number``; a part uploaded before
        under that number moves to ``deleting``, and its file id is returned.

        :raises s3node.errors.UploadNotFound: the upload was completed or
            aborted meanwhile; nothing changes.
        """

    async def list_parts(self, upload_id: str, *, after: int = 0,
                         limit: int) -> Sequence[PartRecord]:
        """
        Up to ``limit`` parts numbered above ``after``, in number order.

        :raises s3node.errors.UploadNotFound: no such upload.
        """

    async def list_multipart(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                             after: str | None = None, after_upload: str | None = None,
                             limit: int) -> UploadPage:
        """
        Up to ``limit`` entries of the uploads under way in ``bucket`` whose key
        starts with ``prefix``, by key then upload id (ids begin with their
        creation time, so a key's uploads come oldest first): uploads of keys
        above ``after`` (and, given ``after_upload``, the uploads of ``after``
        itself whose id is above it); with a ``delimiter``, keys that hold it
        after the prefix roll up into one common prefix each, and ``after``
        equal to (or inside) one skips it, as :meth:`list_objects` does.  Every
        query seeks the ``(bucket, key, id)`` index (keyset pagination).

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def object_part(self, file_id: uuid.UUID,
                          part_number: int) -> tuple[int, PartSpan | None]:
        """
        How many parts the multipart object held by ``file_id`` was completed
        from, and where part ``part_number`` (the number it was uploaded
        under) lies in it, or ``None`` when it has no such part.  A file that
        no multipart completion made (or one completed before schema version
        7) has no parts: ``(0, None)``.  A copy that shares a multipart
        object's chunks has its parts.
        """

    async def complete_multipart(
        self,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        min_part_size: int,
        if_match: str | None = None,
        if_none_match: bool = False,
        headers: Sequence[tuple[str, str]] | None = None,
    ) -> ObjectPut:
        """
        In one transaction: check ``parts`` (``(number, etag)`` in ascending
        order) against the uploaded ones, make one new completed file whose
        chunks are the listed parts' chunks in order (the chunk and replica
        rows move; no byte is copied, and chunks may differ in size), name the
        upload's key with it (the object before moves to ``deleting``), move
        the parts uploaded but not listed to ``deleting``, and end the upload.
        The ETag is ``md5(part md5s)-N``; the file's checksum is the SHA-256
        of the parts' digests in order, under the algorithm ``ALG-parts``.
        The object's stored headers are ``headers``, or the upload's when ``None``.

        :raises s3node.errors.UploadNotFound: no such upload.
        :raises s3node.errors.InvalidPart: a listed part was not uploaded, or
            has another ETag.
        :raises s3node.errors.PartTooSmall: a part but the last is smaller
            than ``min_part_size``.
        :raises s3node.errors.PreconditionFailed: a conditional completion
            whose condition does not hold.
        """

    async def abort_multipart(self, upload_id: str) -> Sequence[uuid.UUID]:
        """
        End an upload without an object: its parts' files move to
        ``deleting``; return their ids.

        :raises s3node.errors.UploadNotFound: no such upload.
        """

    async def expired_multipart(self, *, before: datetime, limit: int) -> Sequence[str]:
        """The ids of up to ``limit`` uploads begun before ``before``, oldest first."""

    async def add_access_key(self, key: AccessKey) -> None:
        """
        Record a new access key.

        :raises s3node.errors.Conflict: an access key has that id.
        """

    async def get_access_key(self, access_key_id: str) -> AccessKey:
        """
        A key that is not revoked.

        :raises s3node.errors.AccessKeyNotFound: no such key, or it was revoked.
        """

    async def list_access_keys(self) -> Sequence[AccessKey]:
        """Every access key, revoked ones included, by id."""

    async def revoke_access_key(self, access_key_id: str) -> None:
        """
        Disable a key (it stays listed, with ``revoked_at``).

        :raises s3node.errors.AccessKeyNotFound: no such key, or already disabled.
        """

    async def set_access_key_enabled(self, access_key_id: str, enabled: bool) -> AccessKey:
        """
        Enable or disable a key (again: nothing changes); the key as it is now.

        :raises s3node.errors.AccessKeyNotFound: no such key.
        """

    async def set_access_key_grants(self, access_key_id: str, *, admin: bool,
                                    grants: Sequence[Grant]) -> AccessKey:
        """
        Replace what a key may do, in one statement; the key as it is now.

        :raises s3node.errors.AccessKeyNotFound: no such key.
        :raises s3node.errors.InvalidRequest: malformed grants.
        """

    async def delete_access_key(self, access_key_id: str) -> None:
        """
        Delete a key for good.

        :raises s3node.errors.AccessKeyNotFound: no such key.
        """


class ChunkStore(Protocol):
    """
    Where a storage node keeps chunks: :class:`s3node.storage.diskstore.DiskChunkStore`
    (a node's disk) and :class:`s3node.storage.memorystore.MemoryChunkStore`
    (the test fake); one contract suite (``tests/storage/test_store_contract.py``)
    runs against both, and against a real node through gRPC.

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


class ChunkReader(Protocol):
    """
    The bytes of one chunk read from a node, as an async iterator of pieces.

    Iterating to the end means the node finished the read (and verified it,
    for a whole-chunk or ``verify`` read); errors raise the mapped
    :mod:`s3node.errors` class (``ChunkNotFound``, ``CorruptChunk``,
    ``Unavailable``...).  :meth:`aclose` abandons the read early.
    """

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Iterate over the chunk's pieces."""

    async def aclose(self) -> None:
        """Abandon the read; safe to call more than once."""


class NodeClient(Protocol):
    """
    The gateway's client of one storage node:
    :class:`s3node.storage.client.StorageClient` over gRPC, and the fake
    (``tests/gateway/gateway_fakes.py``) for tests of the gateway alone.

    Every method is an asyncio coroutine function (bridge it to Twisted with
    :func:`s3node._aio.aio`).  A node that does not answer in ``timeout``
    seconds raises :class:`s3node.errors.Unavailable`; other failures raise
    the :mod:`s3node.errors` class the node reported.
    """

    #: ``host:port`` of the node
    address: str

    async def put_chunk(
        self,
        chunk_id: str,
        data: bytes | memoryview,
        *,
        algorithm: str,
        digest: str,
        timeout: float | None = None,
    ) -> PutResult:
        """Store ``data`` as ``chunk_id``; the node verifies ``digest`` before keeping it."""

    async def put_chunk_stream(
        self,
        chunk_id: str,
        size: int,
        algorithm: str,
        digest: str,
        frames: AsyncIterable[bytes | memoryview],
        *,
        timeout: float | None = None,
    ) -> PutResult:
        """Store the ``size`` bytes ``frames`` yields as ``chunk_id``, verified like :meth:`put_chunk`."""

    def get_chunk(
        self,
        chunk_id: str,
        *,
        offset: int = 0,
        length: int | None = None,
        verify: bool = False,
        timeout: float | None = None,
    ) -> ChunkReader:
        """Read ``length`` bytes of ``chunk_id`` from ``offset`` (the rest when ``None``)."""

    async def delete_chunk(self, chunk_id: str, *, timeout: float | None = None) -> bool:
        """Remove ``chunk_id``; ``False`` when the node had no such chunk."""

    async def list_chunks(
        self, page_size: int = 1000, page_token: str = "", *, timeout: float | None = None
    ) -> ChunkPage:
        """A page of the node's chunk ids, ascending; pass ``next_page_token`` back."""

    async def stat_chunk(self, chunk_id: str, *, timeout: float | None = None) -> ChunkInfo:
        """The chunk's record (size, digest, ``created``) without its bytes."""

    async def list_quarantined(
        self, page_size: int = 1000, page_token: str = "", *, timeout: float | None = None
    ) -> QuarantinePage:
        """A page of the chunks the node found corrupt and moved aside."""

    async def drop_quarantined(self, entry_id: str, *, timeout: float | None = None) -> bool:
        """Remove a quarantine entry for good; ``False`` when there was none."""

    async def health(self, timeout: float | None = None) -> NodeHealth:
        """The node's id, capacity, used and free bytes and chunk count."""

    async def close(self) -> None:
        """Release the connection."""
