"""
Faults end to end: corrupted chunk files, storage nodes SIGKILLed mid-upload and
mid-download, the database restarted under load.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import pytest_twisted
import treq
from integration.e2e_client import (
    MiB,
    get_hash,
    get_json,
    post_bytes,
    post_file,
    write_body_file,
)
from support.waiting import poll_until
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

pytestmark = pytest.mark.integration


@pytest_twisted.ensureDeferred
async def test_corrupted_chunk_file_is_served_from_the_other_replica(deployment):
    """With the chunk file of the replica read first corrupted on disk, downloads stay
    byte-exact (served from the other replica)."""
    data = hashlib.sha512(b"corrupt").digest() * (MiB // 64)
    before = deployment.chunk_files()
    code, reply = await post_bytes(deployment.url, data)
    assert code == 201 and reply["chunk_count"] == 1
    new = deployment.chunk_files() - before
    assert len(new) == 2
    _, meta = await get_json(f"{deployment.url}/files/{reply['file_id']}/metadata")
    first = deployment.data_dirs[meta["chunks"][0]["nodes"][0]]
    (target,) = [p for p in new if first in p.parents]
    with target.open("r+b") as f:  # a small blocking write in a test is fine
        f.seek(MiB // 2)
        byte = f.read(1)
        f.seek(MiB // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    for _ in range(4):
        status, digest, length = await get_hash(f"{deployment.url}/files/{reply['file_id']}")
        assert (status, digest, length) == (200, hashlib.sha256(data).hexdigest(), MiB)
    # The gateway's check failed, it marked the replica corrupt and had the node verify
    # the chunk itself: the node moved it to its quarantine.
    _, meta = await get_json(f"{deployment.url}/files/{reply['file_id']}/metadata")
    states = {r["node_id"]: r["state"] for r in meta["chunks"][0]["replicas"]}
    assert sorted(states.values()) == ["corrupt", "stored"]
    assert not target.exists()
    assert any((deployment.data_dirs[n] / "quarantine").rglob("*")
               for n, state in states.items() if state == "corrupt")


@pytest_twisted.ensureDeferred
async def test_node_killed_during_upload(cluster, tmp_path):
    """A storage node SIGKILLed mid-upload: the upload still completes with 2 replicas per
    chunk (handoff) and downloads byte-exact."""
    body = tmp_path / "up.body"
    digest = write_body_file(body, 40 * MiB, seed=11)
    killed_at: list[int] = []

    def kill_n1_midway(sent: int) -> None:
        if sent >= 8 * MiB and not killed_at:
            killed_at.append(sent)
            cluster.kill_node("n1")

    code, reply = await post_file(cluster.url, body, progress=kill_n1_midway)
    assert killed_at, "n1 was killed mid-upload"
    assert code == 201, reply
    assert reply["checksum"] == digest
    _, meta = await get_json(f"{cluster.url}/files/{reply['file_id']}/metadata")
    assert all(len(set(c["nodes"])) == 2 for c in meta["chunks"])
    late = meta["chunks"][-10:]
    assert all("n1" not in c["nodes"] for c in late)
    status, got, _ = await get_hash(f"{cluster.url}/files/{reply['file_id']}")
    assert (status, got) == (200, digest)


@pytest_twisted.ensureDeferred
async def test_node_killed_during_download(cluster, tmp_path):
    """A storage node SIGKILLed mid-download: the download fails over to the other replica
    and stays byte-exact."""
    body = tmp_path / "down.body"
    digest = write_body_file(body, 40 * MiB, seed=12)
    code, reply = await post_file(cluster.url, body)
    assert code == 201
    _, meta = await get_json(f"{cluster.url}/files/{reply['file_id']}/metadata")
    live = {p for p, proc in cluster.nodes.items() if proc.returncode is None}
    # The first listed replica of a late chunk is the one the gateway tries first.
    victim = next(c["nodes"][0] for c in meta["chunks"][20:] if c["nodes"][0] in live)
    r = await treq.get(f"{cluster.url}/files/{reply['file_id']}", unbuffered=True)
    assert r.code == 200
    h = hashlib.sha256()
    seen = [0]
    killed = [False]

    def take(data: bytes) -> None:
        h.update(data)
        seen[0] += len(data)
        if not killed[0] and seen[0] > 5 * MiB:
            killed[0] = True
            cluster.kill_node(victim)

    await treq.collect(r, take)
    assert killed[0] and seen[0] == 40 * MiB and h.hexdigest() == digest


@pytest_twisted.ensureDeferred
async def test_database_restart_under_load(cluster):
    """While PostgreSQL is down requests get 503 (never 500, never a hang); after it is
    back, uploads and downloads work again."""
    code, reply = await post_bytes(cluster.url, b"before restart")
    assert code == 201
    stop = False
    seen: list[int] = []

    async def load() -> None:
        while not stop:
            for r in (await treq.get(f"{cluster.url}/files?per_page=5"),
                      await treq.post(f"{cluster.url}/files", data=b"x",
                                      headers={"content-type": "text/plain"})):
                seen.append(r.code)
                await r.content()

    loader = Deferred.fromCoroutine(load())
    await deferToThread(cluster.postgres.stop)
    down = [await treq.get(f"{cluster.url}/files"), await treq.get(f"{cluster.url}/health")]
    code_down, err = await post_bytes(cluster.url, b"during outage")
    assert code_down == 503 and err["error"] == "metadata_unavailable"
    for r in down:
        assert r.code == 503
        assert json.loads(await r.content())["status" if b"health" in r.request.absoluteURI
                                              else "error"] in ("unavailable",
                                                                "metadata_unavailable")
    await poll_until(lambda: 503 in seen, what="the load to meet the outage")
    await deferToThread(cluster.postgres.start)

    async def healthy() -> bool:
        r = await treq.get(f"{cluster.url}/health")
        await r.content()
        return r.code == 200

    await poll_until(healthy, what="/health to answer 200 again", timeout=20, interval=0.2)
    stop = True
    await loader
    assert set(seen) <= {200, 400, 503} and 503 in seen
    code, _ = await post_bytes(cluster.url, b"after restart")
    assert code == 201
    r = await treq.get(f"{cluster.url}/files/{reply['file_id']}")
    assert r.code == 200 and await r.content() == b"before restart"
