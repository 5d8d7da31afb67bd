"""
The ChunkStore contract, run against every implementation: the disk store,
the memory store and a real node through gRPC (RemoteChunkStore) behave the
same for every request.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from support.aio import aio_test
from support.chunks import aiter_of, new_chunk, sha256_hex
from support.chunkstores import CONTRACT_MAX_CHUNK as MAX_CHUNK
from support.chunkstores import corrupt, leftovers, put, read
from support.remotestore import RemoteChunkStore

from s3node.core.chunking import FRAME_SIZE
from s3node.core.ids import new_chunk_id
from s3node.errors import (
    ChecksumMismatch,
    ChunkExists,
    ChunkNotFound,
    CorruptChunk,
    InvalidChunkId,
    InvalidRange,
    InvalidRequest,
    SizeMismatch,
    TooLarge,
)

BAD_IDS = [
    "../../etc/passwd",
    "",
    "ABCDEF" * 6,
    "a" * 65,
    "a" * 31,
    "0" * 31 + "\x00",
    "٣" * 32,
    "\udc80" * 32,  # a lone surrogate: not even encodable as UTF-8
]


@aio_test
async def test_put_then_read_round_trips(store):
    """A chunk put in several pieces reads back byte-exact with its recorded size and digest."""
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE + 123)
    pieces = [data[i : i + 300_000] for i in range(0, len(data), 300_000)]
    result = await put(store, chunk_id, data, digest, pieces=pieces)
    assert (result.chunk_id, result.size, result.digest, result.created) == (
        chunk_id,
        len(data),
        digest,
        True,
    )
    assert await read(store, chunk_id) == data
    info = await store.stat(chunk_id)
    assert (info.size, info.algorithm, info.digest) == (len(data), "sha256", digest)
    assert info.created.tzinfo is not None


@aio_test
async def test_every_builtin_algorithm_is_accepted(store, algorithms):
    """Puts verify against whichever built-in algorithm the client names."""
    for name, algorithm in algorithms.items():
        chunk_id, data, _ = new_chunk(1000)
        hasher = algorithm()
        hasher.update(data)
        result = await put(store, chunk_id, data, hasher.hexdigest(), algorithm=name)
        assert result.algorithm == name
        assert await read(store, chunk_id) == data


@aio_test
async def test_empty_chunk(store):
    """A zero-byte chunk is stored and read back as nothing."""
    chunk_id = new_chunk_id()
    await put(store, chunk_id, b"", sha256_hex(b""), pieces=[])
    assert await read(store, chunk_id) == b""
    assert (await store.stat(chunk_id)).size == 0


@aio_test
async def test_identical_put_is_idempotent(store):
    """Putting the same chunk again succeeds with created false and keeps the first record."""
    chunk_id, data, digest = new_chunk(5000)
    first = await put(store, chunk_id, data, digest)
    before = await store.stat(chunk_id)
    again = await put(store, chunk_id, data, digest.upper())
    assert (first.created, again.created) == (True, False)
    assert await store.stat(chunk_id) == before
    assert (await store.usage()).chunk_count == 1


@aio_test
async def test_other_content_under_a_stored_id_conflicts(store):
    """A put of different content under a stored id raises ChunkExists and keeps the original."""
    chunk_id, data, digest = new_chunk(5000)
    await put(store, chunk_id, data, digest)
    other = bytes(reversed(data))
    with pytest.raises(ChunkExists):
        await put(store, chunk_id, other, sha256_hex(other))
    assert await read(store, chunk_id) == data


@pytest.mark.parametrize("delta", [-1, 1])
@aio_test
async def test_size_mismatch_leaves_nothing(store, delta):
    """More or fewer bytes than declared raise SizeMismatch and store nothing."""
    chunk_id, data, digest = new_chunk(4000)
    with pytest.raises(SizeMismatch):
        await store.put(
            chunk_id,
            size=len(data) + delta,
            algorithm="sha256",
            digest=digest,
            data=aiter_of(data),
        )
    with pytest.raises(ChunkNotFound):
        await store.stat(chunk_id)
    assert leftovers(store) == []


@aio_test
async def test_digest_mismatch_leaves_nothing(store):
    """Bytes that do not match the declared digest raise ChecksumMismatch and store nothing."""
    chunk_id, data, _ = new_chunk(4000)
    with pytest.raises(ChecksumMismatch):
        await put(store, chunk_id, data, sha256_hex(b"something else"))
    with pytest.raises(ChunkNotFound):
        await store.stat(chunk_id)
    assert leftovers(store) == []


@aio_test
async def test_unknown_algorithm_lists_the_known_ones(store):
    """An unknown algorithm raises InvalidRequest naming the available algorithms."""
    chunk_id, data, digest = new_chunk(10)
    with pytest.raises(InvalidRequest, match="sha256") as e:
        await put(store, chunk_id, data, digest, algorithm="md5")
    assert "blake2b" in e.value.message and "crc32c" in e.value.message


@aio_test
async def test_malformed_digest_is_rejected(store):
    """A digest that is not hex of the algorithm's length raises InvalidRequest."""
    chunk_id, data, digest = new_chunk(10)
    with pytest.raises(InvalidRequest):
        await put(store, chunk_id, data, digest[:-2])
    with pytest.raises(InvalidRequest):
        await put(store, chunk_id, data, "z" * 64)


@aio_test
async def test_oversized_chunk_is_refused_before_reading(store):
    """A declared size over max_chunk_size raises TooLarge before the data is read."""
    consumed = 0

    async def data():
        nonlocal consumed
        for _ in range(MAX_CHUNK // FRAME_SIZE + 1):
            consumed += FRAME_SIZE
            yield bytes(FRAME_SIZE)

    with pytest.raises(TooLarge):
        await store.put(
            new_chunk_id(), size=MAX_CHUNK + 1, algorithm="sha256", digest="0" * 64, data=data()
        )
    if not isinstance(store, RemoteChunkStore):
        # In process nothing is read.  (Through gRPC the node reads on, up to a
        # limit, so that the client gets this status rather than a broken pipe;
        # see test_grpc_node.py.)
        assert consumed == 0


@pytest.mark.parametrize("bad_id", BAD_IDS)
@aio_test
async def test_invalid_ids_are_rejected_everywhere(store, bad_id):
    """Every operation rejects a malformed chunk id with InvalidChunkId."""
    with pytest.raises(InvalidChunkId):
        await put(store, bad_id, b"x", sha256_hex(b"x"))
    with pytest.raises(InvalidChunkId):
        await store.read(bad_id)
    with pytest.raises(InvalidChunkId):
        await store.stat(bad_id)
    with pytest.raises(InvalidChunkId):
        await store.delete(bad_id)


@aio_test
async def test_unknown_chunk_is_not_found(store):
    """Reading or describing an id that was never stored raises ChunkNotFound."""
    with pytest.raises(ChunkNotFound):
        await store.read(new_chunk_id())
    with pytest.raises(ChunkNotFound):
        await store.stat(new_chunk_id())


@aio_test
async def test_range_reads(store):
    """Range reads return exactly the requested bytes, across block boundaries too."""
    chunk_id, data, digest = new_chunk(3 * FRAME_SIZE + 17)
    await put(store, chunk_id, data, digest)
    cases = [
        (0, 1),
        (5, 100),
        (FRAME_SIZE - 3, 10),
        (FRAME_SIZE, FRAME_SIZE),
        (1, 3 * FRAME_SIZE),
        (len(data) - 1, None),
        (len(data), None),
        (len(data), 0),
        (7, 0),
    ]
    for offset, length in cases:
        end = len(data) if length is None else offset + length
        got = await read(store, chunk_id, offset=offset, length=length)
        assert got == data[offset:end], (offset, length)
        assert await read(store, chunk_id, offset=offset, length=length, verify=True) == got


@aio_test
async def test_ranges_past_the_end_are_refused(store):
    """An offset or range beyond the chunk (or negative, or past 64 bits) raises InvalidRange."""
    chunk_id, data, digest = new_chunk(100)
    await put(store, chunk_id, data, digest)
    for offset, length in [
        (101, None),
        (50, 51),
        (100, 1),
        (-1, None),
        (0, -1),
        (2**64, None),
        (0, 2**64),
    ]:
        with pytest.raises(InvalidRange):
            await store.read(chunk_id, offset=offset, length=length)


@aio_test
async def test_delete(store):
    """Delete removes a chunk and reports whether there was one."""
    chunk_id, data, digest = new_chunk(100)
    await put(store, chunk_id, data, digest)
    assert await store.delete(chunk_id) is True
    assert await store.delete(chunk_id) is False
    with pytest.raises(ChunkNotFound):
        await store.read(chunk_id)
    assert (await store.usage()).chunk_count == 0


@aio_test
async def test_listing_pages_through_sorted_ids(store):
    """Listing returns every id once, ascending, in pages linked by tokens."""
    ids = set()
    for _ in range(23):
        chunk_id, data, digest = new_chunk(10)
        await put(store, chunk_id, data, digest)
        ids.add(chunk_id)
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await store.list(after=token, limit=7)
        assert len(page.chunk_ids) <= 7
        seen += page.chunk_ids
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(ids)
    with pytest.raises(InvalidRequest):
        await store.list(after="../x", limit=5)
    with pytest.raises(InvalidRequest):
        await store.list(limit=10_001)


@aio_test
async def test_usage_counts_chunks_and_bytes(store):
    """Usage reports the number of chunks and the bytes they hold."""
    for size in (10, 20, 30):
        chunk_id, data, digest = new_chunk(size)
        await put(store, chunk_id, data, digest)
    usage = await store.usage()
    assert (usage.chunk_count, usage.used) == (3, 60)
    assert 0 <= usage.free <= usage.capacity


@aio_test
async def test_corrupt_chunk_is_quarantined_on_full_read(store):
    """A whole read of a chunk with a flipped bit raises CorruptChunk and the chunk is gone."""
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE + 5)
    await put(store, chunk_id, data, digest)
    corrupt(store, chunk_id, 10)
    # A range read is not verified: it serves what is on disk.
    assert await read(store, chunk_id, offset=0, length=20) != data[:20]
    opened = await store.read(chunk_id)
    received = []
    with pytest.raises(CorruptChunk):
        async for piece in opened.pieces:
            received.append(piece)
    # The last piece is held back until the digest matched.
    assert sum(map(len, received)) < len(data)
    with pytest.raises(ChunkNotFound):
        await store.stat(chunk_id)
    assert (await store.usage()).chunk_count == 0


@aio_test
async def test_a_reader_that_verifies_gets_the_bytes_unhashed(store):
    """
    A whole read whose reader verifies itself is not hashed: it serves what is on
    disk and quarantines nothing; asked again with verify, the node finds the damage.
    """
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE + 5)
    await put(store, chunk_id, data, digest)
    corrupt(store, chunk_id, 2 * FRAME_SIZE + 1)  # in the last piece
    served = await read(store, chunk_id, reader_verifies=True)
    assert len(served) == len(data) and served != data
    assert (await store.stat(chunk_id)).size == len(data)  # still there
    with pytest.raises(CorruptChunk):
        await read(store, chunk_id, reader_verifies=True, verify=True)
    with pytest.raises(ChunkNotFound):
        await store.stat(chunk_id)


@aio_test
async def test_verified_range_read_detects_corruption(store):
    """A range read with verify raises CorruptChunk even when the damage is outside the range."""
    chunk_id, data, digest = new_chunk(FRAME_SIZE + 500)
    await put(store, chunk_id, data, digest)
    corrupt(store, chunk_id, FRAME_SIZE + 400)
    with pytest.raises(CorruptChunk):
        await read(store, chunk_id, offset=0, length=100, verify=True)


@aio_test
async def test_concurrent_puts_of_one_id(store):
    """Eight concurrent puts of one chunk store it once: one created, seven not."""
    chunk_id, data, digest = new_chunk(FRAME_SIZE + 7)
    halves = [data[: len(data) // 2], data[len(data) // 2 :]]
    results = await asyncio.gather(
        *(put(store, chunk_id, data, digest, pieces=halves) for _ in range(8))
    )
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    assert await read(store, chunk_id) == data
    assert (await store.usage()).chunk_count == 1


async def _quarantine_one(store, chunk_id, data, digest):
    """Store a chunk, flip a bit of it and read it whole, which quarantines it."""
    await put(store, chunk_id, data, digest)
    corrupt(store, chunk_id, 5)
    with pytest.raises(CorruptChunk):
        await read(store, chunk_id)


@aio_test
async def test_quarantined_chunks_are_listed_until_dropped(store):
    """
    Each chunk that fails verification becomes one quarantine entry, listed
    with its chunk id, reason, time and size, counted by usage, until dropped.
    """
    before = datetime.now(UTC) - timedelta(seconds=1)
    chunks = [new_chunk(1000 + i) for i in range(3)]
    for chunk in chunks:
        await _quarantine_one(store, *chunk)
    # The same id stored and quarantined again makes a second entry.
    await _quarantine_one(store, *chunks[0])
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert ((await store.usage()).quarantined, (await store.usage()).chunk_count) == (4, 0)
    page = await store.list_quarantined()
    assert page.next_page_token == ""
    ids = [e.entry_id for e in page.entries]
    assert ids == sorted(ids) and len(set(ids)) == 4
    sizes = {chunk_id: len(data) for chunk_id, data, _ in chunks}
    expected = [chunks[0][0], chunks[0][0], chunks[1][0], chunks[2][0]]
    assert sorted(e.chunk_id for e in page.entries) == sorted(expected)
    for entry in page.entries:
        assert entry.entry_id.startswith(entry.chunk_id + ".")
        assert entry.reason
        assert before <= entry.quarantined_at <= after
        assert entry.size == sizes[entry.chunk_id]
    first = page.entries[0]
    assert await store.drop_quarantined(first.entry_id) is True
    assert await store.drop_quarantined(first.entry_id) is False
    assert (await store.usage()).quarantined == 3
    assert [e.entry_id for e in (await store.list_quarantined()).entries] == ids[1:]


@aio_test
async def test_quarantine_listing_pages_and_checks_its_arguments(store):
    """The quarantine listing pages by entry id; bad tokens, sizes and entry ids are refused."""
    for _ in range(5):
        await _quarantine_one(store, *new_chunk(100))
    everything = [e.entry_id for e in (await store.list_quarantined()).entries]
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await store.list_quarantined(after=token, limit=2)
        assert len(page.entries) <= 2
        seen += [e.entry_id for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert seen == everything and len(seen) == 5
    for bad in ("../x", "a" * 32, new_chunk_id()):
        with pytest.raises(InvalidRequest):
            await store.list_quarantined(after=bad)
        with pytest.raises(InvalidRequest):
            await store.drop_quarantined(bad)
    with pytest.raises(InvalidRequest):
        await store.list_quarantined(limit=10_001)
    assert await store.drop_quarantined(new_chunk_id() + ".1") is False
