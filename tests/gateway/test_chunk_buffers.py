"""
Uploads collect large chunks in reused buffers: over real HTTP on loopback, fake nodes
and the in-memory store, with chunks past ``SMALL`` so that they take buffers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from typing import Any

import pytest_twisted
import treq
from gateway.conftest import start_gateway, stop_gateway
from gateway.test_app_files import upload
from support.waiting import poll_until, turns
from twisted.internet.defer import Deferred

from s3node.core.chunking import SMALL
from s3node.gateway.upload import IN_FLIGHT

CHUNK = 2 * SMALL + 4096
REPLICAS = 2


async def download(url: str, file_id: str) -> bytes:
    r = await treq.get(f"{url}/files/{file_id}")
    assert r.code == 200
    return bytes(await r.content())


@pytest_twisted.ensureDeferred
async def test_uploads_reuse_their_chunk_buffers_and_every_byte_is_kept():
    """An upload of several large chunks allocates no more buffers than it holds at
    once, and frees them when it ends; every file comes back byte-exact with its
    digest (a buffer reused too early would change a chunk's bytes or the file's
    digest)."""
    running, pool = await start_gateway(chunk_size=CHUNK, max_file_size=10**8,
                                        replicas=REPLICAS)
    try:
        buffers = running.gateway.uploads.chunk_buffers
        for _ in range(3):
            data = os.urandom(5 * CHUNK + 12345)
            before = buffers.allocated
            code, reply = await upload(running.url, data)
            assert code == 201, reply
            assert reply["checksum"] == hashlib.sha256(data).hexdigest()
            assert reply["chunk_count"] == 6
            assert 1 <= buffers.allocated - before <= IN_FLIGHT  # 5 large chunks, <= 3 buffers
            # no upload under way: nothing is out, and nothing waits for reuse
            assert (buffers.out, buffers.free, running.gateway.uploads.active) == (0, 0, 0)
            assert await download(running.url, reply["file_id"]) == data
    finally:
        await stop_gateway(running, pool)


@pytest_twisted.ensureDeferred
async def test_a_chunk_buffer_waits_for_the_file_digest():
    """A chunk stored on its nodes keeps its buffer until the whole-file digest has
    taken it in: with that digest held back, the written chunk's buffer is not free.
    (The second chunk's update is the one held.)"""
    running, pool = await start_gateway(chunk_size=CHUNK, max_file_size=10**8,
                                        replicas=REPLICAS)
    uploads = running.gateway.uploads
    real_cpu = uploads._cpu
    held: list[tuple[Deferred[Any], Callable[..., Any], tuple[Any, ...]]] = []
    holding = True
    updates = 0

    def cpu(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        nonlocal updates
        if getattr(f, "__name__", "") == "update":  # the file digest's update
            updates += 1
        if holding and updates > 1 and getattr(f, "__name__", "") == "update":
            d: Deferred[Any] = Deferred()
            held.append((d, f, args))
            return d
        return real_cpu(f, *args)

    def release() -> None:
        nonlocal holding
        holding = False
        while held:
            d, f, args = held.pop(0)
            real_cpu(f, *args).chainDeferred(d)

    uploads._cpu = cpu
    try:
        data = os.urandom(2 * CHUNK + 100)
        posted = Deferred.fromCoroutine(upload(running.url, data))
        # the second chunk is written on its nodes while its digest update is held
        await poll_until(lambda: sum(n.puts for n in running.nodes.values()) >= 2 * REPLICAS
                         and len(held) == 1,
                         what="the second chunk written, its file digest held")
        assert uploads.chunk_buffers.out == 1  # its buffer is still out (the first's is back)
        release()
        code, reply = await posted
        assert code == 201, reply
        assert reply["checksum"] == hashlib.sha256(data).hexdigest()
        assert await download(running.url, reply["file_id"]) == data
        assert (uploads.chunk_buffers.out, uploads.chunk_buffers.free) == (0, 0)
    finally:
        release()  # an upload held on a failed assertion ends, and the gateway can stop
        uploads._cpu = real_cpu
        await stop_gateway(running, pool)


@pytest_twisted.ensureDeferred
async def test_past_the_pipelining_budget_an_upload_writes_one_chunk_at_a_time():
    """With the gateway's chunk buffers at its pipelining budget, an upload does not fill
    its next chunk while its last one is being written: one buffer out, not two, and the
    upload completes byte-exact once the nodes take chunks again."""
    running, pool = await start_gateway(chunk_size=CHUNK, max_file_size=10**8,
                                        replicas=REPLICAS)
    uploads = running.gateway.uploads
    uploads.pipelining_budget = CHUNK  # one chunk's buffer reaches it
    gate = asyncio.Event()
    for node in running.nodes.values():
        node.gate = gate
    try:
        data = os.urandom(4 * CHUNK + 100)
        posted = Deferred.fromCoroutine(upload(running.url, data))
        stalled = lambda: sum(n.stalled for n in running.nodes.values())
        await poll_until(lambda: stalled() >= REPLICAS, what="the first chunk's writes stalled")
        await turns(50)  # turns in which a pipelining upload would fill its next chunk
        assert uploads.chunk_buffers.out == 1 and stalled() == REPLICAS
        gate.set()
        code, reply = await posted
        assert code == 201, reply
        assert reply["checksum"] == hashlib.sha256(data).hexdigest()
        assert await download(running.url, reply["file_id"]) == data
    finally:
        gate.set()
        await stop_gateway(running, pool)
