"""
The storage node role as a Twisted service: a grpc.aio server on the asyncio
reactor, serving a :class:`~s3node.storage.diskstore.DiskChunkStore`.

:func:`make_storage_service` is what ``twistd s3node storage`` (and the
standalone role, once per node) calls.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from s3node._aio import aio
from s3node.config import StorageConfig
from s3node.errors import ConfigurationError
from s3node.interfaces import ChecksumAlgorithm
from s3node.listener import ListenerService, describe_address
from s3node.metrics import ProcessMetrics, metrics_site
from s3node.nodeauth import describe
from s3node.storage.bulkserver import BulkPutServer, listening_socket, local_socket
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.metrics import StorageMetrics
from s3node.storage.nodeauth import server_credentials, server_interceptors
from s3node.storage.scrubber import Scrubber
from s3node.storage.scrubcheckpoint import CHECKPOINT_NAME
from s3node.storage.servicer import StorageServicer, add_storage_servicer
from s3node.storage.wire import FIXED_WINDOW

__all__ = ["SERVER_OPTIONS", "StorageNodeService", "make_storage_service"]

log = Logger()

#: the largest message a node accepts: 4 MiB of data plus room for framing
MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024
SERVER_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Never share a port with another process (SO_REUSEPORT would let two nodes bind one).
    ("grpc.so_reuseport", 0),
    # A fixed 2 MiB receive window per stream instead of BDP probing, which grew
    # the window (and the node's buffered data) by ~40 MiB during a 1 GiB put.
    *FIXED_WINDOW,
    # HTTP/2 frames of up to 1 MiB to the node (the default is 16 KiB), so a put's data
    # message crosses as one frame; the gateway keeps the default for what it receives,
    # as downloads did not gain from it (docs/grpc.md).
    ("grpc.http2.max_frame_size", 1024 * 1024),
    # Find dead clients during long calls (their puts are then cancelled and cleaned up),
    # and accept the keepalive pings StorageClient sends every 30 s.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
)


def _local_bulk_socket() -> socket.socket | None:
    """
    The bulk listener's Unix socket for clients on this host (Linux: an
    abstract name, unique to this process); ``None`` where there is none.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        return local_socket(f"s3node-bulk/{os.getpid()}/{uuid.uuid4().hex}")
    except OSError as e:
        log.warn("no local bulk socket ({error}): bulk puts from this host use TCP",  # noqa: G010
                 error=e)
        return None


def _executor_size() -> int:
    """Workers for hashing and disk I/O: one per core, at least two (an fsync may block one)."""
    return max(2, os.cpu_count() or 2)


class StorageNodeService(MultiService):
    """
    One storage node: its chunk store, its executor and its gRPC server.

    The data dir is opened and the port bound synchronously when the service
    starts (``privilegedStartService`` or ``startService``, whichever comes
    first), so a bad data dir or a busy port fails ``twistd`` at once.  The
    server then starts accepting calls on the event loop; :meth:`when_listening`
    fires with the bound port when it does.  Stopping stops accepting new calls,
    gives in-flight ones ``config.shutdown_grace`` seconds, cancels the rest
    (their temp files are removed), drains the executor and unlocks the data
    dir.

    Its child services start once the store is open and stop before the
    executor and the store go: the metrics listener (with
    ``config.metrics_listen``) and the scrubber (:mod:`s3node.storage.scrubber`),
    added when the store opens unless ``config.scrub_rate`` is 0.
    """

    def __init__(
        self,
        config: StorageConfig,
        reactor: Any,
        *,
        algorithms: Mapping[str, ChecksumAlgorithm],
        metrics: ProcessMetrics | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self._reactor = reactor
        self._algorithms = algorithms
        #: the process's metrics (standalone: shared with the gateway and the other nodes)
        self.metrics = metrics if metrics is not None else ProcessMetrics()
        self._node_metrics = self.metrics.part(StorageMetrics)
        #: the metrics listener (with ``config.metrics_listen``)
        self.metrics_listener: ListenerService | None = None
        if config.metrics_listen is not None:
            self._add_metrics_listener(config.metrics_listen)
        #: the bound port (known once the service started)
        self.port: int | None = None
        self.store: DiskChunkStore | None = None
        #: the background scrubber (``None`` until started, or with ``scrub_rate`` 0)
        self.scrubber: Scrubber | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._server: grpc.aio.Server | None = None
        #: the bulk put listener (with ``config.bulk_port``, once bound)
        self.bulk: BulkPutServer | None = None
        self._listening: Deferred[int] | None = None
        self._waiting: list[Deferred[int]] = []

    @property
    def address(self) -> str:
        """``host:port`` to reach the node at, once started."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"{host}:{self.port}"

    def when_listening(self) -> Deferred[int]:
        """A Deferred that fires with the port once the server accepts calls."""
        if self._listening is not None and self._listening.called and self.port is not None:
            return succeed(self.port)
        d: Deferred[int] = Deferred()
        self._waiting.append(d)
        return d

    def _bind(self) -> None:
        if self._server is not None:
            return
        config = self.config
        self._executor = ThreadPoolExecutor(
            max_workers=_executor_size(), thread_name_prefix=f"s3node-{config.node_id}"
        )
        store = DiskChunkStore(
            config.data_dir,
            algorithms=self._algorithms,
            executor=self._executor,
            max_chunk_size=config.max_chunk_size,
            capacity=config.capacity,
            fsync=config.fsync,
            on_sync=self._node_metrics.sync_timer(config.node_id),
        )
        try:
            store.open()
            server = grpc.aio.server(options=SERVER_OPTIONS,
                                     interceptors=server_interceptors(config.auth))
            servicer = StorageServicer(
                store,
                node_id=config.node_id,
                clock=self._reactor,
                put_idle_timeout=config.put_idle_timeout,
                max_concurrent_calls=config.max_concurrent_calls,
            )
            add_storage_servicer(servicer, server, metrics=self._node_metrics)
            target = (
                f"[{config.host}]:{config.port}"
                if ":" in config.host
                else (f"{config.host}:{config.port}")
            )
            try:
                port = (server.add_insecure_port(target) if config.auth.tls is None
                        else server.add_secure_port(target, server_credentials(config.auth.tls)))
            except RuntimeError as e:
                raise ConfigurationError(f"cannot listen on {target}: {e}") from e
            if not port:
                raise ConfigurationError(f"cannot listen on {target}")
            bulk = self._bulk_server(servicer)
        except BaseException:
            store.close()
            self._executor.shutdown(wait=False)
            raise
        self.store, self._server, self.port, self.bulk = store, server, port, bulk
        if config.scrub_rate:
            self.scrubber = Scrubber(
                store,
                clock=self._reactor,
                executor=self._executor,
                checkpoint=config.data_dir / CHECKPOINT_NAME,
                rate=config.scrub_rate,
                interval=config.scrub_interval,
                fsync=config.fsync,
            )
            self.scrubber.service().setServiceParent(self)
        self._node_metrics.add_node(config.node_id, store, servicer.calls, self.scrubber)

    def _bulk_server(self, servicer: StorageServicer) -> BulkPutServer | None:
        """The bulk put listener (with ``config.bulk_port``), bound; its port told in Health."""
        config = self.config
        if config.bulk_port is None:
            return None
        try:
            sock = listening_socket(config.host, config.bulk_port)
        except OSError as e:
            raise ConfigurationError(
                f"--bulk-port: cannot listen on {config.host}:{config.bulk_port}: {e}") from e
        bulk = BulkPutServer(servicer, sock, secrets=config.auth.secrets, clock=self._reactor,
                             idle_timeout=config.put_idle_timeout,
                             max_connections=2 * config.max_concurrent_calls,
                             metrics=self._node_metrics, local=_local_bulk_socket())
        servicer.bulk_port = bulk.port
        servicer.bulk_local = bulk.local_name
        return bulk

    def _add_metrics_listener(self, endpoint: str) -> None:
        """Serve the process's metrics on ``endpoint`` while the node runs (a child service)."""
        from twisted.internet.endpoints import serverFromString

        listener = ListenerService("metrics", serverFromString(self._reactor, endpoint),
                                   metrics_site(self.metrics, self._reactor))
        listener.setServiceParent(self)
        self.metrics_listener = listener
        listener.listening.addCallbacks(
            lambda port: log.info("s3node storage {node_id} metrics listening on {where}",
                                  node_id=self.config.node_id,
                                  where=describe_address(port.getHost())),
            lambda f: log.failure("storage node {node_id}: no metrics listener on {endpoint}",
                                  f, node_id=self.config.node_id, endpoint=endpoint))

    def privilegedStartService(self) -> None:
        """Open the data dir and bind the port."""
        self._bind()
        super().privilegedStartService()

    def startService(self) -> None:
        """Start serving (binding first if that has not happened)."""
        self._bind()
        super().startService()
        self._listening = aio(self._start())
        self._listening.addCallbacks(self._fire_waiting, self._start_failed)

    async def _start(self) -> int:
        assert self._server is not None and self.port is not None
        await self._server.start()
        if self.bulk is not None:
            self.bulk.start()
            log.info("s3node storage {node_id} takes bulk puts on {host}:{port}",
                     node_id=self.config.node_id, host=self.config.host, port=self.bulk.port)
        if self.config.port_file is not None:
            from s3node.nodeprocess import write_port_file

            ports = {"port": self.port}
            if self.bulk is not None:
                ports["bulk_port"] = self.bulk.port
            if self.metrics_listener is not None:
                # its log callback has consumed the result: read the port itself
                await self.metrics_listener.listening.asFuture(asyncio.get_running_loop())
                if self.metrics_listener.port is not None:
                    ports["metrics_port"] = self.metrics_listener.port.getHost().port
            write_port_file(self.config.port_file, ports)
        log.info(
            "s3node storage {node_id} listening on {host}:{port}",
            node_id=self.config.node_id,
            host=self.config.host,
            port=self.port,
        )
        log.info("storage node {node_id}: calls need {credential}",
                 node_id=self.config.node_id, credential=describe(self.config.auth))
        return self.port

    def _fire_waiting(self, port: int) -> int:
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(port)
        return port

    def _start_failed(self, failure: Any) -> None:
        log.failure("storage node {node_id} failed to start", failure, node_id=self.config.node_id)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(failure)

    def stopService(self) -> Deferred[None]:
        """Stop accepting calls, let in-flight ones finish within the grace period, clean up."""
        children = super().stopService() or succeed(None)
        return aio(self._stop(children))

    async def _stop(self, children: Deferred[Any]) -> None:
        server, executor, store, bulk = self._server, self._executor, self.store, self.bulk
        self._server = self.bulk = None
        starting = self._listening
        if server is not None and starting is not None and not starting.called:
            # grpc.aio crashes the process (SIGSEGV) when a server is stopped
            # while its start is still under way (a SIGTERM during start-up):
            # let the start finish, or fail, first.
            started: Deferred[None] = Deferred()

            def ended(result: Any) -> Any:
                started.callback(None)
                return result

            starting.addBoth(ended)
            await asyncio.wait({started.asFuture(asyncio.get_running_loop())})
        if server is not None:
            log.info(
                "storage node {node_id} stopping (grace {grace}s)",
                node_id=self.config.node_id,
                grace=self.config.shutdown_grace,
            )
            grace = self.config.shutdown_grace
            await asyncio.gather(server.stop(grace),
                                 *([bulk.stop(grace)] if bulk is not None else []))
        # The children (the scrubber) use the executor and the store until they stopped.
        children_stopped = children.asFuture(asyncio.get_running_loop())
        await asyncio.wait({children_stopped})
        if self.scrubber is not None:
            self.removeService(self.getServiceNamed("scrubber"))  # a restart adds a new one
            self.scrubber = None
        if executor is not None:
            # Let cancelled puts finish removing their temp files.
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        if store is not None:
            self._node_metrics.remove_node(self.config.node_id)
            store.close()
        log.info("storage node {node_id} stopped", node_id=self.config.node_id)
        children_stopped.result()  # a child's failure, once everything is cleaned up


def make_storage_service(
    config: StorageConfig, reactor: Any, *, metrics: ProcessMetrics | None = None
) -> StorageNodeService:
    """
    The service tree of one storage node, counting into ``metrics`` (the
    process's; a new one when ``None``: ``twistd s3node storage``).

    Checksum algorithms (built-in and from plugins) are resolved here, once.
    """
    from s3node.plugins import checksum_algorithms, get_plugin_manager

    return StorageNodeService(config, reactor, algorithms=checksum_algorithms(get_plugin_manager()),
                              metrics=metrics if metrics is not None else ProcessMetrics())
