"""
A storage node's Prometheus instruments, in one class: :class:`StorageMetrics`.

One instance per process (:meth:`s3node.metrics.ProcessMetrics.part`); every
series carries the node's id in a ``node`` label, so the nodes of a
standalone process share it.  Events are counted where they happen: each gRPC
call by :meth:`StorageMetrics.instrument` (wrapped around the servicer's
methods by :func:`~s3node.storage.servicer.add_storage_servicer`), the sync
steps of each put by the disk store (:meth:`StorageMetrics.sync_timer`).
What is state — chunks and bytes stored, free space, quarantined entries,
calls under way — is read at scrape time by :class:`StorageState` from each
node's store (its ``usage()`` is awaited just before, in
:meth:`StorageMetrics.refresh`, since it asks the file system).  Every name,
type and label is listed in ``docs/metrics.md``.

Scrubbing does not exist yet: its progress and the corruptions it finds
belong here, beside the quarantine gauge, when the scrubber lands.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from twisted.logger import Logger

from s3node._aio import aio
from s3node.metrics import MetricsPart, Stopwatch, Timer
from s3node.storage.types import StoreUsage

__all__ = ["StorageMetrics", "StorageState", "timed_step"]

log = Logger()
T = TypeVar("T")

#: seconds: one gRPC call, from a stat to a 4 GiB chunk
CALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0, 30.0, 120.0)
#: seconds: one fsync step
SYNC_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                2.5, 10.0)


@dataclass
class _Node:
    """What the state collector reads of one node."""

    store: Any
    calls: Any
    usage: StoreUsage | None = None
    #: the node's :class:`~s3node.storage.scrubber.Scrubber`, if it scrubs
    scrubber: Any = None


class StorageMetrics(MetricsPart):
    """
    Every instrument of the storage nodes of a process (see
    :class:`~s3node.metrics.MetricsPart`).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 timer: Timer = time.perf_counter) -> None:
        super().__init__(registry, timer=timer)
        r = self.registry
        self.calls = Counter(
            "s3node_storage_calls",
            "gRPC calls a node answered, by method (PutChunk, GetChunk, DeleteChunk...)"
            " and status code", ["node", "method", "code"], registry=r)
        self.call_duration = Histogram(
            "s3node_storage_call_duration_seconds", "Seconds each gRPC call took, by method",
            ["node", "method"], buckets=CALL_BUCKETS, registry=r)
        self.received = Counter(
            "s3node_storage_received_bytes", "Chunk data bytes received by PutChunk calls",
            ["node"], registry=r)
        self.sent = Counter(
            "s3node_storage_sent_bytes", "Chunk data bytes sent by GetChunk calls",
            ["node"], registry=r)
        self.sync = Histogram(
            "s3node_storage_fsync_duration_seconds",
            "Seconds each durability step of a put took: data (fsync of the chunk file) and"
            " commit (sidecar written and fsynced, rename, link, folder fsyncs)",
            ["node", "step"], buckets=SYNC_BUCKETS, registry=r)
        self._nodes: dict[str, _Node] = {}
        r.register(StorageState(self._nodes))

    def add_node(self, node_id: str, store: Any, calls: Any, scrubber: Any = None) -> None:
        """Read ``store``'s usage, ``calls`` (its call limiter) and ``scrubber``'s pass at each scrape."""
        self._nodes[node_id] = _Node(store, calls, scrubber=scrubber)

    def remove_node(self, node_id: str) -> None:
        """Stop reporting the state of ``node_id`` (it stopped)."""
        self._nodes.pop(node_id, None)

    async def refresh(self) -> None:
        """Ask each node's store for its usage (the file system's free space among it)."""
        for node_id, node in list(self._nodes.items()):
            try:
                node.usage = await aio(node.store.usage())
            except Exception as e:  # noqa: BLE001 - a scrape must not fail for one node
                node.usage = None
                log.info("usage of {node_id} not read for /metrics: {error}",
                         node_id=node_id, error=repr(e))

    def sync_timer(self, node_id: str) -> Callable[[str, float], None]:
        """What a disk store calls (on a worker thread) with each sync step's duration."""

        def synced(step: str, seconds: float) -> None:
            self.sync.labels(node_id, step).observe(seconds)

        return synced

    def count_call(self, node_id: str, name: str, status: str, seconds: float, *,
                   received: int = 0, sent: int = 0) -> None:
        """
        Count a call served beside gRPC (a bulk put or get) as :meth:`instrument`
        counts gRPC's: by its status's name, its duration, the bytes received or sent.
        """
        self.call_duration.labels(node_id, name).observe(seconds)
        self.calls.labels(node_id, name, status).inc()
        if received:
            self.received.labels(node_id).inc(received)
        if sent:
            self.sent.labels(node_id).inc(sent)

    def instrument(self, node_id: str, name: str, behaviour: Callable[..., Any], *,
                   stream_request: bool) -> Callable[..., Any]:
        """
        ``behaviour`` (the servicer's method ``name``), counting each call by its
        status code, timing it, and counting the chunk bytes it receives or sends.
        """
        calls, duration = self.calls, self.call_duration.labels(node_id, name)
        received, sent = self.received.labels(node_id), self.sent.labels(node_id)

        def record(watch: Stopwatch, context: Any, error: BaseException | None) -> None:
            duration.observe(watch.seconds)
            calls.labels(node_id, name, _status(context, error)).inc()

        if inspect.isasyncgenfunction(behaviour):

            async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
                watch, error = Stopwatch(self.timer), None
                try:
                    async for response in behaviour(request, context):
                        sent.inc(len(response.data))
                        yield response
                except BaseException as e:
                    error = e
                    raise
                finally:
                    record(watch, context, error)

            return streaming

        async def unary(request: Any, context: Any) -> Any:
            watch = Stopwatch(self.timer)
            if stream_request:
                request = _Counted(request, received)
            else:  # PutSmallChunk's bytes come in its one message
                received.inc(len(getattr(request, "data", b"")))
            try:
                response = await behaviour(request, context)
            except BaseException as e:
                record(watch, context, e)
                raise
            record(watch, context, None)
            sent.inc(len(getattr(response, "data", b"")))  # GetSmallChunk's
            return response

        return unary


class _Counted:
    """
    The messages of a PutChunk stream, counting the bytes of their data; a
    cancelled read leaves it usable, as the stream it reads.
    """

    def __init__(self, requests: Any, counter: Any) -> None:
        self._it = aiter(requests)
        self._counter = counter

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> Any:
        message = await anext(self._it)
        self._counter.inc(len(getattr(message, "data", b"")))
        return message


def _status(context: Any, error: BaseException | None) -> str:
    """The status code a call ended with, by name (``OK``, ``NOT_FOUND``...)."""
    if isinstance(error, GeneratorExit | asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    code = context.code()
    if code is None:
        return grpc.StatusCode.OK.name if error is None else grpc.StatusCode.UNKNOWN.name
    return str(getattr(code, "name", code))


def timed_step(on_sync: Callable[[str, float], None] | None, step: str,
               fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, telling ``on_sync`` (when set) how many seconds it took."""
    if on_sync is None:
        return fn(*args, **kwargs)
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        on_sync(step, time.perf_counter() - start)


def _gauge(name: str, documentation: str,
           samples: Iterable[tuple[str, float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["node"])
    for node_id, value in samples:
        family.add_metric([node_id], value)
    return family


class StorageState(Collector):
    """Each node's state: what its store's last usage said, and its calls under way."""

    def __init__(self, nodes: dict[str, _Node]) -> None:
        self._nodes = nodes

    def collect(self) -> Iterator[Metric]:
        nodes = sorted(self._nodes.items())
        usages = [(n, node.usage) for n, node in nodes if node.usage is not None]
        for name, what, field in (
            ("s3node_storage_chunks", "Chunks stored", "chunk_count"),
            ("s3node_storage_chunk_bytes", "Bytes of the chunks stored", "used"),
            ("s3node_storage_capacity_bytes",
             "Capacity (--capacity, else the file system's size)", "capacity"),
            ("s3node_storage_free_bytes",
             "Bytes a new chunk may take (capacity and file system, minus puts in progress)",
             "free"),
            ("s3node_storage_quarantined_chunks",
             "Quarantine entries kept (chunks that failed verification)", "quarantined"),
        ):
            yield _gauge(name, what, [(n, getattr(u, field)) for n, u in usages])
        yield _gauge("s3node_storage_calls_in_flight",
                     "Calls being served (Health aside), out of --max-concurrent-calls",
                     [(n, node.calls.in_use) for n, node in nodes])
        passes = [(n, node.scrubber.progress) for n, node in nodes
                  if node.scrubber is not None and node.scrubber.progress is not None]
        for name, what, field in (
            ("s3node_storage_scrub_chunks_verified",
             "Chunks the scrubber's current (or last) pass found intact", "chunks_verified"),
            ("s3node_storage_scrub_bytes_verified",
             "Bytes the scrubber's current (or last) pass read and hashed", "bytes_verified"),
            ("s3node_storage_scrub_corrupt_found",
             "Chunks the scrubber's current (or last) pass found corrupt (and quarantined)",
             "corrupt_found"),
            ("s3node_storage_scrub_pass_started_timestamp_seconds",
             "When the scrubber's current (or last) pass started", "started"),
        ):
            yield _gauge(name, what, [(n, getattr(p, field)) for n, p in passes])
        yield _gauge("s3node_storage_scrub_pass_finished_timestamp_seconds",
                     "When the scrubber's last pass ended",
                     [(n, p.finished) for n, p in passes if p.finished is not None])
