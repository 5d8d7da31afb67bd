"""
The fault-injection scenario of issue 7: real processes, every fault in one
run, and at the end the two promises of ``docs/durability.md`` checked against
the database and every node's disk.

One scenario per deployment (``fault_harness.py``): ``cluster`` is PostgreSQL,
4 storage processes and 2 gateways sharing the database (uploads go through
both); ``standalone`` is one ``twistd s3node standalone`` on SQLite.  In order:

1. uploads that must succeed (one of each size class);
2. a put whose node commits the chunk but whose reply (and the lane's clean-up
   delete) is lost (fault hook, ``faulthooks/``); then, at once: clients
   disconnecting mid-body at five offsets, a client that stalls with its
   connection open (claimed once stale, then ``409``), a ``DELETE`` during an
   upload;
3. a gateway stopped (``SIGSTOP``) mid-upload for longer than ``--stale-after``;
4. a chunk file corrupted on disk (downloads stay byte-exact; the replica
   shows ``corrupt``, and repair copies it again);
5. download clients that stop reading (closed after ``--write-timeout``,
   gateway memory bounded);
6. a storage node ``SIGKILL``\\ed during uploads and downloads, started again;
7. a gateway ``SIGKILL``\\ed mid-upload (in the cluster the lease holder, so
   the other takes the sweeper over), started again;
8. PostgreSQL ``SIGKILL``\\ed during uploads, started again;
9. a stray chunk file that no replica row names, put straight on a node.

Not in standalone, and why: its storage nodes are its own child processes,
which it restarts itself (6: ``test_standalone_processes.py`` kills one), and
its metadata is SQLite inside the gateway's process (8: nothing to kill apart
from it).

Then: no file is left ``pending``, ``uploading``, ``failed`` or ``deleting``;
after a whole reconcile pass every completed file downloads byte-exact, every
acknowledged upload is among them, no upload a client saw fail is, and on every
node the chunk files are exactly the ``stored`` replicas of completed files
(the one replica this scenario corrupted was copied again by repair): zero
orphans, nothing lost.  The figures are printed at the end
(run with ``-s``).
"""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from integration.e2e_client import MiB
from integration.fault_clients import Outcome, raw_connect, upload_head
from integration.fault_harness import (
    REPLICAS,
    WRITE_TIMEOUT,
    FaultDeployment,
    line_marks,
    start_deployment,
    wait_for_line,
)
from integration.fault_ledger import Ledger, gather
from support.auth import AUTH
from support.waiting import poll_until, within
from twisted.internet.threads import deferToThread

pytestmark = pytest.mark.integration


@pytest.fixture
def fault_deployment(request: pytest.FixtureRequest) -> Iterator[FaultDeployment]:
    """A deployment of the scenario's own (processes, database, data dirs), removed after."""
    deployment = start_deployment(request.param)
    try:
        yield deployment
    finally:
        deployment.close()


# -- 1. uploads that must succeed --------------------------------------------

async def baseline(s: Ledger) -> None:
    sizes = {"base-empty": 0, "base-1b": 1, "base-1mib": MiB, "base-1mib+1": MiB + 1,
             "base-2.5mib": 5 * MiB // 2, "base-5mib": 5 * MiB, "big": 24 * MiB}
    for i, (name, size) in enumerate(sizes.items()):
        await s.must_upload(s.body(name, size), s.gateway(i))


# -- 2. lost reply, then client faults at once ---------------------------------

async def lost_reply(s: Ledger) -> None:
    """A node commits a put, its reply is lost, and so is the lane's clean-up delete."""
    role = "n3" if s.cluster else "standalone"
    folder = s.dep.fault_dirs[role]
    fired = folder / "lose-put-reply.fired"
    (folder / "lose-put-reply").touch()
    for attempt in range(5):  # until one of its chunks lands on that node
        body = s.body(f"lost-reply-{attempt}", 8 * MiB)
        outcome = await s.upload(body, s.gateway(attempt))
        if fired.exists():
            break
    node_id, chunk_id = fired.read_text().split()
    s.faults["put committed, reply and clean-up lost"] += 1
    (row,) = await s.db("SELECT f.filename FROM chunks c JOIN files f ON f.id = c.file_id"
                        " WHERE c.chunk_id = %s", chunk_id)
    assert row[0] == body.filename
    # the lane handed off at once; its best-effort delete was lost too
    await wait_for_line(s.dep.gateways, rf"chunk {chunk_id} left on {node_id} for the reconciler")
    assert outcome.code == 201, outcome
    s.lost_reply = (node_id, chunk_id)


async def disconnect_at(s: Ledger, name: str, upto: int, chunks: int | None,
                        abort: bool) -> None:
    """A client that sends ``upto`` bytes of its body and goes away."""
    body = s.body(name, 4 * MiB + 123)
    upto = upto if upto >= 0 else body.length + upto
    conn = await raw_connect(s.gateway().url)
    conn.transport.write(upload_head(body) + body.read(0, upto))
    if chunks is not None:  # the gateway got that far before the client left
        await s.wait_progress(name, chunks)
    (conn.transport.abortConnection if abort else conn.transport.loseConnection)()
    await within(conn.closed, what=f"{name}'s connection to close")
    s.faults["client disconnected mid-body"] += 1
    s.outcomes[name] = Outcome(None, error="the client left")


async def disconnects(s: Ledger) -> None:
    head = s.body("disc-probe", 0).head
    await gather(
        disconnect_at(s, "disc-in-envelope", head // 2, None, abort=True),
        # no chunk complete yet: the file has no row to wait for (it is created with its
        # first chunk's), and none is left behind
        disconnect_at(s, "disc-100kib", head + 100 * 1024, None, abort=False),
        disconnect_at(s, "disc-1mib+1", head + MiB + 1, 1, abort=True),
        disconnect_at(s, "disc-2.5mib", head + 5 * MiB // 2, 2, abort=False),
        disconnect_at(s, "disc-no-last-boundary", -5, 4, abort=True),
    )


async def stalled_upload(s: Ledger) -> None:
    """A client that stops sending but keeps its connection: claimed when stale, then 409."""
    body = s.body("stalled-client", 6 * MiB)
    conn = await raw_connect(s.gateway().url)
    conn.transport.write(upload_head(body) + body.read(0, body.head + 3 * MiB))
    await s.wait_progress(body.filename, 3)
    s.faults["upload client stalled, connection open"] += 1
    await s.wait_claimed(body.filename)
    # A few more bytes wake it up (a whole body's rest could still be on its way
    # when the gateway answers and closes, and the reset would drop the answer).
    conn.transport.write(body.read(body.head + 3 * MiB, body.head + 3 * MiB + 1024))
    await poll_until(lambda: conn.status, what="the stalled upload's reply", timeout=30)
    s.outcomes[body.filename] = Outcome(conn.status, error="stalled, then resumed")
    conn.transport.loseConnection()
    assert conn.status == 409 and b"upload_aborted" in conn.head, conn.head[:500]


async def delete_mid_upload(s: Ledger) -> None:
    """``DELETE`` of a file while its upload runs: 204, the upload stops, nothing leaks."""
    body = s.body("deleted-mid-upload", 6 * MiB)
    upload = s.start_upload(body, s.gateway(0), hold_at=body.head + 3 * MiB)
    await within(upload.body.reached, what="the upload to send 3 MiB")
    await s.wait_progress(body.filename, 2)
    other = s.gateway(1)  # the other gateway, in the cluster
    file_id = await s.file_id(body.filename)
    assert await s.http.delete(f"{other.url}/files/{file_id}") == 204
    s.faults["DELETE during upload"] += 1
    upload.body.release()
    outcome = await s.finish(upload)
    assert outcome.code != 201, outcome
    assert (await s.http.get_json(f"{s.gateway().url}/files/{file_id}"))[0] == 404


# -- 3. a gateway stopped past --stale-after ------------------------------------

async def paused_gateway(s: Ledger) -> None:
    """
    A gateway stopped mid-upload for longer than ``--stale-after``.  In the
    cluster the other gateway (the lease holder) claims the upload meanwhile,
    and the resumed upload must stop (``409``), never complete with swept
    chunks.  Standalone sweeps itself: when it resumes, the upload either
    touches its file first (and completes) or is claimed first (and stops).
    """
    holder = await s.lease_holder()
    victim = next((g for g in s.dep.gateways if g is not holder), holder)
    body = s.body("paused-gateway", 6 * MiB)
    upload = s.start_upload(body, victim, hold_at=body.head + 3 * MiB)
    await within(upload.body.reached, what="the upload to send 3 MiB")
    await s.wait_progress(body.filename, 2)
    victim.signal(signal.SIGSTOP)
    await poll_until(victim.stopped, what=f"{victim.name} to stop")
    s.faults["gateway SIGSTOPped past --stale-after"] += 1
    upload.body.release()
    if victim is not holder:
        await s.wait_claimed(body.filename)
    else:
        await s.wait_stale(body.filename)
    victim.signal(signal.SIGCONT)
    outcome = await s.finish(upload)
    if victim is not holder:
        assert outcome.code != 201, outcome


# -- 4. a corrupted chunk file ------------------------------------------------

async def corrupted_chunk(s: Ledger) -> None:
    file_id = s.acked_id("base-5mib")
    ((chunk_id,),) = await s.db(
        "SELECT chunk_id FROM chunks WHERE file_id = %s AND chunk_index = 2", file_id)
    meta = await s.metadata(file_id)
    replicas = meta["chunks"][2]["replicas"]
    # the replica a read tries first: the first stored one (docs/durability.md)
    first = next(r["node_id"] for r in replicas if r["state"] == "stored")
    path = s.dep.chunk_path(first, chunk_id)
    with path.open("r+b") as f:  # a small blocking write in a test is fine
        f.seek(MiB // 2)
        byte = f.read(1)
        f.seek(MiB // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    s.faults["chunk file corrupted on disk"] += 1
    for gateway in s.dep.gateways:
        await s.verify(file_id, gateway)
    states = {r["node_id"]: r["state"] for r in (await s.metadata(file_id))["chunks"][2]["replicas"]}
    assert states[first] == "corrupt", states
    assert list(states.values()).count("stored") == REPLICAS - 1, states
    s.corrupt.add((first, chunk_id))


# -- 5. download clients that stop reading ---------------------------------------

async def stalled_downloads(s: Ledger, clients: int = 4) -> None:
    file_id = s.acked_id("big")
    gateways = s.dep.gateways
    before = {}
    for g in gateways:  # reset the peak RSS, then watch it
        Path(f"/proc/{g.proc.pid}/clear_refs").write_text("5")
        before[g.name] = g.proc.status("VmRSS")
    marks = line_marks(gateways)
    conns = []
    started = time.monotonic()
    for i in range(clients):
        conn = await raw_connect(s.gateway(i).url)
        conn.transport.pauseProducing()  # reads nothing, ever
        conn.transport.write(f"GET /files/{file_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH}\r\n".encode())
        conns.append(conn)
    await wait_for_line(gateways, rf"download of {file_id} aborted: its client accepted no data",
                        after=marks, count=clients, what="every stalled download to be aborted")
    elapsed = time.monotonic() - started
    s.faults["download client stopped reading"] += clients
    for g in gateways:
        s.memory[g.name] = (g.proc.status("VmHWM") - before[g.name]) / 1024
    for conn in conns:
        conn.transport.resumeProducing()
        await within(conn.closed, what="the aborted download's connection to close")
        assert conn.count < 24 * MiB, conn.count
    assert elapsed >= WRITE_TIMEOUT
    # about two chunks per stalled download, not the file: well under 48 MiB
    assert max(s.memory.values()) < 48, s.memory


# -- 6. a storage node killed during uploads and downloads -------------------------

async def node_killed(s: Ledger) -> None:
    big = s.acked_id("big")
    live = (await s.metadata(big))["chunks"][16]["nodes"]
    victim = s.dep.nodes[live[0]]  # serves a late chunk of the downloads
    uploads = []
    for i in range(3):
        body = s.body(f"node-kill-{i}", 6 * MiB)
        uploads.append(s.start_upload(body, s.gateway(i), hold_at=body.head + 2 * MiB))
    for upload in uploads:
        await within(upload.body.reached, what="the upload to send 2 MiB")
        await s.wait_progress(upload.name, 1)
    downloads = [await s.http.download(f"{g.url}/files/{big}", hold_at=4 * MiB)
                 for g in s.dep.gateways]
    for download in downloads:
        await within(download.body.reached, what="the download to take 4 MiB")
    victim.kill()
    s.faults["storage node SIGKILLed"] += 1
    for upload in uploads:
        upload.body.release()
    for download in downloads:
        download.release()
    for upload in uploads:
        outcome = await s.finish(upload)
        assert outcome.code == 201, outcome
    for download in downloads:
        digest, length, error = await download.finish()
        assert (download.code, digest, length, error) == (200, s.bodies["big"].sha256,
                                                         24 * MiB, None)
        s.bytes_verified += length
    await deferToThread(victim.start)
    await s.wait_node_live(victim.name)


# -- 7. a gateway killed mid-upload ----------------------------------------------

async def gateway_killed(s: Ledger) -> None:
    victim = await s.lease_holder() or s.dep.gateways[0]
    uploads = []
    for i in range(2):
        body = s.body(f"gateway-kill-{i}", 8 * MiB)
        uploads.append(s.start_upload(body, victim, hold_at=body.head + 4 * MiB))
    for upload in uploads:
        await within(upload.body.reached, what="the upload to send 4 MiB")
        await s.wait_progress(upload.name, 3)
    victim.kill()
    s.faults["gateway SIGKILLed mid-upload"] += 1
    for upload in uploads:
        upload.body.release()
        assert (await s.finish(upload)).code is None
    for other in (g for g in s.dep.gateways if g is not victim):
        await s.must_upload(s.body("while-gateway-down", 3 * MiB), other)
    await deferToThread(victim.start)
    for upload in uploads:  # claimed once stale (by the survivor, or the restarted process)
        await s.wait_claimed(upload.name)


# -- 8. PostgreSQL killed during uploads -------------------------------------------

async def postgres_killed(s: Ledger) -> None:
    uploads = []
    for i in range(3):
        body = s.body(f"pg-kill-{i}", 6 * MiB)
        uploads.append(s.start_upload(body, s.gateway(i), hold_at=body.head + 2 * MiB))
    for upload in uploads:
        await within(upload.body.reached, what="the upload to send 2 MiB")
        await s.wait_progress(upload.name, 1)
    await deferToThread(s.dep.postgres.kill)
    s.faults["PostgreSQL SIGKILLed"] += 1
    for upload in uploads:
        upload.body.release()
    await gather(*(s.finish(u) for u in uploads))
    outcome = await s.upload(s.body("during-pg-down", 1000), s.gateway())
    assert outcome.code == 503, outcome
    await deferToThread(s.dep.postgres.start)
    for g in s.dep.gateways:
        await poll_until(lambda g=g: s.healthy(g), what=f"{g.name} healthy again", timeout=30,
                         interval=0.2)


# -- 9. a stray chunk file ------------------------------------------------------------

async def stray_chunk(s: Ledger) -> None:
    from s3node._aio import aio
    from s3node.core.ids import new_chunk_id
    from s3node.storage.client import StorageClient

    node_id = sorted(s.dep.data_dirs)[1]
    data = hashlib.sha512(b"stray").digest() * 1024
    chunk_id = new_chunk_id()
    client = StorageClient(s.dep.node_address(node_id), auth=s.dep.node_auth())
    try:
        await aio(client.put_chunk(chunk_id, data, algorithm="sha256",
                                   digest=hashlib.sha256(data).hexdigest(), timeout=30))
    finally:
        await aio(client.close())
    s.faults["stray chunk file (no row names it)"] += 1
    s.stray = (node_id, chunk_id)


# -- the end state ----------------------------------------------------------------------

async def end_state(s: Ledger) -> None:
    before = await s.inventory()
    s.orphans_before = (before.orphan_count, before.unnamed_count)
    try:
        await poll_until(s.settled, what="no file pending, uploading, failed or deleting",
                         timeout=120, interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}: {await s.unsettled()}") from None
    marks = line_marks(s.dep.gateways)
    for node_id in s.dep.data_dirs:  # two passes begun, so one began after the marks
        await wait_for_line(s.dep.gateways, rf"reconciled {node_id}:", after=marks, count=2,
                            timeout=60, what=f"a whole reconcile pass over {node_id}")
    completed = await s.db("SELECT id, filename FROM files WHERE status = 'completed'")
    names = dict(completed)
    for file_id, body in s.acked.items():
        assert names.get(file_id) == body.filename, f"acknowledged {body.filename} is lost"
    for i, (file_id, filename) in enumerate(completed):
        if file_id not in s.acked:  # completed although its client saw no 201
            outcome = s.outcomes[filename]
            assert outcome.code is None or outcome.code >= 500, (filename, outcome)
            s.unacknowledged_completed.append(filename)
        await s.verify(file_id, s.gateway(i))
    # repair has replaced the corrupted replica (docs/operations.md): wait for it
    await poll_until(lambda: _healed(s), what="repair done", timeout=60, interval=0.2)
    after = await s.inventory()
    s.orphans_after = (after.orphan_count, after.unnamed_count)
    assert after.orphans == {n: set() for n in s.dep.data_dirs}, after.orphans
    assert after.lost == {n: set() for n in s.dep.data_dirs}, after.lost
    assert not any(s.dep.tmp_leftovers().values()), s.dep.tmp_leftovers()
    assert after.corrupt_replicas == set()  # the corrupted one was copied again
    assert after.states == {"stored"}, after.states
    for (file_id, index), stored in after.stored_per_chunk.items():
        assert stored >= REPLICAS, (file_id, index, stored)
    node_id, chunk_id = s.lost_reply
    assert chunk_id in after.stored[node_id], "the lost reply's replica was not settled stored"
    node_id, chunk_id = s.stray
    assert chunk_id not in after.on_disk[node_id], "the stray chunk was not deleted"


async def _healed(s: Ledger) -> bool:
    """Every chunk at its replicas again, and repair's queue empty (``GET /cluster``)."""
    code, view = await s.http.get_json(f"{s.gateway(0).url}/cluster")
    return bool(code == 200 and view["chunks_below_target"] == 0
                and view["repair"]["queued"] == 0)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "fault_deployment",
    [pytest.param("cluster", marks=pytest.mark.postgresql), "standalone"],
    indirect=True,
)
@pytest_twisted.ensureDeferred
async def test_fault_scenario(fault_deployment: FaultDeployment) -> None:
    """Through every fault the deployment can suffer, no acknowledged upload is lost or
    corrupted, no aborted upload completes, and after a reconcile pass every node holds
    exactly the stored replicas of completed files: zero orphans."""
    s = Ledger(fault_deployment)
    cluster = fault_deployment.kind == "cluster"
    try:
        await baseline(s)
        await lost_reply(s)
        await gather(disconnects(s), stalled_upload(s), delete_mid_upload(s))
        await paused_gateway(s)
        await corrupted_chunk(s)
        await stalled_downloads(s)
        if cluster:
            await node_killed(s)
        await gateway_killed(s)
        if cluster:
            await postgres_killed(s)
        for g in fault_deployment.gateways:  # everything works again
            await s.must_upload(s.body(f"after-{g.name}", 3 * MiB), g)
        await stray_chunk(s)
        await end_state(s)
    except BaseException:
        print(fault_deployment.log_tails())
        fault_deployment.save_logs()
        raise
    finally:
        print(s.report())

