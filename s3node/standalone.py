"""
The standalone role: a gateway and ``node_count`` storage nodes in one process.

A role, like the gateway (:mod:`s3node.gateway.service`) and the storage node
(:mod:`s3node.storage.service`): it composes their services and nothing else.

Each node keeps its chunks in its own folder under the data dir (``node-1``,
``node-2``...), listens on ``127.0.0.1:0`` and is spoken to over gRPC like any
remote node; the metadata is SQLite in the data dir.  The gateway starts once
every node listens, and logs where it listens.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import gatherResults
from twisted.logger import Logger

from s3node.config import NodeAddress, StandaloneConfig, StorageConfig
from s3node.gateway.service import GatewayService
from s3node.metrics import ProcessMetrics

__all__ = ["make_standalone_service"]

log = Logger()


def make_standalone_service(config: StandaloneConfig, reactor: Any) -> MultiService:
    """The service tree of ``twistd s3node standalone``."""
    from s3node.storage.service import make_storage_service

    top = MultiService()
    # one registry: the nodes' metrics are served on the gateway's /metrics
    metrics = ProcessMetrics()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    nodes = []
    for i in range(1, config.node_count + 1):
        node_id = f"node-{i}"
        service = make_storage_service(
            StorageConfig(host="127.0.0.1", port=0, data_dir=config.data_dir / node_id,
                          node_id=node_id, fsync=config.fsync, scrub_rate=config.scrub_rate,
                          scrub_interval=config.scrub_interval),
            reactor, metrics=metrics,
        )
        service.setServiceParent(top)
        nodes.append(service)

    async def addresses() -> tuple[NodeAddress, ...]:
        ports = await gatherResults([n.when_listening() for n in nodes])
        found = tuple(
            NodeAddress(n.config.node_id, "127.0.0.1", port) for n, port in zip(nodes, ports)
        )
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
