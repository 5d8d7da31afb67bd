"""``--chunk-checksum``: chunks verified with a cheaper checksum, the file still with SHA-256."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import pytest_twisted
import treq
from blake3 import blake3
from gateway.conftest import running_gateway
from gateway.test_app_files import upload
from support.chunks import counting_sha256

from s3node.core.checksums import BUILTIN_ALGORITHMS, hexdigest_of


@pytest_twisted.ensureDeferred
async def test_chunks_carry_crc32c_while_the_file_keeps_sha256():
    """With chunk_checksum crc32c each chunk records its CRC-32C, the file its SHA-256, and a download verifies and round-trips."""
    data = bytes(range(256)) * 10  # 2560 bytes: 3 chunks of 1000
    async with running_gateway(chunk_checksum="crc32c") as gw:
        code, reply = await upload(gw.url, data)
        assert code == 201, reply
        assert reply["checksum_algorithm"] == "sha256"
        assert reply["checksum"] == hashlib.sha256(data).hexdigest()
        chunks = gw.store.chunks[uuid.UUID(reply["file_id"])]
        crc = BUILTIN_ALGORITHMS["crc32c"]
        assert sorted(chunks) == [0, 1, 2]
        for i, chunk in chunks.items():
            assert chunk.checksum_algorithm == "crc32c"
            assert chunk.checksum == hexdigest_of(crc, data[i * 1000:(i + 1) * 1000])
        r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
        assert r.code == 200
        assert await r.content() == data


@pytest_twisted.ensureDeferred
async def test_chunks_default_to_blake3_and_the_file_to_sha256(gw):
    """By default chunks carry BLAKE3 digests and the file its SHA-256; with
    chunk_checksum empty (None), chunks use the --checksum algorithm."""
    data = b"x" * 1500
    code, reply = await upload(gw.url, data)
    assert code == 201, reply
    assert reply["checksum"] == hashlib.sha256(data).hexdigest()
    chunks = gw.store.chunks[uuid.UUID(reply["file_id"])]
    assert [chunks[i].checksum_algorithm for i in sorted(chunks)] == ["blake3", "blake3"]
    assert chunks[0].checksum == blake3(data[:1000]).hexdigest()
    async with running_gateway(chunk_checksum=None) as same:
        code, reply = await upload(same.url, data)
        assert code == 201, reply
        chunks = same.store.chunks[uuid.UUID(reply["file_id"])]
        assert [chunks[i].checksum_algorithm for i in sorted(chunks)] == ["sha256", "sha256"]
        assert chunks[0].checksum == hashlib.sha256(data[:1000]).hexdigest()


@pytest.fixture
def sha256_fed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``[n]``: the bytes every ``sha256`` hasher of the gateway was fed so far."""
    fed = [0]
    monkeypatch.setitem(BUILTIN_ALGORITHMS, "sha256", counting_sha256(fed))
    return fed


@pytest.mark.parametrize(("size", "hashed"), [
    (700, 700),  # one chunk: one pass gives the file's digest and the chunk's
    (2500, 2500 + 1500),  # the file's pass, then the chunks after the first
])
@pytest_twisted.ensureDeferred
async def test_the_first_chunk_is_hashed_once_for_the_file_and_itself(sha256_fed, size, hashed):
    """With one algorithm for both, the first chunk's digest is the file's digest so far."""
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    async with running_gateway(chunk_checksum="sha256") as gw:
        code, reply = await upload(gw.url, data)
        assert code == 201, reply
        assert sha256_fed[0] == hashed + 2 * size  # and each of 2 fake nodes checks its replica
        assert reply["checksum"] == hashlib.sha256(data).hexdigest()
        chunks = gw.store.chunks[uuid.UUID(reply["file_id"])]
        assert {i: c.checksum for i, c in chunks.items()} == {
            i: hashlib.sha256(data[i * 1000:(i + 1) * 1000]).hexdigest()
            for i in range(-(-size // 1000))}
        r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
        assert await r.content() == data


@pytest.mark.parametrize("chunk_checksum", ["crc32c", "blake3"])
@pytest_twisted.ensureDeferred
async def test_a_first_chunk_of_another_algorithm_is_hashed_on_its_own(sha256_fed,
                                                                      chunk_checksum):
    """With CRC-32C or BLAKE3 chunks, SHA-256 hashes the file once and nothing else."""
    data = b"y" * 700
    async with running_gateway(chunk_checksum=chunk_checksum) as gw:
        code, reply = await upload(gw.url, data)
        assert code == 201, reply
        assert sha256_fed[0] == 700
        chunk = gw.store.chunks[uuid.UUID(reply["file_id"])][0]
        assert chunk.checksum == hexdigest_of(BUILTIN_ALGORITHMS[chunk_checksum], data)


@pytest.mark.parametrize(("chunk_checksum", "sends_crc"), [(None, True), ("crc32c", False)])
@pytest_twisted.ensureDeferred
async def test_each_replica_is_sent_with_its_chunks_crc32c(chunk_checksum, sends_crc):
    """
    Every put of an upload's chunk carries the CRC-32C of the chunk's bytes
    (each fake node checks it against what it received), unless the chunks are
    CRC-32C themselves: then the digest is that check already.
    """
    data = bytes(range(256)) * 10  # 3 chunks of at most 1000 bytes, 2 replicas each
    settings = {"chunk_checksum": chunk_checksum} if chunk_checksum else {}
    async with running_gateway(**settings) as gw:
        code, reply = await upload(gw.url, data)
        assert code == 201, reply
        sent = sorted((c for n in gw.nodes.values() for c in n.transfer_checks),
                      key=lambda c: c or "")
    crcs = [hexdigest_of(BUILTIN_ALGORITHMS["crc32c"], data[i:i + 1000])
            for i in range(0, len(data), 1000)]
    assert sent == (sorted(crcs * 2) if sends_crc else [None] * 6)
