"""
What every metadata store shares: input checks, timestamps, cursors and the
errors of the upload lifecycle.

Pure functions, no I/O.  The stores call these before touching a database,
so bad input gets the same clear :class:`~s3node.errors.InvalidRequest`
whatever the backend.  Records are built from SQL rows in :mod:`._rows`.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from s3node.config import MAX_INLINE_SIZE
from s3node.errors import (
    Conflict,
    FileNotFound,
    InvalidChunkId,
    InvalidRequest,
    NotEnoughReplicas,
    UploadAborted,
)
from s3node.records import (
    MAX_PAGE_SIZE,
    ChunkRecord,
    FileStatus,
    ReplicaState,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "OPEN_STATUSES",
    "SWEEP_STATUSES",
    "check_aware",
    "check_chunk",
    "check_chunk_id",
    "check_chunk_index",
    "check_claim",
    "check_complete",
    "check_completion",
    "check_count",
    "check_defer",
    "check_file_id",
    "check_lease",
    "check_lease_holder",
    "check_limit",
    "check_new_file",
    "check_node_id",
    "check_node_range",
    "check_page",
    "check_replica_by_chunk",
    "check_replica_key",
    "check_replica_state",
    "check_replica_update",
    "check_replicas",
    "check_size",
    "check_status",
    "check_text",
    "decode_cursor",
    "digest_bytes",
    "encode_cursor",
    "from_micros",
    "not_open",
    "not_swept",
    "to_micros",
]

#: files the sweeper collects (once their retry time has come)
SWEEP_STATUSES = (FileStatus.FAILED.value, FileStatus.DELETING.value)
#: uploads under way: the only files that may record chunks, be touched,
#: complete or fail, and the ones ``claim_stale_uploads`` takes once stale
OPEN_STATUSES = (FileStatus.PENDING.value, FileStatus.UPLOADING.value)
#: the longest lease, in seconds (a day: leases are renewed every few seconds)
MAX_LEASE_TTL = 86400.0

_CHUNK_ID = re.compile(r"^[0-9a-f]{32,64}\Z")
_HEX = re.compile(r"^(?:[0-9a-f]{2}){1,64}\Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_VERSION = "v1"


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the Unix epoch."""
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(
        microsecond=micros % 1_000_000
    )


def check_aware(moment: datetime, what: str) -> datetime:
    """Refuse naive datetimes: every s3node timestamp is UTC-aware."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidRequest(f"{what} must be a timezone-aware datetime, not {moment!r}")
    return moment.astimezone(UTC)


def check_file_id(file_id: object) -> uuid.UUID:
    """A file id must be a :class:`uuid.UUID`."""
    if not isinstance(file_id, uuid.UUID):
        raise InvalidRequest(f"a file id must be a UUID, not {file_id!r}")
    return file_id


def check_text(value: object, what: str, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be text, not {type(value).__name__}")
    if not low <= len(value) <= high:
        raise InvalidRequest(f"{what} must be {low} to {high} characters long")
    if "\x00" in value:
        raise InvalidRequest(f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{what} must be valid unicode (it has a lone surrogate)") from None
    return value


def check_new_file(
    *,
    filename: str,
    content_type: str,
    checksum_algorithm: str,
    chunk_size: int,
    file_id: uuid.UUID | None,
    first_chunk: ChunkRecord | None = None,
) -> uuid.UUID:
    """Check the arguments of ``create_file``; return the file id (a new one for ``None``)."""
    if first_chunk is not None and (file_id is None or first_chunk.file_id != file_id):
        raise InvalidRequest("a file's first chunk must name the file's id")
    check_text(filename, "filename", 1, 1024)
    check_text(content_type, "content type", 0, 255)
    check_text(checksum_algorithm, "checksum algorithm", 1, 64)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidRequest(f"chunk size must be a whole number of at least 1, not {chunk_size!r}")
    if chunk_size > 2**62:
        raise InvalidRequest("chunk size too large")
    return uuid.uuid4() if file_id is None else check_file_id(file_id)


def digest_bytes(hexdigest: object, what: str = "checksum") -> bytes:
    """The bytes of a lowercase hex digest (1 to 64 bytes)."""
    if not isinstance(hexdigest, str) or not _HEX.match(hexdigest):
        raise InvalidRequest(
            f"{what} must be lowercase hex of 1 to 64 bytes, not {hexdigest!r:.80}"
        )
    return bytes.fromhex(hexdigest)


def check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidRequest(f"{what} must be a whole number of at least 0, not {value!r}")
    return value


def check_size(size: object) -> int:
    """A byte count: a whole number of at least 0."""
    return check_count(size, "size")


def check_chunk(chunk: ChunkRecord) -> bytes:
    """Check a chunk record before it is stored; return its digest's bytes."""
    if not isinstance(chunk, ChunkRecord):
        raise InvalidRequest(f"not a ChunkRecord: {chunk!r:.80}")
    check_file_id(chunk.file_id)
    if check_count(chunk.index, "chunk index") >= 2**31:
        raise InvalidRequest("chunk index too large")
    check_chunk_id(chunk.chunk_id)
    check_size(chunk.size)
    check_text(chunk.checksum_algorithm, "checksum algorithm", 1, 64)
    digest = digest_bytes(chunk.checksum, "chunk checksum")
    seen: set[str] = set()
    for replica in chunk.replicas:
        check_node_id(replica.node_id)
        if replica.node_id in seen:
            raise InvalidRequest(f"chunk {chunk.index} lists node {replica.node_id!r} twice")
        seen.add(replica.node_id)
        check_replica_state(replica.state)
    return digest


def check_chunk_id(chunk_id: object) -> str:
    """A chunk id: 32 to 64 lowercase hex characters (:class:`InvalidChunkId`)."""
    if not isinstance(chunk_id, str) or not _CHUNK_ID.match(chunk_id):
        raise InvalidChunkId(
            f"chunk id must be 32 to 64 lowercase hex characters, not {chunk_id!r:.80}"
        )
    return chunk_id


def check_node_id(node_id: object) -> str:
    """A node id is 1 to 63 characters of text."""
    return check_text(node_id, "node id", 1, 63)


def check_replica_state(state: object) -> ReplicaState:
    """A replica state must be a :class:`ReplicaState`."""
    if not isinstance(state, ReplicaState):
        raise InvalidRequest(f"not a replica state: {state!r}")
    return state


def check_page(page: object, per_page: object) -> tuple[int, int]:
    """Check a numbered page request: page from 1, 1 to MAX_PAGE_SIZE per page."""
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= 2**31:
        raise InvalidRequest(f"page must be a whole number of at least 1, not {page!r}")
    return page, check_limit(per_page, "per_page")


def check_limit(limit: object, what: str = "limit") -> int:
    """A page size: 1 to :data:`MAX_PAGE_SIZE`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidRequest(
            f"{what} must be a whole number from 1 to {MAX_PAGE_SIZE}, not {limit!r}"
        )
    return limit


def check_status(status: object) -> str | None:
    """A listing filter: a :class:`FileStatus` or ``None``."""
    if status is None:
        return None
    if not isinstance(status, FileStatus):
        raise InvalidRequest(f"not a file status: {status!r}")
    return status.value


def encode_cursor(created_at: datetime, file_id: uuid.UUID) -> str:
    """The opaque keyset cursor that points just past a file in a listing."""
    raw = f"{_CURSOR_VERSION}:{to_micros(created_at)}:{file_id.hex}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: object) -> tuple[int, uuid.UUID]:
    """The (created_at microseconds, file id) a cursor points past."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 200:
        raise InvalidRequest("invalid listing cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, micros, hexid = raw.split(":")
        if version != _CURSOR_VERSION or not micros.lstrip("-").isdigit():
            raise ValueError(raw)
        from_micros(int(micros))  # a moment a datetime (and every backend) can hold
        return int(micros), uuid.UUID(hex=hexid)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise InvalidRequest("invalid listing cursor") from None


def check_replicas(replicas: object) -> int:
    """A replica count: a whole number of at least 1."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas < 2**31:
        raise InvalidRequest(f"replicas must be a whole number of at least 1, not {replicas!r}")
    return replicas


def check_replica_key(file_id: object, index: object, node_id: object) -> None:
    """Check the arguments of ``drop_replica``: the key of one replica row."""
    check_file_id(file_id)
    check_chunk_index(index)
    check_node_id(node_id)


def check_replica_update(file_id: object, index: object, node_id: object, state: object) -> None:
    """Check the arguments of ``set_replica_state``."""
    check_replica_key(file_id, index, node_id)
    check_replica_state(state)


def check_replica_by_chunk(chunk_id: object, node_id: object, state: object) -> None:
    """Check the arguments of ``set_replica_state_by_chunk``."""
    check_chunk_id(chunk_id)
    check_node_id(node_id)
    check_replica_state(state)


def check_node_range(node_id: object, after: object, upto: object, limit: object) -> int:
    """
    Check the arguments of ``node_replicas``; return the limit.  The bounds
    are any text (compared byte by byte), ``after`` possibly empty.
    """
    check_node_id(node_id)
    check_text(after, "after", 0, 200)
    if upto is not None:
        check_text(upto, "upto", 1, 200)
    return check_limit(limit)


def check_claim(stale_before: object, limit: object) -> tuple[datetime, int]:
    """Check the arguments of ``claim_stale_uploads``; return them (the time in UTC)."""
    return check_aware(stale_before, "stale_before"), check_limit(limit)  # type: ignore[arg-type]


def check_defer(file_id: object, until: object, attempts: object) -> datetime:
    """Check the arguments of ``defer_sweep``; return ``until`` in UTC."""
    check_file_id(file_id)
    check_count(attempts, "attempts")
    if attempts >= 2**31:  # type: ignore[operator]
        raise InvalidRequest("attempts too large")
    return check_aware(until, "until")  # type: ignore[arg-type]


def check_lease_holder(name: object, holder: object) -> None:
    """A lease name and holder: 1 to 255 characters of text each."""
    check_text(name, "lease name", 1, 255)
    check_text(holder, "lease holder", 1, 255)


def check_lease(name: object, holder: object, now: object, ttl: object) -> tuple[datetime, datetime]:
    """
    Check the arguments of ``try_lease``; return ``now`` and the lease's
    expiry ``now + ttl``, both in UTC and whole microseconds (as every
    backend stores them).
    """
    check_lease_holder(name, holder)
    moment = to_micros(check_aware(now, "now"))  # type: ignore[arg-type]
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, (int, float))
        or not 0 < ttl <= MAX_LEASE_TTL
    ):
        raise InvalidRequest(f"a lease ttl must be seconds from 0 to {MAX_LEASE_TTL:g}, not {ttl!r}")
    try:
        return from_micros(moment), from_micros(moment + round(ttl * 1_000_000))
    except (OverflowError, ValueError):
        raise InvalidRequest(f"a lease from {now} for {ttl} s ends out of range") from None


def not_open(file_id: uuid.UUID, status: str | None) -> FileNotFound | UploadAborted:
    """
    The error of an upload whose file is no longer ``pending``/``uploading``
    (:class:`UploadAborted`), or is gone (``status`` ``None``: :class:`FileNotFound`).
    """
    if status is None:
        return FileNotFound(f"no file {file_id}")
    return UploadAborted(f"file {file_id} is {status}: its upload was aborted")


def not_swept(file_id: uuid.UUID, status: str | None) -> FileNotFound | Conflict:
    """
    The error of ``defer_sweep`` on a file that is neither ``failed`` nor
    ``deleting`` (:class:`Conflict`), or is gone (``status`` ``None``).
    """
    if status is None:
        return FileNotFound(f"no file {file_id}")
    return Conflict(f"file {file_id} is {status}: only failed and deleting files are swept")


def check_complete(file_id: object, size: object, checksum: object, replicas: object,
                   stored: Sequence[tuple[object, object]] = (),
                   inline: object = None) -> bytes:
    """
    Check the arguments of ``complete_file``; return the file digest's bytes.

    ``inline`` (the content of an inline file, or ``None``) must be
    :class:`bytes` of exactly ``size`` bytes, at most :data:`s3node.config.MAX_INLINE_SIZE`,
    and comes with no ``stored`` replicas (an inline file has no chunk).
    """
    check_file_id(file_id)
    check_size(size)
    digest = digest_bytes(checksum)
    check_replicas(replicas)
    for index, node_id in stored:
        check_replica_key(file_id, index, node_id)
    if inline is not None:
        if not isinstance(inline, bytes):
            raise InvalidRequest(f"inline content must be bytes, not {type(inline).__name__}")
        if len(inline) > MAX_INLINE_SIZE:
            raise InvalidRequest(
                f"inline content is at most {MAX_INLINE_SIZE} bytes, not {len(inline)}")
        if len(inline) != size:
            raise InvalidRequest(
                f"file {file_id}'s inline content is {len(inline)} bytes, not the {size} declared")
        if stored:
            raise InvalidRequest(
                f"file {file_id} is inline: it has no chunk, so no stored replicas")
    return digest


def check_chunk_index(index: object) -> int:
    """A chunk index: a whole number from 0."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2**31:
        raise InvalidRequest(f"a chunk index must be a whole number of at least 0, not {index!r}")
    return index


def check_completion(
    file_id: uuid.UUID,
    size: int,
    replicas: int,
    count: int,
    total: int,
    last_index: int,
    short: int,
    fewest: int | None,
    *,
    inline: bytes | None = None,
) -> None:
    """
    Refuse to complete a file whose chunks do not cover ``size`` bytes
    contiguously or lack stored replicas (:class:`NotEnoughReplicas`).

    An inline file (``inline`` not ``None``, already checked by
    :func:`check_complete` to be ``size`` bytes) must have no chunk at all
    (:class:`InvalidRequest`); its bytes are its content.
    """
    if inline is not None:
        if count:
            raise InvalidRequest(
                f"file {file_id} has {count} chunks recorded: an inline file has none")
        return
    if count != last_index + 1:
        raise NotEnoughReplicas(
            f"file {file_id} has {count} chunks recorded but its last chunk index is "
            f"{last_index}: chunks are missing"
        )
    if short:
        raise NotEnoughReplicas(
            f"{short} of the {count} chunks of file {file_id} have fewer than {replicas} "
            f"stored replicas (the fewest: {fewest})"
        )
    if total != size:
        raise NotEnoughReplicas(
            f"the chunks of file {file_id} add up to {total} bytes, not the {size} declared"
        )
