"""The gateway and standalone roles build the service trees twistd runs."""

from __future__ import annotations

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
    """``s3node standalone`` builds one storage service per node, each in its own folder
    under the data dir, and a gateway on SQLite in the data dir."""
    from twisted.internet import reactor

    from s3node.gateway.service import GatewayService
    from s3node.standalone import make_standalone_service

    options = parse("standalone", "--data-dir", str(tmp_path), "--nodes", "4",
                    "--listen", "tcp:0:interface=127.0.0.1")
    top = make_standalone_service(options.subOptions.config, reactor)
    children = list(top)
    storage = [c for c in children if not isinstance(c, GatewayService)]
    (gateway,) = [c for c in children if isinstance(c, GatewayService)]
    assert [s.config.data_dir for s in storage] == [tmp_path / f"node-{i}" for i in range(1, 5)]
    assert all(s.config.host == "127.0.0.1" and s.config.port == 0 for s in storage)
    assert gateway.config.db == f"sqlite:{tmp_path / 'metadata.sqlite3'}"
    assert gateway.config.replicas == 2


def test_standalone_nodes_scrub_as_told(tmp_path):
    """``standalone --scrub-rate --scrub-interval`` set every in-process node's scrubber."""
    from twisted.internet import reactor

    from s3node.standalone import make_standalone_service
    from s3node.storage.service import StorageNodeService

    options = parse("standalone", "--data-dir", str(tmp_path), "--scrub-rate", "1MiB",
                    "--scrub-interval", "60")
    top = make_standalone_service(options.subOptions.config, reactor)
    storage = [c for c in top if isinstance(c, StorageNodeService)]
    assert len(storage) == 3
    assert {(s.config.scrub_rate, s.config.scrub_interval) for s in storage} == {(1024**2, 60.0)}


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
