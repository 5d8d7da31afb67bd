"""
The gateway role as a Twisted service tree.

:func:`make_gateway_service` is what ``twistd s3node gateway`` calls.
:class:`GatewayService` is a :class:`~twisted.application.service.MultiService`.
When it starts it opens and migrates the metadata store (retrying while the
database does not answer), builds the gateway and registers its storage nodes;
then it adds its children, which start as they join:

- the periodic workers (:meth:`Gateway.services <s3node.gateway.app.Gateway.services>`):
  node health checks, the sweeper, the reconciler;
- with ``--s3-listen``, the S3 listener (:mod:`s3node.s3server`, over the
  same file service); it logs ``s3node s3 listening on HOST:PORT``;
- the HTTP listener (:class:`~s3node.listener.ListenerService` on the
  ``--listen`` endpoint), last, so nothing is served before the rest runs; it
  logs ``s3node gateway listening on HOST:PORT``.

Stopping goes the other way: the children stop (the listener first: no new
requests; the workers finish their run under way), then the gateway closes
(uploads under way get ``shutdown_grace`` seconds, then record their outcome),
then the store, then the thread pool.  A start that cannot succeed (the
database refuses an edited migration) is reported to ``on_fatal``, which the
composition root (:mod:`s3node.tap`) points at ``reactor.stop``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from s3node.config import GatewayConfig, NodeAddress, NodeAuth
from s3node.errors import MetadataUnavailable
from s3node.gateway.nodes import ClientFactory
from s3node.interfaces import NodeClient
from s3node.listener import ListenerService, describe_address
from s3node.metrics import ProcessMetrics
from s3node.records import NodeRecord

__all__ = ["GatewayService", "make_gateway_service"]

log = Logger()

#: seconds between attempts to reach the database at start-up
DB_RETRY = 2.0


def _client_factory(address: str, *, auth: NodeAuth | None = None) -> NodeClient:
    from s3node.storage.client import StorageClient

    return StorageClient(address, auth=auth)


class GatewayService(MultiService):
    """The gateway: store, nodes, periodic workers and the HTTP listener."""

    def __init__(
        self,
        config: GatewayConfig,
        reactor: Any,
        *,
        nodes: Callable[[], Awaitable[tuple[NodeAddress, ...]]] | None = None,
        client_factory: ClientFactory | None = None,
        on_fatal: Callable[[], object] | None = None,
        metrics: ProcessMetrics | None = None,
        on_listening: Callable[[Any, str, str | None], Awaitable[object]] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        #: the process's metrics (standalone: shared with its storage nodes)
        self.metrics = metrics if metrics is not None else ProcessMetrics()
        self._reactor = reactor
        self._nodes = nodes
        #: builds a node's client (default: a StorageClient with ``config.node_auth``)
        self._client_factory = (client_factory if client_factory is not None
                                else partial(_client_factory, auth=config.node_auth))
        self._on_fatal = on_fatal
        #: called with the store, the REST URL and the S3 URL (or ``None``) once
        #: both listen, before the gateway says it is listening
        self._on_listening = on_listening
        self.s3_port: Any = None
        self._threads = ThreadPool(minthreads=0, maxthreads=max(2, os.cpu_count() or 2),
                                   name="s3node-gateway-cpu")
        self.gateway: Any = None
        self.listening_port: Any = None
        self._store: Any = None
        self._starting: Deferred[None] | None = None
        self._stopping = False
        self._run_dir: Any = None

    def startService(self) -> None:
        super().startService()
        self._threads.start()
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._failed)

    def _failed(self, failure: Failure) -> None:
        if self._stopping:
            return
        log.failure("the gateway failed to start", failure)
        if self._on_fatal is not None:
            self._on_fatal()

    def _cpu(self, f: Any, *args: Any) -> Deferred[Any]:
        return deferToThreadPool(self._reactor, self._threads, f, *args)

    async def _start(self) -> None:
        from s3node.gateway.access import ObservedSite
        from s3node.gateway.assemble import assemble_gateway
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
            config, store, records, self._client_factory, self._reactor, self._cpu,
            metrics=self.metrics,
        )
        await gateway.pool.start()
        for worker in gateway.services():
            worker.setServiceParent(self)
        s3_url = None
        if config.s3_listen is not None or config.s3_listen_fd is not None:
            s3_url = await self._start_s3(config, gateway)
        listener = ListenerService(
            "http", self._endpoint(config.listen, config.listen_fd),
            ObservedSite(gateway.resource(), self._reactor, metrics=gateway.metrics,
                         header_timeout=config.header_timeout))
        listener.setServiceParent(self)
        self.listening_port = await listener.listening
        if self._on_listening is not None:
            where = describe_address(self.listening_port.getHost())
            await self._on_listening(store, f"http://{where}", s3_url)
        if config.admin_key_file is not None:  # after standalone's first key
            from s3node.s3server.keys import ensure_admin_key_file

            await ensure_admin_key_file(store, config.admin_key_file)
        await self._as_worker(config)
        if config.workers > 1:
            await self._start_workers(config)
        log.info("s3node gateway listening on {where}",
                 where=describe_address(self.listening_port.getHost()))

    def _endpoint(self, description: str, fd: int | None) -> Any:
        """``description``'s endpoint, or the inherited socket ``fd`` (a worker's)."""
        if fd is None:
            return serverFromString(self._reactor, description)
        from s3node.workers import adopted_endpoint

        return adopted_endpoint(self._reactor, fd)

    async def _as_worker(self, config: GatewayConfig) -> None:
        """A worker's own metrics page, its page from its parent, its port file."""
        from s3node.metrics import metrics_site

        ports = {"port": getattr(self.listening_port.getHost(), "port", 0)}
        if config.metrics_listen is not None:
            own = ListenerService("metrics", serverFromString(self._reactor, config.metrics_listen),
                                  metrics_site(self.metrics, self._reactor, own=True))
            own.setServiceParent(self)
            ports["metrics_port"] = (await own.listening).getHost().port
        if config.metrics_from is not None:
            from s3node.workers import page_from

            self.metrics.delegate = page_from(config.metrics_from, self._reactor)
        if config.port_file is not None:
            from s3node.nodeprocess import write_port_file

            write_port_file(config.port_file, ports)

    async def _start_workers(self, config: GatewayConfig) -> None:
        """Workers 2 to N on the same sockets (:mod:`s3node.workers`); fires once all listen."""
        from s3node.metrics import metrics_site
        from s3node.workers import make_run_dir, worker_services

        aggregate = ListenerService(
            "worker metrics", serverFromString(self._reactor, "tcp:0:interface=127.0.0.1"),
            metrics_site(self.metrics, self._reactor))
        aggregate.setServiceParent(self)
        page = f"http://127.0.0.1:{(await aggregate.listening).getHost().port}/metrics"
        self._run_dir = make_run_dir()
        workers, relay = worker_services(
            config, self._reactor, http_fd=self.listening_port.fileno(),
            s3_fd=self.s3_port.fileno() if self.s3_port is not None else None,
            run_dir=self._run_dir, parent_metrics=page, stop_timeout=config.shutdown_grace + 10)
        self.metrics.labels = {"worker": "1"}
        self.metrics.add_part(relay)
        for worker in workers:
            worker.setServiceParent(self)
        await gatherResults([w.when_listening() for w in workers])
        log.info("s3node gateway: {count} workers", count=config.workers)

    async def _start_s3(self, config: GatewayConfig, gateway: Any) -> str:
        from s3node.gateway.access import ObservedSite
        from s3node.s3server.app import S3Api

        api = S3Api(gateway.files, gateway.keys,
                    self._cpu, self._reactor, domain=config.s3_domain,
                    upload_slots=gateway.upload_slots, download_slots=gateway.download_slots)
        listener = ListenerService(
            "s3", self._endpoint(config.s3_listen or "", config.s3_listen_fd),
            ObservedSite(api.resource(), self._reactor, metrics=gateway.metrics))
        listener.setServiceParent(self)
        self.s3_port = await listener.listening
        where = describe_address(self.s3_port.getHost())
        log.info("s3node s3 listening on {where}", where=where)
        return f"http://{where}"

    def stopService(self) -> Deferred[None]:
        """Stop the children (listener first), then close the gateway, the store, the threads."""
        self._stopping = True
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        children: Deferred[Any] = super().stopService()
        return children.addCallback(lambda _: Deferred.fromCoroutine(self._close()))

    async def _close(self) -> None:
        if self.gateway is not None:
            await self.gateway.close(grace=self.config.shutdown_grace)
        if self._store is not None:
            await self._store.close()
        self._threads.stop()
        if self._run_dir is not None:
            import shutil

            shutil.rmtree(self._run_dir, ignore_errors=True)


def make_gateway_service(config: GatewayConfig, reactor: Any) -> GatewayService:
    """The service tree of ``twistd s3node gateway``; a start that can't succeed stops twistd."""
    return GatewayService(config, reactor, on_fatal=reactor.stop, metrics=ProcessMetrics())
