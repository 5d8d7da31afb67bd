"""
The gateway role as a Twisted service.

:func:`make_gateway_service` is what ``twistd s3node gateway`` calls.  On start
the service opens and migrates the metadata store (retrying while the database
does not answer), registers the storage nodes, starts health checks and the
sweeper and the reconciler, then listens on ``config.listen`` (a Twisted endpoint description)
and logs ``s3node gateway listening on HOST:PORT``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from s3node.config import GatewayConfig, NodeAddress
from s3node.errors import MetadataUnavailable
from s3node.gateway.nodes import ClientFactory
from s3node.interfaces import NodeClient
from s3node.records import NodeRecord

__all__ = ["GatewayService", "make_gateway_service"]

log = Logger()

#: seconds between attempts to reach the database at start-up
DB_RETRY = 2.0


def _client_factory(address: str) -> NodeClient:
    from s3node.storage.client import StorageClient

    return StorageClient(address)


def describe_address(address: Any) -> str:
    """``host:port`` of a listening port's address, or a UNIX socket path."""
    if hasattr(address, "port"):
        return f"{address.host}:{address.port}"
    return str(getattr(address, "name", address))


class GatewayService(MultiService):
    """The gateway: store, nodes, sweeper and the HTTP listener."""

    def __init__(
        self,
        config: GatewayConfig,
        reactor: Any,
        *,
        nodes: Callable[[], Awaitable[tuple[NodeAddress, ...]]] | None = None,
        client_factory: ClientFactory = _client_factory,
    ) -> None:
        super().__init__()
        self.config = config
        self._reactor = reactor
        self._nodes = nodes
        self._client_factory = client_factory
        self._threads = ThreadPool(minthreads=0, maxthreads=max(2, os.cpu_count() or 2),
                                   name="s3node-gateway-cpu")
        self.gateway: Any = None
        self.listening_port: Any = None
        self._store: Any = None
        self._starting: Deferred[None] | None = None
        self._stopping = False

    def startService(self) -> None:
        super().startService()
        self._threads.start()
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._failed)

    def _failed(self, failure: Any) -> None:
        if self._stopping:
            return
        log.failure("the gateway failed to start", failure)
        self._reactor.stop()

    def _cpu(self, f: Any, *args: Any) -> Deferred[Any]:
        return deferToThreadPool(self._reactor, self._threads, f, *args)

    async def _start(self) -> None:
        from s3node.gateway.assemble import assemble_gateway
        from s3node.gateway.streaming import StreamingSite
        from s3node.metadata import open_metadata_store

        config = self.config
        if self._nodes is not None:
            config = replace(config, nodes=await self._nodes())
        self._store = store = open_metadata_store(
            config.db, reactor=self._reactor, synchronous=config.sqlite_synchronous
        )
        while True:
            try:
                version = await store.migrate()
                break
            except MetadataUnavailable as e:
                log.error("database not answering ({error}); retrying", error=e.message)
                await deferLater(self._reactor, DB_RETRY)
        log.info("metadata schema at version {version}", version=version)
        records = [NodeRecord(n.node_id, n.address) for n in config.nodes]
        self.gateway = gateway = assemble_gateway(
            config, store, records, self._client_factory, self._reactor, self._cpu
        )
        await gateway.start()
        site = StreamingSite(gateway.resource(), self._reactor)
        endpoint = serverFromString(self._reactor, config.listen)
        self.listening_port = await endpoint.listen(site)
        log.info("s3node gateway listening on {where}",
                 where=describe_address(self.listening_port.getHost()))

    async def _stop(self) -> None:
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        if self.listening_port is not None:
            await self.listening_port.stopListening()
        if self.gateway is not None:
            await self.gateway.stop()
        if self._store is not None:
            await self._store.close()
        self._threads.stop()

    def stopService(self) -> Deferred[None]:
        self._stopping = True
        super().stopService()
        return Deferred.fromCoroutine(self._stop())


def make_gateway_service(config: GatewayConfig, reactor: Any) -> GatewayService:
    """The service tree of ``twistd s3node gateway``."""
    return GatewayService(config, reactor)
