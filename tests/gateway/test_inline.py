"""
Small files kept inline: their bytes go to the metadata store with the
completion, no node sees them, and every read verifies them against the
file's digest (docs/durability.md, "Small objects are kept in the metadata").
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator

import pytest_twisted
import treq
from gateway.conftest import Running, running_gateway
from gateway.test_app_files import upload
from gateway.test_metrics import scrape
from gateway.test_upload_writes import count_writes

LIMIT = 100


@pytest_twisted.async_yield_fixture
async def gwi() -> AsyncIterator[Running]:
    """3 fake nodes, 2 replicas, 1000-byte chunks, files of up to 100 bytes inline."""
    async with running_gateway(inline_max_size=LIMIT) as running:
        yield running


def node_calls(running: Running) -> int:
    return sum(n.puts + n.reads + n.small_reads + len(n.chunks) for n in running.nodes.values())


@pytest_twisted.ensureDeferred
async def test_a_small_file_is_kept_inline_and_reads_back(gwi):
    """One to LIMIT bytes: two metadata writes, no node involved, the bytes come back."""
    for size in (1, 37, LIMIT):
        data = bytes((i * 11) % 256 for i in range(size))
        made = count_writes(gwi)
        code, reply = await upload(gwi.url, data)
        assert code == 201, reply
        assert reply["chunk_count"] == 0 and reply["size"] == size
        assert reply["checksum"] == hashlib.sha256(data).hexdigest()
        assert made == ["create_file", "complete_file"]
        r = await treq.get(f"{gwi.url}/files/{reply['file_id']}")
        assert r.code == 200 and await r.content() == data
        meta = json.loads(await (await treq.get(
            f"{gwi.url}/files/{reply['file_id']}/metadata")).content())
        assert meta["inline"] is True and meta["chunks"] == []
    assert node_calls(gwi) == 0
    samples = await scrape(gwi.url)
    assert samples.get("s3node_uploads_inline_total") == 3
    assert samples.get("s3node_inline_bytes_total") == 1 + 37 + LIMIT


@pytest_twisted.ensureDeferred
async def test_ranges_of_an_inline_file(gwi):
    data = bytes(range(90))
    _, reply = await upload(gwi.url, data)
    url = f"{gwi.url}/files/{reply['file_id']}"
    for header, want in (("bytes=0-0", data[:1]), ("bytes=10-19", data[10:20]),
                         ("bytes=-5", data[-5:]), ("bytes=80-", data[80:])):
        r = await treq.get(url, headers={"range": header})
        assert r.code == 206 and await r.content() == want, header
    r = await treq.get(url, headers={"range": "bytes=90-"})
    assert r.code == 416
    await r.content()


@pytest_twisted.ensureDeferred
async def test_a_file_over_the_limit_or_empty_gets_no_inline_bytes(gwi):
    """LIMIT + 1 bytes go to a chunk on the nodes; an empty file stays an empty file."""
    code, reply = await upload(gwi.url, b"x" * (LIMIT + 1))
    assert code == 201 and reply["chunk_count"] == 1
    assert sum(len(n.chunks) for n in gwi.nodes.values()) == 2
    fwc = await gwi.store.get_file_with_chunks(uuid.UUID(reply["file_id"]))
    assert fwc.inline is None
    code, reply = await upload(gwi.url, b"")
    assert code == 201 and reply["chunk_count"] == 0 and reply["size"] == 0
    r = await treq.get(f"{gwi.url}/files/{reply['file_id']}")
    assert r.code == 200 and await r.content() == b""


@pytest_twisted.ensureDeferred
async def test_a_multi_chunk_file_is_never_inline(gwi):
    """Chunks already sent (a file over the chunk size) keep the file chunked whatever its size."""
    async with running_gateway(inline_max_size=5000) as big:
        data = bytes(range(256)) * 8  # 2048 bytes: 3 chunks of 1000
        code, reply = await upload(big.url, data)
        assert code == 201 and reply["chunk_count"] == 3
        r = await treq.get(f"{big.url}/files/{reply['file_id']}")
        assert await r.content() == data


@pytest_twisted.ensureDeferred
async def test_damaged_inline_bytes_are_never_served(gwi):
    """Bytes in the metadata that fail the file's digest get a JSON error, not a 200."""
    _, reply = await upload(gwi.url, b"precious bytes")
    fid = next(iter(gwi.store.inline))
    gwi.store.inline[fid] = b"Precious bytes"
    r = await treq.get(f"{gwi.url}/files/{reply['file_id']}")
    body = await r.content()
    assert r.code >= 500 and b"Precious" not in body
    assert json.loads(body)["error"] == "file_damaged"


@pytest_twisted.ensureDeferred
async def test_deleting_an_inline_file(gwi):
    _, reply = await upload(gwi.url, b"gone soon")
    r = await treq.delete(f"{gwi.url}/files/{reply['file_id']}")
    assert r.code == 204
    r = await treq.get(f"{gwi.url}/files/{reply['file_id']}")
    assert r.code == 404
    await r.content()
