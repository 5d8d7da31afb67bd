"""
Requests whose messages protobuf cannot decode (a string field with bad
UTF-8, a truncated field), in a PutChunk stream or any other call: the node
refuses them as bad requests, with the documented status and error code, and
stores nothing.
"""

from __future__ import annotations

import grpc
import pytest
import pytest_twisted
from support.aio import aio_test, as_deferred
from support.chunks import new_chunk

from s3node._proto.storage.v1 import storage_pb2 as pb


@pytest_twisted.async_yield_fixture
async def raw_put(node):
    """PutChunk taking already-serialised request messages (bytes)."""
    channel = grpc.aio.insecure_channel(node.address)
    yield channel.stream_unary(
        "/s3node.storage.v1.Storage/PutChunk",
        request_serializer=lambda raw: raw,
        response_deserializer=pb.PutChunkResponse.FromString,
    )
    await as_deferred(channel.close())


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _header(chunk_id: bytes, size: int, digest: str) -> bytes:
    header = (
        _bytes_field(1, chunk_id)
        + _varint(2 << 3)
        + _varint(size)
        + _bytes_field(3, b"sha256")
        + _bytes_field(4, digest.encode())
    )
    return _bytes_field(1, header)


async def _refusal(raw_put, messages: list[bytes]) -> tuple[grpc.StatusCode, str | None]:
    async def requests():
        for message in messages:
            yield message

    with pytest.raises(grpc.RpcError) as e:
        await raw_put(requests(), timeout=10)
    return e.value.code(), dict(e.value.trailing_metadata() or ()).get("s3node-error-code")


@pytest.mark.parametrize(
    "case", ["bad utf-8 id", "truncated header", "truncated data", "bad second message"]
)
@aio_test
async def test_undecodable_put_messages_are_bad_requests(node, raw_put, case):
    """An undecodable PutChunk message gets INVALID_ARGUMENT (bad_request); nothing is kept."""
    chunk_id, data, digest = new_chunk(100)
    good_header = _header(chunk_id.encode(), len(data), digest)
    messages = {
        "bad utf-8 id": [_header(b"\xff\xfe" + b"a" * 38, len(data), digest)],
        "truncated header": [good_header[:-3]],
        "truncated data": [good_header, _bytes_field(2, data)[:-10]],
        "bad second message": [good_header, _bytes_field(1, _bytes_field(1, b"\xc0\x80" * 20))],
    }[case]
    assert await _refusal(raw_put, messages) == (grpc.StatusCode.INVALID_ARGUMENT, "bad_request")
    store = node.store
    assert not store.layout.data_path(chunk_id).exists()
    assert list(store.layout.tmp.iterdir()) == []
    assert (await store.usage()).chunk_count == 0


@pytest.mark.parametrize(
    ("method", "streaming"),
    [
        ("StatChunk", False),
        ("DeleteChunk", False),
        ("ListChunks", False),
        ("GetChunk", True),
        ("ListQuarantined", False),
        ("DropQuarantined", False),
    ],
)
@aio_test
async def test_undecodable_requests_are_bad_requests(node, method, streaming):
    """A request protobuf cannot decode gets INVALID_ARGUMENT with an error code, not UNKNOWN."""
    chunk_id = new_chunk(10)[0]
    channel = grpc.aio.insecure_channel(node.address)
    try:
        make = channel.unary_stream if streaming else channel.unary_unary
        call = make(
            f"/s3node.storage.v1.Storage/{method}",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )
        # page_token, else chunk_id (entry_id for DropQuarantined)
        field = 2 if method in ("ListChunks", "ListQuarantined") else 1
        request = _bytes_field(field, b"\xff" + chunk_id.encode()[1:])
        with pytest.raises(grpc.RpcError) as e:
            if streaming:
                async for _ in call(request, timeout=10):
                    pass
            else:
                await call(request, timeout=10)
        code = dict(e.value.trailing_metadata() or ()).get("s3node-error-code")
        assert (e.value.code(), code) == (grpc.StatusCode.INVALID_ARGUMENT, "bad_request")
    finally:
        await channel.close()
