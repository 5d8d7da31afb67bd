"""
s3node errors <-> gRPC statuses: the one mapping of the storage edge, both ways.

The node (:mod:`s3node.storage.servicer`) turns an :class:`S3NodeError` into a
status with :func:`status_for` and puts the error's ``code`` in the trailing
metadata key :data:`ERROR_CODE_KEY`; the client
(:mod:`s3node.storage.client`) turns a failed call back into the same class with
:func:`error_from_rpc`, by that code when present, else by status.
"""

from __future__ import annotations

import grpc

from s3node import errors as e

__all__ = [
    "ERROR_CODE_KEY",
    "STATUS_BY_ERROR",
    "error_from_code",
    "error_from_rpc",
    "status_for",
]

#: trailing metadata key carrying :attr:`S3NodeError.code`
ERROR_CODE_KEY = "s3node-error-code"

#: error classes to gRPC statuses; subclasses not listed take their parent's
#: (:func:`s3node.errors.lookup`)
STATUS_BY_ERROR: dict[type[e.S3NodeError], grpc.StatusCode] = {
    e.ChecksumMismatch: grpc.StatusCode.DATA_LOSS,
    e.CorruptChunk: grpc.StatusCode.DATA_LOSS,
    e.SizeMismatch: grpc.StatusCode.INVALID_ARGUMENT,
    e.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    e.TooLarge: grpc.StatusCode.INVALID_ARGUMENT,
    e.InvalidRange: grpc.StatusCode.OUT_OF_RANGE,
    e.NotFound: grpc.StatusCode.NOT_FOUND,
    e.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    e.InsufficientStorage: grpc.StatusCode.RESOURCE_EXHAUSTED,
    e.NodeBusy: grpc.StatusCode.RESOURCE_EXHAUSTED,
    e.NodeAuthFailed: grpc.StatusCode.UNAUTHENTICATED,
    e.PutStalled: grpc.StatusCode.DEADLINE_EXCEEDED,
    e.Unavailable: grpc.StatusCode.UNAVAILABLE,
}

#: the class a status stands for when the reply carries no error code
_ERROR_BY_STATUS: dict[grpc.StatusCode, type[e.S3NodeError]] = {
    grpc.StatusCode.DATA_LOSS: e.CorruptChunk,
    grpc.StatusCode.INVALID_ARGUMENT: e.InvalidRequest,
    grpc.StatusCode.OUT_OF_RANGE: e.InvalidRange,
    grpc.StatusCode.NOT_FOUND: e.ChunkNotFound,
    grpc.StatusCode.ALREADY_EXISTS: e.ChunkExists,
    grpc.StatusCode.RESOURCE_EXHAUSTED: e.InsufficientStorage,
    grpc.StatusCode.UNAVAILABLE: e.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: e.TimedOut,
    grpc.StatusCode.CANCELLED: e.Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: e.NodeAuthFailed,
}
#: statuses that always mean "try again, maybe elsewhere", whatever the code says
_TRANSIENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


def status_for(error: e.S3NodeError) -> grpc.StatusCode:
    """The gRPC status of an s3node error (``INTERNAL`` for unmapped ones)."""
    return e.lookup(STATUS_BY_ERROR, error, grpc.StatusCode.INTERNAL)


def _classes_by_code() -> dict[str, type[e.S3NodeError]]:
    found: dict[str, type[e.S3NodeError]] = {}
    pending: list[type[e.S3NodeError]] = [e.S3NodeError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_code(code: str, message: str, address: str = "") -> e.S3NodeError:
    """
    The s3node error a node named by its code (a bulk put's reply:
    :mod:`s3node.storage.bulkclient`); an unknown code gives an
    :class:`s3node.errors.S3NodeError`.
    """
    cls = _classes_by_code().get(code, e.S3NodeError)
    where = f"storage node {address}: " if address else ""
    return cls(f"{where}{message or cls.__name__}")


def _code_of(rpc_error: grpc.RpcError) -> str | None:
    metadata = getattr(rpc_error, "trailing_metadata", None)
    pairs = metadata() if callable(metadata) else None
    for key, value in pairs or ():
        if key == ERROR_CODE_KEY:
            return value if isinstance(value, str) else value.decode("ascii", "replace")
    return None


def error_from_rpc(rpc_error: grpc.RpcError, address: str = "") -> e.S3NodeError:
    """
    The s3node error a failed call stands for: the class named by the reply's
    error code when its status agrees, else the class of its status.

    ``UNAVAILABLE`` and ``CANCELLED`` always give an
    :class:`s3node.errors.Unavailable`, and ``DEADLINE_EXCEEDED`` always a
    :class:`s3node.errors.TimedOut` (a subclass the code names is kept), so a
    caller can tell a node that did not answer in time from one it could not
    reach.  The message keeps the node's details.
    """
    status = rpc_error.code() if callable(getattr(rpc_error, "code", None)) else None
    details = rpc_error.details() if callable(getattr(rpc_error, "details", None)) else None
    details = details or (status.name if status is not None else "unknown error")
    where = f"storage node {address}: " if address else ""
    by_status = _ERROR_BY_STATUS.get(status, e.S3NodeError) if status is not None else e.S3NodeError
    cls = _classes_by_code().get(_code_of(rpc_error) or "")
    if cls is not None and status is not None:
        agrees = (issubclass(cls, by_status) if status in _TRANSIENT
                  else status_for(cls()) == status)
        if not agrees:
            cls = None
    if cls is None:
        cls = by_status
    if status is not None and status in _TRANSIENT:
        return cls(f"{where}{status.name.lower()}: {details}")
    return cls(f"{where}{details}")
