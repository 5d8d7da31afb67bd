"""
The one exception hierarchy of s3node, and the helpers both edges share.

Every error that s3node raises on purpose derives from :class:`S3NodeError`.
Each class names a short machine-readable ``code``; the edges map classes to a
protocol status once (the HTTP gateway in :mod:`s3node.gateway.errors`, the
gRPC storage node in :mod:`s3node.storage.errors`).  Nothing below the edges
chooses a status code; both edges look a class up with the one rule of
:func:`lookup`, and describe any exception in a log line or error body with
:func:`describe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

_T = TypeVar("_T")


class S3NodeError(Exception):
    """The root of every error s3node raises on purpose."""

    #: short machine-readable code, shown to clients as ``error``
    code = "internal_error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__doc__ or self.code)

    @property
    def message(self) -> str:
        """The human-readable text of this error."""
        return str(self.args[0])


class ConfigurationError(S3NodeError):
    """The configuration is invalid."""

    code = "configuration_error"


class UnknownPlugin(ConfigurationError):
    """No plugin provides the requested name."""

    code = "unknown_plugin"


class InvalidRequest(S3NodeError):
    """The request is malformed."""

    code = "bad_request"


class MalformedMultipart(InvalidRequest):
    """The request body is not valid multipart/form-data."""

    code = "malformed_multipart"


class MissingFilePart(InvalidRequest):
    """The multipart body has no part named ``file``."""

    code = "missing_file"


class MissingFilename(InvalidRequest):
    """The upload's file part has no usable filename."""

    code = "missing_filename"


class InvalidPart(InvalidRequest):
    """A part named to complete a multipart upload was not uploaded, or has another ETag."""

    code = "invalid_part"


class PartTooSmall(InvalidRequest):
    """A part other than the last is smaller than the minimum part size."""

    code = "part_too_small"


class ClientDisconnected(S3NodeError):
    """The client went away before its request body was complete."""

    code = "client_disconnected"


class InvalidChunkId(InvalidRequest):
    """A chunk id is not 32 to 64 lowercase hexadecimal characters."""

    code = "invalid_chunk_id"


class InvalidRange(S3NodeError):
    """The requested byte range cannot be satisfied."""

    code = "range_not_satisfiable"


class IntegrityError(S3NodeError):
    """Data does not match its expected size or checksum."""

    code = "integrity_error"


class ChecksumMismatch(IntegrityError):
    """Data does not match its expected digest."""

    code = "checksum_mismatch"


class SizeMismatch(IntegrityError):
    """Data does not have its declared size."""

    code = "size_mismatch"


class CorruptChunk(IntegrityError):
    """A stored chunk no longer matches its recorded digest (it was quarantined)."""

    code = "corrupt_chunk"


class FileDamaged(IntegrityError):
    """A file has a chunk with no stored replica left on any node: it cannot be read whole."""

    code = "file_damaged"


class NotFound(S3NodeError):
    """The requested thing does not exist."""

    code = "not_found"


class ChunkNotFound(NotFound):
    """No chunk is stored under this id."""

    code = "chunk_not_found"


class FileNotFound(NotFound):
    """No file exists with this id."""

    code = "file_not_found"


class BucketNotFound(NotFound):
    """No bucket has this name."""

    code = "bucket_not_found"


class ObjectNotFound(NotFound):
    """The bucket has no object under this key."""

    code = "object_not_found"


class AccessKeyNotFound(NotFound):
    """No access key has this id (or it was revoked)."""

    code = "access_key_not_found"


class UploadNotFound(NotFound):
    """No multipart upload has this id (it was completed or aborted, or never begun)."""

    code = "upload_not_found"


class NodeNotFound(NotFound):
    """No storage node is registered with this id."""

    code = "node_not_found"


class Unauthenticated(S3NodeError):
    """The request carries no credentials, or ones that are unknown, disabled or wrong."""

    code = "unauthenticated"


class Forbidden(S3NodeError):
    """The request's key is not allowed to do this."""

    code = "forbidden"


class KeyInUse(S3NodeError):
    """A key may not disable, delete or demote itself (nobody could undo it)."""

    code = "key_in_use"


class Conflict(S3NodeError):
    """The request conflicts with what is already stored."""

    code = "conflict"


class ChunkExists(Conflict):
    """A chunk with different content is already stored under this id."""

    code = "chunk_exists"


class BucketExists(Conflict):
    """A bucket with this name exists already."""

    code = "bucket_exists"


class BucketNotEmpty(Conflict):
    """The bucket still holds objects."""

    code = "bucket_not_empty"


class PreconditionFailed(Conflict):
    """A conditional write's condition (If-Match, If-None-Match) did not hold when it committed."""

    code = "precondition_failed"


class UploadAborted(Conflict):
    """
    The upload's file is no longer being uploaded: it was deleted, or the
    sweeper claimed it as abandoned.  The upload stops and never completes.
    """

    code = "upload_aborted"


class FileNotReady(Conflict):
    """The file's upload has not completed."""

    code = "file_not_ready"


class NodeExists(Conflict):
    """A storage node with this id is already registered."""

    code = "node_exists"


class NodeInUse(Conflict):
    """
    The storage node still holds replicas, or has not been drained: drain it
    first (or forget it as lost, giving its replicas up to repair).
    """

    code = "node_in_use"


class TooLarge(S3NodeError):
    """The upload exceeds the configured size limit."""

    code = "too_large"


class InsufficientStorage(S3NodeError):
    """The storage node has no room left for this chunk."""

    code = "insufficient_storage"


class Unavailable(S3NodeError):
    """A service s3node depends on does not answer; try again later."""

    code = "unavailable"


class MetadataUnavailable(Unavailable):
    """The metadata database does not answer."""

    code = "metadata_unavailable"


class TimedOut(Unavailable):
    """A storage node did not answer in time."""

    code = "timeout"


class Overloaded(Unavailable):
    """Too many requests of this kind are under way; try again shortly."""

    code = "overloaded"


class NodeBusy(Overloaded):
    """The storage node serves as many calls as it may (``--max-concurrent-calls``)."""

    code = "node_busy"


class NodeAuthFailed(Unavailable):
    """
    A storage node refused the caller's cluster credential (no cluster secret,
    a wrong one, or no acceptable TLS client certificate).
    """

    code = "node_unauthenticated"


class PutStalled(TimedOut):
    """A put stream sent nothing for longer than the node waits (``--put-idle-timeout``)."""

    code = "put_stalled"


class NotEnoughReplicas(Unavailable):
    """A chunk could not be written to or read from enough storage nodes."""

    code = "not_enough_replicas"


class ShuttingDown(Unavailable):
    """The service is shutting down."""

    code = "shutting_down"


def lookup(table: Mapping[type[S3NodeError], _T], error: BaseException, default: _T) -> _T:
    """
    The value ``table`` gives the most specific class of ``error``.

    The one rule of both edges (HTTP statuses in :mod:`s3node.gateway.errors`,
    gRPC statuses in :mod:`s3node.storage.errors`): walk the error's class
    hierarchy from the class itself upwards and take the first class listed,
    so a table lists a subclass only where it differs from its parent;
    ``default`` when none is listed.
    """
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return default


def describe(error: BaseException) -> str:
    """
    A one-line description of any exception, for a log line or an error body.

    An :class:`S3NodeError`'s own message; for anything else, which carries
    no message meant for people, its ``repr``.
    """
    if isinstance(error, S3NodeError):
        return error.message
    return repr(error)
