"""
The repair worker (:mod:`s3node.gateway.repair`) over the in-memory store and
fake nodes, on a fake clock: what it copies, drops, defers and throttles.
The same worker against real processes is ``tests/integration/test_self_healing.py``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest_twisted
from gateway.gateway_fakes import FakeNode
from support.waiting import poll_until, turns
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from s3node.builtin.placement import ConsistentHashPlacement
from s3node.core.checksums import HashAlgorithm
from s3node.errors import InsufficientStorage
from s3node.gateway.counters import COPIES_MADE, COPY_BYTES, CORRUPT_BY_READ, FAILURES
from s3node.gateway.lease import BACKGROUND, Lease
from s3node.gateway.nodes import NodePool
from s3node.gateway.repair import Repairer, RepairSettings
from s3node.metadata.memory import MemoryMetadataStore
from s3node.records import (
    ChunkRecord,
    NodeAdmin,
    NodeRecord,
    PlacementNode,
    ReplicaRecord,
    ReplicaState,
)

SIZE = 1000
SHA256 = lambda name: HashAlgorithm("sha256", 32, hashlib.sha256)


def cpu(f: Any, *args: Any) -> Any:
    return succeed(f(*args))


class World:
    """A store, fake nodes, a pool, a clock and a repairer; files placed where placement wants."""

    def __init__(self, count: int = 4, **settings: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.store = MemoryMetadataStore(clock=self.clock)
        self.nodes = {f"n{i}": FakeNode(f"n{i}") for i in range(1, count + 1)}
        self.pool = NodePool(self.store, [NodeRecord(n, f"{n}:1") for n in self.nodes],
                             lambda a: self.nodes[a.split(":")[0]], self.clock,
                             health_interval=5, health_timeout=1)
        self.placement = ConsistentHashPlacement()
        lease = Lease(self.store, self.clock, name=BACKGROUND, holder="test", ttl=90)
        defaults: dict[str, Any] = {"replicas": 2, "repair_after": 60, "bandwidth": 0,
                                    "concurrency": 2, "backoff": 10}
        self.settings = RepairSettings(**{**defaults, **settings})
        self.repairer = Repairer(self.store, self.pool, self.clock, lease, self.placement,
                                 SHA256, cpu, interval=1,
                                 settings=self.settings)

    async def start(self) -> None:
        await self.pool.start()

    def order(self, chunk_id: str) -> list[str]:
        members = [PlacementNode(n) for n in sorted(self.nodes)]
        return self.placement.preference_list(chunk_id, members)

    async def add_file(self, chunks: int) -> list[ChunkRecord]:
        record = await self.store.create_file(filename="f", content_type="a/b",
                                              checksum_algorithm="sha256", chunk_size=SIZE)
        out = []
        whole = hashlib.sha256()
        for index in range(chunks):
            data = hashlib.sha512(f"{record.file_id}-{index}".encode()).digest() * 16
            data = data[:SIZE]
            whole.update(data)
            chunk_id = hashlib.sha256(data).hexdigest()[:32]
            holders = self.order(chunk_id)[:2]
            for n in holders:
                self.nodes[n].chunks[chunk_id] = data
            chunk = ChunkRecord(record.file_id, index, chunk_id, SIZE, "sha256",
                                hashlib.sha256(data).hexdigest(),
                                tuple(ReplicaRecord(n, ReplicaState.STORED) for n in holders))
            await self.store.record_chunk(chunk)
            out.append(chunk)
        await self.store.complete_file(file_id=record.file_id, size=SIZE * chunks,
                                       checksum=whole.hexdigest(), replicas=2)
        return out

    async def holders(self, chunk: ChunkRecord) -> dict[str, ReplicaState]:
        found = await self.store.get_completed_chunk(chunk.file_id, chunk.index)
        assert found is not None
        return {r.node_id: r.state for r in found.replicas}

    async def round(self) -> None:
        await self.repairer.run()


@pytest_twisted.ensureDeferred
async def test_a_settled_cluster_is_left_alone() -> None:
    w = World()
    await w.start()
    await w.add_file(10)
    puts = {n: node.puts for n, node in w.nodes.items()}
    await w.round()
    assert {n: node.puts for n, node in w.nodes.items()} == puts
    assert await w.store.repair_queue_length(now=w.repairer._now()) == (0, 0)


@pytest_twisted.ensureDeferred
async def test_a_missing_replica_is_copied_back_verified() -> None:
    w = World()
    await w.start()
    chunks = await w.add_file(3)
    lost = chunks[1]
    victim = w.order(lost.chunk_id)[0]
    del w.nodes[victim].chunks[lost.chunk_id]
    await w.store.set_replica_state(file_id=lost.file_id, index=1, node_id=victim,
                                    state=ReplicaState.MISSING)
    await w.round()
    assert await w.holders(lost) == {n: ReplicaState.STORED for n in w.order(lost.chunk_id)[:2]}
    assert w.nodes[victim].chunks[lost.chunk_id] == w.nodes[w.order(lost.chunk_id)[1]].chunks[
        lost.chunk_id]
    counters = await w.store.read_counters()
    assert counters[COPIES_MADE] == 1 and counters[COPY_BYTES] == SIZE
    assert await w.store.repair_queue_length(now=w.repairer._now()) == (0, 0)


@pytest_twisted.ensureDeferred
async def test_a_node_down_is_repaired_around_only_after_repair_after() -> None:
    w = World(repair_after=60)
    await w.start()
    chunks = await w.add_file(12)
    w.nodes["n2"].down = True
    await w.pool.check_all()
    on_n2 = [c for c in chunks if "n2" in c.nodes_with()]
    assert on_n2
    w.clock.advance(30)  # a reboot's worth: nothing moves
    await w.pool.check_all()
    await w.round()
    assert sum(node.puts for node in w.nodes.values()) == 0
    w.clock.advance(31)
    await w.pool.check_all()
    await w.round()
    for chunk in on_n2:
        holders = await w.holders(chunk)
        assert "n2" not in holders and len(holders) == 2
        assert set(holders.values()) == {ReplicaState.STORED}
    assert (await w.store.read_counters())[COPIES_MADE] == len(on_n2)


@pytest_twisted.ensureDeferred
async def test_a_corrupt_source_is_marked_and_the_other_used_and_a_lost_chunk_damages_its_file(
) -> None:
    w = World()
    await w.start()
    (chunk,) = await w.add_file(1)
    first, second = w.order(chunk.chunk_id)[:2]
    # the first holder's copy rots (a read finds it), the second's is gone
    w.nodes[first].corrupt.add(chunk.chunk_id)
    del w.nodes[second].chunks[chunk.chunk_id]
    await w.store.set_replica_state(file_id=chunk.file_id, index=0, node_id=second,
                                    state=ReplicaState.MISSING)
    await w.round()
    assert (await w.holders(chunk))[first] is ReplicaState.CORRUPT
    assert (await w.store.read_counters())[CORRUPT_BY_READ] == 1
    await w.round()  # the next plan finds no stored copy anywhere: lost
    assert (await w.store.get_file(chunk.file_id)).damaged


@pytest_twisted.ensureDeferred
async def test_a_failing_target_is_retried_later_and_does_not_block_the_others() -> None:
    w = World(concurrency=1)
    await w.start()
    chunks = await w.add_file(8)
    # the node holding the most replicas (ids are random): at least 4 of the 16
    victim = max(w.nodes, key=lambda n: sum(n in c.nodes_with() for c in chunks))
    for c in chunks:
        if victim in c.nodes_with():
            del w.nodes[victim].chunks[c.chunk_id]
            await w.store.set_replica_state(file_id=c.file_id, index=c.index, node_id=victim,
                                            state=ReplicaState.MISSING)
    broken = [c for c in chunks if victim in c.nodes_with()]
    assert len(broken) >= 2
    w.nodes[victim].put_error = InsufficientStorage("full")
    await w.round()
    tasks = await w.store.due_repairs(now=w.repairer._now(), limit=100)
    assert tasks == []  # all deferred: none due now
    queued, due = await w.store.repair_queue_length(now=w.repairer._now())
    assert (queued, due) == (len(broken), 0)
    assert (await w.store.read_counters())[FAILURES] == len(broken)
    w.nodes[victim].put_error = None
    w.clock.advance(11)
    await w.round()
    assert await w.store.repair_queue_length(now=w.repairer._now()) == (0, 0)
    for c in broken:
        assert (await w.holders(c))[victim] is ReplicaState.STORED


@pytest_twisted.ensureDeferred
async def test_copies_keep_to_the_bandwidth_on_the_clock() -> None:
    w = World(bandwidth=SIZE, concurrency=4)  # one chunk a second
    await w.start()
    chunks = await w.add_file(6)
    for c in chunks:
        holder = c.nodes_with()[0]
        del w.nodes[holder].chunks[c.chunk_id]
        await w.store.set_replica_state(file_id=c.file_id, index=c.index, node_id=holder,
                                        state=ReplicaState.MISSING)
    run: Deferred[None] = Deferred.fromCoroutine(w.repairer.run())

    def copies() -> int:
        return int(w.store.counters.get(COPIES_MADE, 0))

    # the bucket starts empty: one chunk at once, then one more each second
    for second in range(6):
        await poll_until(lambda s=second: copies() == s + 1, what=f"copy {second + 1}")
        await turns(20)
        assert copies() == second + 1  # no more before the clock moves on
        w.clock.advance(1)
    await run
    assert copies() == 6


@pytest_twisted.ensureDeferred
async def test_a_drained_node_ends_empty_and_drained() -> None:
    w = World(drain_settle=10)
    await w.start()
    chunks = await w.add_file(10)
    await w.store.set_node_admin("n1", NodeAdmin.DRAINING)
    await w.pool.refresh()
    had = [c for c in chunks if "n1" in c.nodes_with()]
    assert had
    await w.round()
    assert (await w.store.node_usage("n1")).replicas == 0
    assert w.nodes["n1"].chunks == {}
    assert (await w.store.get_node("n1")).admin is NodeAdmin.DRAINING  # not settled yet
    w.clock.advance(11)
    await w.round()
    assert (await w.store.get_node("n1")).admin is NodeAdmin.DRAINED
    for c in had:
        assert len(await w.holders(c)) == 2


@pytest_twisted.ensureDeferred
async def test_a_new_repairer_resumes_the_persistent_queue() -> None:
    w = World()
    await w.start()
    chunks = await w.add_file(4)
    victim = chunks[0].nodes_with()[0]
    del w.nodes[victim].chunks[chunks[0].chunk_id]
    await w.store.set_replica_state(file_id=chunks[0].file_id, index=0, node_id=victim,
                                    state=ReplicaState.MISSING)
    views = w.pool.views(repair_after=60)
    await w.repairer.plan(views, w.repairer._order())  # planned, then "the gateway dies"
    assert (await w.store.repair_queue_length(now=w.repairer._now()))[0] == 1
    other = World.__new__(World)
    other.__dict__.update(w.__dict__)
    lease = Lease(w.store, w.clock, name=BACKGROUND, holder="other", ttl=90)
    other.repairer = Repairer(w.store, w.pool, w.clock, lease, w.placement,
                              SHA256, cpu, interval=1,
                              settings=w.settings)
    w.clock.advance(91)  # the first holder's lease expired
    taken = await other.repairer.work(views, other.repairer._order())
    assert taken == 1
    assert (await w.holders(chunks[0]))[victim] is ReplicaState.STORED


@pytest_twisted.ensureDeferred
async def test_a_corrupt_copy_is_replaced_in_place_and_its_quarantine_cleared() -> None:
    """The node's quarantine entry goes before the fresh copy lands, so that the
    reconciler does not take the fresh copy for the corrupt one."""
    w = World()
    await w.start()
    (chunk,) = await w.add_file(1)
    first = w.order(chunk.chunk_id)[0]
    w.nodes[first].quarantine(chunk.chunk_id)
    await w.store.set_replica_state(file_id=chunk.file_id, index=0, node_id=first,
                                    state=ReplicaState.CORRUPT)
    await w.round()
    assert await w.holders(chunk) == {n: ReplicaState.STORED for n in w.order(chunk.chunk_id)[:2]}
    assert chunk.chunk_id in w.nodes[first].chunks
    assert [e for e in w.nodes[first].quarantined.values() if e.chunk_id == chunk.chunk_id] == []
    assert (await w.store.read_counters())[COPIES_MADE] == 1


def test_the_fence_holds_a_chunk_while_it_is_copied_and_after() -> None:
    from s3node.gateway.fence import Fence

    fence = Fence()
    assert not fence.busy("c", since=0.0)
    fence.copying("c", now=10.0)
    assert fence.busy("c", since=100.0)  # under way, whenever the pass began
    fence.copied("c", now=12.0)
    assert fence.busy("c", since=11.0)  # copied since the pass began
    assert not fence.busy("c", since=13.0)  # a pass that began later sees it as it is
