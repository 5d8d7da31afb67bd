"""
Wiring: one :class:`~s3node.gateway.app.Gateway` from a config and its collaborators.

Shared by the gateway role, the standalone role and the tests, so each builds
the same object graph; plugins are resolved here, once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy
from twisted.internet.interfaces import IReactorTime

from s3node._aio import CpuRunner
from s3node.config import GatewayConfig
from s3node.gateway.admin import ClusterAdmin
from s3node.gateway.app import Gateway
from s3node.gateway.download import DownloadPipeline
from s3node.gateway.figures import DurabilityFigures
from s3node.gateway.lease import BACKGROUND, Lease, process_holder_id
from s3node.gateway.limits import Limiter
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import ClientFactory, NodePool
from s3node.gateway.readbudget import large_read_budget
from s3node.gateway.reconciler import Reconciler
from s3node.gateway.repair import Repairer, RepairSettings
from s3node.gateway.sweeper import Sweeper
from s3node.gateway.timedstore import timed_store
from s3node.gateway.upload import UploadPipeline, UploadSettings
from s3node.interfaces import ChecksumAlgorithm, MetadataStore
from s3node.metrics import ProcessMetrics
from s3node.records import NodeRecord

__all__ = ["assemble_gateway"]


def assemble_gateway(
    config: GatewayConfig,
    store: MetadataStore,
    nodes: Sequence[NodeRecord],
    client_factory: ClientFactory,
    clock: IReactorTime,
    cpu: CpuRunner,
    *,
    plugins: pluggy.PluginManager | None = None,
    replicas: int | None = None,
    metrics: ProcessMetrics | None = None,
) -> Gateway:
    """
    Build a gateway (not started: call :meth:`~s3node.gateway.app.Gateway.start`)
    counting into ``metrics`` (the process's, or a private one when ``None``).
    """
    from s3node.gateway.keyring import KeyRing
    from s3node.plugins import (
        checksum_algorithms,
        get_plugin_manager,
        resolve_checksum,
        resolve_placement,
    )

    pm = plugins if plugins is not None else get_plugin_manager()
    placement = resolve_placement(pm, config.placement)
    checksum = resolve_checksum(pm, config.checksum)
    chunk_checksum = resolve_checksum(pm, config.chunk_checksum or config.checksum)
    algorithms = checksum_algorithms(pm)

    def algorithm_for(name: str) -> ChecksumAlgorithm:
        from s3node.errors import UnknownPlugin

        try:
            return algorithms[name]
        except KeyError:
            raise UnknownPlugin(f"no checksum algorithm {name!r} to verify with") from None

    replica_count = replicas if replicas is not None else config.effective_replicas
    process_metrics = metrics if metrics is not None else ProcessMetrics()
    m = process_metrics.part(GatewayMetrics)
    raw_store, store = store, timed_store(store, m)
    pool = NodePool(store, nodes, client_factory, clock,
                    health_interval=config.health_interval)
    uploads = UploadPipeline(
        store, pool, placement, checksum, cpu,
        UploadSettings(chunk_size=config.chunk_size, replicas=replica_count,
                       max_file_size=config.max_file_size,
                       inline_max_size=config.inline_max_size,
                       touch_interval=config.stale_after / 4,
                       large_chunk_size=config.large_chunk_size,
                       large_object_size=config.large_object_size),
        clock, metrics=m, chunk_checksum=chunk_checksum,
    )
    downloads = DownloadPipeline(store, pool, algorithm_for, cpu, clock=clock,
                                 write_timeout=config.write_timeout, metrics=m,
                                 chunk_size=config.chunk_size,
                                 large_reads=large_read_budget(config.chunk_size,
                                                               config.large_chunk_size))
    # Renewed by every sweep: it outlives two missed sweeps, not three.
    lease = Lease(store, clock, name=BACKGROUND, holder=config.holder_id or process_holder_id(),
                  ttl=3 * config.sweep_interval)
    sweeper = Sweeper(store, pool, clock, lease, interval=config.sweep_interval,
                      stale_after=config.stale_after, upload_expiry=config.s3_upload_expiry,
                      metrics=m)
    reconciler = Reconciler(store, pool, clock, lease, interval=config.reconcile_interval,
                            grace=config.orphan_grace, metrics=m)
    settings = RepairSettings(
        replicas=replica_count, repair_after=config.repair_after,
        bandwidth=config.repair_bandwidth, concurrency=config.repair_concurrency,
        drain_settle=3 * config.health_interval)
    repairer = Repairer(store, pool, clock, lease, placement, algorithm_for, cpu,
                        interval=config.repair_interval, settings=settings, metrics=m)
    admin = ClusterAdmin(store, pool, placement, clock, settings=settings)
    figures = DurabilityFigures(store, clock, interval=config.stats_interval,
                                unhealthy=pool.down_nodes)
    upload_slots = Limiter("uploads", config.max_uploads)
    download_slots = Limiter("downloads", config.max_downloads)
    m.watch(pool=pool, uploads=upload_slots, downloads=download_slots, lease=lease,
            store=raw_store, figures=figures, reconciler=reconciler, replicas=replica_count,
            upload_pipeline=uploads, large_reads=downloads.large_reads)
    return Gateway(store, pool, uploads, downloads, sweeper, reconciler, lease, clock,
                   replicas=replica_count, upload_slots=upload_slots,
                   download_slots=download_slots, admin=admin, repairer=repairer,
                   keys=KeyRing(store, clock, region=config.s3_region,
                                failure_delay=config.auth_failure_delay),
                   metrics=process_metrics, figures=figures)
