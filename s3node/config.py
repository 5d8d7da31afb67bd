"""
Typed, immutable configuration for each role, and the one home of its defaults.

Command-line strings are parsed and validated once, in :mod:`s3node.tap`, by the
``parse_*`` functions here; constructors further in never coerce strings.  Every
option's default is the default of its field here: ``tap.py`` shows it with
:func:`format_size` / :func:`format_seconds`, and services take the values from
the config object, never from defaults of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from s3node.errors import ConfigurationError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": KiB, "M": MiB, "G": GiB, "T": TiB}
#: a storage node id (also the pattern of ``/nodes/{node_id}`` in /openapi.json)
NODE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_NODE_ID = re.compile(NODE_ID_PATTERN)
#: the values of ``--sqlite-synchronous`` (SQLite's ``PRAGMA synchronous``)
SQLITE_SYNCHRONOUS = ("full", "normal")


def parse_size(text: str) -> int:
    """
    Parse a byte count: ``1048576``, ``512KiB``, ``8MiB``, ``10GiB``, ``1T``.

    Units are binary (``MB`` means MiB too).
    """
    m = _SIZE.match(text)
    if m is None:
        raise ConfigurationError(f"not a size: {text!r} (try 8MiB or 10GiB)")
    unit = (m.group(2) or "").upper()[:1]
    return int(m.group(1)) * _UNITS[unit]


def format_size(size: int) -> str:
    """A byte count as :func:`parse_size` reads it, in the largest whole unit (``8MiB``)."""
    for unit, factor in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def format_seconds(seconds: float) -> str:
    """Seconds as :func:`parse_seconds` reads them, without a needless ``.0``."""
    return f"{seconds:g}"


def parse_db_url(text: str) -> str:
    """
    Check a metadata database URL: ``sqlite:PATH`` (``sqlite::memory:`` for a
    private in-memory database) or ``postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DBNAME``
    (``postgres://`` too).  Nothing connects: this catches what can be told
    from the text alone, before anything starts.
    """
    from urllib.parse import urlsplit

    if text.startswith("sqlite:"):
        if not text[len("sqlite:"):]:
            raise ConfigurationError("--db sqlite: needs a path, e.g. sqlite:/srv/s3node/meta.db")
        return text
    if not text.startswith(("postgresql://", "postgres://")):
        raise ConfigurationError(f"--db takes sqlite:PATH or postgresql://..., not {text!r}")
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as e:
        raise ConfigurationError(f"--db {text!r} is not a PostgreSQL URL: {e}") from None
    if not url.hostname:
        raise ConfigurationError(f"--db {text!r} names no host: postgresql://USER@HOST/DBNAME")
    if not url.path.strip("/"):
        raise ConfigurationError(
            f"--db {text!r} names no database: postgresql://USER@{url.hostname}"
            f"{f':{port}' if port else ''}/DBNAME"
        )
    return text


def parse_server_endpoint(text: str, what: str) -> str:
    """
    Check a Twisted server endpoint description (``tcp:8080:interface=127.0.0.1``,
    ``unix:/run/s3node.sock``, ``ssl:8443:privateKey=key.pem:certKey=cert.pem``)
    by building its endpoint, which listens on nothing; files it names (TLS
    keys) are read now, so a missing one is reported before anything starts.
    """
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(_NoReactor(), text)
    except Exception as e:  # noqa: BLE001 - anything the parser raises is the user's typo
        raise ConfigurationError(f"{what} {text!r} is not an endpoint description: {e}") from None
    return text


class _NoReactor:
    """Stands in for the reactor while an endpoint description is checked (never called)."""


_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,30}[a-z0-9]")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def parse_s3_region(text: str) -> str:
    """An S3 region name: 2 to 32 of ``a-z0-9-`` (``us-east-1``, ``eu-central-1``, ``local``)."""
    if not _REGION.fullmatch(text):
        raise ConfigurationError(f"--s3-region {text!r} is not a region name such as us-east-1")
    return text


def parse_s3_domain(text: str) -> str:
    """The domain of virtual-hosted buckets: a lower-case DNS name (``s3.example.com``)."""
    domain = text.strip().lower().strip(".")
    if not _DOMAIN.fullmatch(domain):
        raise ConfigurationError(f"--s3-domain {text!r} is not a DNS name such as s3.example.com")
    return domain


def parse_host_port(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6) into a pair."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"not HOST:PORT: {text!r}")
    return host.strip("[]"), int(port)


def parse_node_id(text: str) -> str:
    """Check a storage node id: 1 to 63 letters, digits, ``_``, ``.`` or ``-``."""
    if not _NODE_ID.fullmatch(text):  # match() would let a trailing newline through
        raise ConfigurationError(
            f"not a node id: {text!r} (1 to 63 letters, digits, '_', '.', '-')"
        )
    return text


def parse_positive_int(text: str, what: str) -> int:
    """Parse a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{what} must be a whole number, not {text!r}") from None
    if value < 1:
        raise ConfigurationError(f"{what} must be at least 1, not {value}")
    return value


def parse_seconds(text: str, what: str) -> float:
    """Parse a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{what} must be a number of seconds, not {text!r}") from None
    if not value > 0:
        raise ConfigurationError(f"{what} must be more than 0 seconds, not {text!r}")
    return value


#: the most gateway worker processes (``--workers``)
MAX_WORKERS = 64


def parse_workers(text: str) -> int:
    """``--workers``: a whole number from 1 to :data:`MAX_WORKERS`."""
    value = parse_positive_int(text, "--workers")
    if value > MAX_WORKERS:
        raise ConfigurationError(f"--workers must be at most {MAX_WORKERS}, not {value}")
    return value


def parse_sqlite_synchronous(text: str) -> str:
    """Parse ``--sqlite-synchronous``: ``full`` or ``normal`` (any case)."""
    value = text.strip().lower()
    if value not in SQLITE_SYNCHRONOUS:
        raise ConfigurationError(
            f"--sqlite-synchronous takes {' or '.join(SQLITE_SYNCHRONOUS)}, not {text!r}"
        )
    return value


#: the largest ``--inline-max-size``: an inline object's bytes travel in its
#: metadata row, read whole with it
MAX_INLINE_SIZE = 256 * KiB


@dataclass(frozen=True)
class NodeAddress:
    """A storage node the gateway is told about: ``ID=HOST:PORT``."""

    node_id: str
    host: str
    port: int

    @property
    def address(self) -> str:
        """``host:port``, as gRPC takes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> NodeAddress:
        """Parse ``ID=HOST:PORT``."""
        node_id, sep, rest = text.partition("=")
        if not sep:
            raise ConfigurationError(f"--node takes ID=HOST:PORT, not {text!r}")
        host, port = parse_host_port(rest)
        return cls(parse_node_id(node_id), host, port)


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """
    The PEM files of TLS with client certificates on node traffic
    (``--tls-cert``, ``--tls-key``, ``--tls-ca``), read once at start-up.
    """

    #: this process's certificate chain (a node's server certificate, a gateway's client one)
    cert: bytes
    #: its private key (never shown)
    key: bytes = field(repr=False)
    #: the CA that signs the other side's certificates
    ca: bytes


@dataclass(frozen=True, kw_only=True)
class NodeAuth:
    """
    How gateways and storage nodes prove themselves to each other
    (:mod:`s3node.nodeauth` reads it from the options, docs/security.md).
    """

    #: ``--cluster-secret-file``; ``None``: no cluster secret
    secret_file: Path | None = None
    #: the file's secrets: the first is sent, every one is accepted (rotation);
    #: never shown
    secrets: tuple[bytes, ...] = field(default=(), repr=False)
    #: TLS with client certificates; ``None``: plaintext gRPC
    tls: TlsFiles | None = None
    #: gateway: the name node certificates are checked for, instead of the
    #: host of each node's address
    tls_server_name: str | None = None
    #: the options that give this credential to a child process (standalone's
    #: nodes, a gateway's workers): the files, never their contents
    child_args: tuple[str, ...] = ()

    @property
    def secured(self) -> bool:
        """Whether calls carry any credential (a secret or a client certificate)."""
        return bool(self.secrets) or self.tls is not None


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    """The storage node role."""

    #: where the gRPC server listens
    host: str = "127.0.0.1"
    port: int = 50051
    data_dir: Path = Path("s3node-storage")
    #: required: ``tap`` loads or creates one in ``data_dir`` when none is given
    node_id: str
    #: capacity reported by Health, in bytes; ``None``: the file system's size
    capacity: int | None = None
    #: the largest chunk the node accepts, in bytes
    max_chunk_size: int = 4 * GiB
    #: fsync chunk files and directories (turn off only for throwaway tests)
    fsync: bool = True
    #: seconds in-flight streams get to finish at shutdown
    shutdown_grace: float = 10.0
    #: seconds a PutChunk stream may send nothing before the node cancels it
    put_idle_timeout: float = 30.0
    #: calls served at once, Health aside; more are refused at once (RESOURCE_EXHAUSTED)
    max_concurrent_calls: int = 64
    #: the port of the bulk put listener beside gRPC, on ``host`` (0: any free
    #: port); ``None``: none, every put comes on gRPC (docs/grpc.md, "The bulk data path")
    bulk_port: int | None = None
    #: bytes a second the background scrubber reads to re-verify chunks; 0 turns it off
    scrub_rate: int = 8 * MiB
    #: seconds from the start of one full scrub pass to the start of the next
    #: (a pass that takes longer is followed at once by the next)
    scrub_interval: float = 7 * 24 * 3600.0
    #: a Twisted server endpoint description for the Prometheus metrics page
    #: (``/metrics``); ``None``: no metrics listener
    metrics_listen: str | None = None
    #: the cluster secrets accepted, and TLS; required off loopback
    auth: NodeAuth = field(default_factory=NodeAuth)
    #: a file the node writes its ports to once it listens (standalone's children)
    port_file: Path | None = None
    #: stop when standard input reaches end of file: the parent that spawned
    #: this process is gone (standalone's children; :mod:`s3node.parentwatch`)
    exit_with_parent: bool = False


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """The HTTP gateway role."""

    #: a Twisted server endpoint description, e.g. ``tcp:8080:interface=127.0.0.1``
    listen: str = "tcp:8080:interface=127.0.0.1"
    #: ``sqlite:PATH`` or ``postgresql://...``
    db: str = "sqlite:s3node-data/metadata.sqlite3"
    nodes: tuple[NodeAddress, ...] = ()
    #: replicas per chunk; ``None``: 2 when there are at least 2 nodes, else 1
    replicas: int | None = None
    chunk_size: int = 8 * MiB
    #: the chunk size of an upload that declares at least ``large_object_size``
    #: bytes, while few enough such uploads run (0: every upload uses
    #: ``chunk_size``; docs/gateway.md, "Large chunks for large objects")
    large_chunk_size: int = 32 * MiB
    #: the declared size from which an upload gets ``large_chunk_size`` chunks
    large_object_size: int = 256 * MiB
    max_file_size: int = 10 * GiB
    #: whole objects of at most this many bytes (at least 1) are kept in their
    #: file's metadata row, not in chunks on nodes (0: never; docs/durability.md)
    inline_max_size: int = 16 * KiB
    placement: str = "consistent-hash"
    checksum: str = "sha256"
    #: the per-chunk checksum (the gateway verifies it on every download, nodes
    #: on repair copies, verified reads and scrubs); ``None``: the same as
    #: ``checksum`` (docs/performance.md, "Checksums", weighs the choices)
    chunk_checksum: str | None = "blake3"
    #: seconds between storage node health checks
    health_interval: float = 5.0
    #: seconds between sweeps of failed, deleted and stale uploads
    sweep_interval: float = 30.0
    #: an upload that received no byte for this many seconds is taken as abandoned
    stale_after: float = 3600.0
    #: seconds between passes of the reconciler over every node's chunks
    reconcile_interval: float = 600.0
    #: an unaccounted chunk younger than this many seconds is left alone
    orphan_grace: float = 3600.0
    #: seconds between repair rounds (plan a batch of chunks, then work the queue)
    repair_interval: float = 10.0
    #: seconds a node may be down before its replicas are copied elsewhere
    #: (long enough that a reboot does not start a storm of copies)
    repair_after: float = 900.0
    #: bytes a second repair and rebalancing copy at most, all chunks together
    #: (0: unthrottled)
    repair_bandwidth: int = 64 * MiB
    #: chunks repaired at once (each holds one chunk in memory)
    repair_concurrency: int = 4
    #: seconds between counts of the durability figures for ``/metrics`` (chunks
    #: by stored replicas, files by status): one read over every replica row
    stats_interval: float = 60.0
    #: names this gateway in the background lease; ``None``: host, pid and a random part
    holder_id: str | None = None
    #: seconds uploads under way get to end at shutdown before their connections close
    shutdown_grace: float = 10.0
    #: uploads served at once; more are refused with 503 (about ``chunk_size * 4``
    #: + 4 MiB of memory each)
    max_uploads: int = 32
    #: downloads (GET) served at once; more are refused with 503 (about
    #: ``chunk_size * 2`` of memory each)
    max_downloads: int = 128
    #: seconds a download may wait for its client to accept any data before
    #: its connection is aborted
    write_timeout: float = 60.0
    #: seconds a client may take to send a request's line and headers, however
    #: steadily the bytes trickle in; then ``408`` and the connection closes
    header_timeout: float = 20.0
    #: SQLite's ``PRAGMA synchronous``: ``"full"`` (a committed upload survives
    #: a power cut) or ``"normal"`` (faster; a power cut can undo the last
    #: acknowledged uploads); the other metadata stores ignore it
    sqlite_synchronous: str = "full"
    #: a Twisted server endpoint description for the S3 API; ``None``: no S3 listener
    s3_listen: str | None = None
    #: the region S3 clients sign their requests for
    s3_region: str = "us-east-1"
    #: seconds after its arrival that a request with wrong credentials is
    #: refused (the same whether its key exists or not)
    auth_failure_delay: float = 0.5
    #: an AWS shared credentials file whose key becomes an admin key on start
    #: when no key has its id
    admin_key_file: Path | None = None
    #: virtual-hosted buckets (``BUCKET.DOMAIN``) when set; path-style always works
    s3_domain: str | None = None
    #: seconds after which the sweeper aborts a multipart upload nobody completed
    s3_upload_expiry: float = 7 * 24 * 3600.0
    #: the cluster secret sent to storage nodes, and TLS
    node_auth: NodeAuth = field(default_factory=NodeAuth)
    #: gateway processes serving the same listening sockets (``--listen`` and
    #: ``--s3-listen``): this one and ``workers - 1`` children (:mod:`s3node.workers`)
    workers: int = 1
    #: stop when standard input reaches end of file (a worker spawned by
    #: another process; :mod:`s3node.parentwatch`)
    exit_with_parent: bool = False
    #: the twistd plugin this process runs (``twistd PLUGIN gateway``): its
    #: workers run the same one
    twistd_plugin: str = "s3node"
    #: a worker's inherited listening sockets (file descriptors), used instead
    #: of ``listen`` and ``s3_listen``
    listen_fd: int | None = None
    s3_listen_fd: int | None = None
    #: a worker's own metrics page (loopback), which its parent relays
    metrics_listen: str | None = None
    #: the page a worker's ``/metrics`` serves: its parent's, with every worker's metrics
    metrics_from: str | None = None
    #: where a worker writes its ports once it listens (JSON: port, metrics_port)
    port_file: Path | None = None

    @property
    def effective_replicas(self) -> int:
        """The replica count in force."""
        if self.replicas is not None:
            return self.replicas
        return 2 if len(self.nodes) >= 2 else 1


@dataclass(frozen=True, kw_only=True)
class StandaloneConfig:
    """Gateway and storage nodes in one process."""

    data_dir: Path = Path("s3node-data")
    node_count: int = 3
    #: the gateway's settings, ``db`` naming SQLite in ``data_dir``; ``nodes`` is
    #: filled in at start-up
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    fsync: bool = True
    #: where standalone serves the S3 API unless ``--s3-listen`` says otherwise
    #: (``none``: not at all); copied into ``gateway.s3_listen``
    s3_listen: str | None = "tcp:9000:interface=127.0.0.1"
    #: every node's scrubber (see :class:`StorageConfig`)
    scrub_rate: int = StorageConfig.scrub_rate
    scrub_interval: float = StorageConfig.scrub_interval
    #: the twistd plugin standalone runs (``twistd PLUGIN standalone``): its
    #: node processes run the same one
    twistd_plugin: str = "s3node"
    #: seconds a node process gets to stop after ``SIGTERM`` before ``SIGKILL``
    #: (its in-flight streams get ``StorageConfig.shutdown_grace`` of them)
    node_stop_timeout: float = StorageConfig.shutdown_grace + 10.0
    #: seconds before a node process that died is started again; doubled
    #: after each death in a row, up to ``max_restart_delay``
    restart_delay: float = 1.0
    max_restart_delay: float = 30.0
    #: the nodes listen for bulk puts beside gRPC (a free loopback port each)
    bulk: bool = True
