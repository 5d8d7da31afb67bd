"""The gateway and standalone roles build the service trees twistd runs."""

from __future__ import annotations

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
