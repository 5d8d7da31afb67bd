"""
What repair should do with one chunk: the decision, apart from doing it.

Pure functions over records (no Twisted, no I/O), shared by the repair
worker (:mod:`s3node.gateway.repair`), the movement plan of ``GET
/cluster/plan`` and ``POST /nodes?dry_run=true``, and their tests.

The rule (docs/operations.md): a chunk of a completed file belongs on the
first R nodes of its placement preference list that either hold a healthy
copy of it or can take one now.  The list is computed over the *members*:
nodes the operator keeps ``active`` that have not been down for longer than
``--repair-after``.  So a node that reboots keeps its chunks (it is still a
member and holds them), a chunk written to a handoff node while its preferred
node was down moves back once that node answers, a drained node's chunks go
to the next members, and a node that joins takes the chunks whose lists it
now heads.  Copies are made first; the replicas outside the chosen nodes are
dropped only once all R chosen nodes hold a stored copy, so a chunk never has
fewer than R copies because of a move.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from s3node.records import ChunkRecord, NodeAdmin, RepairReason, ReplicaRecord, ReplicaState

__all__ = ["ChunkPlan", "NodeView", "plan_chunk"]


@dataclass(frozen=True)
class NodeView:
    """What the planner knows of one registered node."""

    node_id: str
    admin: NodeAdmin
    #: answered its last health check
    up: bool
    #: down for longer than ``--repair-after``: its replicas count as lost
    expired: bool = False
    #: bytes free as last reported (``None``: unknown)
    free: int | None = None

    @property
    def member(self) -> bool:
        """Whether placement may choose this node for a chunk."""
        return self.admin is NodeAdmin.ACTIVE and not self.expired

    def can_take(self, size: int) -> bool:
        """Whether a copy of ``size`` bytes may be written to the node now."""
        return self.member and self.up and (self.free is None or self.free >= size)


@dataclass(frozen=True)
class ChunkPlan:
    """The verdict on one chunk."""

    #: the nodes the chunk belongs on (at most R)
    targets: tuple[str, ...]
    #: targets without a stored copy: write one to each
    copies: tuple[str, ...]
    #: replica rows to drop once every target holds a stored copy
    drops: tuple[ReplicaRecord, ...]
    #: nodes a copy may be read from (a stored replica on a node that answers)
    sources: tuple[str, ...]
    #: stored replicas on nodes that answer: the durability view's count
    healthy: int
    #: stored replicas not lost (on registered nodes not down too long)
    durable: int
    #: why the chunk needs work; ``None`` when it sits where it belongs
    reason: RepairReason | None
    #: the chunk has no stored copy on any registered node (not even one down
    #: too long, which might come back): nothing left to read it from
    lost: bool
    #: fewer members can hold it than R: copies are made, nothing is dropped
    short: bool

    @property
    def may_drop(self) -> bool:
        """Whether :attr:`drops` may go once :attr:`copies` are made (R targets)."""
        return not self.short


def plan_chunk(
    chunk: ChunkRecord,
    nodes: Mapping[str, NodeView],
    order: Callable[[str], Sequence[str]],
    replicas: int,
) -> ChunkPlan:
    """
    Decide what ``chunk`` needs.

    :param nodes: every registered node by id (a replica on an id missing
        here is on a forgotten node).
    :param order: the placement preference list of a chunk id over the member
        nodes (the caller computes it with the placement strategy).
    :param replicas: R, the number of stored copies every chunk should have.
    """
    stored = {r.node_id for r in chunk.replicas if r.state is ReplicaState.STORED}
    # a node with a write of the chunk under way is not written to again
    skip = {r.node_id for r in chunk.replicas if r.state is ReplicaState.WRITING}

    def holds(node_id: str) -> bool:
        view = nodes.get(node_id)
        return node_id in stored and view is not None and not view.expired

    targets: list[str] = []
    for node_id in order(chunk.chunk_id):
        if len(targets) == replicas:
            break
        view = nodes.get(node_id)
        if view is None or not view.member:
            continue
        if holds(node_id) or (node_id not in skip and view.can_take(chunk.size)):
            targets.append(node_id)
    copies = tuple(n for n in targets if not holds(n))
    drops = tuple(r for r in chunk.replicas if r.node_id not in targets)
    sources = tuple(sorted(n for n in stored if (v := nodes.get(n)) is not None and v.up))
    healthy = len(sources)
    durable = sum(1 for n in stored if holds(n))
    registered = any(n in nodes for n in stored)
    if durable < replicas:
        reason: RepairReason | None = RepairReason.DEGRADED
    elif any(nodes[n].admin is not NodeAdmin.ACTIVE for n in stored if n in nodes):
        reason = RepairReason.DRAINING
    elif copies or drops:
        reason = RepairReason.MISPLACED
    else:
        reason = None
    return ChunkPlan(
        targets=tuple(targets),
        copies=copies,
        drops=drops,
        sources=sources,
        healthy=healthy,
        durable=durable,
        reason=reason,
        lost=not registered,
        short=len(targets) < replicas,
    )
