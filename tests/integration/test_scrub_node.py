"""
The scrubber of a real ``twistd -n s3node storage`` process: rot in chunk
files that nobody reads is found on the node's own, quarantined, and visible
over gRPC (``ListQuarantined``, ``Health``), which is what the gateway's
reconciler reads to mark those replicas corrupt.
"""

from __future__ import annotations

import json

import pytest
from support.aio import aio_test
from support.chunks import collect, new_chunk
from support.processes import start_storage_node
from support.waiting import poll_until

from s3node.storage.client import StorageClient

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


@pytest.fixture
def scrubbing_node(tmp_path):
    """A node process scrubbing fast: 64 MiB/s, a pass every half second."""
    data_dir = tmp_path / "node"
    proc = start_storage_node(data_dir, "--scrub-rate", "64MiB", "--scrub-interval", "0.5")
    yield proc, data_dir
    proc.stop()


def _flip(path, position: int) -> None:
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)[0]
        f.seek(position)
        f.write(bytes([byte ^ 0x01]))


@aio_test
async def test_the_scrubber_finds_flipped_bytes_on_its_own(scrubbing_node):
    """
    Bytes flipped in three of ten chunk files are found by the scrubber without
    any client read: ListQuarantined lists exactly those three, Health counts
    them, the other chunks still read back intact, and the node keeps its
    checkpoint in the data dir.
    """
    proc, data_dir = scrubbing_node
    async with StorageClient(f"127.0.0.1:{proc.port}") as client:
        chunks = [new_chunk(size) for size in (1, 1000, MiB, 3 * MiB + 5, 4096, 200_000,
                                               2 * MiB, 77, 500_000, 10)]
        for chunk_id, data, digest in chunks:
            await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
        rotten = {}
        for (chunk_id, data, _), at in zip((chunks[0], chunks[3], chunks[6]), (0, 3 * MiB, 12345),
                                           strict=True):
            _flip(data_dir / "chunks" / chunk_id[:2] / chunk_id[2:4] / chunk_id, at)
            rotten[chunk_id] = len(data)

        async def all_quarantined():
            entries = (await client.list_quarantined(timeout=5)).entries
            return {e.chunk_id: e.size for e in entries} == rotten and entries

        entries = await poll_until(all_quarantined, what="the three rotten chunks quarantined",
                                   timeout=60, interval=0.2)
        assert all("digest" in e.reason for e in entries)
        health = await client.health(timeout=5)
        assert health.quarantined == 3 and health.chunk_count == len(chunks) - 3
        for chunk_id, data, _ in chunks:
            if chunk_id not in rotten:
                assert await collect(client.get_chunk(chunk_id)) == data
    checkpoint = json.loads((data_dir / "scrub.json").read_bytes())
    assert checkpoint["format"] == 1
    assert "scrub pass finished" in proc.output()
