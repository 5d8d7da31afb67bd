"""
The admin routes over a real gateway on loopback (fake nodes, in-memory
store): the node set, drains, forgetting, the movement plan and the
durability view, and the errors each answers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
import treq
from gateway.conftest import Running
from gateway.gateway_fakes import FakeNode
from integration.e2e_client import post_bytes


async def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    r = await treq.request(method, url, data=data,
                           headers={"content-type": "application/json"} if data else {})
    return r.code, json.loads(await r.content())


@pytest_twisted.ensureDeferred
async def test_a_node_is_planned_added_drained_and_forgotten(gw: Running) -> None:
    for i in range(6):
        assert (await post_bytes(gw.url, bytes([i]) * 2500))[0] == 201
    assert gw.addresses is not None
    gw.addresses["n4:1"] = gw.nodes["n4"] = FakeNode("n4")
    new = {"node_id": "n4", "address": "n4:1"}

    code, dry = await call("POST", f"{gw.url}/nodes?dry_run=true", new)
    assert code == 200 and dry["dry_run"] is True
    plan = dry["plan"]
    assert plan["chunks_examined"] == 18 and plan["replicas_examined"] == 36
    assert 0 < plan["copies"] == plan["drops"] < 36  # 2,500-byte files: chunks of 1000 and 500
    assert plan["copies"] * 500 <= plan["bytes"] <= plan["copies"] * 1000
    code, nodes = await call("GET", f"{gw.url}/nodes")
    assert "n4" not in {n["node_id"] for n in nodes["nodes"]}  # a dry run changes nothing

    code, added = await call("POST", f"{gw.url}/nodes", new)
    assert code == 201 and added["node_id"] == "n4" and added["live"] is True
    assert added["admin"] == "active" and added["replicas"] == 0
    code, again = await call("POST", f"{gw.url}/nodes", new)
    assert code == 409 and again["error"] == "node_exists"
    code, still = await call("GET", f"{gw.url}/cluster/plan")
    assert still["copies"] == plan["copies"]  # what repair has yet to move

    code, draining = await call("POST", f"{gw.url}/nodes/n1/drain")
    assert code == 200 and draining["admin"] == "draining"
    assert draining["drain"]["replicas_at_start"] == draining["replicas"] > 0
    code, refused = await call("DELETE", f"{gw.url}/nodes/n1")
    assert code == 409 and refused["error"] == "node_in_use"

    code, view = await call("GET", f"{gw.url}/cluster")
    assert code == 200 and view["replicas"] == 2
    assert view["chunks_by_healthy_replicas"] == {"0": 0, "1": 0, "2": 18}
    assert view["chunks_below_target"] == 0 and view["bytes_at_risk"] == 0
    assert view["repair"]["queued"] == 0 and view["corruptions"]["found_by_scrub"] == 0
    assert {n["node_id"]: n["admin"] for n in view["nodes"]} == {
        "n1": "draining", "n2": "active", "n3": "active", "n4": "active"}


@pytest_twisted.ensureDeferred
async def test_a_lost_node_is_forgotten_and_the_view_shows_the_exposure(gw: Running) -> None:
    assert (await post_bytes(gw.url, b"x" * 3000))[0] == 201
    chunks = [c for by_index in gw.store.chunks.values() for c in by_index.values()]
    # the node holding the most replicas (placement is by random chunk ids)
    victim = max(gw.nodes, key=lambda n: sum(n in c.nodes_with() for c in chunks))
    held = sum(1 for c in chunks if victim in c.nodes_with())
    gw.nodes[victim].down = True
    await gw.gateway.pool.check_all()
    code, view = await call("GET", f"{gw.url}/cluster")
    assert view["nodes_down"] == [victim] and view["chunks_below_target"] == held > 0
    assert view["bytes_at_risk"] == held * 1000
    code, node = await call("GET", f"{gw.url}/nodes/{victim}")
    assert code == 200 and node["state"] == "down" and node["down_since"] is not None
    code, forgotten = await call("DELETE", f"{gw.url}/nodes/{victim}?lost=true")
    assert code == 200 and forgotten == {"node_id": victim, "lost": True,
                                         "replicas_dropped": held}
    code, gone = await call("GET", f"{gw.url}/nodes/{victim}")
    assert code == 404 and gone["error"] == "node_not_found"


@pytest_twisted.ensureDeferred
async def test_bad_admin_requests_get_clear_errors(gw: Running) -> None:
    cases = [
        ("POST", "/nodes", b"not json", "the body is not JSON"),
        ("POST", "/nodes", b"[1]", "a JSON object"),
        ("POST", "/nodes", {"node_id": "../x", "address": "h:1"}, "node_id"),
        ("POST", "/nodes", {"node_id": "n9", "address": "nope"}, "address"),
        ("POST", "/nodes", {"node_id": "n9", "address": "h:1", "weight": 0}, "weight"),
        ("POST", "/nodes", {"node_id": "n9", "address": "h:1", "extra": 1}, "unknown fields"),
        ("POST", "/nodes?dry_run=maybe", {"node_id": "n9", "address": "h:1"}, "true or false"),
        ("POST", "/nodes", b"{" + b" " * 70_000 + b"}", "over"),
    ]
    for method, path, body, words in cases:
        code, reply = await call(method, gw.url + path, body)
        assert code == 400 and reply["error"] == "bad_request", (path, body, reply)
        assert words in reply["details"], (words, reply)
    code, reply = await call("POST", f"{gw.url}/nodes/nine/drain")
    assert code == 404 and reply["error"] == "node_not_found"
