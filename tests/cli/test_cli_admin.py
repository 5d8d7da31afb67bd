"""``s3node node add|show|drain|forget`` and ``cluster [plan]``: against a fake gateway
for each reply (text, JSON, the gateway's errors), and against real standalone processes
(the shared one for what changes nothing; one of its own for a drain and a forget)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.cli_run import GATEWAY_READY, MiB, run_s3node, sha256_of, standalone_args, write_pattern
from cli.fake_gateway import FakeGateway, Reply
from support.processes import start_twistd
from support.waiting import wait_until

NODE = {
    "node_id": "n3", "address": "10.0.0.3:7001", "weight": 1.0, "zone": "", "state": "active",
    "admin": "draining", "capacity": 4 * 1024**3, "used": 3 * MiB, "free": 4 * 1024**3 - 3 * MiB,
    "last_seen": "2026-11-30T01:02:03.456+00:00", "down_since": None, "live": True,
    "replicas": 850, "bytes": 850 * MiB,
    "drain": {"replicas_at_start": 2103, "remaining": 850, "progress": 0.5958},
}
PLAN = {"chunks": 1431, "copies": 1431, "bytes": 11995709440, "drops": 1431,
        "chunks_examined": 5012, "replicas_examined": 10024,
        "fraction_of_replicas_moving": 0.14275}
VIEW = {
    "replicas": 2,
    "chunks_by_healthy_replicas": {"0": 0, "1": 523, "2": 1477},
    "chunks_below_target": 523, "bytes_at_risk": 4384096256, "damaged_files": 0,
    "files_by_status": {"completed": 80},
    "repair": {"queued": 490, "due": 480, "copies": 1210, "bytes": 10150215680,
               "failures": 3, "replicas_dropped": 1207,
               "bandwidth": 67108864, "concurrency": 4, "repair_after": 900.0},
    "corruptions": {"found_by_scrub": 8, "found_by_read": 1},
    "nodes_down": ["n2"],
    "nodes": [{**NODE, "node_id": "n2", "state": "down", "admin": "active",
               "repair_after_passed": True}],
}


def test_node_add(fake_gateway: FakeGateway) -> None:
    """`node add` POSTs the node (weight and zone only when given) and prints the node the
    gateway registered as `node show` does; --json prints its reply."""
    added = {**NODE, "node_id": "n7", "address": "10.0.0.7:7001", "weight": 2.5,
             "zone": "rack-b", "admin": "active", "replicas": 0, "bytes": 0, "drain": None}
    fake_gateway.replies["POST", "/nodes"] = Reply.json(201, added)
    text = run_s3node("node", "add", "n7", "10.0.0.7:7001", "--weight", "2.5", "--zone",
                      "rack-b", url=fake_gateway.url)
    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "added node n7"
    assert {"weight      2.5", "zone        rack-b", "replicas    0", "drain       -"} <= set(lines)
    fake_gateway.replies["GET", "/nodes/n7"] = Reply.json(200, added)
    assert lines[1:] == run_s3node("node", "show", "n7", url=fake_gateway.url).stdout.splitlines()
    del fake_gateway.requests[1:]
    as_json = run_s3node("node", "add", "n7", "10.0.0.7:7001", "--json", url=fake_gateway.url)
    assert as_json.code == 0, as_json.stderr
    assert as_json.json() == added
    sent = [(r.method, r.path, r.query, json.loads(r.body)) for r in fake_gateway.requests]
    assert sent == [
        ("POST", "/nodes", "", {"node_id": "n7", "address": "10.0.0.7:7001", "weight": 2.5,
                                "zone": "rack-b"}),
        ("POST", "/nodes", "", {"node_id": "n7", "address": "10.0.0.7:7001"}),
    ]


def test_node_add_dry_run(fake_gateway: FakeGateway) -> None:
    """`node add --dry-run` asks with ?dry_run=true and prints the movement plan: chunks,
    copies, bytes in binary units, drops and the share of replicas moving."""
    reply = {"dry_run": True, "node": {**NODE, "node_id": "n7"}, "plan": PLAN}
    fake_gateway.replies["POST", "/nodes"] = Reply.json(200, reply)
    text = run_s3node("node", "add", "n7", "10.0.0.7:7001", "--dry-run", url=fake_gateway.url)
    assert text.code == 0, text.stderr
    assert text.stdout.splitlines() == [
        "dry run: adding node n7 at 10.0.0.7:7001 would move (nothing changed)",
        "chunks           1431 of 5012 examined",
        "copies           1431",
        "bytes            11.2 GiB",
        "drops            1431",
        "replicas moving  14.3% of 10024",
    ]
    as_json = run_s3node("node", "add", "n7", "10.0.0.7:7001", "--dry-run", "--json",
                         url=fake_gateway.url)
    assert as_json.json() == reply
    assert [r.query for r in fake_gateway.requests] == ["dry_run=true"] * 2


def test_node_add_refused(fake_gateway: FakeGateway) -> None:
    """A node id that is taken (409) or a bad address (400) exits 1 with the gateway's
    `error: details` on one line and nothing on stdout."""
    url = fake_gateway.url
    fake_gateway.replies["POST", "/nodes"] = Reply.json(
        409, {"error": "node_exists", "details": "a node 'n1' is registered already"})
    taken = run_s3node("node", "add", "n1", "10.0.0.1:7001", url=url)
    assert (taken.code, taken.stdout) == (1, "")
    assert taken.stderr == ("s3node: node_exists: a node 'n1' is registered already "
                            "(HTTP 409 from POST /nodes)\n")
    fake_gateway.replies["POST", "/nodes"] = Reply.json(
        400, {"error": "invalid_request", "details": "address: HOST:PORT of the node's gRPC "
                                                      "listener"})
    bad = run_s3node("node", "add", "n8", "nowhere", "--json", url=url)
    assert (bad.code, bad.stdout) == (1, "")
    assert bad.stderr == ("s3node: invalid_request: address: HOST:PORT of the node's gRPC "
                          "listener (HTTP 400 from POST /nodes)\n")


def test_node_show(fake_gateway: FakeGateway) -> None:
    """`node show` prints the node with its replicas, bytes and drain progress as a
    percentage; --json prints the gateway's document; an unknown node exits 1."""
    fake_gateway.replies["GET", "/nodes/n3"] = Reply.json(200, NODE)
    text = run_s3node("node", "show", "n3", url=fake_gateway.url)
    assert text.code == 0, text.stderr
    assert text.stdout.splitlines() == [
        "node id     n3",
        "address     10.0.0.3:7001",
        "weight      1",
        "zone        -",
        "state       active",
        "admin       draining",
        "used        3.0 MiB of 4.0 GiB",
        "last seen   2026-11-30 01:02:03",
        "down since  -",
        "replicas    850",
        "bytes       850.0 MiB",
        "drain       59.6% (850 of 2103 replicas left)",
    ]
    assert run_s3node("node", "show", "n3", "--json", url=fake_gateway.url).json() == NODE
    fake_gateway.replies["GET", "/nodes/n9"] = Reply.json(
        404, {"error": "node_not_found", "details": "no storage node 'n9'"})
    missing = run_s3node("node", "show", "n9", url=fake_gateway.url)
    assert (missing.code, missing.stdout) == (1, "")
    assert missing.stderr == ("s3node: node_not_found: no storage node 'n9' "
                              "(HTTP 404 from GET /nodes/n9)\n")


def test_node_drain(fake_gateway: FakeGateway) -> None:
    """`node drain` POSTs /nodes/NODE/drain and says how many replicas are to move."""
    started = {**NODE, "replicas": 2103,
               "drain": {"replicas_at_start": 2103, "remaining": 2103, "progress": 0.0}}
    fake_gateway.replies["POST", "/nodes/n3/drain"] = Reply.json(200, started)
    text = run_s3node("node", "drain", "n3", url=fake_gateway.url)
    assert text.code == 0, text.stderr
    assert text.stdout == ("node n3 is draining: 2103 replicas to move; follow with: "
                           "s3node node show n3\n")
    assert run_s3node("node", "drain", "--json", "n3", url=fake_gateway.url).json() == started
    assert [(r.method, r.path) for r in fake_gateway.requests] == [
        ("POST", "/nodes/n3/drain")] * 2
    fake_gateway.replies["POST", "/nodes/bad%20id/drain"] = Reply.json(
        400, {"error": "invalid_request", "details": "node_id: 1 to 63 letters"})
    bad = run_s3node("node", "drain", "bad id", url=fake_gateway.url)
    assert bad.code == 1
    assert bad.stderr == ("s3node: invalid_request: node_id: 1 to 63 letters "
                          "(HTTP 400 from POST /nodes/bad%20id/drain)\n")


def test_cluster_and_plan(fake_gateway: FakeGateway) -> None:
    """`cluster` prints the durability view as `key  value` lines and the node table;
    `cluster plan` the movement plan; both print the gateway's JSON with --json (also
    `cluster --json plan`)."""
    fake_gateway.replies["GET", "/cluster"] = Reply.json(200, VIEW)
    fake_gateway.replies["GET", "/cluster/plan"] = Reply.json(200, PLAN)
    text = run_s3node("cluster", url=fake_gateway.url)
    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[:13] == [
        "replicas                    2",
        "chunks by healthy replicas  0: 0  1: 523  2: 1477",
        "chunks below target         523",
        "bytes at risk               4.1 GiB",
        "damaged files               0",
        "files                       80 completed",
        "repair queue                490 queued, 480 due",
        "repair copies               1210 (9.5 GiB)",
        "repair failures             3",
        "replicas dropped            1207",
        "corruptions                 8 by scrub, 1 by read",
        "nodes down                  n2",
        "",
    ]
    assert lines[13].split()[:5] == ["NODE", "ID", "ADDRESS", "STATE", "ADMIN"]
    assert lines[14].split()[:5] == ["n2", "10.0.0.3:7001", "down", "active", "3.0"]
    assert run_s3node("cluster", "--json", url=fake_gateway.url).json() == VIEW

    planned = run_s3node("cluster", "plan", url=fake_gateway.url)
    assert planned.code == 0, planned.stderr
    assert planned.stdout.splitlines()[0] == "chunks           1431 of 5012 examined"
    assert run_s3node("cluster", "plan", "--json", url=fake_gateway.url).json() == PLAN
    assert run_s3node("cluster", "--json", "plan", url=fake_gateway.url).json() == PLAN
    assert [r.path for r in fake_gateway.requests] == [
        "/cluster", "/cluster", "/cluster/plan", "/cluster/plan", "/cluster/plan"]


def test_admin_commands_against_a_gateway_without_the_routes(fake_gateway: FakeGateway) -> None:
    """A gateway without the admin routes answers 404 not_found: each command exits 1
    saying which route the gateway lacks; a 500 is quoted as the gateway said it."""
    url = fake_gateway.url
    for args, said in [
        (("cluster",), "cannot show the durability view: it has no GET /cluster"),
        (("cluster", "plan"), "cannot plan movement: it has no GET /cluster/plan"),
        (("node", "show", "n1"), "cannot show a node: it has no GET /nodes/{node_id}"),
        (("node", "drain", "n1"), "cannot drain nodes: it has no POST /nodes/{node_id}/drain"),
        (("node", "add", "n1", "h:1"), "cannot add nodes: it has no POST /nodes"),
        (("node", "forget", "n1"), "cannot forget nodes: it has no DELETE /nodes/{node_id} "),
    ]:
        result = run_s3node(*args, url=url)
        assert (result.code, result.stdout) == (1, ""), args
        assert result.stderr.startswith(f"s3node: the gateway at {url} {said}"), result.stderr
    fake_gateway.replies["GET", "/cluster"] = Reply.json(
        500, {"error": "internal_error", "details": "the database is gone"})
    failed = run_s3node("cluster", url=url)
    assert failed.code == 1
    assert failed.stderr == ("s3node: internal_error: the database is gone "
                             "(HTTP 500 from GET /cluster)\n")


def test_admin_commands_against_a_real_gateway(standalone_url: str, tmp_path: Path) -> None:
    """Against a real standalone with a file of 8 chunks stored: `cluster` shows every
    chunk at its two replicas and nothing at risk, `cluster plan` has nothing to move,
    `node show node-1` shows its replicas, and a dry-run `node add` plans moves onto the
    new node without registering it."""
    url = standalone_url
    source = tmp_path / "eight.bin"
    write_pattern(source, 8 * MiB, seed=10)
    put = run_s3node("put", "-q", str(source), url=url)
    assert put.code == 0, put.stderr

    view = run_s3node("cluster", "--json", url=url)
    assert view.code == 0, view.stderr
    doc = view.json()
    assert doc["replicas"] == 2 and doc["nodes_down"] == [] and doc["damaged_files"] == 0
    assert doc["chunks_below_target"] == 0 and doc["bytes_at_risk"] == 0
    assert int(doc["chunks_by_healthy_replicas"]["2"]) >= 8
    text = run_s3node("cluster", url=url)
    assert text.code == 0, text.stderr
    assert "chunks below target         0\n" in text.stdout
    assert f"  2: {doc['chunks_by_healthy_replicas']['2']}\n" in text.stdout
    assert "nodes down                  none\n" in text.stdout
    assert sum(" active  active " in line for line in text.stdout.splitlines()) == 3

    plan = run_s3node("cluster", "plan", "--json", url=url).json()
    assert plan["chunks_examined"] >= 8 and plan["replicas_examined"] >= 16
    assert (plan["chunks"], plan["copies"], plan["drops"], plan["bytes"]) == (0, 0, 0, 0)
    assert run_s3node("cluster", "plan", url=url).stdout.splitlines()[1:4] == [
        "copies           0", "bytes            0 B", "drops            0"]

    shown = run_s3node("node", "show", "node-1", "--json", url=url)
    assert shown.code == 0, shown.stderr
    node = shown.json()
    assert (node["node_id"], node["state"], node["admin"], node["drain"]) == (
        "node-1", "active", "active", None)
    assert node["replicas"] >= 1 and node["bytes"] >= node["replicas"]
    shown_text = run_s3node("node", "show", "node-1", url=url).stdout
    assert f"replicas    {node['replicas']}\n" in shown_text
    assert "drain       -\n" in shown_text

    dry = run_s3node("node", "add", "node-4", "127.0.0.1:1", "--dry-run", "--json", url=url)
    assert dry.code == 0, dry.stderr
    moved = dry.json()
    assert moved["dry_run"] is True and moved["node"]["node_id"] == "node-4"
    planned = moved["plan"]
    assert planned["chunks_examined"] == plan["chunks_examined"]
    assert planned["copies"] == planned["drops"] == planned["chunks"]
    assert planned["fraction_of_replicas_moving"] == (
        planned["copies"] / planned["replicas_examined"])
    dry_text = run_s3node("node", "add", "node-4", "127.0.0.1:1", "--dry-run", url=url)
    assert dry_text.stdout.splitlines()[0] == (
        "dry run: adding node node-4 at 127.0.0.1:1 would move (nothing changed)")
    assert f"copies           {planned['copies']}\n" in dry_text.stdout
    gone = run_s3node("node", "show", "node-4", url=url)
    assert gone.code == 1
    assert gone.stderr.startswith("s3node: node_not_found: ")


def test_drain_then_forget_against_a_real_gateway(tmp_path: Path) -> None:
    """On a standalone of its own (repair every 0.2 s), `node drain` of the node holding
    most of a file's replicas moves them all off it: `node show` ends `drained` at 100%
    with 0 replicas, `node forget` without --lost then drops nothing, two nodes are left
    and the file still downloads and verifies."""
    source = tmp_path / "four.bin"
    write_pattern(source, 4 * MiB, seed=11)
    args = standalone_args(tmp_path / "data", "--repair-interval", "0.2",
                           "--health-interval", "0.2")
    with start_twistd(args, cwd=tmp_path, ready_pattern=GATEWAY_READY, timeout=60) as gateway:
        url = f"http://127.0.0.1:{gateway.port}"
        file_id = run_s3node("put", "-q", str(source), url=url).stdout.strip()
        assert file_id

        held = {n: run_s3node("node", "show", n, "--json", url=url).json()["replicas"]
                for n in ("node-1", "node-2", "node-3")}
        victim = max(held, key=lambda n: held[n])
        assert sum(held.values()) == 8 and held[victim] >= 3, held

        started = run_s3node("node", "drain", victim, url=url)
        assert started.code == 0, started.stderr
        assert started.stdout == (f"node {victim} is draining: {held[victim]} replicas to "
                                  f"move; follow with: s3node node show {victim}\n")

        def drained() -> dict[str, Any] | None:
            found: dict[str, Any] = run_s3node("node", "show", victim, "--json",
                                               url=url).json()
            return found if found["admin"] == "drained" else None

        node = wait_until(drained, what=f"{victim} to be drained", timeout=60, interval=0.2)
        assert node["replicas"] == 0
        assert node["drain"] == {"replicas_at_start": held[victim], "remaining": 0,
                                 "progress": 1.0}
        shown = run_s3node("node", "show", victim, url=url).stdout
        assert f"drain       100.0% (0 of {held[victim]} replicas left)\n" in shown

        forgot = run_s3node("node", "forget", victim, url=url)
        assert forgot.code == 0, forgot.stderr
        assert forgot.stdout == f"forgot node {victim}: 0 replica records dropped\n"
        listed = run_s3node("nodes", "--json", url=url).json()["nodes"]
        assert [n["node_id"] for n in listed] == sorted(set(held) - {victim})
        got = run_s3node("get", "-q", file_id, "-o", str(tmp_path / "copy.bin"), url=url)
        assert got.code == 0, got.stderr
        assert sha256_of(tmp_path / "copy.bin") == sha256_of(source)
