"""
The built-in placement strategies as a plugin: ``consistent-hash`` (the
default) and ``rendezvous``.

Both order every node given (primaries first, then handoffs), spread the
front of the list over distinct zones (:func:`s3node.core.placement.spread_zones`)
and cache their prepared node set per distinct ``(id, weight, zone)`` tuple in
a small LRU, so the per-chunk call costs a few microseconds.  They do not
filter by node state: the caller passes the nodes it is willing to use.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from s3node.core.placement import DEFAULT_VNODES, HashRing, RendezvousNodes, spread_zones
from s3node.hookspecs import hookimpl
from s3node.records import PlacementNode

__all__ = ["CACHE_SIZE", "ConsistentHashPlacement", "RendezvousPlacement"]

#: how many distinct node sets each strategy keeps prepared
CACHE_SIZE = 8

_Key = tuple[tuple[str, float, str], ...]


def _node_key(nodes: Sequence[PlacementNode]) -> _Key:
    # sorted: the result must not depend on the order the caller lists nodes in
    return tuple(sorted((n.node_id, float(n.weight), n.zone) for n in nodes))


class _CachedPlacement:
    """Shared machinery: a per-instance LRU of prepared node sets."""

    name = ""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._prepared = lru_cache(maxsize=cache_size)(self._prepare_key)

    def _prepare_key(self, key: _Key) -> tuple[Any, dict[str, str] | None]:
        pairs = [(nid, weight) for nid, weight, _ in key]
        zones = {nid: zone for nid, _, zone in key}
        # one zone (usually ""): nothing to spread, skip the pass per call
        return self._prepare(pairs), zones if len(set(zones.values())) > 1 else None

    def _prepare(self, pairs: list[tuple[str, float]]) -> Any:
        raise NotImplementedError

    def _order(self, prepared: Any, key: str) -> list[str]:
        raise NotImplementedError

    def prepare(self, nodes: Sequence[PlacementNode]) -> None:
        """
        Build and cache the prepared form of ``nodes`` now (optional).

        A ring of many nodes takes a noticeable time to build (about 150 ms
        for 100 nodes): a host may call this from a worker thread when the
        node set changes, so that the per-chunk calls find it cached.
        """
        if nodes:
            self._prepared(_node_key(nodes))

    def preference_list(self, key: str, nodes: Sequence[PlacementNode]) -> list[str]:
        """
        Every id in ``nodes``, ordered for the chunk ``key``: the first R are
        its replica homes, the rest its handoffs in the order to try them.
        """
        if not nodes:
            return []
        prepared, zones = self._prepared(_node_key(nodes))
        order = self._order(prepared, key)
        return order if zones is None else spread_zones(order, zones)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class ConsistentHashPlacement(_CachedPlacement):
    """Consistent hashing with virtual nodes (:class:`~s3node.core.placement.HashRing`)."""

    name = "consistent-hash"

    def __init__(self, vnodes: int = DEFAULT_VNODES, cache_size: int = CACHE_SIZE) -> None:
        super().__init__(cache_size)
        self.vnodes = vnodes

    def _prepare(self, pairs: list[tuple[str, float]]) -> HashRing:
        return HashRing(pairs, self.vnodes)

    def _order(self, prepared: HashRing, key: str) -> list[str]:
        return prepared.preference_list(key)


class RendezvousPlacement(_CachedPlacement):
    """Weighted rendezvous hashing (:class:`~s3node.core.placement.RendezvousNodes`)."""

    name = "rendezvous"

    def _prepare(self, pairs: list[tuple[str, float]]) -> RendezvousNodes:
        return RendezvousNodes(pairs)

    def _order(self, prepared: RendezvousNodes, key: str) -> list[str]:
        return prepared.order(key)


_STRATEGIES: dict[str, type[_CachedPlacement]] = {
    ConsistentHashPlacement.name: ConsistentHashPlacement,
    RendezvousPlacement.name: RendezvousPlacement,
}


@hookimpl(trylast=True)
def s3node_placement_strategy(name: str) -> _CachedPlacement | None:
    """Provide a new built-in strategy; ``None`` for any other name."""
    factory = _STRATEGIES.get(name)
    return None if factory is None else factory()


@hookimpl(trylast=True)
def s3node_placement_strategy_names() -> list[str]:
    """List the built-in strategies."""
    return sorted(_STRATEGIES)
