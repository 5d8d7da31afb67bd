"""
The metadata store's seam, part NodeMetadata: storage nodes (health, admin
state, usage), leader leases and the counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from s3node.records import (
    NodeAdmin,
    NodeRecord,
    NodeState,
    NodeUsage,
)


class NodeMetadata(Protocol):
    """
    The metadata of storage nodes, leases and counters.

    Part of :class:`s3node.interfaces.metadata.MetadataStore`; see there for
    the errors every method may raise.
    """

    async def upsert_node(self, node: NodeRecord) -> None:
        """Register a storage node, or update its address, weight and zone."""

    async def update_node_health(
        self,
        node_id: str,
        *,
        state: NodeState,
        capacity: int | None = None,
        used: int | None = None,
        last_seen: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        """
        Record the outcome of a health check.  ``down_since`` follows
        ``state``: a node found ``down`` keeps the ``down_since`` it has, or
        gets ``now`` (when given) if it had none; a node found ``active`` has
        it cleared.  ``capacity``, ``used`` and ``last_seen`` change only when
        given.  A node that is not registered (forgotten meanwhile) is not an
        error: nothing changes.
        """

    async def list_nodes(self) -> Sequence[NodeRecord]:
        """Every registered node, ordered by id."""

    async def add_node(self, node: NodeRecord) -> NodeRecord:
        """
        Register a new node (``POST /nodes``) with ``node``'s address, weight
        and zone, state ``active``, admin ``active``; return it as stored.

        :raises s3node.errors.Conflict: a node with that id is registered
            (``upsert_node`` is the seeding form that updates instead).
        """

    async def get_node(self, node_id: str) -> NodeRecord:
        """
        One registered node.

        :raises s3node.errors.NodeNotFound: no node has that id.
        """

    async def set_node_admin(self, node_id: str, admin: NodeAdmin) -> NodeRecord:
        """
        Set what the operator wants of a node, and return the node.  Moving to
        ``draining`` records in ``drain_replicas`` how many replica rows (any
        state) the node holds at that moment, in the same transaction; a node
        already ``draining`` keeps its count.  Moving to ``drained`` succeeds
        only while the node holds no replica row.

        :raises s3node.errors.NodeNotFound: no node has that id.
        :raises s3node.errors.Conflict: ``drained`` asked of a node that still
            holds replica rows.
        """

    async def forget_node(self, node_id: str, *, lost: bool) -> int:
        """
        Remove a node from the cluster in one transaction: its row, and (only
        when ``lost``) every replica row on it; return how many replica rows
        went.  Without ``lost`` the node must be ``drained`` and hold no
        replica row.

        :raises s3node.errors.NodeNotFound: no node has that id.
        :raises s3node.errors.Conflict: not ``lost``, and the node is not
            drained or still holds replica rows.
        """

    async def node_usage(self, node_id: str) -> NodeUsage:
        """The replica rows recorded on ``node_id`` (any state) and their chunks' bytes."""

    async def try_lease(self, *, name: str, holder: str, now: datetime, ttl: float) -> bool:
        """
        Take or renew the lease ``name`` for ``holder`` until ``now + ttl``
        seconds, in one conditional statement; ``False`` while another holder's
        lease has not expired.  Several gateways sharing a database run a
        background worker only while they hold its lease.
        """

    async def release_lease(self, *, name: str, holder: str) -> None:
        """Give the lease up (at shutdown) if ``holder`` holds it."""

    async def add_counters(self, deltas: Mapping[str, int]) -> None:
        """Add to the cluster-wide counters (repairs done, corruptions found...) in one transaction."""

    async def read_counters(self) -> dict[str, int]:
        """Every cluster-wide counter that has been added to, by name."""
