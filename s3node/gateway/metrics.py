"""
The gateway's Prometheus instruments, in one class: :class:`GatewayMetrics`.

One instance per process (:meth:`s3node.metrics.ProcessMetrics.part`), handed
to the components that count: the HTTP site (:mod:`s3node.gateway.access`),
the upload and download pipelines, the sweeper, the reconciler and the
metadata store wrapper (:mod:`s3node.gateway.timedstore`).  What is state
rather than events — node health, transfer slots, the background lease, the
metadata pool, the durability figures — is read at scrape time by
:class:`GatewayState`, a custom collector over the live objects
(:meth:`GatewayMetrics.watch`).  Every name, type and label is listed in
``docs/metrics.md``.

Repair counts what this process copied and dropped (``s3node_repair_*``);
the cluster-wide totals and the queue are in ``GET /cluster``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from s3node.metrics import MetricsPart, Timer, error_code, timed
from s3node.records import FileStatus

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from s3node.gateway.figures import DurabilityFigures
    from s3node.gateway.lease import Lease
    from s3node.gateway.limits import Limiter
    from s3node.gateway.nodes import NodePool
    from s3node.gateway.readbudget import ByteBudget
    from s3node.gateway.reconciler import Reconciler, ReconcileReport
    from s3node.gateway.upload import UploadPipeline

__all__ = ["GatewayMetrics", "GatewayState"]

#: seconds: from a cached metadata read to a 1 GiB transfer
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0, 1800.0)
#: seconds: one chunk to or from one node
CHUNK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 10.0, 30.0)
#: seconds: one metadata operation
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                 2.5, 10.0)


class GatewayMetrics(MetricsPart):
    """Every instrument of the gateway (see :class:`~s3node.metrics.MetricsPart`)."""

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 timer: Timer = time.perf_counter) -> None:
        super().__init__(registry, timer=timer)
        r = self.registry
        # -- HTTP (s3node.gateway.access) --
        self.http_requests = Counter(
            "s3node_http_requests", "HTTP requests answered, by route pattern, method and status",
            ["route", "method", "status"], registry=r)
        self.http_duration = Histogram(
            "s3node_http_request_duration_seconds",
            "Seconds from a request's headers to the end of its response",
            ["route", "method"], buckets=DURATION_BUCKETS, registry=r)
        self.http_received = Counter(
            "s3node_http_received_bytes", "Request body bytes received", ["route"], registry=r)
        self.http_sent = Counter(
            "s3node_http_sent_bytes", "Response body bytes sent", ["route"], registry=r)
        self.http_in_flight = Gauge(
            "s3node_http_requests_in_flight", "HTTP requests being handled", registry=r)
        # -- transfers (the pipelines) --
        self.uploads_completed = Counter(
            "s3node_uploads_completed", "Uploads that completed (201)", registry=r)
        self.uploads_inline = Counter(
            "s3node_uploads_inline",
            "Uploads completed with their bytes kept in the metadata store (no chunk)",
            registry=r)
        self.inline_bytes = Counter(
            "s3node_inline_bytes",
            "Bytes of the uploads kept in the metadata store", registry=r)
        self.uploads_failed = Counter(
            "s3node_uploads_failed", "Uploads that ended without completing, by error code",
            ["error"], registry=r)
        self.downloads_completed = Counter(
            "s3node_downloads_completed",
            "Downloads (GET of a file or a range) whose every byte was sent", registry=r)
        self.downloads_failed = Counter(
            "s3node_downloads_failed",
            "Downloads that stopped after their response began, by error code",
            ["error"], registry=r)
        # -- chunks, per storage node --
        self.chunk_put = Histogram(
            "s3node_chunk_put_duration_seconds",
            "Seconds one chunk put to one storage node took, by node and result",
            ["node", "result"], buckets=CHUNK_BUCKETS, registry=r)
        self.chunk_put_bytes = Counter(
            "s3node_chunk_put_bytes", "Chunk bytes stored on each node", ["node"], registry=r)
        self.chunk_get = Histogram(
            "s3node_chunk_get_duration_seconds",
            "Seconds reading one chunk from one storage node took, by node and result",
            ["node", "result"], buckets=CHUNK_BUCKETS, registry=r)
        self.chunk_get_bytes = Counter(
            "s3node_chunk_get_bytes", "Chunk bytes read from each node", ["node"], registry=r)
        # -- metadata (s3node.gateway.timedstore) --
        self.metadata_duration = Histogram(
            "s3node_metadata_query_duration_seconds",
            "Seconds each metadata store operation took, by operation",
            ["operation"], buckets=QUERY_BUCKETS, registry=r)
        self.metadata_errors = Counter(
            "s3node_metadata_query_errors", "Metadata store operations that failed",
            ["operation", "error"], registry=r)
        self.metadata_in_flight = Gauge(
            "s3node_metadata_queries_in_flight", "Metadata store operations under way",
            registry=r)
        # -- the sweeper --
        self.sweeper_rounds = Counter(
            "s3node_sweeper_rounds", "Sweeper rounds run (while holding the background lease)",
            registry=r)
        self.sweeper_claimed = Counter(
            "s3node_sweeper_stale_uploads_claimed", "Stale uploads the sweeper moved to failed",
            registry=r)
        self.sweeper_swept = Counter(
            "s3node_sweeper_files_swept", "Failed and deleted files removed for good",
            registry=r)
        self.sweeper_replicas_deleted = Counter(
            "s3node_sweeper_replicas_deleted", "Replicas the sweeper deleted from nodes",
            registry=r)
        self.sweeper_deferred = Counter(
            "s3node_sweeper_files_deferred", "Sweeps of a file that left replicas for a retry",
            registry=r)
        # -- the reconciler --
        self.reconciler_passes = Counter(
            "s3node_reconciler_passes", "Reconciler passes over a node, by result",
            ["node", "result"], registry=r)
        self.reconciler_chunks_seen = Counter(
            "s3node_reconciler_chunks_seen", "Chunks the reconciler listed on each node",
            ["node"], registry=r)
        self.reconciler_actions = Counter(
            "s3node_reconciler_actions",
            "What the reconciler did on each node: orphan_deleted, marked_missing,"
            " marked_corrupt, settled_stored, settled_dropped, quarantine_dropped",
            ["node", "action"], registry=r)
        # -- repair --
        self.repair_copies = Counter(
            "s3node_repair_copies", "Chunk copies repair wrote to a node (this gateway)",
            registry=r)
        self.repair_bytes = Counter(
            "s3node_repair_bytes", "Bytes of the chunk copies repair wrote (this gateway)",
            registry=r)
        self.repair_failures = Counter(
            "s3node_repair_failures", "Repairs of a chunk that failed and were deferred",
            registry=r)
        self.repair_dropped = Counter(
            "s3node_repair_replicas_dropped",
            "Replicas repair dropped once their chunk had its copies where they belong",
            registry=r)
        self.state = GatewayState()
        r.register(self.state)

    def watch(self, **sources: Any) -> None:
        """Give the state collector the live objects it reads (see :class:`GatewayState`)."""
        for name, value in sources.items():
            setattr(self.state, name, value)

    # -- recording ---------------------------------------------------------

    def upload_ended(self, error: BaseException | None) -> None:
        """Count an upload that completed (``error`` is ``None``) or failed."""
        if error is None:
            self.uploads_completed.inc()
        else:
            self.uploads_failed.labels(error_code(error)).inc()

    def kept_inline(self, size: int) -> None:
        """Count a completed upload whose ``size`` bytes the metadata store keeps."""
        self.uploads_inline.inc()
        self.inline_bytes.inc(size)

    def download_ended(self, error: BaseException | None) -> None:
        """Count a download that sent its last byte (``error`` is ``None``) or stopped."""
        if error is None:
            self.downloads_completed.inc()
        else:
            self.downloads_failed.labels(error_code(error)).inc()

    @contextmanager
    def transfer(self, kind: str) -> Iterator[None]:
        """Count the block as one upload or download (``kind``) that completed or failed."""
        ended = self.upload_ended if kind == "upload" else self.download_ended
        try:
            yield
        except BaseException as e:
            ended(e)
            raise
        ended(None)

    def chunk_put_timer(self, node_id: str, size: int) -> Any:
        """Time the block as one put of ``size`` bytes to ``node_id``."""
        return self._chunk_timer(self.chunk_put, self.chunk_put_bytes, node_id, size)

    def chunk_get_timer(self, node_id: str, size: int) -> Any:
        """Time the block as one read of a ``size``-byte chunk from ``node_id``."""
        return self._chunk_timer(self.chunk_get, self.chunk_get_bytes, node_id, size)

    def _chunk_timer(self, histogram: Histogram, bytes_: Counter, node_id: str, size: int) -> Any:
        def done(seconds: float, error: BaseException | None) -> None:
            result = error_code(error)
            histogram.labels(node_id, result).observe(seconds)
            if error is None:
                bytes_.labels(node_id).inc(size)

        return timed(self.timer, done)

    def query_timer(self, operation: str) -> Any:
        """Time the block as one metadata store ``operation``."""
        self.metadata_in_flight.inc()

        def done(seconds: float, error: BaseException | None) -> None:
            self.metadata_in_flight.dec()
            self.metadata_duration.labels(operation).observe(seconds)
            if error is not None:
                self.metadata_errors.labels(operation, error_code(error)).inc()

        return timed(self.timer, done)

    def reconciled(self, report: ReconcileReport) -> None:
        """Count what one reconciler pass over one node saw and did."""
        node = report.node_id
        self.reconciler_passes.labels(node, "error" if report.errors else "ok").inc()
        self.reconciler_chunks_seen.labels(node).inc(report.chunks_seen)
        for action, count in (
            ("orphan_deleted", report.orphans_deleted),
            ("marked_missing", report.marked_missing),
            ("marked_corrupt", report.marked_corrupt),
            ("settled_stored", report.settled_stored),
            ("settled_dropped", report.settled_dropped),
            ("quarantine_dropped", report.quarantine_dropped),
        ):
            if count:
                self.reconciler_actions.labels(node, action).inc(count)


def _gauge(name: str, documentation: str, labels: Iterable[str] = (),
           samples: Iterable[tuple[Iterable[str], float]] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


class GatewayState(Collector):
    """
    The gateway's state, read at scrape time from the objects
    :meth:`GatewayMetrics.watch` hands it (each may be missing before the
    gateway has started): ``pool`` (:class:`~s3node.gateway.nodes.NodePool`),
    ``uploads``/``downloads`` (the :class:`~s3node.gateway.limits.Limiter`
    slots), ``lease``, ``store`` (for its pool usage, when it has a pool),
    ``figures`` (:class:`~s3node.gateway.figures.DurabilityFigures`),
    ``reconciler``, ``replicas`` (the target count), ``upload_pipeline``
    (for its uploads with large chunks) and ``large_reads`` (the
    :class:`~s3node.gateway.readbudget.ByteBudget` of large chunk reads).
    """

    pool: NodePool | None = None
    uploads: Limiter | None = None
    downloads: Limiter | None = None
    lease: Lease | None = None
    store: Any = None
    figures: DurabilityFigures | None = None
    reconciler: Reconciler | None = None
    replicas: int | None = None
    upload_pipeline: UploadPipeline | None = None
    large_reads: ByteBudget | None = None

    def collect(self) -> Iterable[Metric]:
        yield from self._nodes()
        yield from self._slots()
        yield from self._large_chunks()
        if self.lease is not None:
            yield _gauge("s3node_background_lease_held",
                         "1 while this gateway holds the background lease (sweeper, reconciler)",
                         samples=[((), float(self.lease.held))])
        yield from self._metadata_pool()
        yield from self._figures()
        if self.reconciler is not None:
            yield _gauge(
                "s3node_reconciler_young_orphans",
                "Unaccounted chunks younger than --orphan-grace at the last pass, by node",
                ["node"], [((n,), r.orphans_young) for n, r in sorted(self.reconciler.last.items())])

    def _nodes(self) -> Iterator[Metric]:
        pool = self.pool
        if pool is None:
            return
        nodes = pool.nodes()
        yield _gauge("s3node_node_up", "1 while a storage node answers its health checks",
                     ["node"], [((n.node_id,), float(pool.is_live(n.node_id))) for n in nodes])
        for name, what, field in (
            ("s3node_node_capacity_bytes", "Capacity a node last reported", "capacity"),
            ("s3node_node_used_bytes", "Bytes of chunks a node last reported", "used"),
        ):
            yield _gauge(name, what, ["node"], [
                ((n.node_id,), getattr(n, field)) for n in nodes if getattr(n, field) is not None])
        free = [((n.node_id,), pool.reported_free(n.node_id)) for n in nodes]
        yield _gauge("s3node_node_free_bytes", "Bytes free a node last reported", ["node"],
                     [(k, v) for k, v in free if v is not None])

    def _slots(self) -> Iterator[Metric]:
        limiters = [(k, s) for k, s in (("upload", self.uploads), ("download", self.downloads))
                    if s is not None]
        if not limiters:
            return
        yield _gauge("s3node_transfers_in_progress", "Uploads and downloads being served",
                     ["kind"], [((k, ), s.active) for k, s in limiters])
        yield _gauge("s3node_transfer_slots", "--max-uploads and --max-downloads",
                     ["kind"], [((k, ), s.limit) for k, s in limiters])

    def _large_chunks(self) -> Iterator[Metric]:
        if self.upload_pipeline is not None:
            yield _gauge("s3node_large_uploads_in_progress",
                         "Uploads being cut into --large-chunk-size chunks",
                         samples=[((), self.upload_pipeline.large_active)])
        budget = self.large_reads
        if budget is None:
            return
        for name, what, value in (
            ("s3node_large_read_bytes", "Bytes of large chunks that reads hold now",
             budget.taken),
            ("s3node_large_read_budget_bytes", "The most bytes of large chunks reads may hold",
             budget.total),
            ("s3node_large_reads_waiting", "Reads of large chunks waiting for the budget",
             budget.waiting),
        ):
            yield _gauge(name, what, samples=[((), value)])

    def _metadata_pool(self) -> Iterator[Metric]:
        usage_of = getattr(self.store, "pool_usage", None)
        if usage_of is None:
            return
        usage = usage_of()
        for name, what, value in (
            ("s3node_metadata_pool_size", "Connections (PostgreSQL) or threads (SQLite)",
             usage.size),
            ("s3node_metadata_pool_in_use", "Connections or threads running an operation",
             usage.in_use),
            ("s3node_metadata_pool_waiting", "Operations waiting for a connection or thread",
             usage.waiting),
        ):
            yield _gauge(name, what, samples=[((), value)])

    def _figures(self) -> Iterator[Metric]:
        if self.replicas is not None:
            yield _gauge("s3node_replicas_target", "Replicas each chunk should have (--replicas)",
                         samples=[((), self.replicas)])
        last = self.figures.last if self.figures is not None else None
        if last is None:
            return
        counts = last.counts
        yield _gauge(
            "s3node_chunks_by_stored_replicas",
            "Chunks of completed files, by how many stored (healthy) replicas they have",
            ["replicas"], [((str(k),), v) for k, v in sorted(counts.chunks_by_stored_replicas.items())])
        if self.replicas is not None:
            under = sum(v for k, v in counts.chunks_by_stored_replicas.items()
                        if k < self.replicas)
            yield _gauge("s3node_chunks_under_replicated",
                         "Chunks of completed files with fewer stored replicas than the target",
                         samples=[((), under)])
        yield _gauge("s3node_files", "Files by status", ["status"],
                     [((s.value,), counts.files_by_status.get(s, 0)) for s in FileStatus])
        queue = sum(counts.files_by_status.get(s, 0)
                    for s in (FileStatus.FAILED, FileStatus.DELETING))
        yield _gauge("s3node_sweeper_queue_files",
                     "Failed and deleting files whose chunks await the sweeper",
                     samples=[((), queue)])
        yield _gauge("s3node_durability_figures_timestamp_seconds",
                     "When the figures above were counted (Unix time)",
                     samples=[((), last.at)])
