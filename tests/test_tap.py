"""The ``twistd s3node`` command line: options parse once into typed, immutable config."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from twisted.python import usage

from s3node.config import (
    GatewayConfig,
    GiB,
    MiB,
    NodeAddress,
    NodeAuth,
    StandaloneConfig,
    StorageConfig,
)
from s3node.tap import Options


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in the test's folder: standalone makes its data dir (and cluster secret) on parsing."""
    monkeypatch.chdir(tmp_path)


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def test_storage_options_build_a_frozen_config(tmp_path: Path) -> None:
    """``storage`` options become a frozen StorageConfig with sizes parsed."""
    options = parse(
        "storage", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
        "--node-id", "n1", "--capacity", "2GiB", "--max-chunk-size", "64MiB",
    )
    config = options.subOptions.config
    assert config == StorageConfig(
        host="127.0.0.1", port=0, data_dir=tmp_path, node_id="n1",
        capacity=2 * GiB, max_chunk_size=64 * MiB,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]


def test_storage_metrics_listener_is_off_unless_named(tmp_path: Path) -> None:
    """``--metrics-listen`` is checked and kept as given; without it a node serves no metrics."""
    argv = ("storage", "--data-dir", str(tmp_path), "--node-id", "n1")
    assert parse(*argv).subOptions.config.metrics_listen is None
    on = parse(*argv, "--metrics-listen", "tcp:0:interface=127.0.0.1").subOptions.config
    assert on.metrics_listen == "tcp:0:interface=127.0.0.1"


def test_storage_node_id_is_created_once_and_kept(tmp_path: Path) -> None:
    """Without --node-id a node gets a new id, saved in its data dir and reused."""
    first = parse("storage", "--data-dir", str(tmp_path)).subOptions.config.node_id
    second = parse("storage", "--data-dir", str(tmp_path)).subOptions.config.node_id
    assert first == second
    assert first.startswith("node-")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["storage", "--listen", "nohost"], "not HOST:PORT"),
        (["storage", "--listen", "127.0.0.1:99999"], "not HOST:PORT"),
        (["storage", "--node-id", "../etc"], "not a node id"),
        (["storage", "--capacity", "lots"], "not a size"),
        # off loopback, a node needs a cluster credential (docs/security.md)
        (["storage", "--listen", "10.0.0.11:50051"],
         "refusing to listen on 10.0.0.11:50051 without a cluster credential"),
        (["storage", "--listen", "0.0.0.0:50051"], "without a cluster credential"),
        (["storage", "--listen", "[::]:50051"], "refusing to listen on [::]:50051"),
        (["storage", "--listen", "node1.example:50051"], "without a cluster credential"),
        (["storage", "--cluster-secret-file", "/no/such/secret"], "No such file"),
        (["storage", "--tls-cert", "/no/such.pem"], "not just --tls-cert"),
        (["gateway", "--node", "a=10.0.0.11:50051"], "is not on loopback: give --cluster-secret"),
        (["gateway", "--node", "a=127.0.0.1:1", "--tls-server-name", "n"],
         "--tls-server-name needs --tls-cert"),
        (["gateway"], "at least one storage node"),
        (["gateway", "--node", "a=127.0.0.1:1", "--node", "a=127.0.0.1:2"], "its own id"),
        (["gateway", "--node", "127.0.0.1:1"], "ID=HOST:PORT"),
        (["gateway", "--node", "a=127.0.0.1:1", "--replicas", "2"], "at least that many"),
        (["gateway", "--node", "a=127.0.0.1:1", "--replicas", "zero"], "whole number"),
        (["gateway", "--node", "a=127.0.0.1:1", "--db", "mysql://x"], "--db takes"),
        (["gateway", "--node", "a=127.0.0.1:1", "--chunk-size", "0"], "at least 1 byte"),
        (["standalone", "--large-chunk-size", "1MiB"], "--large-chunk-size must be 0 or from"),
        (["standalone", "--large-chunk-size", "8GiB"], "--large-chunk-size must be 0 or from"),
        (["standalone", "--large-object-size", "big"], "big"),
        (["standalone", "--inline-max-size", "1MiB"], "--inline-max-size must be at most 256"),
        (["standalone", "--inline-max-size", "lots"], "lots"),
        (["gateway", "--node", "a=127.0.0.1:1", "--db", "postgres://typo"], "names no database"),
        (["gateway", "--node", "a=127.0.0.1:1", "--db", "postgresql:///db"], "names no host"),
        (["gateway", "--node", "a=127.0.0.1:1", "--db", "postgresql://h:port/db"], "PostgreSQL URL"),
        (["gateway", "--node", "a=127.0.0.1:1", "--db", "sqlite:"], "needs a path"),
        (["gateway", "--node", "a=127.0.0.1:1", "--listen", "tcp:http"], "endpoint description"),
        (["gateway", "--node", "a=127.0.0.1:1", "--listen", "carrier-pigeon:1"],
         "endpoint description"),
        (["standalone", "--listen", "ssl:8443:privateKey=/no/such.pem"], "No such file"),
        (["gateway", "--node", "a=127.0.0.1:1", "--placement", "nope"],
         "unknown placement strategy 'nope'; available: consistent-hash, rendezvous"),
        (["standalone", "--checksum", "md4"], "unknown checksum algorithm 'md4'"),
        (["standalone", "--nodes", "1", "--replicas", "2"], "at least that many"),
        (["standalone", "--health-interval", "-1"], "more than 0"),
        (["gateway", "--node", "a=127.0.0.1:1", "--max-uploads", "0"],
         "--max-uploads must be at least 1"),
        (["standalone", "--max-downloads", "many"], "--max-downloads must be a whole number"),
        (["standalone", "--write-timeout", "0"], "--write-timeout must be more than 0"),
        (["standalone", "--sqlite-synchronous", "off"], "full or normal"),
        (["gateway", "--node", "a=127.0.0.1:1", "--sqlite-synchronous", "extra"],
         "full or normal"),
        (["storage", "--metrics-listen", "tcp:notaport"], "--metrics-listen 'tcp:notaport'"),
        (["standalone", "--stats-interval", "0"], "--stats-interval must be more than 0"),
        (["standalone", "--workers", "0"], "--workers must be at least 1"),
        (["standalone", "--workers", "two"], "--workers must be a whole number"),
        (["gateway", "--node", "a=127.0.0.1:1", "--workers", "65"], "--workers must be at most 64"),
        (["gateway", "--node", "a=127.0.0.1:1", "--workers", "2", "--listen", "unix:/run/s"],
         "--workers 2 shares --listen between processes: it needs a tcp: endpoint"),
        (["standalone", "--workers", "3", "--s3-listen", "unix:/run/s3"],
         "--workers 3 shares --s3-listen"),
        ([], "name a role"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each invalid option raises UsageError with a one-line message naming the problem,
    and leaves nothing on disk."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(usage.UsageError) as info:
        parse(*argv)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_gateway_options() -> None:
    """``gateway`` takes repeatable --node options and defaults replicas to 2 with 2+ nodes."""
    config = parse(
        "gateway", "--node", "a=127.0.0.1:5001", "--node", "b=[::1]:5002",
        "--db", "postgresql://postgres@127.0.0.1:5432/s3node", "--max-file-size", "1GiB",
    ).subOptions.config
    assert isinstance(config, GatewayConfig)
    assert config.nodes == (NodeAddress("a", "127.0.0.1", 5001), NodeAddress("b", "::1", 5002))
    assert config.nodes[1].address == "[::1]:5002"
    assert config.effective_replicas == 2
    assert config.max_file_size == GiB
    assert config.chunk_size == 8 * MiB


def test_workers_take_tcp_endpoints_and_their_command_line_round_trips() -> None:
    """
    ``--workers N`` (default 1) is accepted with tcp: listeners; a worker's
    command line (:func:`s3node.workers.gateway_args`) parses back into its
    parent's config, its listeners aside.
    """
    import dataclasses

    from s3node.workers import gateway_args

    assert parse("gateway", "--node", "a=127.0.0.1:1").subOptions.config.workers == 1
    assert parse("standalone", "-w", "4").subOptions.config.gateway.workers == 4
    config = parse(
        "gateway", "--node", "a=127.0.0.1:1", "--node", "b=[::1]:2", "--workers", "3",
        "--listen", "tcp:8081", "--s3-listen", "tcp6:9001", "--replicas", "1",
        "--s3-domain", "s3.example.com", "--stale-after", "0.25", "--holder-id", "g1",
    ).subOptions.config
    assert config.workers == 3
    again = parse("gateway", *gateway_args(config)).subOptions.config
    assert dataclasses.replace(again, workers=3, listen=config.listen,
                               s3_listen=config.s3_listen) == config


def test_a_workers_command_line_carries_the_cluster_secret(tmp_path: Path) -> None:
    """A worker is given its parent's ``--cluster-secret-file`` (the file, not the secret)."""
    from s3node.workers import gateway_args

    secret = tmp_path / "secret"
    secret.write_text("s" * 32 + "\n")
    secret.chmod(0o600)
    config = parse("gateway", "--node", "a=127.0.0.1:1", "--workers", "2",
                   "--cluster-secret-file", str(secret)).subOptions.config
    args = gateway_args(config)
    assert args[args.index("--cluster-secret-file") + 1] == str(secret)
    assert "s" * 32 not in " ".join(args)
    again = parse("gateway", *args).subOptions.config
    assert again.node_auth == config.node_auth


def test_standalone_defaults(tmp_path: Path) -> None:
    """``standalone`` defaults to 3 nodes, replicas 2 and SQLite inside the data dir."""
    config = parse("standalone", "--data-dir", str(tmp_path)).subOptions.config
    assert isinstance(config, StandaloneConfig)
    assert config.node_count == 3
    assert config.gateway.replicas == 2
    assert config.gateway.db == f"sqlite:{tmp_path / 'metadata.sqlite3'}"
    assert config.gateway.listen == "tcp:8080:interface=127.0.0.1"


@pytest.mark.parametrize("role", [["gateway", "--node", "a=127.0.0.1:1"], ["standalone"]])
def test_transfer_limits(role: list[str]) -> None:
    """``--max-uploads``, ``--max-downloads`` and ``--write-timeout`` reach the gateway's config."""
    config = parse(*role, "--max-uploads", "4", "--max-downloads", "9",
                   "--write-timeout", "2.5").subOptions.config
    gateway = config if isinstance(config, GatewayConfig) else config.gateway
    assert (gateway.max_uploads, gateway.max_downloads, gateway.write_timeout) == (4, 9, 2.5)


@pytest.mark.parametrize("role", [["standalone"], ["gateway", "--node", "a=127.0.0.1:1"]])
def test_sqlite_synchronous_defaults_to_full(role: list[str]) -> None:
    """``gateway`` and ``standalone`` keep SQLite commits durable (full) unless told
    ``--sqlite-synchronous normal``; the help says what normal risks."""
    config = parse(*role).subOptions.config
    assert getattr(config, "gateway", config).sqlite_synchronous == "full"
    config = parse(*role, "--sqlite-synchronous", "NORMAL").subOptions.config
    assert getattr(config, "gateway", config).sqlite_synchronous == "normal"
    options = parse(*role).subOptions
    help_text = " ".join(str(options).split())
    assert "--sqlite-synchronous" in help_text
    assert "power cut can undo the last acknowledged uploads" in help_text


@pytest.mark.parametrize("role", [["storage", "--node-id", "n1"], ["standalone"]])
def test_scrub_options(role: list[str]) -> None:
    """``--scrub-rate`` (a size; 0 turns the scrubber off) and ``--scrub-interval``
    reach the config, default to 8 MiB/s and 7 days, and --help shows those defaults."""
    config = parse(*role, "--scrub-rate", "0", "--scrub-interval", "3600").subOptions.config
    assert (config.scrub_rate, config.scrub_interval) == (0, 3600.0)
    default = parse(*role).subOptions
    assert (default.config.scrub_rate, default.config.scrub_interval) == (8 * MiB, 604800.0)
    help_text = " ".join(str(default).split())
    assert "--scrub-rate" in help_text and "[default: 8MiB]" in help_text
    assert "--scrub-interval" in help_text and "[default: 604800]" in help_text
    with pytest.raises(usage.UsageError, match="--scrub-interval must be more than 0"):
        parse(*role, "--scrub-interval", "0")
    with pytest.raises(usage.UsageError, match="not a size"):
        parse(*role, "--scrub-rate", "fast")


def _twistd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )


def test_twistd_lists_the_roles(tmp_path: Path) -> None:
    """``twistd s3node --help`` lists the three roles."""
    result = _twistd("s3node", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for role in ("gateway", "storage", "standalone"):
        assert role in result.stdout


def test_twistd_refuses_another_reactor(tmp_path: Path) -> None:
    """``--reactor=epoll`` gives a one-line error that says to use the asyncio reactor."""
    result = _twistd(
        "--reactor=epoll", "-n", "s3node", "storage", "--data-dir", str(tmp_path / "d"),
        cwd=tmp_path,
    )
    assert "use --reactor=asyncio" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "d" / "chunks").exists()


def test_twistd_bad_option_is_not_a_traceback(tmp_path: Path) -> None:
    """A bad option is reported on one line, without a traceback."""
    result = _twistd("-n", "s3node", "storage", "--listen", "bad", cwd=tmp_path)
    out = result.stderr + result.stdout
    assert "not HOST:PORT: 'bad'" in out
    assert "Traceback" not in out


def test_option_defaults_are_the_config_defaults(tmp_path: Path) -> None:
    """With no options, each role's config equals its dataclass's own defaults."""
    gateway = parse("gateway", "--node", "n1=127.0.0.1:1").subOptions.config
    assert gateway == GatewayConfig(nodes=(NodeAddress("n1", "127.0.0.1", 1),))
    storage = parse("storage", "--node-id", "n1").subOptions.config
    assert storage == StorageConfig(data_dir=StorageConfig.data_dir.absolute(), node_id="n1")
    standalone = parse("standalone").subOptions.config
    defaults = StandaloneConfig()
    assert standalone.node_count == defaults.node_count
    assert standalone.data_dir == defaults.data_dir.absolute()
    # standalone's one gateway names itself in the background lease
    assert standalone.gateway.holder_id == "standalone"
    # standalone serves S3 on its own default endpoint; the gateway role serves none
    assert standalone.gateway.s3_listen == StandaloneConfig.s3_listen
    assert gateway.s3_listen is None
    # standalone's nodes take the secret it made in its data dir
    assert standalone.gateway.node_auth.secret_file == defaults.data_dir.absolute() / "cluster-secret"
    assert dataclasses.replace(standalone.gateway, db=GatewayConfig.db, replicas=None,
                               holder_id=None, s3_listen=None,
                               node_auth=NodeAuth()) == GatewayConfig()


def test_s3_options_are_validated() -> None:
    """--s3-listen, --s3-region and --s3-domain are parsed once; bad values are usage errors."""
    config = parse("gateway", "--node", "n1=127.0.0.1:1", "--s3-listen",
                   "tcp:9100:interface=127.0.0.1", "--s3-region", "eu-central-1",
                   "--s3-domain", "S3.Example.COM.").subOptions.config
    assert (config.s3_listen, config.s3_region, config.s3_domain) == (
        "tcp:9100:interface=127.0.0.1", "eu-central-1", "s3.example.com")
    assert parse("standalone", "--s3-listen", "none").subOptions.config.gateway.s3_listen is None
    for bad, message in ((["--s3-listen", "nonsense:1"], "--s3-listen"),
                         (["--s3-region", "Not A Region"], "--s3-region"),
                         (["--s3-domain", "bad domain"], "--s3-domain")):
        with pytest.raises(usage.UsageError, match=message):
            parse("standalone", *bad)


def test_standalone_takes_a_postgresql_db(tmp_path: Path) -> None:
    """``standalone --db postgresql://...`` keeps the metadata there; a bad URL is refused."""
    config = parse("standalone", "--db", "postgresql://s3node@127.0.0.1:5432/s3node")
    assert config.subOptions.config.gateway.db == "postgresql://s3node@127.0.0.1:5432/s3node"
    x = tmp_path / "x"
    default = parse("standalone", "--data-dir", str(x)).subOptions.config.gateway.db
    assert default == f"sqlite:{x}/metadata.sqlite3"
    with pytest.raises(usage.UsageError, match="--db takes"):
        parse("standalone", "--db", "mysql://x")


@pytest.mark.parametrize("size", [1, 1000, 1024, 8 * MiB, 3 * GiB + 1, 10 * GiB])
def test_format_size_round_trips(size: int) -> None:
    """Sizes shown as option defaults parse back to the same number of bytes."""
    from s3node.config import format_size, parse_size

    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize(
    "args, message",
    [
        (["--db", "postgres://typo"], "names no database"),
        (["--listen", "tcp:notaport"], "endpoint description"),
        (["--placement", "nope"], "unknown placement strategy"),
    ],
)
def test_twistd_refuses_a_typo_before_the_reactor_runs(
    args: list[str], message: str, tmp_path: Path
) -> None:
    """
    ``twistd -n s3node gateway`` with a bad --db, --listen or --placement
    exits at once, non-zero, with a one-line usage error: no reactor ran (no
    log line of a started service, nothing written to disk).
    """
    result = _twistd("-n", "--pidfile=", "s3node", "gateway", "--node", "a=127.0.0.1:1",
                     *args, cwd=tmp_path)
    out = result.stderr + result.stdout
    assert result.returncode != 0
    assert message in out
    assert "Traceback" not in out
    assert "reactor class" not in out and "Starting" not in out
    assert list(tmp_path.iterdir()) == []
