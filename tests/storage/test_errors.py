"""
The storage edge's one mapping between s3node errors and gRPC statuses, both
ways: what the node sends is what the client raises.
"""

from __future__ import annotations

import grpc
import pytest

from s3node import errors as e
from s3node.errors import NodeBusy, PutStalled
from s3node.storage.errors import ERROR_CODE_KEY, error_from_rpc, status_for


class FakeRpcError(grpc.RpcError):
    """A failed call as grpc.aio reports it: status, details, trailing metadata."""

    def __init__(self, status, details="details", code=None):
        super().__init__()
        self._status, self._details = status, details
        self._metadata = ((ERROR_CODE_KEY, code),) if code else ()

    def code(self):
        return self._status

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._metadata


S = grpc.StatusCode
CASES = [
    (e.InvalidChunkId("x"), S.INVALID_ARGUMENT),
    (e.InvalidRequest("x"), S.INVALID_ARGUMENT),
    (e.SizeMismatch("x"), S.INVALID_ARGUMENT),
    (e.TooLarge("x"), S.INVALID_ARGUMENT),
    (e.ChecksumMismatch("x"), S.DATA_LOSS),
    (e.CorruptChunk("x"), S.DATA_LOSS),
    (e.InvalidRange("x"), S.OUT_OF_RANGE),
    (e.ChunkNotFound("x"), S.NOT_FOUND),
    (e.ChunkExists("x"), S.ALREADY_EXISTS),
    (e.InsufficientStorage("x"), S.RESOURCE_EXHAUSTED),
    (NodeBusy("x"), S.RESOURCE_EXHAUSTED),
    (PutStalled("x"), S.DEADLINE_EXCEEDED),
    (e.ShuttingDown("x"), S.UNAVAILABLE),
    (e.Unavailable("x"), S.UNAVAILABLE),
    (e.S3NodeError("x"), S.INTERNAL),
]


@pytest.mark.parametrize(("error", "status"), CASES, ids=lambda v: getattr(v, "code", v))
def test_round_trip_of_each_error(error, status):
    """Each error maps to its documented status, and the client maps it back to the same class."""
    assert status_for(error) == status
    back = error_from_rpc(FakeRpcError(status, "why it failed", error.code), "10.0.0.1:5")
    assert type(back) is type(error)
    assert "why it failed" in back.message and "10.0.0.1:5" in back.message


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (S.NOT_FOUND, e.ChunkNotFound),
        (S.DATA_LOSS, e.CorruptChunk),
        (S.ALREADY_EXISTS, e.ChunkExists),
        (S.OUT_OF_RANGE, e.InvalidRange),
        (S.INVALID_ARGUMENT, e.InvalidRequest),
        (S.RESOURCE_EXHAUSTED, e.InsufficientStorage),
        (S.UNAVAILABLE, e.Unavailable),
        (S.DEADLINE_EXCEEDED, e.TimedOut),
        (S.CANCELLED, e.Unavailable),
        (S.UNIMPLEMENTED, e.S3NodeError),
    ],
)
def test_status_alone_maps_to_a_class(status, cls):
    """A reply without an error code is mapped by its status."""
    assert type(error_from_rpc(FakeRpcError(status))) is cls


@pytest.mark.parametrize("code", [None, "unavailable", "shutting_down", "chunk_not_found"])
def test_a_deadline_is_always_a_timeout(code):
    """DEADLINE_EXCEEDED gives TimedOut whatever the error code says, even a code of
    another Unavailable class: a node that answered too late is not a node unreachable."""
    error = error_from_rpc(FakeRpcError(S.DEADLINE_EXCEEDED, "slow", code), "10.0.0.1:5")
    assert type(error) is e.TimedOut
    assert error.message == "storage node 10.0.0.1:5: deadline_exceeded: slow"


@pytest.mark.parametrize(("status", "code", "cls"), [
    (S.UNAVAILABLE, "timeout", e.TimedOut),
    (S.UNAVAILABLE, "overloaded", e.Overloaded),
    (S.UNAVAILABLE, "shutting_down", e.ShuttingDown),
    (S.CANCELLED, "shutting_down", e.ShuttingDown),
    (S.DEADLINE_EXCEEDED, "timeout", e.TimedOut),
])
def test_a_transient_status_keeps_the_subclass_its_code_names(status, code, cls):
    """A transient status with an error code naming a subclass of the status's class
    gives that subclass."""
    assert type(error_from_rpc(FakeRpcError(status, code=code))) is cls


def test_a_code_that_disagrees_with_the_status_is_ignored():
    """An error code whose class has another status does not override the status."""
    error = error_from_rpc(FakeRpcError(S.NOT_FOUND, code="checksum_mismatch"))
    assert type(error) is e.ChunkNotFound


def test_unknown_code_falls_back_to_status():
    """An error code this client does not know is mapped by status."""
    assert type(error_from_rpc(FakeRpcError(S.DATA_LOSS, code="new_thing"))) is e.CorruptChunk
