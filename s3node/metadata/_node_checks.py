"""
The checks of storage node records every metadata store makes before it
stores one (``add_node``, ``update_node``, ``update_node_health``).

Pure functions, no I/O, like :mod:`._records`.
"""

from __future__ import annotations

import sys

from s3node.errors import InvalidRequest
from s3node.metadata._records import check_aware, check_count, check_node_id, check_text
from s3node.records import NodeAdmin, NodeRecord, NodeState

__all__ = ["check_health", "check_node"]

#: the largest node weight (a float, as both backends store it)
_MAX_WEIGHT = sys.float_info.max


def check_optional_count(value: object, what: str) -> None:
    if value is not None:
        check_count(value, what)


def check_node(node: NodeRecord) -> None:
    """Check a storage node record before it is stored."""
    if not isinstance(node, NodeRecord):
        raise InvalidRequest(f"not a NodeRecord: {node!r:.80}")
    check_node_id(node.node_id)
    check_text(node.address, "node address", 1, 300)
    if (
        isinstance(node.weight, bool)
        or not isinstance(node.weight, (int, float))
        or not 0 <= node.weight < float("inf")
        or node.weight > _MAX_WEIGHT
    ):
        raise InvalidRequest(
            f"node weight must be a finite number of at least 0, not {node.weight!r}"
        )
    check_text(node.zone, "node zone", 0, 255)
    check_health(node.node_id, node.state, node.capacity, node.used, node.last_seen)
    if node.down_since is not None:
        check_aware(node.down_since, "down_since")
    if not isinstance(node.admin, NodeAdmin):
        raise InvalidRequest(f"not a node admin state: {node.admin!r}")
    check_optional_count(node.drain_replicas, "drain_replicas")


def check_health(
    node_id: object,
    state: object,
    capacity: object,
    used: object,
    last_seen: object,
    now: object = None,
) -> None:
    """Check the arguments of ``update_node_health`` (``now``: also a node's ``down_since``)."""
    check_node_id(node_id)
    if not isinstance(state, NodeState):
        raise InvalidRequest(f"not a node state: {state!r}")
    check_optional_count(capacity, "capacity")
    check_optional_count(used, "used")
    if last_seen is not None:
        check_aware(last_seen, "last_seen")  # type: ignore[arg-type]
    if now is not None:
        check_aware(now, "now")  # type: ignore[arg-type]
