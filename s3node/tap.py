"""
``twistd s3node``: the command line and the service tree of each role.

:class:`Options` has one subcommand per role.  Each subcommand parses and
validates its options once, in ``postOptions``, into an immutable config object
(:mod:`s3node.config`); :func:`makeService` hands that object to the role's
service builder.  Only :func:`makeService` touches the global reactor.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from twisted.application.service import Service
from twisted.python import usage

from s3node import _malloc
from s3node._reactor import check_installed_reactor, require_asyncio_reactor
from s3node.config import (
    GatewayConfig,
    NodeAddress,
    NodeAuth,
    StandaloneConfig,
    StorageConfig,
    format_seconds,
    format_size,
    parse_db_url,
    parse_host_port,
    parse_node_id,
    parse_positive_int,
    parse_seconds,
    parse_server_endpoint,
    parse_size,
)
from s3node.errors import ConfigurationError
from s3node.gatewayoptions import DB_HELP, GATEWAY_PARAMETERS, check_gateway, gateway_config
from s3node.nodeauth import is_loopback, node_auth, require_credential, standalone_auth


class _RoleOptions(usage.Options):
    """Turns :class:`ConfigurationError` from the parsers into one-line usage errors."""

    config: Any

    def postOptions(self) -> None:
        check_installed_reactor()
        try:
            self.config = self.build_config()
        except ConfigurationError as e:
            raise usage.UsageError(e.message) from None

    def build_config(self) -> Any:
        raise NotImplementedError


_SCRUB_PARAMETERS: list[list[Any]] = [
    ["scrub-rate", None, format_size(StorageConfig.scrub_rate),
     "Bytes a second the background scrubber re-reads to verify chunks (0: no scrubbing)."],
    ["scrub-interval", None, format_seconds(StorageConfig.scrub_interval),
     "Seconds from the start of one full scrub pass to the start of the next."],
]


def _scrub_settings(opts: usage.Options) -> tuple[int, float]:
    """``--scrub-rate`` and ``--scrub-interval``, parsed (storage and standalone take both)."""
    return parse_size(opts["scrub-rate"]), parse_seconds(opts["scrub-interval"], "--scrub-interval")


_NODE_AUTH_PARAMETERS: list[list[Any]] = [
    ["cluster-secret-file", None, None,
     ("File of the cluster secret (one a line, owner-only; a gateway sends the first, "
      "a node accepts any). Required for a node off loopback unless TLS is given.")],
    ["tls-cert", None, None, "PEM certificate (chain) for TLS on node traffic."],
    ["tls-key", None, None, "PEM private key of --tls-cert (owner-only)."],
    ["tls-ca", None, None,
     "PEM CA that signs the other side's certificates (nodes require client certificates)."],
]


def _node_auth(opts: usage.Options) -> NodeAuth:
    """The node traffic options (storage and gateway), read and checked."""
    return node_auth(opts["cluster-secret-file"], opts["tls-cert"], opts["tls-key"],
                     opts["tls-ca"], opts.get("tls-server-name"))


_EXIT_WITH_PARENT = [
    "exit-with-parent", None,
    "Stop when standard input closes (a child of standalone: its parent is gone).",
]


def _bulk_port(text: str | None, auth: NodeAuth) -> int | None:
    """``--bulk-port``, checked: a port, and no TLS (bulk data is not encrypted)."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ConfigurationError(f"--bulk-port: not a port number: {text!r}")
    if auth.tls is not None:
        raise ConfigurationError(
            "--bulk-port sends chunk data unencrypted: it cannot be used with TLS on node "
            "traffic (--tls-cert); leave it out and every put goes over TLS on gRPC")
    return int(text)


class StorageOptions(_RoleOptions):
    """``twistd s3node storage``: a gRPC storage node."""

    synopsis = "[options]"
    longdesc = "Run a storage node: keeps chunks on local disk and serves them over gRPC."
    optParameters: ClassVar[list[list[Any]]] = [
        ["listen", "l", f"{StorageConfig.host}:{StorageConfig.port}",
         "HOST:PORT for the gRPC server (port 0: any free port)."],
        ["data-dir", "d", str(StorageConfig.data_dir), "Folder for chunks; created if missing."],
        ["node-id", None, None, "This node's id (default: the one saved in the data dir, else a new one)."],
        ["capacity", None, None, "Capacity reported by Health, e.g. 100GiB (default: the file system's size)."],
        ["max-chunk-size", None, format_size(StorageConfig.max_chunk_size), "The largest chunk accepted."],
        ["shutdown-grace", None, format_seconds(StorageConfig.shutdown_grace),
         "Seconds in-flight streams get to finish at shutdown."],
        ["put-idle-timeout", None, format_seconds(StorageConfig.put_idle_timeout),
         "Seconds a put stream may send nothing before it is cancelled."],
        ["max-concurrent-calls", None, str(StorageConfig.max_concurrent_calls),
         "Calls served at once (Health aside); more are refused."],
        ["bulk-port", None, None,
         ("Port on the --listen host for chunk data beside gRPC (0: any free port; default: "
          "none). Unencrypted: not with TLS.")],
        *_SCRUB_PARAMETERS,
        ["metrics-listen", None, None,
         ("Endpoint (tcp:9464:interface=127.0.0.1, unix:...) serving Prometheus metrics "
          "at /metrics (default: none).")],
        *_NODE_AUTH_PARAMETERS,
        ["port-file", None, None,
         "Write the ports (JSON: port, metrics_port) to this file once listening."],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["no-fsync", None, "Don't fsync chunks (throwaway test nodes only)."],
        _EXIT_WITH_PARENT,
    ]

    def build_config(self) -> StorageConfig:
        from s3node.storage.nodeid import load_or_create_node_id

        host, port = parse_host_port(self["listen"])
        auth = _node_auth(self)
        require_credential(auth, host, port)
        data_dir = Path(self["data-dir"]).absolute()
        capacity = parse_size(self["capacity"]) if self["capacity"] else None
        max_chunk_size = parse_size(self["max-chunk-size"])
        shutdown_grace = parse_seconds(self["shutdown-grace"], "--shutdown-grace")
        put_idle_timeout = parse_seconds(self["put-idle-timeout"], "--put-idle-timeout")
        max_calls = parse_positive_int(self["max-concurrent-calls"], "--max-concurrent-calls")
        bulk_port = _bulk_port(self["bulk-port"], auth)
        scrub_rate, scrub_interval = _scrub_settings(self)
        metrics_listen = (parse_server_endpoint(self["metrics-listen"], "--metrics-listen")
                          if self["metrics-listen"] else None)
        # Last, once every other option is known good: this may create the
        # data dir to save a new node id in it.
        node_id = (
            parse_node_id(self["node-id"])
            if self["node-id"]
            else load_or_create_node_id(data_dir)
        )
        return StorageConfig(
            host=host,
            port=port,
            data_dir=data_dir,
            node_id=node_id,
            capacity=capacity,
            max_chunk_size=max_chunk_size,
            fsync=not self["no-fsync"],
            shutdown_grace=shutdown_grace,
            put_idle_timeout=put_idle_timeout,
            max_concurrent_calls=max_calls,
            bulk_port=bulk_port,
            scrub_rate=scrub_rate,
            scrub_interval=scrub_interval,
            metrics_listen=metrics_listen,
            auth=auth,
            port_file=Path(self["port-file"]).absolute() if self["port-file"] else None,
            exit_with_parent=bool(self["exit-with-parent"]),
        )


def _fd(text: str | None, what: str) -> int | None:
    return parse_positive_int(text, what) if text is not None else None


class GatewayOptions(_RoleOptions):
    """``twistd s3node gateway``: the HTTP gateway of a cluster."""

    synopsis = "[options] --node ID=HOST:PORT [--node ...]"
    longdesc = "Run the HTTP gateway: files API over the storage nodes named with --node."
    optParameters: ClassVar[list[list[Any]]] = [
        ["db", None, GatewayConfig.db, DB_HELP],
        ["s3-listen", None, "none",
         "S3 API endpoint description (tcp:9000:interface=127.0.0.1), or none."],
        *GATEWAY_PARAMETERS,
        *_NODE_AUTH_PARAMETERS,
        ["tls-server-name", None, None,
         "Check every node's certificate for this name (default: the host of its --node address)."],
        ["holder-id", None, None,
         "This gateway's name in the background lease (default: host, pid and a random part)."],
        # what a worker's parent passes it (s3node.workers)
        ["listen-fd", None, None, "Serve HTTP on this inherited listening socket (a worker)."],
        ["s3-listen-fd", None, None, "Serve S3 on this inherited listening socket (a worker)."],
        ["metrics-listen", None, None,
         "Endpoint serving this process's own metrics at /metrics (a worker)."],
        ["metrics-from", None, None, "URL of the page /metrics serves (a worker: its parent's)."],
        ["port-file", None, None, "Write the ports (JSON) to this file once listening."],
    ]
    optFlags: ClassVar[list[list[Any]]] = [_EXIT_WITH_PARENT]

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[NodeAddress] = []
        self._node_texts: list[str] = []

    def opt_node(self, text: str) -> None:
        """A storage node, as ID=HOST:PORT (repeat for each node)."""
        self._node_texts.append(text)

    def build_config(self) -> GatewayConfig:
        nodes = tuple(NodeAddress.parse(t) for t in self._node_texts)
        if not nodes:
            raise ConfigurationError("name at least one storage node with --node ID=HOST:PORT")
        ids = [n.node_id for n in nodes]
        if len(set(ids)) != len(ids):
            raise ConfigurationError("each --node needs its own id")
        auth = _node_auth(self)
        remote = [n for n in nodes if not is_loopback(n.host)]
        if remote and not auth.secured:
            raise ConfigurationError(
                f"--node {remote[0].node_id}={remote[0].address} is not on loopback: give "
                f"--cluster-secret-file (the nodes' secret) and/or --tls-cert, --tls-key and "
                f"--tls-ca; see docs/security.md"
            )
        config = check_gateway(replace(
            gateway_config(self, parse_db_url(self["db"]), nodes, auth),
            holder_id=self["holder-id"],
            listen_fd=_fd(self["listen-fd"], "--listen-fd"),
            s3_listen_fd=_fd(self["s3-listen-fd"], "--s3-listen-fd"),
            metrics_listen=(parse_server_endpoint(self["metrics-listen"], "--metrics-listen")
                            if self["metrics-listen"] else None),
            metrics_from=self["metrics-from"],
            port_file=Path(self["port-file"]).absolute() if self["port-file"] else None,
            exit_with_parent=bool(self["exit-with-parent"]),
        ))
        if config.effective_replicas > len(nodes):
            raise ConfigurationError(
                f"--replicas {config.effective_replicas} needs at least that many nodes, not {len(nodes)}"
            )
        return config


class StandaloneOptions(_RoleOptions):
    """``twistd s3node standalone``: gateway and storage nodes in one process."""

    synopsis = "[options]"
    longdesc = (
        "Run everything on one machine: the gateway, its metadata (SQLite in "
        "--data-dir unless --db names PostgreSQL) and --nodes storage nodes "
        "(spoken to over gRPC on loopback), all under --data-dir."
    )
    optParameters: ClassVar[list[list[Any]]] = [
        ["data-dir", "d", str(StandaloneConfig.data_dir), "Folder for metadata and every node's chunks."],
        ["nodes", "n", str(StandaloneConfig.node_count), "How many storage nodes to run."],
        ["db", None, None, f"{DB_HELP} (default: SQLite in --data-dir)"],
        ["s3-listen", None, StandaloneConfig.s3_listen,
         "S3 API endpoint description, or none (no S3 API)."],
        *GATEWAY_PARAMETERS,
        *_SCRUB_PARAMETERS,
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["no-fsync", None, "Don't fsync chunks (throwaway test setups only)."],
        ["no-bulk", None, "Send chunk data to the nodes on gRPC only, not beside it."],
    ]

    def build_config(self) -> StandaloneConfig:
        data_dir = Path(self["data-dir"]).absolute()
        node_count = parse_positive_int(self["nodes"], "--nodes")
        db = parse_db_url(self["db"]) if self["db"] else f"sqlite:{data_dir / 'metadata.sqlite3'}"
        gateway = check_gateway(gateway_config(self, db, (), NodeAuth()))
        scrub_rate, scrub_interval = _scrub_settings(self)
        replicas = gateway.replicas if gateway.replicas is not None else min(2, node_count)
        if replicas > node_count:
            raise ConfigurationError(f"--replicas {replicas} needs at least that many --nodes")
        return StandaloneConfig(
            data_dir=data_dir,
            node_count=node_count,
            # one gateway per machine: it takes its own background lease back at once;
            # the nodes' secret last, as it makes the data dir and the secret on first start
            gateway=replace(gateway, replicas=replicas, holder_id="standalone",
                            node_auth=standalone_auth(data_dir)),
            fsync=not self["no-fsync"],
            scrub_rate=scrub_rate,
            scrub_interval=scrub_interval,
            bulk=not self["no-bulk"],
        )


class Options(usage.Options):
    """``twistd s3node ROLE [options]``."""

    synopsis = "ROLE [options]  (ROLE: gateway, storage or standalone)"
    subCommands: ClassVar[list[list[Any]]] = [
        ["gateway", None, GatewayOptions, "HTTP gateway over a cluster of storage nodes"],
        ["storage", None, StorageOptions, "gRPC storage node"],
        ["standalone", None, StandaloneOptions, "gateway and storage nodes in one process"],
    ]

    #: the twistd plugin (subcommand of ``twistd``) these options belong to;
    #: standalone's nodes and a gateway's workers are started with the same one
    twistd_plugin: ClassVar[str] = "s3node"

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError("name a role: gateway, storage or standalone")
        sub = self.subOptions
        plugin = self.twistd_plugin
        if self.subCommand == "gateway":
            sub.config = replace(sub.config, twistd_plugin=plugin)
        elif self.subCommand == "standalone":
            sub.config = replace(sub.config, twistd_plugin=plugin,
                                 gateway=replace(sub.config.gateway, twistd_plugin=plugin))


def _watch_parent(service: Any, reactor: Any) -> None:
    """Stop the process once its parent is gone (``--exit-with-parent``)."""
    from s3node.parentwatch import ParentWatchService

    ParentWatchService(reactor, reactor.stop).setServiceParent(service)


def makeService(options: Options) -> Service:
    """Build the service tree of the role named on the command line."""
    from twisted.internet import reactor

    require_asyncio_reactor(reactor)
    # every role streams large buffers (s3node/_malloc.py); before any thread starts
    _malloc.tune(_malloc.NODE if options.subCommand == "storage" else _malloc.GATEWAY)
    config = options.subOptions.config
    if options.subCommand == "storage":
        from s3node.storage.service import make_storage_service

        node = make_storage_service(config, reactor)
        if config.exit_with_parent:
            _watch_parent(node, reactor)
        return node
    if options.subCommand == "gateway":
        from s3node.gateway.service import make_gateway_service

        gateway = make_gateway_service(config, reactor)
        if config.exit_with_parent:
            _watch_parent(gateway, reactor)
        return gateway
    from s3node.standalone import make_standalone_service

    return make_standalone_service(config, reactor)
