"""
The gateway's side of durability (docs/durability.md), over fake nodes and the
memory metadata store: replica states, uploads that stop when their file is
claimed or deleted, failures attributed to the right thing, reads that record
what they find, and the sweeper's progress.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_twisted
import treq
from gateway.conftest import Running, running_gateway
from gateway.test_app_files import form, upload
from support.auth import AUTH_LINE
from support.raw_http import connect_raw
from support.waiting import poll_until

from s3node.errors import InsufficientStorage, TimedOut, Unavailable
from s3node.records import FileStatus, ReplicaState


@pytest_twisted.async_yield_fixture
async def gw3() -> AsyncIterator[Running]:
    """A gateway with 3 fake nodes, 2 replicas, 1000-byte chunks and no orphan grace."""
    async with running_gateway(orphan_grace=0.001) as running:
        yield running


def states(running: Running, file_id: str) -> list[list[tuple[str, str]]]:
    """Each chunk's replicas as (node, state), in index order."""
    chunks = running.store.chunks[uuid.UUID(file_id)]
    return [sorted((r.node_id, r.state.value) for r in chunks[i].replicas) for i in sorted(chunks)]


async def start_stalled_upload(running: Running, size: int) -> tuple[asyncio.Event, object]:
    """Start an upload of ``size`` bytes whose puts all wait at a gate; return gate, client."""
    gate = asyncio.Event()
    for node in running.nodes.values():
        node.gate = gate
    body, headers = form(b"x" * size)
    client = await connect_raw(running.url)
    client.transport.write(
        b"POST /files HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE
        + b"Content-Type: " + headers[b"content-type"][0] + b"\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await poll_until(lambda: sum(n.stalled for n in running.nodes.values()) >= 2,
                     what="the first chunk's puts to wait at the gate")
    return gate, client


@pytest_twisted.ensureDeferred
async def test_replicas_are_recorded_writing_before_any_byte_is_sent(gw3):
    """While a chunk's puts are under way its replicas are already recorded, as writing."""
    gate, client = await start_stalled_upload(gw3, 500)
    (file_id,) = gw3.store.files
    assert all(n.puts == 0 for n in gw3.nodes.values())
    (chunk,) = states(gw3, str(file_id))
    assert [state for _, state in chunk] == ["writing", "writing"]
    gate.set()
    await poll_until(lambda: gw3.store.files[file_id].status is FileStatus.COMPLETED,
                     what="the upload to complete")
    (chunk,) = states(gw3, str(file_id))
    assert [state for _, state in chunk] == ["stored", "stored"]
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_a_claimed_upload_stops_and_never_completes(gw3):
    """
    An upload the sweeper claims as stale while its puts are paused stops with
    409 upload_aborted when they resume: its file stays failed, never completed.
    """
    gate, client = await start_stalled_upload(gw3, 2500)
    (file_id,) = gw3.store.files
    future = datetime.now(UTC) + timedelta(days=1)
    assert await gw3.store.claim_stale_uploads(stale_before=future, limit=10) == 1
    gate.set()
    await poll_until(lambda: b"\r\n\r\n" in client.received, what="the upload's answer")
    assert client.received.startswith(b"HTTP/1.1 409"), client.received[:200]
    assert b'"upload_aborted"' in client.received
    assert gw3.store.files[file_id].status is FileStatus.FAILED


@pytest_twisted.ensureDeferred
async def test_delete_during_an_upload_aborts_it_and_leaks_nothing(gw3):
    """
    DELETE of a file still uploading answers 204 at once; the upload then
    fails with 409, and after a sweep and a reconcile no chunk is left on any node.
    """
    gate, client = await start_stalled_upload(gw3, 2500)
    (file_id,) = gw3.store.files
    r = await treq.delete(f"{gw3.url}/files/{file_id}")
    assert r.code == 204
    gate.set()
    await poll_until(lambda: b"\r\n\r\n" in client.received, what="the upload's answer")
    assert client.received.startswith(b"HTTP/1.1 409"), client.received[:200]
    await gw3.gateway.uploads.wait_cleanups()
    await gw3.gateway.sweeper.sweep()
    await gw3.gateway.reconciler.reconcile()
    assert file_id not in gw3.store.files
    assert {n: node.chunks for n, node in gw3.nodes.items()} == {"n1": {}, "n2": {}, "n3": {}}


@pytest_twisted.ensureDeferred
async def test_a_full_node_hands_off_without_being_marked_down(gw3):
    """
    A put refused for lack of space, or answered too late, goes to the next
    node; the node that refused or was late stays up.
    """
    for node_id, error in (("n1", InsufficientStorage("full")), ("n2", TimedOut("late"))):
        gw3.nodes[node_id].put_error = error
        code, reply = await upload(gw3.url, b"y" * 2500)
        assert code == 201, reply
        assert gw3.gateway.pool.is_live(node_id)
        for chunk in states(gw3, reply["file_id"]):
            assert [s for n, s in chunk if n != node_id] == ["stored", "stored"]
        gw3.nodes[node_id].put_error = None


@pytest_twisted.ensureDeferred
async def test_an_unreachable_node_is_marked_down(gw3):
    """A put that fails on the transport hands off and marks the node down."""
    gw3.nodes["n1"].put_error = Unavailable("connection refused")
    code, reply = await upload(gw3.url, b"z" * 3500)
    assert code == 201, reply
    live = {n: gw3.gateway.pool.is_live(n) for n in gw3.nodes}
    tried_n1 = any("n1" in [n for n, _ in c] for c in states(gw3, reply["file_id"]))
    assert live["n2"] and live["n3"]
    assert not live["n1"] or not tried_n1
    for chunk in states(gw3, reply["file_id"]):
        assert [s for n, s in chunk if n != "n1"] == ["stored", "stored"]


@pytest_twisted.ensureDeferred
async def test_a_lost_reply_leaves_no_orphan(gw3):
    """
    A put the node committed but whose reply was lost: the lane hands off and
    deletes what it left; nothing stays on the node beyond the stored replicas.
    """
    node = gw3.nodes["n2"]
    node.put_error, node.put_error_after_commit = TimedOut("reply lost"), True
    code, reply = await upload(gw3.url, b"w" * 3000)
    assert code == 201, reply
    await gw3.gateway.uploads.wait_cleanups()
    stored = {(n, cid) for n, node in gw3.nodes.items() for cid in node.chunks}
    chunks = gw3.store.chunks[uuid.UUID(reply["file_id"])].values()
    recorded = {(r.node_id, c.chunk_id) for c in chunks for r in c.replicas
                if r.state is ReplicaState.STORED}
    assert stored == recorded


@pytest_twisted.ensureDeferred
async def test_reads_mark_corrupt_and_missing_replicas_and_prefer_stored_ones(gw3):
    """
    A download that meets a corrupt replica and a missing one is still
    byte-exact; it records them as corrupt and missing, the metadata lists only
    the good node under ``nodes`` and every replica's state, and later reads go
    straight to the good replicas.
    """
    data = bytes(range(256)) * 6  # 1536 bytes: 2 chunks
    code, reply = await upload(gw3.url, data)
    assert code == 201
    file_id = reply["file_id"]
    first, second = (gw3.store.chunks[uuid.UUID(file_id)][i] for i in (0, 1))
    # replicas come in node order, which is also the order reads try them in
    bad, good = (r.node_id for r in first.replicas)
    gone, kept = (r.node_id for r in second.replicas)
    gw3.nodes[bad].corrupt.add(first.chunk_id)
    del gw3.nodes[gone].chunks[second.chunk_id]
    r = await treq.get(f"{gw3.url}/files/{file_id}")
    assert await r.content() == data
    meta = json.loads(await (await treq.get(f"{gw3.url}/files/{file_id}/metadata")).content())
    assert meta["chunks"][0]["replicas"] == [
        {"node_id": bad, "state": "corrupt"}, {"node_id": good, "state": "stored"}]
    assert meta["chunks"][0]["nodes"] == [good]
    assert meta["chunks"][1]["replicas"] == [
        {"node_id": gone, "state": "missing"}, {"node_id": kept, "state": "stored"}]
    assert meta["chunks"][1]["nodes"] == [kept]
    # the corrupt replica was read, then asked to verify itself (so its node quarantines
    # it); the download's reads are verified by the gateway, not hashed on the nodes
    # (a repair copying the chunks may read the good replicas with verify meanwhile)
    asked = (gw3.nodes[bad].asked[first.chunk_id], gw3.nodes[gone].asked[second.chunk_id])
    assert asked == (2, 1)
    assert gw3.nodes[bad].verified_reads[first.chunk_id] == 1
    assert gw3.nodes[bad].unhashed_reads[first.chunk_id] == 1
    assert gw3.nodes[good].unhashed_reads[first.chunk_id] == 1
    assert gw3.nodes[kept].unhashed_reads[second.chunk_id] == 1
    r = await treq.get(f"{gw3.url}/files/{file_id}")
    assert await r.content() == data
    asked = (gw3.nodes[bad].asked[first.chunk_id], gw3.nodes[gone].asked[second.chunk_id])
    assert asked == (2, 1)


@pytest_twisted.ensureDeferred
async def test_reconciler_accounts_for_every_chunk(gw3):
    """
    One reconcile pass deletes an orphan chunk, marks a stored replica the
    node lost missing, settles a writing replica of a completed file, and
    marks a quarantined replica corrupt.
    """
    code, reply = await upload(gw3.url, b"r" * 3000)  # 3 chunks
    assert code == 201
    fid = uuid.UUID(reply["file_id"])
    chunks = [gw3.store.chunks[fid][i] for i in range(3)]
    orphan = "ab" * 16
    gw3.nodes["n1"].chunks[orphan] = b"nobody's"
    gw3.nodes["n1"].created[orphan] = datetime.now(UTC) - timedelta(hours=1)
    lost_node = chunks[0].replicas[0].node_id
    del gw3.nodes[lost_node].chunks[chunks[0].chunk_id]
    settle_node = chunks[1].replicas[0].node_id
    await gw3.store.set_replica_state(file_id=fid, index=1, node_id=settle_node,
                                      state=ReplicaState.WRITING)
    rot_node = chunks[2].replicas[0].node_id
    gw3.nodes[rot_node].quarantine(chunks[2].chunk_id)

    await gw3.gateway.reconciler.reconcile()

    assert orphan not in gw3.nodes["n1"].chunks
    after = [gw3.store.chunks[fid][i] for i in range(3)]
    state = {(c.index, r.node_id): r.state for c in after for r in c.replicas}
    assert state[(0, lost_node)] is ReplicaState.MISSING
    assert state[(1, settle_node)] is ReplicaState.STORED
    assert state[(2, rot_node)] is ReplicaState.CORRUPT


@pytest_twisted.ensureDeferred
async def test_a_lost_node_stops_blocking_the_sweeper(gw3):
    """
    A deleted file with a replica on a dead node waits; once the node is
    declared lost (DELETE /nodes/{id}?lost=true) the next sweep removes the file.
    """
    code, reply = await upload(gw3.url, b"d" * 1500)
    assert code == 201
    fid = uuid.UUID(reply["file_id"])
    holder = gw3.store.chunks[fid][0].replicas[0].node_id
    gw3.nodes[holder].down = True
    gw3.gateway.pool.mark_down(holder, "test")
    assert (await treq.delete(f"{gw3.url}/files/{fid}")).code == 204
    await gw3.gateway.wait_background()
    assert fid in gw3.store.files
    r = await treq.delete(f"{gw3.url}/nodes/{holder}")  # neither drained nor lost
    assert r.code == 409 and json.loads(await r.content())["error"] == "node_in_use"
    r = await treq.delete(f"{gw3.url}/nodes/{holder}?lost=true")
    assert r.code == 200
    assert json.loads(await r.content())["replicas_dropped"] >= 1
    await gw3.store.defer_sweep(fid, until=datetime.now(UTC) - timedelta(seconds=1), attempts=1)
    assert await gw3.gateway.sweeper.sweep() == 1
    assert fid not in gw3.store.files
    assert holder not in [n.node_id for n in gw3.gateway.pool.nodes()]


@pytest_twisted.ensureDeferred
async def test_only_the_lease_holder_sweeps(gw3):
    """A second gateway sharing the store does not sweep while the first holds the lease."""
    from twisted.internet import reactor

    from s3node.gateway.lease import BACKGROUND, Lease
    from s3node.gateway.sweeper import Sweeper

    first = Lease(gw3.store, reactor, name=BACKGROUND, holder="first", ttl=60)
    second = Lease(gw3.store, reactor, name=BACKGROUND, holder="second", ttl=60)
    assert await first.hold()
    assert not await second.hold()
    code, reply = await upload(gw3.url, b"s" * 1200)
    assert code == 201
    fid = uuid.UUID(reply["file_id"])
    await gw3.store.start_delete(fid)
    sweeper = Sweeper(gw3.store, gw3.gateway.pool, reactor, second, interval=30,
                      stale_after=3600)
    assert await sweeper.sweep() == 0
    assert fid in gw3.store.files
    await first.release()
    assert await sweeper.sweep() == 1
    assert fid not in gw3.store.files


async def upload_in_two_parts(running: Running, byte: bytes,
                             first: int) -> tuple[Any, Callable[[], None]]:
    """
    Start uploading 2500 bytes of ``byte``, sending only ``first`` of them; return
    the client and a function that sends the rest.
    """
    body, headers = form(byte * 2500)
    split = body.index(byte) + first
    client = await connect_raw(running.url)
    client.transport.write(
        b"POST /files HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE
        + b"Content-Type: " + headers[b"content-type"][0] + b"\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:split])
    return client, lambda: client.transport.write(body[split:])


@pytest_twisted.ensureDeferred
async def test_no_chunk_is_sent_once_the_database_is_down(gw3):
    """
    When the metadata database goes down during an upload, the upload fails
    (503) before its next chunk reaches any node: a chunk is recorded before its
    bytes are sent, so nothing can be left on a node unrecorded.
    """
    # the first chunk is complete, the second is not
    client, send_rest = await upload_in_two_parts(gw3, b"q", 1500)
    # the file's row is created with its first chunk's, before that chunk is sent
    await poll_until(lambda: sum(node.puts for node in gw3.nodes.values()) == 2,
                     what="the first chunk's puts")
    (file_id,) = gw3.store.files
    (first,) = gw3.store.chunks[file_id].values()
    gw3.store.down = True
    send_rest()
    await poll_until(lambda: b"\r\n\r\n" in client.received, what="the upload's answer")
    assert client.received.startswith(b"HTTP/1.1 503"), client.received[:200]
    gw3.store.down = False
    await gw3.gateway.uploads.wait_cleanups()
    assert sum(node.puts for node in gw3.nodes.values()) == 2
    assert {c for node in gw3.nodes.values() for c in node.chunks} == {first.chunk_id}


@pytest_twisted.ensureDeferred
async def test_no_byte_is_sent_when_the_file_cannot_be_created(gw3):
    """
    The database down before the first chunk is complete: the file's row, created
    with that chunk's, cannot be written, so the upload fails (503) before any
    byte reaches a node, and leaves no row.
    """
    # the file part has begun, no chunk is complete
    client, send_rest = await upload_in_two_parts(gw3, b"p", 500)
    await poll_until(lambda: gw3.gateway.uploads.active == 1, what="the upload to begin")
    gw3.store.down = True
    send_rest()
    await poll_until(lambda: b"\r\n\r\n" in client.received, what="the upload's answer")
    assert client.received.startswith(b"HTTP/1.1 503"), client.received[:200]
    gw3.store.down = False
    assert gw3.store.files == {}
    assert all(node.puts == 0 and node.chunks == {} for node in gw3.nodes.values())


@pytest_twisted.ensureDeferred
async def test_files_stuck_on_a_dead_node_do_not_starve_the_sweeper():
    """
    More failed files than one sweep takes, all with a replica on a dead node,
    do not block a later failed file: the blocked ones are deferred and the
    next sweeps reach it.
    """
    from gateway.test_background import add_file, lease, make_pool
    from twisted.internet.task import Clock

    from s3node.gateway.sweeper import BATCH, Sweeper
    from s3node.metadata.memory import MemoryMetadataStore

    clock = Clock()
    clock.advance(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    store = MemoryMetadataStore(clock=clock)
    pool, nodes = make_pool(store, clock)
    await pool.start()
    blocked = [await add_file(store, nodes, "failed") for _ in range(BATCH + 20)]
    clock.advance(1)
    nodes["n2"].down = True  # add_file puts a replica of every file on n2
    pool.mark_down("n2", "test")
    healthy = await store.create_file(filename="ok", content_type="a/b",
                                      checksum_algorithm="sha256", chunk_size=10)
    await store.fail_file(healthy.file_id)
    sweeper = Sweeper(store, pool, clock, lease(store, clock), interval=30, stale_after=3600)
    removed = 0
    for _ in range(3):
        removed += await sweeper.sweep()
    assert healthy.file_id not in store.files
    assert removed == 1
    assert all(b.file_id in store.files for b in blocked)


@pytest_twisted.ensureDeferred
async def test_reconciler_pages_replicas_by_whole_chunk_ids(gw3, monkeypatch):
    """
    With pages smaller than the rows a node holds, and one chunk id recorded
    by several files, the reconciler still sees every replica row: each of
    those files' writing replicas is settled, and a stored replica its node
    lost is marked missing whichever page it falls in.
    """
    from s3node.gateway import reconciler
    from s3node.records import ChunkRecord, ReplicaRecord

    monkeypatch.setattr(reconciler, "PAGE", 3)
    shared = "cd" * 16
    gw3.nodes["n1"].chunks[shared] = b"shared"
    files = []
    for i in range(4):  # four files share the chunk id on n1
        record = await gw3.store.create_file(filename=f"f{i}", content_type="a/b",
                                             checksum_algorithm="sha256", chunk_size=10)
        await gw3.store.record_chunk(ChunkRecord(
            record.file_id, 0, shared, 6, "sha256", "00" * 32,
            (ReplicaRecord("n1", ReplicaState.STORED),)))
        # completed, but its replica left writing (its lane never heard back):
        # only a reconciler that sees this row settles it as stored
        await gw3.store.complete_file(file_id=record.file_id, size=6, checksum="00" * 32,
                                      replicas=1)
        await gw3.store.set_replica_state(file_id=record.file_id, index=0, node_id="n1",
                                          state=ReplicaState.WRITING)
        files.append(record.file_id)
    lost = "ce" * 16  # sorts after the shared id: on a later page
    record = await gw3.store.create_file(filename="lost", content_type="a/b",
                                         checksum_algorithm="sha256", chunk_size=10)
    await gw3.store.record_chunk(ChunkRecord(
        record.file_id, 0, lost, 6, "sha256", "00" * 32,
        (ReplicaRecord("n1", ReplicaState.STORED),)))
    await gw3.gateway.reconciler.reconcile()
    assert shared in gw3.nodes["n1"].chunks  # every file's row was seen: not an orphan
    states_after = {fid: gw3.store.chunks[fid][0].replicas[0].state for fid in files}
    assert set(states_after.values()) == {ReplicaState.STORED}
    assert gw3.store.chunks[record.file_id][0].replicas[0].state is ReplicaState.MISSING
