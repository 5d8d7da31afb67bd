"""
The standalone role: a gateway and ``node_count`` storage nodes on one machine.

A role, like the gateway (:mod:`s3node.gateway.service`) and the storage node
(:mod:`s3node.storage.service`): it composes services and nothing else.

Each storage node runs as its own ``twistd -n s3node storage`` child process
(:class:`~s3node.nodeprocess.ChildProcessService`: restarted when it dies,
stopped with standalone, gone when standalone is gone), so the node side of
every transfer runs on other cores than the gateway.  A node keeps its chunks
in its own folder under the data dir (``node-1``, ``node-2``...), listens on
a loopback port (free on its first start, the same one on a restart) and is
spoken to over gRPC like any remote node; the metadata is SQLite in the data
dir.  The gateway starts once every node listens, and logs where it listens
(its fixed ports are held meanwhile, so that no node's free port is one of
them: :mod:`s3node.portreserve`);
its ``/metrics`` relays every node's (:mod:`s3node.metricsrelay`).
The nodes and the gateway share the cluster secret standalone keeps in the
data dir (``cluster-secret``, made on first start:
:func:`s3node.nodeauth.standalone_auth`); each node child gets it with
``--cluster-secret-file``.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import gatherResults
from twisted.logger import Logger

from s3node.config import NodeAddress, StandaloneConfig, format_seconds
from s3node.gateway.service import GatewayService
from s3node.metrics import ProcessMetrics
from s3node.metricsrelay import MetricsRelay, Source
from s3node.nodeprocess import ChildProcessService, twistd_argv
from s3node.portreserve import PortReservation, fixed_tcp_ports

__all__ = ["PORT_FILE", "make_standalone_service", "node_argv"]

log = Logger()

#: the file in a node's folder where its process writes its ports
PORT_FILE = "ports.json"


def node_argv(config: StandaloneConfig, node_id: str, port: int) -> list[str]:
    """The command line of node ``node_id``'s process, listening on ``port`` (0: any)."""
    folder = config.data_dir / node_id
    argv = twistd_argv(
        config.twistd_plugin, "storage", "--listen", f"127.0.0.1:{port}", "--data-dir", str(folder),
        "--node-id", node_id, "--port-file", str(folder / PORT_FILE), "--exit-with-parent",
        "--metrics-listen", "tcp:0:interface=127.0.0.1",
        "--scrub-rate", str(config.scrub_rate),
        "--scrub-interval", format_seconds(config.scrub_interval),
        tls=False,  # its gRPC and metrics listen on loopback TCP
    )
    if not config.fsync:
        argv.append("--no-fsync")
    if config.bulk and config.gateway.node_auth.tls is None:
        argv += ["--bulk-port", "0"]  # a free loopback port, told in Health
    # the gateway's credential is the nodes' (standalone's own cluster secret)
    argv += config.gateway.node_auth.child_args
    return argv


def node_services(config: StandaloneConfig, reactor: Any) -> list[ChildProcessService]:
    """One :class:`ChildProcessService` per storage node."""
    nodes = []
    for i in range(1, config.node_count + 1):
        node_id = f"node-{i}"
        (config.data_dir / node_id).mkdir(exist_ok=True)

        def argv(node_id: str = node_id) -> list[str]:
            child = by_id[node_id]
            return node_argv(config, node_id, child.port or 0)

        nodes.append(ChildProcessService(
            node_id, argv, reactor, port_file=config.data_dir / node_id / PORT_FILE,
            stop_timeout=config.node_stop_timeout, restart_delay=config.restart_delay,
            max_restart_delay=config.max_restart_delay))
    by_id = {n.label: n for n in nodes}
    return nodes


def make_standalone_service(config: StandaloneConfig, reactor: Any) -> MultiService:
    """The service tree of ``twistd s3node standalone``."""
    from twisted.web.client import Agent

    top = MultiService()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # the gateway's fixed ports are held while the nodes pick free ones (s3node.portreserve)
    gateway = config.gateway
    reserved = PortReservation(fixed_tcp_ports(
        (gateway.listen, gateway.s3_listen, gateway.metrics_listen)))
    reserved.setServiceParent(top)
    nodes = node_services(config, reactor)
    for node in nodes:
        node.setServiceParent(top)

    def node_pages() -> list[Source]:
        return [(n.label, f"http://127.0.0.1:{n.ports['metrics_port']}/metrics", {})
                for n in nodes if "metrics_port" in n.ports]

    metrics = ProcessMetrics()
    metrics.add_part(MetricsRelay(node_pages, Agent(reactor), reactor))

    async def addresses() -> tuple[NodeAddress, ...]:
        ports = await gatherResults([n.when_listening() for n in nodes])
        reserved.release()  # the gateway listens next
        found = tuple(NodeAddress(n.label, "127.0.0.1", port) for n, port in zip(nodes, ports))
        log.info("s3node standalone: {count} storage nodes under {data_dir}",
                 count=len(found), data_dir=str(config.data_dir))
        return found

    async def first_key(store: Any, url: str, s3_url: str | None) -> None:
        from s3node.s3server.keys import ensure_first_key

        await ensure_first_key(store, config.data_dir, region=config.gateway.s3_region,
                               url=url, s3_url=s3_url)

    # config.gateway.db already names SQLite in the data dir (s3node.tap builds it).
    GatewayService(config.gateway, reactor, nodes=addresses,
                   on_fatal=reactor.stop, metrics=metrics,
                   on_listening=first_key).setServiceParent(top)
    return top
