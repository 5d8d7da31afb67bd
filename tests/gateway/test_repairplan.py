"""
The repair planner's verdicts (:func:`s3node.gateway.repairplan.plan_chunk`),
one rule per test: node loss, reboots, handoffs, drains, additions, too few
nodes, lost chunks.  Pure: no reactor, no store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from s3node.gateway.repairplan import NodeView, plan_chunk
from s3node.records import ChunkRecord, NodeAdmin, RepairReason, ReplicaRecord, ReplicaState

S, W, M, C = ReplicaState.STORED, ReplicaState.WRITING, ReplicaState.MISSING, ReplicaState.CORRUPT
ORDER = ["a", "b", "c", "d", "e"]


def chunk(*replicas: tuple[str, ReplicaState], size: int = 100) -> ChunkRecord:
    return ChunkRecord(uuid.UUID(int=1), 0, "ab" * 16, size, "sha256", "00" * 32,
                       tuple(ReplicaRecord(n, s) for n, s in replicas))


def views(**overrides: NodeView) -> dict[str, NodeView]:
    out = {n: NodeView(n, NodeAdmin.ACTIVE, up=True) for n in ORDER}
    out.update(overrides)
    return out


def order_of(nodes: dict[str, NodeView]) -> Sequence[str]:
    return [n for n in ORDER if n in nodes]


def plan(c: ChunkRecord, nodes: dict[str, NodeView], replicas: int = 2):  # type: ignore[no-untyped-def]
    return plan_chunk(c, nodes, lambda _id: order_of(nodes), replicas)


def test_a_chunk_where_it_belongs_needs_nothing() -> None:
    p = plan(chunk(("a", S), ("b", S)), views())
    assert (p.reason, p.copies, p.drops, p.healthy, p.lost) == (None, (), (), 2, False)


def test_a_missing_replica_is_copied_to_the_next_node_then_dropped() -> None:
    p = plan(chunk(("a", S), ("b", M)), views())
    assert p.reason is RepairReason.DEGRADED
    assert p.targets == ("a", "b") and p.copies == ("b",)  # the row on b is rewritten
    assert p.drops == () and p.healthy == 1 and p.sources == ("a",)


def test_a_corrupt_replica_on_a_full_node_goes_elsewhere_and_its_row_is_dropped() -> None:
    nodes = views(b=NodeView("b", NodeAdmin.ACTIVE, up=True, free=10))
    p = plan(chunk(("a", S), ("b", C)), nodes)
    assert p.targets == ("a", "c") and p.copies == ("c",)
    assert [r.node_id for r in p.drops] == ["b"] and p.may_drop


def test_a_reboot_shorter_than_repair_after_moves_nothing() -> None:
    nodes = views(b=NodeView("b", NodeAdmin.ACTIVE, up=False, expired=False))
    p = plan(chunk(("a", S), ("b", S)), nodes)
    assert p.reason is None and p.copies == () and p.drops == ()
    assert p.healthy == 1 and p.durable == 2  # the view shows 1; nothing is lost


def test_a_node_down_past_repair_after_has_its_replicas_copied_and_dropped() -> None:
    nodes = views(b=NodeView("b", NodeAdmin.ACTIVE, up=False, expired=True))
    p = plan(chunk(("a", S), ("b", S)), nodes)
    assert p.reason is RepairReason.DEGRADED
    assert p.targets == ("a", "c") and p.copies == ("c",)
    assert [r.node_id for r in p.drops] == ["b"]


def test_a_handoff_moves_back_once_the_preferred_node_answers() -> None:
    p = plan(chunk(("a", S), ("c", S)), views())
    assert p.reason is RepairReason.MISPLACED
    assert p.copies == ("b",) and [r.node_id for r in p.drops] == ["c"]


def test_a_handoff_stays_while_the_preferred_node_is_down() -> None:
    nodes = views(b=NodeView("b", NodeAdmin.ACTIVE, up=False))
    p = plan(chunk(("a", S), ("c", S)), nodes)
    assert p.reason is None and p.targets == ("a", "c")


def test_a_draining_node_is_copied_from_then_dropped() -> None:
    nodes = views(a=NodeView("a", NodeAdmin.DRAINING, up=True))
    p = plan(chunk(("a", S), ("b", S)), nodes)
    assert p.reason is RepairReason.DRAINING
    assert p.targets == ("b", "c") and p.copies == ("c",) and p.sources == ("a", "b")
    assert [r.node_id for r in p.drops] == ["a"] and p.may_drop


def test_too_few_members_copy_but_never_drop_below_r() -> None:
    nodes = {"a": NodeView("a", NodeAdmin.DRAINING, up=True),
             "b": NodeView("b", NodeAdmin.ACTIVE, up=True)}
    p = plan(chunk(("a", S), ("b", S)), nodes)
    assert p.short and not p.may_drop and p.copies == ()


def test_a_new_node_heading_the_list_takes_one_replica() -> None:
    nodes = views()
    p = plan_chunk(chunk(("b", S), ("c", S)), nodes, lambda _id: ["a", "b", "c"], 2)
    assert p.copies == ("a",) and [r.node_id for r in p.drops] == ["c"]


def test_a_node_with_a_write_under_way_is_skipped() -> None:
    p = plan(chunk(("a", S), ("b", W)), views())
    assert p.targets == ("a", "c") and p.copies == ("c",)
    assert [r.node_id for r in p.drops] == ["b"]


def test_no_stored_copy_on_any_registered_node_is_lost() -> None:
    assert plan(chunk(("a", C), ("b", M)), views()).lost
    forgotten = plan(chunk(("gone", S)), views())
    assert forgotten.lost and forgotten.sources == ()
    # a copy on a node down too long may come back: not lost, but nothing to read now
    nodes = views(b=NodeView("b", NodeAdmin.ACTIVE, up=False, expired=True))
    waiting = plan(chunk(("b", S)), nodes)
    assert not waiting.lost and waiting.sources == () and waiting.durable == 0


def test_an_extra_replica_is_dropped() -> None:
    p = plan(chunk(("a", S), ("b", S), ("c", S)), views())
    assert p.reason is RepairReason.MISPLACED and p.copies == ()
    assert [r.node_id for r in p.drops] == ["c"]



def test_a_corrupt_copy_is_replaced_where_it_was() -> None:
    p = plan(chunk(("a", C), ("b", S)), views())
    assert p.targets == ("a", "b") and p.copies == ("a",) and p.drops == ()
