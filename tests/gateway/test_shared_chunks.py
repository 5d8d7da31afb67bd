"""
Chunks that copies share (CopyObject, UploadPartCopy) survive the sweeper and
repair: a node's copy of a chunk is deleted only when the last replica row
naming it there goes.  In-memory store, fake nodes, fake clock.
"""

from __future__ import annotations

import pytest_twisted
from gateway.test_repair import World

from s3node.gateway.sweeper import Sweeper
from s3node.records import NodeAdmin, ReplicaState


async def copied_world(chunks: int = 3) -> tuple[World, list, object]:  # type: ignore[type-arg]
    """A world whose file is copied (shared chunks) to the object ``bkt/copy``."""
    w = World()
    await w.start()
    source = await w.add_file(chunks)
    await w.store.create_bucket("bkt")
    put = await w.store.copy_object(source=source[0].file_id, bucket="bkt", key="copy",
                                    etag="0" * 32, headers=(), content_type="a/b",
                                    filename="copy")
    return w, source, put.object.file_id


def sweeper(w: World) -> Sweeper:
    return Sweeper(w.store, w.pool, w.clock, w.repairer._lease, interval=1, stale_after=60)


def on_nodes(w: World, chunk_id: str) -> set[str]:
    return {n for n, node in w.nodes.items() if chunk_id in node.chunks}


@pytest_twisted.ensureDeferred
async def test_sweeping_a_copied_source_keeps_the_shared_chunks() -> None:
    """The source's file is swept (its rows go) but no node deletes a chunk the copy names;
    sweeping the copy then deletes them all."""
    w, source, copy_id = await copied_world()
    placed = {c.chunk_id: on_nodes(w, c.chunk_id) for c in source}
    await w.store.start_delete(source[0].file_id)
    s = sweeper(w)
    assert await s.sweep() == 1
    assert {c.chunk_id: on_nodes(w, c.chunk_id) for c in source} == placed
    fwc = await w.store.get_file_with_chunks(copy_id)  # type: ignore[arg-type]
    assert all(len(c.nodes_with()) == 2 for c in fwc.chunks)
    await w.store.delete_object("bkt", "copy")
    assert await s.sweep() == 1
    assert all(not on_nodes(w, c.chunk_id) for c in source)


@pytest_twisted.ensureDeferred
async def test_draining_a_node_moves_shared_chunks_for_every_file() -> None:
    """
    Repair drains a node holding chunks that two files share: each file's
    replica moves, the node's chunk is deleted only with the last row, and
    both files end with two stored replicas of every chunk that the nodes have.
    """
    w, source, copy_id = await copied_world(6)
    await w.store.set_node_admin("n1", NodeAdmin.DRAINING)
    await w.pool.refresh()
    assert any("n1" in c.nodes_with() for c in source)
    for _ in range(3):
        await w.round()
    assert (await w.store.node_usage("n1")).replicas == 0
    assert w.nodes["n1"].chunks == {}
    for file_id in (source[0].file_id, copy_id):
        fwc = await w.store.get_file_with_chunks(file_id)  # type: ignore[arg-type]
        for chunk in fwc.chunks:
            stored = {r.node_id for r in chunk.replicas if r.state is ReplicaState.STORED}
            assert len(stored) == 2 and "n1" not in stored
            assert stored <= on_nodes(w, chunk.chunk_id)
