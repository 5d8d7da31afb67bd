"""
A put that carries the sender's CRC-32C of the chunk (``transfer_crc32c``):
every store checks the bytes against it instead of hashing them with the
chunk's algorithm, records the sender's digest, and a verified read still
checks the bytes against that digest.
"""

from __future__ import annotations

import hashlib

import pytest
from storage.conftest import open_disk_store
from support.aio import aio_test
from support.chunks import counting_sha256, new_chunk
from support.chunkstores import leftovers, put, read

from s3node.core.checksums import CRC32C, hexdigest_of
from s3node.core.chunking import FRAME_SIZE
from s3node.errors import ChecksumMismatch, ChunkNotFound, CorruptChunk, InvalidRequest


def crc32c(data: bytes) -> str:
    return hexdigest_of(CRC32C, data)


@aio_test
async def test_a_put_with_the_senders_crc_is_stored_with_its_digest(store):
    """The chunk is stored with its SHA-256, reads back byte-exact, and a verified read passes."""
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE + 77)
    pieces = [data[i : i + 300_000] for i in range(0, len(data), 300_000)]
    result = await put(store, chunk_id, data, digest, pieces=pieces, transfer_crc32c=crc32c(data))
    assert (result.algorithm, result.digest, result.created) == ("sha256", digest, True)
    info = await store.stat(chunk_id)
    assert (info.size, info.algorithm, info.digest) == (len(data), "sha256", digest)
    assert await read(store, chunk_id, verify=True) == data


@aio_test
async def test_bytes_that_miss_the_transfer_crc_leave_nothing(store):
    """One flipped bit against the sender's CRC-32C: ChecksumMismatch, nothing kept."""
    chunk_id, data, digest = new_chunk(FRAME_SIZE + 10)
    sent = bytearray(data)
    sent[FRAME_SIZE + 3] ^= 0x10
    with pytest.raises(ChecksumMismatch, match="crc32c"):
        await put(store, chunk_id, bytes(sent), digest, transfer_crc32c=crc32c(data))
    with pytest.raises(ChunkNotFound):
        await store.stat(chunk_id)
    assert leftovers(store) == []


@aio_test
async def test_the_senders_digest_is_taken_and_a_verified_read_checks_it(store):
    """
    The store does not hash the bytes when the sender gave their CRC-32C: a
    digest that does not match them is recorded as sent, and the first verified
    read (or scrub) finds the mismatch and quarantines the chunk.
    """
    chunk_id, data, _ = new_chunk(3000)
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    await put(store, chunk_id, data, wrong, transfer_crc32c=crc32c(data))
    assert (await store.stat(chunk_id)).digest == wrong
    with pytest.raises(CorruptChunk):
        await read(store, chunk_id, verify=True)
    with pytest.raises(ChunkNotFound):
        await store.stat(chunk_id)


@pytest.mark.parametrize("bad", ["xyz", "0" * 9, "g" * 8])
@aio_test
async def test_a_malformed_transfer_crc_is_refused(store, bad):
    """A transfer CRC-32C that is not 8 hexadecimal characters is a bad request; nothing is kept."""
    chunk_id, data, digest = new_chunk(100)
    with pytest.raises(InvalidRequest, match="crc32c"):
        await put(store, chunk_id, data, digest, transfer_crc32c=bad)
    with pytest.raises(ChunkNotFound):
        await store.stat(chunk_id)


@aio_test
async def test_a_put_with_a_transfer_crc_is_not_hashed_with_sha256(tmp_path, algorithms,
                                                                   executor):
    """
    The point of the check: the node's SHA-256 sees none of such a put's
    bytes (a put without it, every byte), and a verified read all of them.
    """
    fed = [0]
    counting = dict(algorithms, sha256=counting_sha256(fed))
    disk = open_disk_store(tmp_path / "node", counting, executor, fsync=False)
    try:
        chunk_id, data, digest = new_chunk(FRAME_SIZE + 5)
        await put(disk, chunk_id, data, digest, transfer_crc32c=crc32c(data))
        assert fed == [0]
        other_id, other, other_digest = new_chunk(1000)
        await put(disk, other_id, other, other_digest)
        assert fed == [1000]
        assert await read(disk, chunk_id, verify=True) == data
        assert fed == [1000 + len(data)]
    finally:
        disk.close()
