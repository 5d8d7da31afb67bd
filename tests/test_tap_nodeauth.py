"""The node traffic options: cluster secret files, TLS files, and where a node may listen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.nodeauth import TEST_SECRET, make_pki, write_secret
from twisted.python import usage

from s3node.nodeauth import SECRET_FILE, is_loopback, read_secret_file
from s3node.tap import Options


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def parse(*argv: str) -> object:
    options = Options()
    options.parseOptions(list(argv))
    return options.subOptions.config


def _storage(tmp_path: Path, *argv: str) -> object:
    return parse("storage", "--data-dir", str(tmp_path / "node"), "--node-id", "n1", *argv)


def test_a_node_off_loopback_listens_with_a_secret_or_client_certificates(tmp_path: Path) -> None:
    """With --cluster-secret-file, or with TLS client certificates, a node may name a
    non-loopback address (nothing is bound while parsing)."""
    secret = write_secret(tmp_path / "secret", TEST_SECRET, "previous-secret-abcdefgh")
    config = _storage(tmp_path, "--listen", "10.0.0.11:50051", "--cluster-secret-file", str(secret))
    auth = config.auth  # type: ignore[attr-defined]
    assert auth.secrets == (TEST_SECRET.encode(), b"previous-secret-abcdefgh")
    assert auth.secret_file == secret and auth.tls is None
    assert TEST_SECRET not in repr(config)  # never shown
    pki = make_pki(tmp_path / "pki")
    config = _storage(tmp_path, "--listen", "0.0.0.0:50051", *pki.node_args())
    assert config.auth.tls.ca == pki.ca.read_bytes()  # type: ignore[attr-defined]
    assert b"PRIVATE KEY" not in repr(config).encode()
    assert not _storage(tmp_path, "--listen", "127.0.0.1:0").auth.secured  # type: ignore[attr-defined]


@pytest.mark.parametrize("content, mode, message", [
    (b"", 0o600, "holds no secret"),
    (b"\n  \n", 0o600, "holds no secret"),
    (b"short\n", 0o600, "at least 16 characters"),
    (b"s3node secret with spaces", 0o600, "printable ASCII without spaces"),
    ("s3node-s\u00e9cret-0123456789".encode(), 0o600, "printable ASCII"),
    (TEST_SECRET.encode(), 0o640, "chmod 600"),
    (TEST_SECRET.encode(), 0o604, "may be read or changed by other users"),
])
def test_bad_secret_files_are_refused(tmp_path: Path, content: bytes, mode: int,
                                      message: str) -> None:
    """A secret file that is empty, weak, not ASCII or open to other users is a usage error."""
    path = tmp_path / "secret"
    path.write_bytes(content)
    os.chmod(path, mode)
    with pytest.raises(usage.UsageError, match=message) as info:
        _storage(tmp_path, "--cluster-secret-file", str(path))
    assert TEST_SECRET not in str(info.value)
    with pytest.raises(usage.UsageError, match=message):
        parse("gateway", "--node", "a=127.0.0.1:1", "--cluster-secret-file", str(path))


def test_tls_files_are_checked(tmp_path: Path) -> None:
    """TLS takes all three files, as PEM, the key owner-only; the gateway may name the
    server name to check."""
    pki = make_pki(tmp_path / "pki")
    not_pem = tmp_path / "x.pem"
    not_pem.write_text("hello")
    for argv, message in (
        (["--tls-cert", str(pki.node_cert), "--tls-key", str(pki.node_key)],
         "not just --tls-cert and --tls-key"),
        (["--tls-cert", str(not_pem), "--tls-key", str(pki.node_key), "--tls-ca", str(pki.ca)],
         "is not a PEM file"),
    ):
        with pytest.raises(usage.UsageError, match=message):
            _storage(tmp_path, *argv)
    os.chmod(pki.node_key, 0o644)
    with pytest.raises(usage.UsageError, match="chmod 600"):
        _storage(tmp_path, *pki.node_args())
    config = parse("gateway", "--node", "a=10.0.0.1:50051", *pki.gateway_args(),
                   "--tls-server-name", "s3node-node")
    assert config.node_auth.tls_server_name == "s3node-node"  # type: ignore[attr-defined]


def test_standalone_makes_its_secret_once(tmp_path: Path) -> None:
    """Standalone writes a random owner-only secret in its data dir on first start and
    keeps it; its gateway and nodes use it."""
    data = tmp_path / "data"
    first = parse("standalone", "--data-dir", str(data)).gateway.node_auth  # type: ignore[attr-defined]
    path = data / SECRET_FILE
    assert first.secret_file == path
    assert path.stat().st_mode & 0o777 == 0o600
    assert first.secrets == read_secret_file(path) and len(first.secrets[0]) == 64
    again = parse("standalone", "--data-dir", str(data)).gateway.node_auth  # type: ignore[attr-defined]
    assert again.secrets == first.secrets
    other = parse("standalone", "--data-dir", str(tmp_path / "other")).gateway.node_auth  # type: ignore[attr-defined]
    assert other.secrets != first.secrets


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("node1.example", False),
    ("", False),
])
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    """Only loopback addresses and ``localhost`` count; names and wildcards do not."""
    assert is_loopback(host) is loopback


def test_a_bulk_port_is_a_port_and_never_beside_tls(tmp_path: Path) -> None:
    """
    ``--bulk-port`` takes a port (0: any free one) and is off unless given;
    with TLS on node traffic it is refused, as the bulk data path is not
    encrypted.
    """
    assert _storage(tmp_path).bulk_port is None  # type: ignore[attr-defined]
    assert _storage(tmp_path, "--bulk-port", "0").bulk_port == 0  # type: ignore[attr-defined]
    assert _storage(tmp_path, "--bulk-port", "50052").bulk_port == 50052  # type: ignore[attr-defined]
    for bad in ("-1", "65536", "http", "", "\u00b2"):
        with pytest.raises(usage.UsageError, match="--bulk-port: not a port"):
            _storage(tmp_path, "--bulk-port", bad)
    pki = make_pki(tmp_path / "pki")
    with pytest.raises(usage.UsageError, match="unencrypted.*TLS"):
        _storage(tmp_path, *pki.node_args(), "--bulk-port", "0")


def test_standalone_nodes_take_bulk_puts_unless_told_not_to(tmp_path: Path) -> None:
    """Standalone's nodes get ``--bulk-port 0``; ``--no-bulk`` leaves it out."""
    from s3node.standalone import node_argv

    for flags, bulk_port in (((), 0), (("--no-bulk",), None)):
        config = parse("standalone", "--data-dir", str(tmp_path), *flags)
        argv = node_argv(config, "node-1", 0)  # type: ignore[arg-type]
        assert parse(*argv[argv.index("s3node") + 1:]).bulk_port == bulk_port  # type: ignore[attr-defined]
