"""
What every metadata store shares for self-healing: the input checks of the
operations on nodes' admin state, chunk scans, the repair queue and the
cluster counters, and the rules that decide an admin change or a forget.

Pure functions, no I/O, beside :mod:`._records` (the other operations'
checks).  Each store reads what a rule needs inside its one transaction and
lets these decide, so the rule and its errors are the same on every backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from s3node.errors import InvalidRequest, NodeInUse
from s3node.metadata._records import (
    check_aware,
    check_chunk_index,
    check_count,
    check_file_id,
    check_limit,
    check_node_id,
    check_text,
)
from s3node.records import NodeAdmin, RepairReason

__all__ = [
    "MAX_ERROR_LENGTH",
    "admin_change",
    "check_admin",
    "check_chunk_key",
    "check_counters",
    "check_damaged",
    "check_forget",
    "check_repair_defer",
    "check_repair_tasks",
    "check_scan",
    "check_unhealthy",
    "clean_error",
    "forget_refusal",
]

#: the longest ``last_error`` kept in the repair queue (longer texts are cut)
MAX_ERROR_LENGTH = 1000
#: the range of a repair priority (a 32-bit integer column)
_PRIORITY = range(-(2**31), 2**31)


def check_admin(node_id: object, admin: object) -> NodeAdmin:
    """Check the arguments of ``set_node_admin``; return the admin state."""
    check_node_id(node_id)
    if not isinstance(admin, NodeAdmin):
        raise InvalidRequest(f"not a node admin state: {admin!r}")
    return admin


def check_forget(node_id: object, lost: object) -> bool:
    """Check the arguments of ``forget_node``; return ``lost``."""
    check_node_id(node_id)
    if not isinstance(lost, bool):
        raise InvalidRequest(f"lost must be True or False, not {lost!r}")
    return lost


def admin_change(
    node_id: str, current: NodeAdmin, drain_replicas: int | None, admin: NodeAdmin, replicas: int
) -> int | None:
    """
    Decide ``set_node_admin``: a node in ``current`` admin state, holding
    ``replicas`` replica rows, moves to ``admin``; return its
    ``drain_replicas`` afterwards (a drain that starts counts ``replicas``; a
    node already draining keeps its count; anything else leaves it as it was).

    :raises NodeInUse: ``drained`` asked while the node holds replica rows.
    """
    if admin is NodeAdmin.DRAINED and replicas:
        raise NodeInUse(
            f"storage node {node_id!r} still holds {replicas} replica rows: it is not drained"
        )
    if admin is NodeAdmin.DRAINING and current is not NodeAdmin.DRAINING:
        return replicas
    return drain_replicas


def forget_refusal(node_id: str, admin: NodeAdmin, replicas: int) -> NodeInUse | None:
    """
    Why ``forget_node`` without ``lost`` must refuse a node in ``admin``
    state holding ``replicas`` replica rows; ``None`` when it may go.
    """
    if admin is not NodeAdmin.DRAINED:
        return NodeInUse(
            f"storage node {node_id!r} is {admin.value}, not drained: drain it first,"
            " or forget it as lost"
        )
    if replicas:
        return NodeInUse(
            f"storage node {node_id!r} still holds {replicas} replica rows: drain it first,"
            " or forget it as lost"
        )
    return None


def check_chunk_key(file_id: object, index: object) -> tuple[uuid.UUID, int]:
    """A chunk's key: a file id and a chunk index."""
    return check_file_id(file_id), check_chunk_index(index)


def check_scan(after: object, limit: object) -> tuple[tuple[uuid.UUID, int] | None, int]:
    """Check the arguments of ``scan_chunks``: ``after`` a chunk key or ``None``, a limit."""
    limit = check_limit(limit)
    if after is None:
        return None, limit
    if not isinstance(after, tuple) or len(after) != 2:
        raise InvalidRequest(f"after must be a (file id, chunk index) pair or None, not {after!r}")
    return check_chunk_key(*after), limit


def check_damaged(file_id: object, damaged: object) -> bool:
    """Check the arguments of ``set_file_damaged``; return the flag."""
    check_file_id(file_id)
    if not isinstance(damaged, bool):
        raise InvalidRequest(f"damaged must be True or False, not {damaged!r}")
    return damaged


def check_unhealthy(nodes: object) -> list[str]:
    """The node ids of ``durability_counts(unhealthy_nodes=)``, checked, sorted, each once."""
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Collection):
        raise InvalidRequest(f"unhealthy_nodes must be a collection of node ids, not {nodes!r}")
    return sorted({check_node_id(node) for node in nodes})


def _check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in _PRIORITY:
        raise InvalidRequest(f"a repair priority must be a 32-bit whole number, not {priority!r}")
    return priority


def check_repair_tasks(
    tasks: object, now: object
) -> tuple[list[tuple[uuid.UUID, int, str, int]], datetime]:
    """
    Check the arguments of ``enqueue_repairs``; return the entries, one per
    chunk in the order first given (a chunk named twice takes its last
    reason and its lowest priority, as a second call would), and ``now`` in UTC.
    """
    moment = check_aware(now, "now")  # type: ignore[arg-type]
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence):
        raise InvalidRequest(f"repair tasks must be a sequence of tuples, not {tasks!r:.80}")
    merged: dict[tuple[uuid.UUID, int], tuple[str, int]] = {}
    for task in tasks:
        if not isinstance(task, tuple) or len(task) != 4:
            raise InvalidRequest(
                f"a repair task is (file id, chunk index, reason, priority), not {task!r:.80}"
            )
        file_id, index, reason, priority = task
        key = check_chunk_key(file_id, index)
        if not isinstance(reason, RepairReason):
            raise InvalidRequest(f"not a repair reason: {reason!r}")
        priority = _check_priority(priority)
        if key in merged:
            priority = min(priority, merged[key][1])
        merged[key] = (reason.value, priority)
    return [(*key, *value) for key, value in merged.items()], moment


def clean_error(error: object) -> str:
    """
    A failed try's error as the queue keeps it: text, at most
    :data:`MAX_ERROR_LENGTH` characters, NULs and lone surrogates replaced
    (an error message is recorded, never refused).
    """
    if not isinstance(error, str):
        raise InvalidRequest(f"a repair error must be text, not {type(error).__name__}")
    text = error[:MAX_ERROR_LENGTH].replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def check_repair_defer(
    file_id: object, index: object, until: object, attempts: object, error: object
) -> tuple[datetime, str]:
    """Check the arguments of ``defer_repair``; return ``until`` in UTC and the error to keep."""
    check_chunk_key(file_id, index)
    if check_count(attempts, "attempts") >= 2**31:
        raise InvalidRequest("attempts too large")
    return check_aware(until, "until"), clean_error(error)  # type: ignore[arg-type]


def check_counters(deltas: object) -> list[tuple[str, int]]:
    """
    Check the argument of ``add_counters``: counter names (1 to 255
    characters) to increments of at least 0; return the pairs by name.
    """
    if not isinstance(deltas, Mapping):
        raise InvalidRequest(f"counter deltas must be a mapping, not {deltas!r:.80}")
    pairs = []
    for name, delta in deltas.items():
        check_text(name, "counter name", 1, 255)
        pairs.append((name, check_count(delta, f"the increment of counter {name!r}")))
    return sorted(pairs)
