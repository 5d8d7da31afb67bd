"""
The gateway's command-line options, which the ``gateway`` and ``standalone``
roles of :mod:`s3node.tap` share: their table, their parsing into a
:class:`~s3node.config.GatewayConfig`, and the checks across them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.python import usage

from s3node.config import (
    MAX_INLINE_SIZE,
    GatewayConfig,
    NodeAddress,
    NodeAuth,
    StorageConfig,
    format_seconds,
    format_size,
    parse_positive_int,
    parse_s3_domain,
    parse_s3_region,
    parse_seconds,
    parse_server_endpoint,
    parse_size,
    parse_sqlite_synchronous,
    parse_workers,
)
from s3node.errors import ConfigurationError

__all__ = ["DB_HELP", "GATEWAY_PARAMETERS", "check_gateway", "gateway_config"]

_G = GatewayConfig  # every default below is the config field's own

GATEWAY_PARAMETERS: list[list[Any]] = [
    ["listen", "l", _G.listen, "HTTP endpoint description (tcp:, ssl:, unix:)."],
    ["replicas", "r", None, "Replicas per chunk (default: 2 with at least 2 nodes, else 1)."],
    ["chunk-size", None, format_size(_G.chunk_size), "Chunk size."],
    ["large-chunk-size", None, format_size(_G.large_chunk_size),
     "Chunk size of uploads declaring at least --large-object-size bytes (0: off)."],
    ["large-object-size", None, format_size(_G.large_object_size),
     "Declared size from which an upload gets --large-chunk-size chunks."],
    ["max-file-size", None, format_size(_G.max_file_size), "Largest upload accepted."],
    ["inline-max-size", None, format_size(_G.inline_max_size),
     "Objects up to this size are kept in the metadata store, not on nodes (0: never)."],
    ["placement", None, _G.placement, "Placement strategy plugin name."],
    ["checksum", None, _G.checksum, "Checksum algorithm plugin name."],
    ["chunk-checksum", None, _G.chunk_checksum,
     "Per-chunk checksum algorithm plugin name (docs/performance.md, Checksums)."],
    ["health-interval", None, format_seconds(_G.health_interval),
     "Seconds between storage node health checks."],
    ["sweep-interval", None, format_seconds(_G.sweep_interval),
     "Seconds between sweeps of failed and deleted uploads."],
    ["stale-after", None, format_seconds(_G.stale_after),
     "Seconds without a byte after which an unfinished upload counts as abandoned."],
    ["reconcile-interval", None, format_seconds(_G.reconcile_interval),
     "Seconds between passes comparing every node's chunks with the metadata."],
    ["orphan-grace", None, format_seconds(_G.orphan_grace),
     "Seconds an unaccounted chunk on a node is kept before the reconciler deletes it."],
    ["repair-interval", None, format_seconds(_G.repair_interval),
     "Seconds between repair rounds (plan a batch of chunks, then copy what is due)."],
    ["repair-after", None, format_seconds(_G.repair_after),
     "Seconds a node may be down before its replicas are copied to other nodes."],
    ["repair-bandwidth", None, format_size(_G.repair_bandwidth),
     "Bytes a second repair and rebalancing copy at most, per cluster (0: unthrottled)."],
    ["repair-concurrency", None, str(_G.repair_concurrency),
     "Chunks repaired at once."],
    ["stats-interval", None, format_seconds(_G.stats_interval),
     "Seconds between counts of chunks by healthy replicas and files by status (/metrics)."],
    ["max-uploads", None, str(_G.max_uploads),
     "Uploads served at once; more get 503 with Retry-After."],
    ["max-downloads", None, str(_G.max_downloads),
     "Downloads served at once; more get 503 with Retry-After."],
    ["write-timeout", None, format_seconds(_G.write_timeout),
     "Seconds a download waits for its client to accept data before closing."],
    ["header-timeout", None, format_seconds(_G.header_timeout),
     "Seconds a client may take to send a request's line and headers (then 408)."],
    ["shutdown-grace", None, format_seconds(_G.shutdown_grace),
     "Seconds uploads under way get to end when the gateway stops."],
    ["sqlite-synchronous", None, _G.sqlite_synchronous,
     ("SQLite durability: full (a committed upload survives a power cut) or normal "
      "(faster, but a power cut can undo the last acknowledged uploads). "
      "PostgreSQL ignores it.")],
    ["s3-region", None, _G.s3_region, "The region S3 clients sign for."],
    ["admin-key-file", None, None,
     ("An AWS shared credentials file whose [default] key is made an admin key on start "
      "when no key has its id (a cluster's first way in; docs/security.md).")],
    ["auth-failure-delay", None, format_seconds(_G.auth_failure_delay),
     "Seconds after its arrival that a request with wrong credentials is refused."],
    ["s3-domain", None, None,
     "Serve virtual-hosted buckets (BUCKET.DOMAIN) too (default: path-style only)."],
    ["s3-upload-expiry", None, format_seconds(_G.s3_upload_expiry),
     "Seconds after which an S3 multipart upload nobody completed is aborted."],
    ["workers", "w", str(_G.workers),
     ("Gateway processes sharing the --listen and --s3-listen sockets (tcp: endpoints "
      "only above 1); see docs/operations.md.")],
]

DB_HELP = "Metadata database: sqlite:PATH or postgresql://..."


def gateway_config(opts: usage.Options, db: str, nodes: tuple[NodeAddress, ...],
                   node_auth: NodeAuth) -> GatewayConfig:
    """The :class:`GatewayConfig` of the parsed :data:`GATEWAY_PARAMETERS` in ``opts``."""
    return GatewayConfig(
        node_auth=node_auth,
        listen=parse_server_endpoint(opts["listen"], "--listen"),
        db=db,
        nodes=nodes,
        replicas=parse_positive_int(opts["replicas"], "--replicas") if opts["replicas"] else None,
        chunk_size=parse_size(opts["chunk-size"]),
        large_chunk_size=parse_size(opts["large-chunk-size"]),
        large_object_size=parse_size(opts["large-object-size"]),
        max_file_size=parse_size(opts["max-file-size"]),
        inline_max_size=parse_size(opts["inline-max-size"]),
        placement=opts["placement"],
        checksum=opts["checksum"],
        chunk_checksum=opts["chunk-checksum"] or None,
        health_interval=parse_seconds(opts["health-interval"], "--health-interval"),
        sweep_interval=parse_seconds(opts["sweep-interval"], "--sweep-interval"),
        stale_after=parse_seconds(opts["stale-after"], "--stale-after"),
        reconcile_interval=parse_seconds(opts["reconcile-interval"], "--reconcile-interval"),
        orphan_grace=parse_seconds(opts["orphan-grace"], "--orphan-grace"),
        stats_interval=parse_seconds(opts["stats-interval"], "--stats-interval"),
        repair_interval=parse_seconds(opts["repair-interval"], "--repair-interval"),
        repair_after=parse_seconds(opts["repair-after"], "--repair-after"),
        repair_bandwidth=parse_size(opts["repair-bandwidth"]),
        repair_concurrency=parse_positive_int(opts["repair-concurrency"],
                                              "--repair-concurrency"),
        max_uploads=parse_positive_int(opts["max-uploads"], "--max-uploads"),
        max_downloads=parse_positive_int(opts["max-downloads"], "--max-downloads"),
        write_timeout=parse_seconds(opts["write-timeout"], "--write-timeout"),
        header_timeout=parse_seconds(opts["header-timeout"], "--header-timeout"),
        shutdown_grace=parse_seconds(opts["shutdown-grace"], "--shutdown-grace"),
        sqlite_synchronous=parse_sqlite_synchronous(opts["sqlite-synchronous"]),
        s3_listen=s3_listen(opts["s3-listen"]),
        s3_region=parse_s3_region(opts["s3-region"]),
        admin_key_file=Path(opts["admin-key-file"]) if opts["admin-key-file"] else None,
        auth_failure_delay=parse_seconds(opts["auth-failure-delay"], "--auth-failure-delay"),
        s3_domain=parse_s3_domain(opts["s3-domain"]) if opts["s3-domain"] else None,
        s3_upload_expiry=parse_seconds(opts["s3-upload-expiry"], "--s3-upload-expiry"),
        workers=parse_workers(opts["workers"]),
    )


def s3_listen(text: str | None) -> str | None:
    """``--s3-listen``: an endpoint description, or ``none`` (no S3 listener)."""
    if text is None or text == "none":
        return None
    return parse_server_endpoint(text, "--s3-listen")


def is_tcp(endpoint: str) -> bool:
    """Whether an endpoint description listens on TCP (``tcp:...``, ``tcp6:...`` or a bare port)."""
    kind = endpoint.split(":", 1)[0].lower()
    return kind in ("tcp", "tcp6") or kind.isdigit()


def check_gateway(config: GatewayConfig) -> GatewayConfig:
    """
    ``config``, once its plugins exist and its settings agree with each other.

    :raises ConfigurationError: naming the option at fault.
    """
    from s3node.plugins import get_plugin_manager, resolve_checksum, resolve_placement

    plugins = get_plugin_manager()
    resolve_placement(plugins, config.placement)  # an UnknownPlugin names the choices
    resolve_checksum(plugins, config.checksum)
    if config.workers > 1:
        for what, endpoint in (("--listen", config.listen), ("--s3-listen", config.s3_listen)):
            if endpoint is not None and not is_tcp(endpoint):
                raise ConfigurationError(
                    f"--workers {config.workers} shares {what} between processes: it needs "
                    f"a tcp: endpoint, not {endpoint!r}")
    if config.chunk_checksum is not None:
        resolve_checksum(plugins, config.chunk_checksum)
    if config.chunk_size < 1:
        raise ConfigurationError("--chunk-size must be at least 1 byte")
    if config.chunk_size > StorageConfig.max_chunk_size:
        raise ConfigurationError(
            f"--chunk-size must be at most {format_size(StorageConfig.max_chunk_size)}"
        )
    if config.large_chunk_size and not (
            config.chunk_size <= config.large_chunk_size <= StorageConfig.max_chunk_size):
        raise ConfigurationError(
            f"--large-chunk-size must be 0 or from --chunk-size ({format_size(config.chunk_size)})"
            f" to {format_size(StorageConfig.max_chunk_size)}")
    if config.inline_max_size > MAX_INLINE_SIZE:
        raise ConfigurationError(
            f"--inline-max-size must be at most {format_size(MAX_INLINE_SIZE)}")
    return config
