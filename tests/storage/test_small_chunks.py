"""
PutSmallChunk and GetSmallChunk on a real node over gRPC: a chunk (or a read)
of at most ``SMALL_CHUNK`` bytes in one message each way, checked and answered
as PutChunk and GetChunk are; the client uses them for small chunks, and
streams to a node that predates them.
"""

from __future__ import annotations

import grpc
import pytest
import pytest_twisted
from storage.conftest import loopback_node_config
from support.aio import aio_test, as_deferred
from support.chunks import NODE_MAX_CHUNK, collect, new_chunk, sha256_hex
from support.scrape import parse

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.core.checksums import Crc32c
from s3node.errors import ChecksumMismatch, ChunkNotFound, CorruptChunk, InvalidRequest
from s3node.storage import servicer
from s3node.storage.client import StorageClient
from s3node.storage.wire import SMALL_CHUNK

NODE = {"node": "node-a"}


async def _calls(node, method: str, code: str = "OK") -> float:  # type: ignore[no-untyped-def]
    body, _ = await node.metrics.exposition(None)
    return parse(body).get("s3node_storage_calls_total", method=method, code=code, **NODE)


def _small_put(chunk_id: str, data: bytes, digest: str, *, size: int | None = None,
               crc: str = "") -> pb.PutSmallChunkRequest:
    header = pb.PutChunkHeader(chunk_id=chunk_id, size=len(data) if size is None else size,
                               checksum_algorithm="sha256", digest=digest, transfer_crc32c=crc)
    return pb.PutSmallChunkRequest(header=header, data=data)


async def _status_of(call) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        await call
    return e.value.code().name, dict(e.value.trailing_metadata() or ()).get("s3node-error-code")


@pytest_twisted.ensureDeferred
async def test_a_small_chunk_goes_in_one_call_each_way(node, client) -> None:
    """put_chunk of a small chunk is one PutSmallChunk; get_small_chunk one GetSmallChunk,
    whole or a range; neither opens a stream."""
    chunk_id, data, digest = new_chunk(SMALL_CHUNK)
    result = await as_deferred(client.put_chunk(chunk_id, data, algorithm="sha256",
                                                digest=digest))
    assert (result.size, result.digest, result.created) == (len(data), digest, True)
    assert await as_deferred(client.get_small_chunk(chunk_id)) == data
    assert await as_deferred(client.get_small_chunk(chunk_id, offset=10, length=20)) == data[10:30]
    assert await as_deferred(collect(client.get_chunk(chunk_id))) == data  # streams still work
    assert (await _calls(node, "PutSmallChunk"), await _calls(node, "PutChunk")) == (1, 0)
    assert (await _calls(node, "GetSmallChunk"), await _calls(node, "GetChunk")) == (2, 1)


@aio_test
async def test_put_small_chunk_checks_what_put_chunk_checks(stub) -> None:
    """Each bad PutSmallChunk gets PutChunk's status and error code, and stores nothing."""
    chunk_id, data, digest = new_chunk(4096)
    crc = Crc32c(data).hexdigest()
    cases = [
        (_small_put(chunk_id, data, "0" * 64), ("DATA_LOSS", "checksum_mismatch")),
        (_small_put(chunk_id, data, digest, size=4095), ("INVALID_ARGUMENT", "size_mismatch")),
        (_small_put(chunk_id, data, digest, size=4097), ("INVALID_ARGUMENT", "size_mismatch")),
        (_small_put(chunk_id, data, digest, crc="00000000"),
         ("DATA_LOSS", "checksum_mismatch")),
        (_small_put("../../x", data, digest), ("INVALID_ARGUMENT", "invalid_chunk_id")),
        (pb.PutSmallChunkRequest(data=data), ("INVALID_ARGUMENT", "bad_request")),
        (_small_put(chunk_id, bytes(SMALL_CHUNK + 1), sha256_hex(bytes(SMALL_CHUNK + 1))),
         ("INVALID_ARGUMENT", "bad_request")),
    ]
    for request, expected in cases:
        assert await _status_of(stub.PutSmallChunk(request)) == expected, request.header
    assert (await stub.Health(pb.HealthRequest())).chunk_count == 0
    # with the right CRC-32C the node checks the bytes against it and keeps the digest
    reply = await stub.PutSmallChunk(_small_put(chunk_id, data, digest, crc=crc))
    assert (reply.created, reply.digest) == (True, digest)
    again = await stub.PutSmallChunk(_small_put(chunk_id, data, digest))
    assert again.created is False
    other = data[:-1] + bytes([data[-1] ^ 1])
    assert await _status_of(stub.PutSmallChunk(_small_put(chunk_id, other, sha256_hex(other)))) \
        == ("ALREADY_EXISTS", "chunk_exists")


@aio_test
async def test_get_small_chunk_reads_at_most_small_chunk_bytes(stub, client) -> None:
    """A read of more than SMALL_CHUNK bytes is refused (a range of it is not); a missing
    chunk or a bad range gets GetChunk's status."""
    chunk_id, data, digest = new_chunk(SMALL_CHUNK + 100)
    await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    whole = pb.GetChunkRequest(chunk_id=chunk_id)
    assert await _status_of(stub.GetSmallChunk(whole)) == ("INVALID_ARGUMENT", "bad_request")
    part = pb.GetChunkRequest(chunk_id=chunk_id, offset=100, length=SMALL_CHUNK)
    reply = await stub.GetSmallChunk(part)
    assert (reply.info.size, reply.info.digest, reply.data) == (len(data), digest, data[100:])
    missing = pb.GetChunkRequest(chunk_id="ab" * 32)
    assert await _status_of(stub.GetSmallChunk(missing)) == ("NOT_FOUND", "chunk_not_found")
    beyond = pb.GetChunkRequest(chunk_id=chunk_id, offset=len(data) - 1, length=2)
    assert await _status_of(stub.GetSmallChunk(beyond)) == ("OUT_OF_RANGE", "range_not_satisfiable")
    with pytest.raises(InvalidRequest):
        await client.get_small_chunk(chunk_id)


@aio_test
async def test_a_damaged_small_chunk_is_quarantined_by_a_verified_read(node, client) -> None:
    """A reader that verifies itself gets the bytes as they are; a verified read finds
    the damage, quarantines the chunk and answers CorruptChunk."""
    chunk_id, data, digest = new_chunk(4096)
    await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    path = node.store.layout.data_path(chunk_id)
    damaged = bytes([data[0] ^ 1]) + data[1:]
    path.write_bytes(damaged)
    assert await client.get_small_chunk(chunk_id, reader_verifies=True) == damaged
    with pytest.raises(CorruptChunk):
        await client.get_small_chunk(chunk_id, verify=True)
    assert not path.exists()
    with pytest.raises(ChunkNotFound):
        await client.get_small_chunk(chunk_id)
    with pytest.raises(ChecksumMismatch):  # and errors of small puts map as a stream's do
        await client.put_chunk(chunk_id, data, algorithm="sha256", digest=sha256_hex(b"no"))


@pytest_twisted.async_yield_fixture
async def old_node(tmp_path, algorithms, monkeypatch):  # type: ignore[no-untyped-def]
    """A node that predates PutSmallChunk and GetSmallChunk (it answers UNIMPLEMENTED)."""
    from twisted.internet import reactor

    from s3node.storage.service import StorageNodeService

    old = {k: v for k, v in servicer._METHODS.items() if "Small" not in k}
    monkeypatch.setattr(servicer, "_METHODS", old)
    service = StorageNodeService(loopback_node_config(tmp_path, "node-a", NODE_MAX_CHUNK),
                                 reactor, algorithms=algorithms)
    service.startService()
    await service.when_listening()
    yield service
    await service.stopService()


@pytest_twisted.ensureDeferred
async def test_a_node_that_predates_them_gets_streams(old_node) -> None:
    """Against an older node the client's small puts and reads fall back to the streams
    (the node's UNIMPLEMENTED remembered), and work."""
    client = StorageClient(old_node.address)
    try:
        for _ in range(2):
            chunk_id, data, digest = new_chunk(4096)
            await as_deferred(client.put_chunk(chunk_id, data, algorithm="sha256",
                                               digest=digest))
            assert await as_deferred(client.get_small_chunk(chunk_id, offset=1)) == data[1:]
    finally:
        await as_deferred(client.close())
    assert (await _calls(old_node, "PutChunk"), await _calls(old_node, "GetChunk")) == (2, 2)
    assert await _calls(old_node, "PutSmallChunk") == 0
