"""
Placement math: which nodes hold a chunk, as a pure function of its key.

Two orderings, both deterministic across processes and machines (they hash
with BLAKE2b, never Python's salted :func:`hash`):

- :class:`HashRing`: consistent hashing with virtual nodes.  Each node gets
  ``round(vnodes * weight)`` points on a 64-bit ring; a key's preference list
  is the distinct owners met walking clockwise from the key's hash.
- :func:`rendezvous_order`: weighted highest-random-weight hashing.  Every
  node scores ``-weight / ln(h)`` with ``h`` a uniform hash of (node, key)
  in (0, 1); nodes are ordered by falling score.

Both move only the keys a new node takes (about ``1/N``) when a node joins.
:func:`spread_zones` reorders a list so that its first entries cover as many
distinct zones as possible.

A node of weight 0 owns no key: it comes after every weighted node, in a
deterministic order, so it can still serve as a handoff.
"""

from __future__ import annotations

import math
import struct
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from hashlib import blake2b
from typing import Any

from s3node.errors import ConfigurationError

__all__ = [
    "DEFAULT_VNODES",
    "MAX_RING_NODES",
    "MAX_RING_POINTS",
    "HashRing",
    "RendezvousNodes",
    "hash64",
    "rendezvous_order",
    "spread_zones",
    "validate_nodes",
]

#: virtual nodes per unit of weight.  ``bench/placement_bench.py`` measures the
#: balance this buys: with 6 equal nodes the busiest node's share of the ring is
#: on average 3% over the mean, about 6% in the worst of 50 random node sets.
#: Changing it re-places data: it is part of the placement function.
DEFAULT_VNODES = 2000
#: the most points a ring may have; weights far above 1.0 should be scaled down
MAX_RING_POINTS = 4_000_000
#: the most nodes a ring may have (a node's rank lives in 16 bits of each point)
MAX_RING_NODES = 1 << 16

_RING = 1 << 64
_TWO_64 = float(_RING)
#: the largest float below 1.0: hashes that round up to 1.0 are held here (log(1) = 0)
_BELOW_ONE = math.nextafter(1.0, 0.0)
#: ring steps walked per node wanted before switching to per-node searches
_WALK_STEPS_PER_NODE = 16
#: ring points per 64-byte BLAKE2b digest
_PER_DIGEST = 8
_UNPACK = struct.Struct(">8Q").unpack
_LOW_16 = 0xFFFF
_HIGH_48 = ((1 << 64) - 1) ^ _LOW_16


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def hash64(data: bytes) -> int:
    """A stable 64-bit hash of ``data`` (BLAKE2b, big-endian)."""
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")


def _prefix(node_id: str) -> bytes:
    # length-prefixed, so ("ab", "c") and ("a", "bc") never hash alike
    raw = _encode(node_id)
    return len(raw).to_bytes(4, "big") + raw


def validate_nodes(nodes: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """
    Check ``(node_id, weight)`` pairs and return them as a list.

    :raises s3node.errors.ConfigurationError: on an empty or non-string id, a
        duplicate id, or a weight that is not a finite number >= 0.
    """
    result: list[tuple[str, float]] = []
    seen: set[str] = set()
    for node_id, weight in nodes:
        if not isinstance(node_id, str) or not node_id:
            raise ConfigurationError(f"invalid node id {node_id!r}")
        if node_id in seen:
            raise ConfigurationError(f"duplicate node id {node_id!r}")
        seen.add(node_id)
        try:
            w = float(weight)
        except (TypeError, ValueError, OverflowError):
            raise ConfigurationError(f"node {node_id!r}: invalid weight {weight!r}") from None
        if not math.isfinite(w) or w < 0:
            raise ConfigurationError(
                f"node {node_id!r}: weight must be a finite number >= 0, not {weight!r}"
            )
        result.append((node_id, w))
    return result


class HashRing:
    """
    A consistent-hash ring with virtual nodes proportional to weight.

    Immutable once built; safe to share between threads.  Building costs one
    hash per 8 points (``vnodes * total weight`` points) and a sort, so callers
    cache rings per node set (see :mod:`s3node.builtin.placement`).  Listing
    every node walks the ring for a bounded number of steps, then places the
    nodes not met yet by their first point after the key (one binary search
    each), so a node of tiny weight never makes a call walk the whole ring.

    :param nodes: ``(node_id, weight)`` pairs, in any order
    :param vnodes: points per unit of weight; a node of positive weight gets at
        least one point
    """

    __slots__ = (
        "_hashes", "_ids", "_node_points", "_ranks", "_unweighted", "_weighted", "vnodes"
    )

    def __init__(self, nodes: Sequence[tuple[str, float]], vnodes: int = DEFAULT_VNODES) -> None:
        if not isinstance(vnodes, int) or vnodes < 1:
            raise ConfigurationError(f"vnodes must be a positive integer, not {vnodes!r}")
        checked = validate_nodes(nodes)
        self.vnodes = vnodes
        counts = {nid: max(1, round(vnodes * w)) for nid, w in checked if w > 0}
        total = sum(counts.values())
        if len(counts) > MAX_RING_NODES:
            raise ConfigurationError(f"a ring holds at most {MAX_RING_NODES} nodes")
        if total > MAX_RING_POINTS:
            raise ConfigurationError(
                f"a ring of {total} points is too large: scale node weights down towards 1.0"
            )
        # One 64-byte BLAKE2b digest gives 8 points.  A point keeps the top 48
        # bits of its hash and the rank of its node id in the low 16 bits, so
        # one plain int sort orders the ring, and a (rare) 48-bit tie is
        # broken by node id.
        owners = sorted(counts)
        points: list[int] = []
        node_points: list[array[int]] = []
        for rank, nid in enumerate(owners):
            count = counts[nid]
            base = blake2b(_prefix(nid), digest_size=64)
            mine: list[int] = []
            for block in range(-(-count // _PER_DIGEST)):
                h = base.copy()
                h.update(block.to_bytes(4, "big"))
                take = min(_PER_DIGEST, count - block * _PER_DIGEST)
                mine.extend([(v & _HIGH_48) | rank for v in _UNPACK(h.digest())[:take]])
            mine.sort()
            node_points.append(array("Q", mine))
            points.extend(mine)
        points.sort()
        self._node_points = node_points
        # compact arrays: 10 bytes a point instead of ~50 for lists of ints
        self._hashes = array("Q", points)
        self._ranks = array("H", [p & _LOW_16 for p in points])
        self._ids = owners
        self._weighted = len(counts)
        # weight-0 nodes own nothing; they follow, in a key-independent order
        self._unweighted = sorted((nid for nid, w in checked if w <= 0), key=_zero_order)

    def __len__(self) -> int:
        """The number of points on the ring."""
        return len(self._hashes)

    def preference_list(self, key: str, n: int | None = None) -> list[str]:
        """
        The distinct node ids met walking clockwise from ``key``'s hash.

        :param n: how many ids to return; every node's when ``None``.  Nodes
            of weight 0 come last.
        """
        limit = self._weighted + len(self._unweighted) if n is None else n
        if limit <= 0:
            return []
        result: list[str] = []
        if self._weighted:
            self._walk(hash64(_encode(key)), min(limit, self._weighted), result)
        if len(result) < limit:
            result.extend(self._unweighted[: limit - len(result)])
        return result


    def _walk(self, point: int, want: int, result: list[str]) -> None:
        """Append the first ``want`` distinct owners clockwise from ``point``."""
        ids, ranks = self._ids, self._ranks
        size = len(ranks)
        start = bisect_right(self._hashes, point)
        seen: set[int] = set()
        for step in range(min(size, _WALK_STEPS_PER_NODE * want)):
            rank = ranks[(start + step) % size]
            if rank not in seen:
                seen.add(rank)
                result.append(ids[rank])
                if len(result) == want:
                    return
        # The rest own no point in the stretch walked: order them by their
        # first point clockwise from ``point``, exactly as a longer walk would.
        distances: list[tuple[int, int]] = []
        for rank, mine in enumerate(self._node_points):
            if rank not in seen:
                i = bisect_right(mine, point)
                first = mine[i] if i < len(mine) else mine[0] + _RING
                distances.append((first - point, rank))
        distances.sort()
        result.extend(ids[rank] for _, rank in distances[: want - len(result)])


def _zero_order(node_id: str) -> tuple[int, str]:
    return hash64(_prefix(node_id)), node_id


class RendezvousNodes:
    """
    A node set prepared for weighted rendezvous hashing.

    Holds one pre-seeded hasher per node, so ordering a key costs one small
    hash update per node.  Immutable; safe to share between threads.
    """

    __slots__ = ("_nodes",)

    def __init__(self, nodes: Sequence[tuple[str, float]]) -> None:
        self._nodes: list[tuple[str, float, Any]] = [
            (nid, w, blake2b(_prefix(nid), digest_size=8)) for nid, w in validate_nodes(nodes)
        ]

    def __len__(self) -> int:
        """The number of nodes."""
        return len(self._nodes)

    def order(self, key: str, n: int | None = None) -> list[str]:
        """Node ids by falling score for ``key`` (all of them when ``n`` is ``None``)."""
        raw = _encode(key)
        scored: list[tuple[float, int, str]] = []
        for nid, w, base in self._nodes:
            h = base.copy()
            h.update(raw)
            value = int.from_bytes(h.digest(), "big")
            # (value + 0.5) / 2**64 lies inside (0, 1) but rounds to 1.0 for the top
            # ~2**10 values: those are held just below 1, so log is always negative
            u = min((value + 0.5) / _TWO_64, _BELOW_ONE)
            score = -w / math.log(u) if w > 0 else 0.0
            scored.append((-score, value, nid))
        scored.sort()
        ids = [nid for _, _, nid in scored]
        return ids if n is None else ids[: max(n, 0)]


def rendezvous_order(key: str, nodes: Sequence[tuple[str, float]]) -> list[str]:
    """
    Every node id in ``nodes`` ordered for ``key`` by weighted rendezvous hashing.

    Nodes of weight 0 come last.  For repeated calls over one node set, build
    a :class:`RendezvousNodes` once.
    """
    return RendezvousNodes(nodes).order(key)


def spread_zones(order: Sequence[str], zone_of: Mapping[str, str]) -> list[str]:
    """
    Reorder ``order`` so that every prefix covers as many zones as it can.

    Takes nodes in rounds: each round walks the remaining nodes in their
    order and takes the first node of each zone not yet taken in that round.
    So the first ``Z`` entries (``Z`` distinct zones) are in distinct zones,
    and relative order within a zone is kept.  With a single zone the order
    is returned unchanged.
    """
    if len({zone_of.get(nid, "") for nid in order}) <= 1:
        return list(order)
    result: list[str] = []
    remaining = list(order)
    while remaining:
        taken: set[str] = set()
        rest: list[str] = []
        for nid in remaining:
            zone = zone_of.get(nid, "")
            if zone in taken:
                rest.append(nid)
            else:
                taken.add(zone)
                result.append(nid)
        remaining = rest
    return result
