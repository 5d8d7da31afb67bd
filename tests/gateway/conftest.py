"""
A real gateway on a loopback port over fake nodes and the in-memory metadata store.

Klein installs the default reactor when it is imported, so nothing here
imports it (or s3node.gateway.app) at module level.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_twisted
from gateway.gateway_fakes import FakeNode
from support.auth import admin_key
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from s3node.config import GatewayConfig
from s3node.gateway.streaming import BodyStream
from s3node.metadata.memory import MemoryMetadataStore
from s3node.records import NodeRecord


@dataclass
class Running:
    gateway: Any
    store: MemoryMetadataStore
    nodes: dict[str, FakeNode]
    url: str
    port: Any
    #: the fake node behind each address (add one here before ``POST /nodes``)
    addresses: dict[str, FakeNode] | None = None


async def start_gateway(*, node_count: int = 3, replicas: int = 2, chunk_size: int = 1000,
                        max_file_size: int = 10**6, site_clock: Any = None,
                        inline_max_size: int = 0,
                        **settings: Any) -> tuple[Running, ThreadPool]:
    """
    A gateway on a loopback port; ``settings`` are further :class:`GatewayConfig`
    fields; ``site_clock`` (a :class:`~twisted.internet.task.Clock`) times the HTTP
    site's connections instead of the reactor.  Small files get chunks
    (``inline_max_size=0``) unless a test asks for inline ones: these tests
    exercise chunks with files of a few bytes.
    """
    # Klein installs the default reactor when imported: import it only once
    # pytest-twisted has installed the asyncio reactor.
    from twisted.internet import reactor

    from s3node.gateway.access import ObservedSite
    from s3node.gateway.assemble import assemble_gateway

    store = MemoryMetadataStore(clock=reactor)
    await store.add_access_key(admin_key())
    nodes = {f"n{i}": FakeNode(f"n{i}") for i in range(1, node_count + 1)}
    records = [NodeRecord(n, f"{n}:1") for n in nodes]
    by_address = {f"{n}:1": node for n, node in nodes.items()}
    pool = ThreadPool(minthreads=1, maxthreads=2, name="test-cpu")
    pool.start()

    def cpu(f: Any, *args: Any) -> Any:
        return deferToThreadPool(reactor, pool, f, *args)

    config = GatewayConfig(chunk_size=chunk_size, max_file_size=max_file_size,
                           replicas=replicas, health_interval=3600, sweep_interval=3600,
                           reconcile_interval=3600, inline_max_size=inline_max_size,
                           **settings)
    gateway = assemble_gateway(config, store, records, by_address.__getitem__, reactor, cpu)
    await gateway.pool.start()
    site = ObservedSite(gateway.resource(), site_clock or reactor, metrics=gateway.metrics,
                        header_timeout=config.header_timeout)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
    url = f"http://127.0.0.1:{port.getHost().port}"
    return Running(gateway, store, nodes, url, port, by_address), pool


@asynccontextmanager
async def running_gateway(**settings: Any) -> AsyncIterator[Running]:
    """:func:`start_gateway` with ``settings``, stopped on the way out."""
    running, pool = await start_gateway(**settings)
    try:
        yield running
    finally:
        await stop_gateway(running, pool)


async def stop_gateway(running: Running, pool: ThreadPool) -> None:
    """Stop what :func:`start_gateway` started."""
    await running.port.stopListening()
    await running.gateway.close(grace=1.0)
    pool.stop()


@pytest_twisted.async_yield_fixture
async def gw() -> AsyncIterator[Running]:
    """A gateway with 3 fake nodes, 2 replicas and 1000-byte chunks."""
    async with running_gateway() as running:
        yield running


class WatchedBody(BodyStream):
    """A request body stream that counts how often it paused and resumed its client."""

    def __init__(self, pause: Any = None, resume: Any = None) -> None:
        self.pauses = self.resumes = 0
        #: the transport the stream pauses (the connection from the client)
        self.transport = getattr(pause, "__self__", None)

        def paused() -> None:
            self.pauses += 1
            pause()

        def resumed() -> None:
            self.resumes += 1
            resume()

        super().__init__(pause and paused, resume and resumed)

    @property
    def paused(self) -> bool:
        """Whether the client is paused right now."""
        return self.pauses > self.resumes


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> list[WatchedBody]:
    """Every request body stream the gateway creates during the test, oldest first."""
    from s3node.gateway import streaming

    created: list[WatchedBody] = []

    class Recorded(WatchedBody):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            created.append(self)

    monkeypatch.setattr(streaming, "BodyStream", Recorded)
    return created
