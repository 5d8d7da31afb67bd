"""``--chunk-checksum``: chunks verified with a cheaper checksum, the file still with SHA-256."""

from __future__ import annotations

import hashlib
import uuid

import pytest_twisted
import treq
from gateway.conftest import running_gateway
from gateway.test_app_files import upload

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
async def test_chunk_checksum_defaults_to_the_file_checksum(gw):
    """Without chunk_checksum, chunks use the --checksum algorithm (SHA-256)."""
    data = b"x" * 1500
    code, reply = await upload(gw.url, data)
    assert code == 201, reply
    chunks = gw.store.chunks[uuid.UUID(reply["file_id"])]
    assert [chunks[i].checksum_algorithm for i in sorted(chunks)] == ["sha256", "sha256"]
    assert chunks[0].checksum == hashlib.sha256(data[:1000]).hexdigest()
