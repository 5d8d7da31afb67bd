"""
A real ``twistd -n s3node storage`` process on a free loopback port, driven
through the real StorageClient (and the raw stub where exact statuses matter).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from support.aio import aio_test
from support.chunks import collect, new_chunk, sha256_hex
from support.processes import (
    CLEAN_STOP,
    STORAGE_READY,
    TwistdStartError,
    start_storage_node,
    start_twistd,
)
from support.waiting import poll_until, within

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node._proto.storage.v1 import storage_pb2_grpc as pb_grpc
from s3node.core.chunking import FRAME_SIZE
from s3node.errors import (
    ChecksumMismatch,
    ChunkExists,
    ChunkNotFound,
    CorruptChunk,
    NodeBusy,
    PutStalled,
    SizeMismatch,
    Unavailable,
)
from s3node.storage.client import StorageClient

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory):
    """One node process for the tests that don't stop it."""
    base = tmp_path_factory.mktemp("shared")
    proc = start_storage_node(base / "node", "--node-id", "shared-node")
    yield proc, base / "node"
    proc.stop()


@pytest.fixture
def node(tmp_path):
    """A node process of this test's own, stopped afterwards."""
    proc = start_storage_node(tmp_path / "node", "--shutdown-grace", "3")
    yield proc, tmp_path / "node"
    proc.stop()


def _client(proc) -> StorageClient:
    return StorageClient(f"127.0.0.1:{proc.port}")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@aio_test
async def test_round_trip(shared_node):
    """Put, get (whole and ranges), stat, list with paging, health and delete against a process."""
    proc, _ = shared_node
    async with _client(proc) as client:
        before = await client.health(timeout=5)
        chunks = [new_chunk(size) for size in (0, 1, FRAME_SIZE, 2 * FRAME_SIZE + 3)]
        for chunk_id, data, digest in chunks:
            result = await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
            assert result.created and result.size == len(data)
            assert await collect(client.get_chunk(chunk_id)) == data
            stat = await client.stat_chunk(chunk_id)
            assert (stat.size, stat.digest) == (len(data), digest)
        chunk_id, data, _ = chunks[-1]
        for offset, length in [(0, 10), (FRAME_SIZE - 1, 2), (5, None), (len(data), 0)]:
            end = len(data) if length is None else offset + length
            got = await collect(client.get_chunk(chunk_id, offset=offset, length=length))
            assert got == data[offset:end]
        ids = []
        token = ""
        for _ in range(1000):  # bounded: the shared node holds a few dozen chunks at most
            page = await client.list_chunks(page_size=3, page_token=token, timeout=5)
            assert len(page.chunk_ids) <= 3
            ids += page.chunk_ids
            token = page.next_page_token
            if not token:
                break
        assert not token
        assert ids == sorted(ids) and {c for c, _, _ in chunks} <= set(ids)
        health = await client.health(timeout=5)
        assert health.node_id == "shared-node"
        assert health.chunk_count == before.chunk_count + 4
        assert health.used == before.used + sum(len(d) for _, d, _ in chunks)
        for chunk_id, _, _ in chunks:
            assert await client.delete_chunk(chunk_id)
        assert (await client.health(timeout=5)).chunk_count == before.chunk_count


@aio_test
async def test_idempotent_and_conflicting_puts(shared_node):
    """A repeated identical put reports created=false; different content under the id conflicts."""
    proc, _ = shared_node
    async with _client(proc) as client:
        chunk_id, data, digest = new_chunk(100_000)
        assert (await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)).created
        again = await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
        assert again.created is False
        other = os.urandom(100_000)
        with pytest.raises(ChunkExists):
            await client.put_chunk(chunk_id, other, algorithm="sha256", digest=sha256_hex(other))
        assert await collect(client.get_chunk(chunk_id)) == data


@aio_test
async def test_bad_puts_leave_nothing_behind(shared_node):
    """Size and digest mismatches fail with their errors and leave no chunk and no temp file."""
    proc, data_dir = shared_node
    async with _client(proc) as client:
        chunk_id, data, digest = new_chunk(3 * FRAME_SIZE)

        async def frames(payload):
            for i in range(0, len(payload), FRAME_SIZE):
                yield payload[i : i + FRAME_SIZE]

        with pytest.raises(SizeMismatch):
            await client.put_chunk_stream(chunk_id, len(data) + 1, "sha256", digest, frames(data))
        with pytest.raises(SizeMismatch):
            await client.put_chunk_stream(chunk_id, len(data) - 1, "sha256", digest, frames(data))
        with pytest.raises(ChecksumMismatch):
            await client.put_chunk(chunk_id, data, algorithm="sha256", digest="00" * 32)
        with pytest.raises(ChunkNotFound):
            await client.stat_chunk(chunk_id)
    assert list((data_dir / "tmp").iterdir()) == []
    assert not any(chunk_id in name for name in _files(data_dir))


@aio_test
async def test_bit_rot_is_detected_and_quarantined(shared_node):
    """A flipped byte on disk makes GetChunk fail with DATA_LOSS and moves the chunk to quarantine/."""
    proc, data_dir = shared_node
    async with _client(proc) as client:
        chunk_id, data, digest = new_chunk(2 * FRAME_SIZE + 100)
        await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
        path = data_dir / "chunks" / chunk_id[:2] / chunk_id[2:4] / chunk_id
        _flip_byte(path, FRAME_SIZE + 7)
        received = 0
        with pytest.raises(CorruptChunk):
            async for piece in client.get_chunk(chunk_id):
                received += len(piece)
        assert received < len(data)  # the corrupt chunk was never served whole
        assert not path.exists()
        quarantined = [p.name for p in (data_dir / "quarantine").iterdir()]
        assert any(n.startswith(chunk_id) and n.endswith(".reason") for n in quarantined)
        with pytest.raises(ChunkNotFound):
            await client.stat_chunk(chunk_id)
        entries = [
            e for e in (await client.list_quarantined(timeout=5)).entries if e.chunk_id == chunk_id
        ]
        assert len(entries) == 1 and "digest" in entries[0].reason
        assert entries[0].size == len(data)
        count = (await client.health(timeout=5)).quarantined
        assert count >= 1
        assert await client.drop_quarantined(entries[0].entry_id, timeout=5)
        assert (await client.health(timeout=5)).quarantined == count - 1
        assert not any(
            p.name.startswith(entries[0].entry_id) for p in (data_dir / "quarantine").iterdir()
        )


def _flip_byte(path: Path, position: int) -> None:
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0x40]))


TRAVERSAL_IDS = [
    "../../../../tmp/evil",
    "/etc/passwd",
    "..",
    "a" * 30 + "/..",
    "a" * 32 + "\x00",
    "%2e%2e%2f" * 4,
    "A" * 32,
    "a" * 65,
    "",
]


@aio_test
async def test_traversal_ids_never_touch_the_disk(shared_node):
    """Hostile chunk ids get INVALID_ARGUMENT from every RPC and create no file anywhere."""
    proc, data_dir = shared_node
    outside = data_dir.parent
    before_outside = _files(outside)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{proc.port}")
    stub = pb_grpc.StorageStub(channel)
    try:
        for bad in TRAVERSAL_IDS:
            data = b"x" * 10
            header = pb.PutChunkHeader(
                chunk_id=bad, size=10, checksum_algorithm="sha256", digest=sha256_hex(data)
            )

            async def requests(h=header, d=data):
                yield pb.PutChunkRequest(header=h)
                yield pb.PutChunkRequest(data=d)

            calls = [
                stub.PutChunk(requests()),
                stub.StatChunk(pb.StatChunkRequest(chunk_id=bad)),
                stub.DeleteChunk(pb.DeleteChunkRequest(chunk_id=bad)),
                _drain(stub.GetChunk(pb.GetChunkRequest(chunk_id=bad))),
            ]
            for call in calls:
                with pytest.raises(grpc.RpcError) as e:
                    await call
                assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad, e.value)
    finally:
        await channel.close()
    assert _files(outside) == before_outside
    assert not Path("/tmp/evil").exists()


async def _drain(call):
    async for _ in call:
        pass


@aio_test
async def test_sixteen_concurrent_puts(shared_node):
    """Sixteen puts at once (eight of one id, eight distinct) all succeed; the shared one once."""
    proc, _ = shared_node
    async with _client(proc) as client:
        same = new_chunk(FRAME_SIZE + 5)
        distinct = [new_chunk(FRAME_SIZE // 2 + i) for i in range(8)]
        jobs = [same] * 8 + distinct
        results = await asyncio.gather(
            *(client.put_chunk(c, d, algorithm="sha256", digest=h) for c, d, h in jobs)
        )
        assert sum(r.created for r in results[:8]) == 1
        assert all(r.created for r in results[8:])
        for chunk_id, data, _ in [same, *distinct]:
            assert await collect(client.get_chunk(chunk_id)) == data


@aio_test
async def test_restart_removes_leftovers_and_keeps_chunks(tmp_path):
    """Files left in tmp/ are removed at restart and stored chunks are still served."""
    data_dir = tmp_path / "node"
    proc = start_storage_node(data_dir)
    chunk_id, data, digest = new_chunk(50_000)
    try:
        async with _client(proc) as client:
            await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    finally:
        assert proc.stop() == CLEAN_STOP
    (data_dir / "tmp" / f"{chunk_id}.deadbeef.part").write_bytes(b"half")
    (data_dir / "tmp" / "junk").write_bytes(b"junk")
    proc = start_storage_node(data_dir)
    try:
        assert list((data_dir / "tmp").iterdir()) == []
        assert "removed 2 leftover temp files" in proc.output()
        async with _client(proc) as client:
            assert await collect(client.get_chunk(chunk_id)) == data
            assert (await client.health(timeout=5)).chunk_count == 1
    finally:
        proc.stop()


def test_a_busy_data_dir_or_port_fails_the_start(tmp_path):
    """A second node on a data dir in use, or on a port in use, exits with an error."""
    first = start_storage_node(tmp_path / "node")
    try:
        with pytest.raises(TwistdStartError, match="in use by another storage node"):
            start_storage_node(tmp_path / "node", timeout=20)
        with pytest.raises(TwistdStartError):
            start_twistd(
                [
                    "s3node",
                    "storage",
                    "--listen",
                    f"127.0.0.1:{first.port}",
                    "--data-dir",
                    str(tmp_path / "other"),
                ],
                tmp_path,
                STORAGE_READY,
                timeout=20,
            )
    finally:
        first.stop()


async def _writing_temp_file(data_dir: Path) -> None:
    """Wait until the node writes a put's temp file (the put is in flight there)."""
    await poll_until(lambda: list((data_dir / "tmp").iterdir()),
                     what="the put to be writing its temp file", interval=0.05)


async def _sigterm(proc) -> None:
    """SIGTERM the node and wait until it logs that it is stopping."""
    start = proc.line_count()
    proc.signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait_for, r"stopping \(grace", 30, start)


@aio_test
async def test_sigterm_lets_a_put_in_flight_finish(node):
    """After SIGTERM a put already streaming still completes within the grace period."""
    proc, data_dir = node
    chunk_id, data, digest = new_chunk(4 * FRAME_SIZE)
    sent, stopping = asyncio.Event(), asyncio.Event()

    async def frames():
        yield data[:FRAME_SIZE]
        sent.set()
        await stopping.wait()  # SIGTERM arrives meanwhile
        yield data[FRAME_SIZE:]

    async with _client(proc) as client:
        put = asyncio.ensure_future(
            client.put_chunk_stream(chunk_id, len(data), "sha256", digest, frames())
        )
        await within(sent.wait(), what="the first frame to be sent", timeout=10)
        await _writing_temp_file(data_dir)
        await _sigterm(proc)
        stopping.set()
        result = await within(put, what="the put to finish", timeout=10)
    assert result.created
    assert await asyncio.to_thread(proc.stop) == CLEAN_STOP
    assert "Server Shut Down." in proc.output()
    path = data_dir / "chunks" / chunk_id[:2] / chunk_id[2:4] / chunk_id
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


@aio_test
async def test_sigterm_cancels_a_stalled_put_without_trace(node):
    """A put still unfinished when the grace period ends fails and leaves no chunk or temp file."""
    proc, data_dir = node
    chunk_id, data, digest = new_chunk(4 * FRAME_SIZE)
    sent = asyncio.Event()

    async def frames():
        yield data[:FRAME_SIZE]
        sent.set()
        await asyncio.Event().wait()  # never: far past the 3 s grace
        yield data[FRAME_SIZE:]

    async with _client(proc) as client:
        put = asyncio.ensure_future(
            client.put_chunk_stream(chunk_id, len(data), "sha256", digest, frames())
        )
        await within(sent.wait(), what="the first frame to be sent", timeout=10)
        await _writing_temp_file(data_dir)
        proc.signal(signal.SIGTERM)
        with pytest.raises(Unavailable):
            await within(put, what="the put to fail", timeout=15)
    assert await asyncio.to_thread(proc.stop) == CLEAN_STOP
    assert "Server Shut Down." in proc.output()
    assert list((data_dir / "tmp").iterdir()) == []
    assert not any(chunk_id in name for name in _files(data_dir / "chunks"))


@aio_test
async def test_silent_puts_are_ended_and_calls_capped(tmp_path):
    """
    Twenty puts that declare 8 MiB each and then go silent, against a node
    capped at 16 calls with a 3 s idle timeout: the 4 beyond the cap are
    refused as busy, Health answers and shows the other 16 reservations, and
    those 16 are ended by the node (PutStalled), leaving free space where it
    was and no temp file.
    """
    data_dir = tmp_path / "node"
    proc = start_storage_node(
        data_dir,
        "--put-idle-timeout", "3", "--max-concurrent-calls", "16", "--capacity", "1GiB",
    )
    hang = asyncio.Event()
    try:
        async with _client(proc) as client:
            before = await client.health(timeout=5)

            async def silent(data):
                yield data[:1000]
                await hang.wait()

            puts = []
            for _ in range(20):
                chunk_id, data, digest = new_chunk(8 * MiB)
                puts.append(
                    asyncio.ensure_future(
                        client.put_chunk_stream(
                            chunk_id, len(data), "sha256", digest, silent(data), timeout=60
                        )
                    )
                )
            seen = []

            async def reserved() -> bool:
                seen.append((await client.health(timeout=5)).free)
                return seen[-1] == before.free - 16 * 8 * MiB

            await poll_until(reserved, what="the 16 admitted puts to reserve their space")
            outcomes = await asyncio.wait_for(asyncio.gather(*puts, return_exceptions=True), 30)
            kinds = sorted(type(o).__name__ for o in outcomes)
            assert kinds == ["NodeBusy"] * 4 + ["PutStalled"] * 16, outcomes
            assert all(isinstance(o, NodeBusy | PutStalled) for o in outcomes)
            after = await client.health(timeout=5)
            assert (after.free, after.chunk_count) == (before.free, 0)
    finally:
        hang.set()
        proc.stop()
    assert list((data_dir / "tmp").iterdir()) == []


def test_big_chunk_round_trip_keeps_memory_flat(tmp_path):
    """A 256 MiB chunk is stored and read back byte-exact while the node's peak RSS stays < 100 MiB."""
    proc = start_storage_node(tmp_path / "node")
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).parents[2] / "bench" / "storage_bench.py"),
                "--address",
                f"127.0.0.1:{proc.port}",
                "--size",
                "256MiB",
                "--check-only",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "round trip ok" in done.stdout
        peak_kib = proc.status("VmHWM")
    finally:
        proc.stop()
    assert peak_kib < 100 * 1024, f"node peak RSS {peak_kib} KiB"
