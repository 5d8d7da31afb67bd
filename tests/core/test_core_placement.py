"""Tests for :mod:`s3node.core.placement` and the built-in placement strategies."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3node.builtin.placement import ConsistentHashPlacement, RendezvousPlacement
from s3node.core.placement import HashRing, RendezvousNodes, rendezvous_order, spread_zones
from s3node.errors import ConfigurationError
from s3node.records import PlacementNode

KEYS = [f"{i:032x}" for i in range(100_000)]
STRATEGIES = [ConsistentHashPlacement, RendezvousPlacement]


def nodes(count: int, weights: list[float] | None = None, zones: str = "") -> list[PlacementNode]:
    """``count`` nodes node-0, node-1, ... with optional weights and zones."""
    return [
        PlacementNode(
            f"node-{i}",
            weight=1.0 if weights is None else weights[i],
            zone=zones[i] if zones else "",
        )
        for i in range(count)
    ]


def primaries(strategy, keys: list[str], members: list[PlacementNode]) -> list[str]:
    """The first node of each key's preference list."""
    return [strategy.preference_list(key, members)[0] for key in keys]


@pytest.fixture(scope="module", params=STRATEGIES, ids=lambda s: s.name)
def strategy_primaries(request):
    """A strategy with its primaries of KEYS over 6 and over 7 equal nodes."""
    strategy = request.param()
    return (
        strategy,
        primaries(strategy, KEYS, nodes(6)),
        primaries(strategy, KEYS, nodes(7)),
    )


def test_balance_six_equal_nodes(strategy_primaries) -> None:
    """With 6 equal nodes and 100,000 keys the busiest node holds at most 10% over the mean."""
    _, six, _ = strategy_primaries
    load = Counter(six)
    assert len(load) == 6
    assert max(load.values()) <= 1.10 * len(KEYS) / 6


def test_adding_a_node_moves_few_keys(strategy_primaries) -> None:
    """Adding a 7th node moves at most 1.2/7 of the keys, and only onto the new node."""
    _, six, seven = strategy_primaries
    moved = [new for old, new in zip(six, seven, strict=True) if old != new]
    assert len(moved) <= 1.2 * len(KEYS) / 7
    assert set(moved) == {"node-6"}
    # the new node still takes its share: at least 0.8/7 of the keys
    assert len(moved) >= 0.8 * len(KEYS) / 7


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_removing_a_node_moves_only_its_keys(factory) -> None:
    """Removing a node moves exactly the keys it was primary for."""
    strategy = factory()
    keys = KEYS[:20_000]
    before = primaries(strategy, keys, nodes(6))
    after = primaries(strategy, keys, nodes(6)[:2] + nodes(6)[3:])
    for old, new in zip(before, after, strict=True):
        assert (old == new) == (old != "node-2")


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_weights_roughly_proportional(factory) -> None:
    """Primary shares follow weights 1:2:3:2 within 10% of each node's expected share."""
    weights = [1.0, 2.0, 3.0, 2.0]
    keys = KEYS[:40_000]
    load = Counter(primaries(factory(), keys, nodes(4, weights)))
    for i, weight in enumerate(weights):
        expected = len(keys) * weight / sum(weights)
        assert abs(load[f"node-{i}"] - expected) <= 0.10 * expected


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_weight_zero_node_is_last(factory) -> None:
    """A node of weight 0 is never a primary but is still listed, after every weighted node."""
    members = nodes(4, [1.0, 0.0, 1.0, 1.0])
    strategy = factory()
    for key in KEYS[:2000]:
        order = strategy.preference_list(key, members)
        assert order[-1] == "node-1" and sorted(order) == [n.node_id for n in members]


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_lists_every_node_once_regardless_of_input_order(factory) -> None:
    """The preference list holds each node once and does not depend on the nodes' order."""
    members = nodes(9)
    strategy = factory()
    for key in KEYS[:500]:
        order = strategy.preference_list(key, members)
        assert sorted(order) == sorted(n.node_id for n in members)
        assert strategy.preference_list(key, members[::-1]) == order
    assert strategy.preference_list(KEYS[0], []) == []


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_node_set_is_prepared_once(factory) -> None:
    """Repeated calls over one node set reuse the prepared ring from the LRU cache."""
    strategy = factory()
    members = nodes(5)
    for key in KEYS[:100]:
        strategy.preference_list(key, members)
    info = strategy._prepared.cache_info()
    assert info.misses == 1 and info.hits == 99


# Pinned orders: if these change, every stored chunk would be looked for on the
# wrong nodes after an upgrade.  Never update them casually.
GOLDEN = {
    "consistent-hash": {
        "00000000000000000000000000000000": [
            "node-1", "node-2", "node-0", "node-3", "node-5", "node-4"
        ],
        "0123456789abcdef0123456789abcdef": [
            "node-4", "node-1", "node-0", "node-2", "node-3", "node-5"
        ],
    },
    "rendezvous": {
        "00000000000000000000000000000000": [
            "node-1", "node-4", "node-3", "node-2", "node-0", "node-5"
        ],
        "0123456789abcdef0123456789abcdef": [
            "node-1", "node-3", "node-5", "node-0", "node-2", "node-4"
        ],
    },
}


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_orders_are_pinned(factory) -> None:
    """Preference lists for fixed keys and nodes never change between versions."""
    strategy = factory()
    for key, expected in GOLDEN[strategy.name].items():
        assert strategy.preference_list(key, nodes(6)) == expected


SUBPROCESS = """
import json, sys
from s3node.builtin.placement import ConsistentHashPlacement, RendezvousPlacement
from s3node.records import PlacementNode
members = [PlacementNode(f"node-{i}", weight=1.0 + i % 3) for i in range(6)]
out = {}
for s in (ConsistentHashPlacement(), RendezvousPlacement()):
    out[s.name] = [s.preference_list(f"{k:032x}", members) for k in range(200)]
json.dump(out, sys.stdout)
"""


def test_deterministic_across_processes() -> None:
    """Two processes with different hash seeds compute the same preference lists as this one."""
    members = [PlacementNode(f"node-{i}", weight=1.0 + i % 3) for i in range(6)]
    here = {
        s.name: [s.preference_list(f"{k:032x}", members) for k in range(200)]
        for s in (ConsistentHashPlacement(), RendezvousPlacement())
    }
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", SUBPROCESS],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(result.stdout) == here


def test_hash_ring_preference_list_n() -> None:
    """HashRing.preference_list returns n distinct ids, a prefix of the full list."""
    ring = HashRing([(f"n{i}", 1.0) for i in range(5)], vnodes=50)
    full = ring.preference_list("key")
    assert sorted(full) == [f"n{i}" for i in range(5)]
    for n in range(7):
        assert ring.preference_list("key", n) == full[:n]
    assert len(ring) == 250


def test_rendezvous_order_function() -> None:
    """rendezvous_order lists every node, matches RendezvousNodes, and honours n there."""
    pairs = [(f"n{i}", 1.0) for i in range(5)]
    order = rendezvous_order("key", pairs)
    assert sorted(order) == [p[0] for p in pairs]
    assert RendezvousNodes(pairs).order("key") == order
    assert RendezvousNodes(pairs).order("key", 2) == order[:2]


@pytest.mark.parametrize(
    "bad",
    [
        [("a", 1.0), ("a", 2.0)],
        [("", 1.0)],
        [(None, 1.0)],
        [("a", -1.0)],
        [("a", float("nan"))],
        [("a", float("inf"))],
        [("a", "heavy")],
        [("a", 1e9)],
        [("a", 10**400)],  # an int too large for a float
    ],
)
def test_invalid_nodes_rejected(bad) -> None:
    """Duplicate or empty ids and negative, non-finite, non-numeric or huge weights are refused."""
    with pytest.raises(ConfigurationError):
        HashRing(bad)
    if bad != [("a", 1e9)]:
        with pytest.raises(ConfigurationError):
            RendezvousNodes(bad)


def test_spread_zones_examples() -> None:
    """spread_zones moves one node of each zone to the front, keeping order within zones."""
    zones = {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "c1": "c"}
    assert spread_zones(["a1", "a2", "b1", "a3", "c1"], zones) == ["a1", "b1", "c1", "a2", "a3"]
    assert spread_zones(["a1", "a2", "a3"], zones) == ["a1", "a2", "a3"]


@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=12))
def test_property_spread_zones(zone_list: list[str]) -> None:
    """The result is a permutation whose first Z entries cover the Z distinct zones."""
    order = [f"n{i}" for i in range(len(zone_list))]
    zone_of = dict(zip(order, zone_list, strict=True))
    result = spread_zones(order, zone_of)
    assert sorted(result) == sorted(order)
    distinct = len(set(zone_list))
    assert len({zone_of[n] for n in result[:distinct]}) == distinct
    for zone in set(zone_list):
        in_zone = [n for n in order if zone_of[n] == zone]
        assert [n for n in result if zone_of[n] == zone] == in_zone


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_strategies_spread_replicas_over_zones(factory) -> None:
    """With 3 zones of 2 nodes, every key's first 3 nodes are in 3 distinct zones."""
    members = nodes(6, zones="aabbcc")
    zone_of = {n.node_id: n.zone for n in members}
    strategy = factory()
    for key in KEYS[:2000]:
        order = strategy.preference_list(key, members)
        assert len({zone_of[n] for n in order[:3]}) == 3


@pytest.mark.parametrize("factory", STRATEGIES, ids=lambda s: s.name)
def test_prepare_warms_the_cache(factory) -> None:
    """prepare() builds the node set's ring so the next preference_list is a cache hit."""
    strategy = factory()
    members = nodes(4)
    strategy.prepare(members)
    strategy.prepare([])
    strategy.preference_list(KEYS[0], members)
    info = strategy._prepared.cache_info()
    assert info.misses == 1 and info.hits == 1


def naive_walk(ring: HashRing, key: str) -> list[str]:
    """The distinct owners met walking the whole ring clockwise from the key (no shortcut)."""
    from bisect import bisect_right

    from s3node.core.placement import hash64

    hashes = list(ring._hashes)
    start = bisect_right(hashes, hash64(key.encode("utf-8", "surrogatepass")))
    order: list[str] = []
    for step in range(len(hashes)):
        owner = ring._ids[ring._ranks[(start + step) % len(hashes)]]
        if owner not in order:
            order.append(owner)
    return order


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0.0001, 0.001, 0.01, 0.5, 1.0, 3.0]), min_size=1, max_size=12),
    st.lists(st.text(max_size=20), min_size=1, max_size=10),
)
def test_property_shortcut_equals_full_walk(weights: list[float], keys: list[str]) -> None:
    """The bounded walk plus per-node search lists nodes exactly as a full ring walk does."""
    ring = HashRing([(f"n{i}", w) for i, w in enumerate(weights)], vnodes=200)
    for key in keys:
        expected = naive_walk(ring, key)
        assert ring.preference_list(key) == expected
        for n in (1, 2, len(weights)):
            assert ring.preference_list(key, n) == expected[:n]


def test_tiny_weight_node_is_cheap() -> None:
    """A node of tiny weight (a single ring point) still appears in every full list."""
    pairs = [(f"n{i}", 1.0) for i in range(20)] + [("tiny", 1e-9)]
    ring = HashRing(pairs)
    assert len(ring) == 20 * 2000 + 1
    for key in KEYS[:300]:
        order = ring.preference_list(key)
        assert len(order) == 21 and "tiny" in order


class _TopHash:
    """A stand-in hasher whose digest is the largest 64-bit value."""

    def copy(self) -> _TopHash:
        return self

    def update(self, data: bytes) -> None:
        pass

    def digest(self) -> bytes:
        return b"\xff" * 8


def test_rendezvous_survives_the_largest_hash() -> None:
    """A (node, key) hash at the top of the 64-bit range scores highest instead of crashing."""
    nodes = RendezvousNodes([("a", 1.0), ("b", 1.0), ("c", 0.0)])
    # rounding (2**64 - 1 + 0.5) / 2**64 gives 1.0, whose log is 0: the score divided by it
    nodes._nodes[1] = (nodes._nodes[1][0], nodes._nodes[1][1], _TopHash())
    assert nodes.order("any key") == ["b", "a", "c"]
