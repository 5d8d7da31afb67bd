"""The gateway and standalone roles build the service trees twistd runs."""

from __future__ import annotations

import socket

import pytest
import pytest_twisted
from support.auth import AUTH_LINE

from s3node.tap import Options


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def test_gateway_service_tree():
    """``s3node gateway`` builds a GatewayService carrying the parsed config."""
    from twisted.internet import reactor

    from s3node.gateway.service import GatewayService, make_gateway_service

    options = parse("gateway", "--node", "a=127.0.0.1:1", "--node", "b=127.0.0.1:2",
                    "--listen", "tcp:0:interface=127.0.0.1", "--chunk-size", "1MiB")
    service = make_gateway_service(options.subOptions.config, reactor)
    assert isinstance(service, GatewayService)
    assert service.config.effective_replicas == 2
    assert [n.node_id for n in service.config.nodes] == ["a", "b"]


def test_standalone_service_tree(tmp_path):
    """``s3node standalone`` builds one node process per node, each a ``twistd s3node
    storage`` on its own folder under the data dir that watches its parent, and a
    gateway on SQLite in the data dir, all with its cluster secret."""
    from twisted.internet import reactor

    from s3node.gateway.service import GatewayService
    from s3node.nodeprocess import ChildProcessService
    from s3node.portreserve import PortReservation
    from s3node.standalone import make_standalone_service, node_argv

    options = parse("standalone", "--data-dir", str(tmp_path), "--nodes", "4",
                    "--listen", "tcp:0:interface=127.0.0.1")
    config = options.subOptions.config
    top = make_standalone_service(config, reactor)
    children = list(top)
    nodes = [c for c in children if isinstance(c, ChildProcessService)]
    (gateway,) = [c for c in children if isinstance(c, GatewayService)]
    assert [n.name for n in nodes] == [f"node-{i}" for i in range(1, 5)]
    # the gateway's fixed ports (S3's default 9000; --listen is a free port here) are held
    # before any node starts (s3node.portreserve)
    (reserved,) = [c for c in children if isinstance(c, PortReservation)]
    assert children.index(reserved) < min(children.index(n) for n in nodes)
    assert reserved.ports == ((socket.AF_INET, "127.0.0.1", 9000),)
    assert all((tmp_path / n.name).is_dir() for n in nodes)
    argv = node_argv(config, "node-2", 0)
    i = argv.index("s3node")
    assert argv[i:i + 8] == ["s3node", "storage", "--listen", "127.0.0.1:0",
                             "--data-dir", str(tmp_path / "node-2"), "--node-id", "node-2"]
    assert "--exit-with-parent" in argv and "--no-fsync" not in argv
    assert gateway.config.db == f"sqlite:{tmp_path / 'metadata.sqlite3'}"
    assert gateway.config.replicas == 2
    # the nodes require the secret standalone made in its data dir, which the gateway sends
    auth = gateway.config.node_auth
    assert auth.secret_file == tmp_path / "cluster-secret" and len(auth.secrets) == 1
    # ...and each node's command line hands that file to the child, which reads it back
    node = parse(*argv[i + 1:]).subOptions.config
    assert node.auth.secret_file == auth.secret_file and node.auth.secrets == auth.secrets


def test_standalone_nodes_scrub_as_told(tmp_path):
    """``standalone --scrub-rate --scrub-interval --no-fsync`` reach every node's command line,
    and each one parses back into the storage config it names."""
    from s3node.standalone import node_argv

    config = parse("standalone", "--data-dir", str(tmp_path), "--scrub-rate", "1MiB",
                   "--scrub-interval", "60", "--no-fsync").subOptions.config
    argv = node_argv(config, "node-1", 4321)
    storage = parse(*argv[argv.index("s3node") + 1:]).subOptions.config
    assert (storage.scrub_rate, storage.scrub_interval, storage.fsync) == (1024**2, 60.0, False)
    assert (storage.port, storage.node_id, storage.exit_with_parent) == (4321, "node-1", True)
    assert storage.port_file == tmp_path / "node-1" / "ports.json"


@pytest_twisted.ensureDeferred
async def test_gateway_service_runs_its_workers_and_listener_as_children_and_stops_in_order():
    """
    A started GatewayService has its periodic workers and its HTTP listener as
    children (listener last); stopping it stops them, gives an upload under
    way its grace, aborts it, lets it record its outcome (the file ends failed,
    never stuck uploading) and only then closes the store.
    """
    import asyncio

    from gateway.gateway_fakes import FakeNode
    from gateway.test_app_files import form
    from support.auth import ADMIN_ID, admin_key_file
    from support.raw_http import connect_raw
    from support.waiting import poll_until, within
    from twisted.internet import reactor

    from s3node.config import GatewayConfig, NodeAddress
    from s3node.gateway.service import GatewayService
    from s3node.records import FileStatus

    nodes = {f"n{i}": FakeNode(f"n{i}") for i in range(1, 4)}
    gate = asyncio.Event()
    for node in nodes.values():
        node.gate = gate
    config = GatewayConfig(
        listen="tcp:0:interface=127.0.0.1", db="memory:", chunk_size=1000,
        nodes=tuple(NodeAddress(n, "127.0.0.1", i + 1) for i, n in enumerate(nodes)),
        shutdown_grace=0.2, admin_key_file=admin_key_file())
    by_address = {f"127.0.0.1:{i + 1}": node for i, node in enumerate(nodes.values())}
    fatal: list[object] = []
    service = GatewayService(config, reactor, client_factory=by_address.__getitem__,
                             on_fatal=lambda: fatal.append(True))
    service.startService()
    await poll_until(lambda: service.listening_port is not None, what="the gateway to listen")
    await poll_until(lambda: ADMIN_ID in service._store.access_keys, what="the admin key")
    assert [child.name for child in service] == [
        "health checks", "sweeper", "reconciler", "repair", "durability figures", "http"]
    store = service._store

    body, headers = form(b"u" * 2500)
    client = await connect_raw(f"http://127.0.0.1:{service.listening_port.getHost().port}")
    client.transport.write(
        b"POST /files HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE
        + b"Content-Type: " + headers[b"content-type"][0] + b"\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:-500])  # not all of it
    await poll_until(lambda: sum(n.stalled for n in nodes.values()) >= 2,
                     what="the upload's first puts to wait at the gate")
    (file_id,) = store.files
    stopping = service.stopService()
    await within(client.closed, what="the upload's connection to be aborted after the grace")
    gate.set()
    await within(stopping, what="the gateway to stop")
    assert not service.running and all(not child.running for child in service)
    assert store.files[file_id].status is FileStatus.FAILED
    assert fatal == []


@pytest.mark.filterwarnings("ignore:Using readBody with a transport:DeprecationWarning")
@pytest_twisted.ensureDeferred
async def test_a_one_worker_gateway_listens_on_a_unix_socket(tmp_path):
    """``--workers 1`` keeps every endpoint kind: a gateway on ``unix:PATH`` starts, answers
    ``/health`` there with no ``worker`` label on its metrics, and stops."""
    from gateway.gateway_fakes import FakeNode
    from support.waiting import poll_until, within
    from twisted.internet import reactor
    from twisted.internet.endpoints import UNIXClientEndpoint
    from twisted.web.client import Agent, readBody
    from twisted.web.iweb import IAgentEndpointFactory
    from zope.interface import implementer

    from s3node.config import GatewayConfig, NodeAddress
    from s3node.gateway.service import GatewayService

    path = tmp_path / "g.sock"
    node = FakeNode("n1")
    config = GatewayConfig(listen=f"unix:{path}", db="memory:",
                           nodes=(NodeAddress("n1", "127.0.0.1", 1),))
    fatal: list[object] = []
    service = GatewayService(config, reactor, client_factory=lambda _: node,
                             on_fatal=lambda: fatal.append(True))
    service.startService()
    await poll_until(lambda: service._starting.called, what="the gateway's start to end")
    assert fatal == [] and path.exists()

    @implementer(IAgentEndpointFactory)
    class ToSocket:
        def endpointForURI(self, uri):
            return UNIXClientEndpoint(reactor, str(path))

    agent = Agent.usingEndpointFactory(reactor, ToSocket())
    health = await agent.request(b"GET", b"http://gateway/health")
    assert health.code == 200
    await readBody(health)
    page, _ = await service.metrics.exposition(None)
    assert b"s3node_http_requests_total{" in page and b'worker="' not in page
    await within(service.stopService(), what="the gateway to stop")


def test_children_run_the_twistd_plugin_standalone_runs(tmp_path):
    """Options of another twistd plugin (a test build such as ``s3node-faults``) start the nodes
    and the workers with that plugin, so they run the same code as standalone."""
    from s3node.standalone import node_argv
    from s3node.workers import gateway_args

    class OtherOptions(Options):
        twistd_plugin = "s3node-other"

    options = OtherOptions()
    options.parseOptions(["standalone", "--data-dir", str(tmp_path), "--workers", "2"])
    config = options.subOptions.config
    argv = node_argv(config, "node-1", 0)
    assert argv[argv.index("storage") - 1] == "s3node-other"
    assert config.gateway.twistd_plugin == "s3node-other"
    assert "--twistd-plugin" not in gateway_args(config.gateway)
