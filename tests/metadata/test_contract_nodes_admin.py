"""
The MetadataStore contract for what the operator does to storage nodes
(issue 10), on every backend: registering a node, its admin state apart
from its health (draining counts what it held, drained needs it empty),
when it was first found down, what it holds, and forgetting it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from support.metadata import upload

from s3node.errors import Conflict, InvalidRequest, NodeExists, NodeInUse, NodeNotFound
from s3node.interfaces import MetadataStore
from s3node.records import NodeAdmin, NodeRecord, NodeState, NodeUsage, ReplicaState

T1 = datetime(2026, 4, 1, 8, 0, 0, 250000, tzinfo=UTC)
T2 = T1 + timedelta(minutes=5)


async def _replica_nodes(store: MetadataStore, file_id: uuid.UUID) -> list[tuple[str, ...]]:
    """The nodes of each chunk's replicas (any state), in index order."""
    fwc = await store.get_file_with_chunks(file_id)
    return [tuple(rep.node_id for rep in chunk.replicas) for chunk in fwc.chunks]


# -- add_node, get_node, upsert_node -------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_add_node_registers_an_active_member(store: MetadataStore) -> None:
    """add_node stores the address, weight and zone with health and admin active and nothing
    else (whatever else the record says), returns it as get_node and list_nodes show it."""
    given = NodeRecord(
        "n1", "127.0.0.1:7001", weight=2.5, zone="z1", state=NodeState.DOWN, capacity=10,
        used=1, last_seen=T1, admin=NodeAdmin.DRAINED, down_since=T1, drain_replicas=4,
    )
    added = await store.add_node(given)
    assert added == NodeRecord("n1", "127.0.0.1:7001", 2.5, "z1")
    assert added.admin is NodeAdmin.ACTIVE and added.down_since is None
    assert await store.get_node("n1") == added
    assert list(await store.list_nodes()) == [added]


@pytest_twisted.ensureDeferred
async def test_add_node_refuses_a_registered_id(store: MetadataStore) -> None:
    """Adding an id already registered (by add_node or upsert_node) is NodeExists, a Conflict
    with its own code, and changes nothing."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    await store.upsert_node(NodeRecord("n2", "127.0.0.1:2"))
    for node_id in ("n1", "n2"):
        with pytest.raises(NodeExists, match=node_id) as caught:
            await store.add_node(NodeRecord(node_id, "127.0.0.1:9", weight=7))
        assert isinstance(caught.value, Conflict) and caught.value.code == "node_exists"
    assert [n.address for n in await store.list_nodes()] == ["127.0.0.1:1", "127.0.0.1:2"]


@pytest_twisted.ensureDeferred
async def test_get_node_of_an_unknown_id(store: MetadataStore) -> None:
    """get_node of an id nobody registered is NodeNotFound; a malformed id InvalidRequest."""
    with pytest.raises(NodeNotFound, match="nope"):
        await store.get_node("nope")
    with pytest.raises(InvalidRequest):
        await store.get_node("")


@pytest_twisted.ensureDeferred
async def test_upsert_keeps_admin_and_down_since(store: MetadataStore) -> None:
    """Seeding a known node again (upsert_node from --node options) changes its address,
    weight and zone only: its admin state, drain count and down_since stay."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    await upload(store, chunks=2, nodes=("n1",))
    await store.set_node_admin("n1", NodeAdmin.DRAINING)
    await store.update_node_health("n1", state=NodeState.DOWN, now=T1)
    before = await store.get_node("n1")
    await store.upsert_node(NodeRecord("n1", "127.0.0.1:9", weight=3.0, zone="z9"))
    after = await store.get_node("n1")
    assert (after.address, after.weight, after.zone) == ("127.0.0.1:9", 3.0, "z9")
    assert (after.admin, after.drain_replicas, after.down_since, after.state) == (
        NodeAdmin.DRAINING, 2, T1, NodeState.DOWN
    )
    assert (after.capacity, after.used, after.last_seen) == (
        before.capacity, before.used, before.last_seen
    )


@pytest_twisted.ensureDeferred
async def test_upsert_of_a_new_node_stores_the_whole_record(store: MetadataStore) -> None:
    """upsert_node of an unknown id registers the record as given, admin fields included."""
    node = NodeRecord("n1", "127.0.0.1:1", admin=NodeAdmin.DRAINING, down_since=T1,
                      drain_replicas=3, state=NodeState.DOWN)
    await store.upsert_node(node)
    assert await store.get_node("n1") == node


@pytest.mark.parametrize(
    "node",
    [
        NodeRecord("n", "127.0.0.1:1", admin="draining"),  # type: ignore[arg-type]
        NodeRecord("n", "127.0.0.1:1", down_since=datetime(2026, 1, 1)),
        NodeRecord("n", "127.0.0.1:1", drain_replicas=-1),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_admin_fields_are_refused(store: MetadataStore, node: NodeRecord) -> None:
    """A record with an admin that is no NodeAdmin, a naive down_since or a negative drain
    count is InvalidRequest, by upsert_node and add_node alike."""
    with pytest.raises(InvalidRequest):
        await store.upsert_node(node)
    with pytest.raises(InvalidRequest):
        await store.add_node(node)
    assert await store.list_nodes() == []


# -- update_node_health: down_since ----------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_down_since_is_when_the_node_was_first_found_down(store: MetadataStore) -> None:
    """A node found down gets down_since = now, keeps it while down, loses it once it answers;
    down without now leaves a node with none without one."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    await store.update_node_health("n1", state=NodeState.DOWN)
    assert (await store.get_node("n1")).down_since is None
    await store.update_node_health("n1", state=NodeState.DOWN, now=T1)
    assert (await store.get_node("n1")).down_since == T1
    await store.update_node_health("n1", state=NodeState.DOWN, now=T2)
    down = await store.get_node("n1")
    assert (down.state, down.down_since) == (NodeState.DOWN, T1)
    assert down.down_since is not None and down.down_since.utcoffset() == timedelta(0)
    await store.update_node_health("n1", state=NodeState.ACTIVE, capacity=100, used=5, now=T2)
    up = await store.get_node("n1")
    assert (up.state, up.down_since, up.capacity, up.used) == (NodeState.ACTIVE, None, 100, 5)
    await store.update_node_health("n1", state=NodeState.DOWN, now=T2)
    assert (await store.get_node("n1")).down_since == T2


@pytest_twisted.ensureDeferred
async def test_health_leaves_the_admin_state_alone(store: MetadataStore) -> None:
    """Health checks change the health fields only: a draining node stays draining with its
    count, whether found down or up."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    await upload(store, chunks=1, nodes=("n1",))
    await store.set_node_admin("n1", NodeAdmin.DRAINING)
    await store.update_node_health("n1", state=NodeState.DOWN, now=T1)
    await store.update_node_health("n1", state=NodeState.ACTIVE, now=T2)
    node = await store.get_node("n1")
    assert (node.admin, node.drain_replicas, node.state) == (
        NodeAdmin.DRAINING, 1, NodeState.ACTIVE
    )


@pytest_twisted.ensureDeferred
async def test_update_node_health_wants_an_aware_now(store: MetadataStore) -> None:
    """A naive ``now`` is InvalidRequest."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    with pytest.raises(InvalidRequest):
        await store.update_node_health("n1", state=NodeState.DOWN, now=datetime(2026, 1, 1))
    assert (await store.get_node("n1")).state is NodeState.ACTIVE


# -- set_node_admin --------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_draining_counts_the_replica_rows_held_then(store: MetadataStore) -> None:
    """Moving to draining records how many replica rows the node holds in any state (not the
    other nodes' rows); draining again keeps that count though rows went meanwhile."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    record = await upload(store, chunks=4, nodes=("n1", "n2"))
    await upload(store, chunks=1, nodes=("n2",))
    await store.set_replica_state(
        file_id=record.file_id, index=1, node_id="n1", state=ReplicaState.MISSING
    )
    await store.set_replica_state(
        file_id=record.file_id, index=2, node_id="n1", state=ReplicaState.CORRUPT
    )
    await store.set_replica_state(
        file_id=record.file_id, index=3, node_id="n1", state=ReplicaState.WRITING
    )
    draining = await store.set_node_admin("n1", NodeAdmin.DRAINING)
    assert (draining.admin, draining.drain_replicas) == (NodeAdmin.DRAINING, 4)
    assert await store.get_node("n1") == draining
    await store.drop_replica(file_id=record.file_id, index=0, node_id="n1")
    again = await store.set_node_admin("n1", NodeAdmin.DRAINING)
    assert (again.admin, again.drain_replicas) == (NodeAdmin.DRAINING, 4)


@pytest_twisted.ensureDeferred
async def test_undrain_keeps_the_count_and_a_new_drain_recounts(store: MetadataStore) -> None:
    """Setting a draining node active again changes only its admin state; draining it later
    counts what it holds then."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    record = await upload(store, chunks=3, nodes=("n1",))
    await store.set_node_admin("n1", NodeAdmin.DRAINING)
    active = await store.set_node_admin("n1", NodeAdmin.ACTIVE)
    assert (active.admin, active.drain_replicas) == (NodeAdmin.ACTIVE, 3)
    await store.drop_replica(file_id=record.file_id, index=0, node_id="n1")
    redrain = await store.set_node_admin("n1", NodeAdmin.DRAINING)
    assert (redrain.admin, redrain.drain_replicas) == (NodeAdmin.DRAINING, 2)


@pytest_twisted.ensureDeferred
async def test_drained_needs_an_empty_node(store: MetadataStore) -> None:
    """Drained is refused (NodeInUse, a Conflict) while the node holds any replica row, even a
    missing one, and changes nothing; once the rows are gone it is accepted."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    record = await upload(store, chunks=1, nodes=("n1", "n2"))
    await store.set_node_admin("n1", NodeAdmin.DRAINING)
    await store.set_replica_state(
        file_id=record.file_id, index=0, node_id="n1", state=ReplicaState.MISSING
    )
    before = await store.get_node("n1")
    with pytest.raises(NodeInUse, match="n1") as caught:
        await store.set_node_admin("n1", NodeAdmin.DRAINED)
    assert isinstance(caught.value, Conflict) and caught.value.code == "node_in_use"
    assert await store.get_node("n1") == before
    await store.drop_replica(file_id=record.file_id, index=0, node_id="n1")
    drained = await store.set_node_admin("n1", NodeAdmin.DRAINED)
    assert (drained.admin, drained.drain_replicas) == (NodeAdmin.DRAINED, 1)
    assert await store.get_node("n1") == drained


@pytest_twisted.ensureDeferred
async def test_set_node_admin_checks_its_arguments(store: MetadataStore) -> None:
    """An unknown node is NodeNotFound, whatever the admin state asked; an admin state that is
    no NodeAdmin is InvalidRequest."""
    for admin in NodeAdmin:
        with pytest.raises(NodeNotFound):
            await store.set_node_admin("nope", admin)
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    with pytest.raises(InvalidRequest):
        await store.set_node_admin("n1", "draining")  # type: ignore[arg-type]
    assert (await store.get_node("n1")).admin is NodeAdmin.ACTIVE


# -- node_usage ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_node_usage_counts_rows_in_any_state_and_their_bytes(
    store: MetadataStore,
) -> None:
    """node_usage counts the replica rows on one node in any state, of any file, and adds up
    their chunks' sizes; a node with none (or unknown) holds (0, 0)."""
    one = await upload(store, chunks=2, chunk_size=100, nodes=("n1", "n2"))
    await upload(store, chunks=3, chunk_size=7, nodes=("n1",), complete=False)
    await store.set_replica_state(
        file_id=one.file_id, index=1, node_id="n1", state=ReplicaState.CORRUPT
    )
    assert await store.node_usage("n1") == NodeUsage(replicas=5, bytes=221)
    assert await store.node_usage("n2") == NodeUsage(replicas=2, bytes=200)
    assert await store.node_usage("nobody") == NodeUsage(0, 0)
    await store.drop_replica(file_id=one.file_id, index=0, node_id="n1")
    assert await store.node_usage("n1") == NodeUsage(4, 121)
    with pytest.raises(InvalidRequest):
        await store.node_usage("")


# -- forget_node -----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_forget_refuses_a_node_not_drained(store: MetadataStore) -> None:
    """Without lost, forgetting an active or draining node is NodeInUse, even with no replica
    row left, and the node and its rows stay."""
    await store.add_node(NodeRecord("empty", "127.0.0.1:1"))
    await store.add_node(NodeRecord("busy", "127.0.0.1:2"))
    record = await upload(store, chunks=2, nodes=("busy",))
    await store.set_node_admin("busy", NodeAdmin.DRAINING)
    for node_id in ("empty", "busy"):
        with pytest.raises(NodeInUse, match="not drained"):
            await store.forget_node(node_id, lost=False)
    assert [n.node_id for n in await store.list_nodes()] == ["busy", "empty"]
    assert await _replica_nodes(store, record.file_id) == [("busy",), ("busy",)]


@pytest_twisted.ensureDeferred
async def test_forget_refuses_a_drained_node_that_holds_rows(store: MetadataStore) -> None:
    """A node drained while empty that got a replica row since is refused without lost
    (NodeInUse); its row and node stay."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    await store.set_node_admin("n1", NodeAdmin.DRAINED)
    record = await upload(store, chunks=1, nodes=("n1",))
    with pytest.raises(NodeInUse, match="replica"):
        await store.forget_node("n1", lost=False)
    assert (await store.get_node("n1")).admin is NodeAdmin.DRAINED
    assert await _replica_nodes(store, record.file_id) == [("n1",)]


@pytest_twisted.ensureDeferred
async def test_forget_a_drained_node(store: MetadataStore) -> None:
    """A drained node holding no replica row is forgotten: 0 rows went, it is no longer
    registered, the other nodes stay."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    await store.add_node(NodeRecord("n2", "127.0.0.1:2"))
    record = await upload(store, chunks=1, nodes=("n2",))
    await store.set_node_admin("n1", NodeAdmin.DRAINING)
    await store.set_node_admin("n1", NodeAdmin.DRAINED)
    assert await store.forget_node("n1", lost=False) == 0
    with pytest.raises(NodeNotFound):
        await store.get_node("n1")
    assert [n.node_id for n in await store.list_nodes()] == ["n2"]
    assert await _replica_nodes(store, record.file_id) == [("n2",)]
    with pytest.raises(NodeNotFound):
        await store.forget_node("n1", lost=False)


@pytest_twisted.ensureDeferred
async def test_forget_a_lost_node_drops_its_rows(store: MetadataStore) -> None:
    """With lost, any node is forgotten whatever its admin state, with every replica row on it
    in any state (counted); other nodes' rows stay, and its files keep their chunks."""
    await store.add_node(NodeRecord("lost", "127.0.0.1:1"))
    done = await upload(store, chunks=2, nodes=("lost", "n2"))
    busy = await upload(store, chunks=1, nodes=("lost",), complete=False)
    await store.set_replica_state(
        file_id=done.file_id, index=1, node_id="lost", state=ReplicaState.CORRUPT
    )
    assert await store.forget_node("lost", lost=True) == 3
    assert await store.list_nodes() == []
    assert await _replica_nodes(store, done.file_id) == [("n2",), ("n2",)]
    assert await _replica_nodes(store, busy.file_id) == [()]
    assert await store.node_usage("lost") == NodeUsage(0, 0)
    with pytest.raises(NodeNotFound):
        await store.forget_node("lost", lost=True)


@pytest_twisted.ensureDeferred
async def test_forget_node_checks_its_arguments(store: MetadataStore) -> None:
    """A malformed id, or lost that is not a bool, is InvalidRequest before anything changes."""
    await store.add_node(NodeRecord("n1", "127.0.0.1:1"))
    with pytest.raises(InvalidRequest):
        await store.forget_node("", lost=True)
    with pytest.raises(InvalidRequest):
        await store.forget_node("n1", lost="yes")  # type: ignore[arg-type]
    assert [n.node_id for n in await store.list_nodes()] == ["n1"]
