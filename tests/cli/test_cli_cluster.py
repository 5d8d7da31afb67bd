"""``s3node health``, ``nodes`` and ``node forget``: against a real standalone process,
and against a fake gateway for the replies a real one won't give on demand."""

from __future__ import annotations

from cli.cli_run import run_s3node
from cli.fake_gateway import FakeGateway, Reply

NODES = [
    {"node_id": f"node-{i}", "address": f"127.0.0.1:{5000 + i}", "state": "active",
     "capacity": 2 * 1024**3, "used": 1024 * i, "last_seen": "2026-11-30T01:02:03+00:00"}
    for i in (1, 2, 3)
]


def test_health_and_nodes(standalone_url: str) -> None:
    """`health` reports ok with its three nodes and exits 0; `nodes` lists the same three
    nodes as a table and as JSON."""
    report = run_s3node("health", "--json", url=standalone_url)
    assert report.code == 0, report.stderr
    health = report.json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert sorted(n["node_id"] for n in health["nodes"]) == ["node-1", "node-2", "node-3"]

    text = run_s3node("health", url=standalone_url)
    assert text.code == 0, text.stderr
    assert text.stdout.splitlines()[:4] == [
        "status      ok", "database    ok", "replicas    2", "live nodes  3"]

    listed = run_s3node("nodes", "--json", url=standalone_url)
    assert listed.code == 0, listed.stderr
    assert [n["node_id"] for n in listed.json()["nodes"]] == [n["node_id"] for n in health["nodes"]]
    table = run_s3node("nodes", url=standalone_url)
    assert table.stdout.split()[:7] == [
        "NODE", "ID", "ADDRESS", "STATE", "ADMIN", "USED", "CAPACITY"]
    assert sum(" active  active " in line for line in table.stdout.splitlines()) == 3


def test_health_exits_1_when_the_gateway_is_unavailable(fake_gateway: FakeGateway) -> None:
    """A 503 health report is still printed (table or JSON), and the exit code is 1 with
    a one-line reason on stderr."""
    report = {"status": "unavailable", "database": "ok", "replicas": 2, "live_nodes": 1,
              "nodes": NODES[:1]}
    fake_gateway.replies["GET", "/health"] = Reply.json(503, report)
    as_json = run_s3node("health", "--json", url=fake_gateway.url)
    assert as_json.code == 1
    assert as_json.json() == report
    assert as_json.stderr == (
        "s3node: the gateway is unavailable (HTTP 503): database ok, 1 live nodes for 2 "
        "replicas\n")
    assert run_s3node("health", url=fake_gateway.url).stdout.startswith("status      unavailable")


def test_node_forget_of_a_node_not_drained(standalone_url: str) -> None:
    """`node forget NODE` without --lost asks the real gateway to forget a drained node;
    node-3 is active, so it answers 409 node_in_use, and the CLI exits 1 saying to drain
    it first or pass --lost; the node is still there."""
    result = run_s3node("node", "forget", "node-3", url=standalone_url)
    assert result.code == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith("s3node: node_in_use: ")
    assert "(HTTP 409 from DELETE /nodes/node-3): drain it first (s3node node drain node-3" \
        in result.stderr
    assert result.stderr.endswith("or pass --lost if it is gone for good\n")
    assert result.stderr.count("\n") == 1
    listed = run_s3node("nodes", "--json", url=standalone_url).json()["nodes"]
    assert "node-3" in [n["node_id"] for n in listed]


def test_node_forget_without_lost_forgets_a_drained_node(fake_gateway: FakeGateway) -> None:
    """Without --lost, `node forget` sends DELETE /nodes/NODE with no query and prints
    what the gateway says (text and JSON)."""
    reply = {"node_id": "n3", "lost": False, "replicas_dropped": 0}
    fake_gateway.replies["DELETE", "/nodes/n3"] = Reply.json(200, reply)
    text = run_s3node("node", "forget", "n3", url=fake_gateway.url)
    assert text.code == 0, text.stderr
    assert text.stdout == "forgot node n3: 0 replica records dropped\n"
    assert run_s3node("node", "forget", "n3", "--json", url=fake_gateway.url).json() == reply
    assert [(r.method, r.path, r.query) for r in fake_gateway.requests] == [
        ("DELETE", "/nodes/n3", "")] * 2


def test_node_forget_lost_calls_delete_with_lost(fake_gateway: FakeGateway) -> None:
    """`node forget NODE --lost` sends DELETE /nodes/NODE?lost=true and reports how many
    replica records the gateway dropped (text and JSON)."""
    reply = {"node_id": "n3", "lost": True, "replicas_dropped": 1234}
    fake_gateway.replies["DELETE", "/nodes/n3"] = Reply.json(200, reply)
    text = run_s3node("node", "forget", "n3", "--lost", url=fake_gateway.url)
    assert text.code == 0, text.stderr
    assert text.stdout == "forgot node n3: 1234 replica records dropped\n"
    as_json = run_s3node("node", "forget", "--json", "n3", "--lost", url=fake_gateway.url)
    assert as_json.json() == reply
    assert [(r.method, r.path, r.query) for r in fake_gateway.requests] == [
        ("DELETE", "/nodes/n3", "lost=true")] * 2


def test_node_forget_says_when_the_gateway_lacks_the_route(fake_gateway: FakeGateway) -> None:
    """Against a gateway whose API has no DELETE /nodes/{node_id} (it answers 404),
    `node forget --lost` exits 1 and says the gateway cannot forget nodes, quoting the 404."""
    url = fake_gateway.url
    result = run_s3node("node", "forget", "node-9", "--lost", url=url)
    assert result.code == 1
    assert result.stderr.startswith(f"s3node: the gateway at {url} cannot forget nodes")
    assert "it has no DELETE /nodes/{node_id}?lost=true (HTTP 404 not_found from DELETE " \
        "/nodes/node-9)" in result.stderr
    assert result.stderr.count("\n") == 1


def test_node_forget_lost_against_a_real_gateway(standalone_url: str) -> None:
    """Against a real standalone, `node forget NODE --lost` of a node the cluster does
    not know fails with the gateway's reason (the node set lives in the metadata:
    docs/operations.md)."""
    result = run_s3node("node", "forget", "node-9", "--lost", "--json", url=standalone_url)
    assert result.code == 1
    assert "node_not_found: no storage node 'node-9'" in result.stderr
