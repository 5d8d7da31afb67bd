"""
The credentials of node traffic, read from the files the options name.

Both roles take them (docs/security.md, "Node traffic"):

- ``--cluster-secret-file PATH``: one secret a line.  A gateway sends the
  first line with every call; a storage node accepts any line, so a secret
  can be rotated without stopping the cluster.  The file must belong to the
  user alone (no group or other permission bits, like an SSH key), and each
  secret must be at least :data:`MIN_SECRET_LENGTH` printable ASCII
  characters without spaces (``openssl rand -hex 32``).
- ``--tls-cert``, ``--tls-key``, ``--tls-ca``: TLS with client certificates,
  all three or none.

Standalone makes its own secret on first start (:func:`standalone_auth`).
Nothing here imports gRPC: the calls and the server use what this reads
through :mod:`s3node.storage.nodeauth`.  Secrets are never logged or shown.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from pathlib import Path

from s3node.config import NodeAuth, TlsFiles
from s3node.errors import ConfigurationError

__all__ = [
    "MIN_SECRET_LENGTH",
    "SECRET_FILE",
    "describe",
    "is_loopback",
    "node_auth",
    "read_secret_file",
    "require_credential",
    "standalone_auth",
]

#: standalone's cluster secret, under its data dir
SECRET_FILE = "cluster-secret"
#: the shortest secret accepted (``openssl rand -hex 32`` gives 64 characters)
MIN_SECRET_LENGTH = 16
_HOW = "e.g. (umask 077; openssl rand -hex 32 > PATH)"


def _private_bytes(path: Path, what: str) -> bytes:
    """The bytes of ``path``, refused unless only its owner may read or write it."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"{what} {str(path)!r}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        raise ConfigurationError(f"{what} {str(path)!r} is not a file")
    if mode & 0o077:
        raise ConfigurationError(
            f"{what} {str(path)!r} may be read or changed by other users "
            f"(mode {stat.S_IMODE(mode):o}): chmod 600 it"
        )
    return data


def read_secret_file(path: Path) -> tuple[bytes, ...]:
    """
    The secrets in ``path``, one a line (blank lines and surrounding
    whitespace ignored), first the one to send.

    :raises ConfigurationError: the file is missing, not owner-only, empty,
        or holds a secret that is too short or not printable ASCII.
    """
    data = _private_bytes(path, "--cluster-secret-file")
    found = []
    for number, line in enumerate(data.splitlines(), 1):
        secret = line.strip()
        if not secret:
            continue
        if not all(0x21 <= byte <= 0x7E for byte in secret):
            raise ConfigurationError(
                f"--cluster-secret-file {str(path)!r}, line {number}: a secret is printable "
                f"ASCII without spaces ({_HOW})"
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"--cluster-secret-file {str(path)!r}, line {number}: a secret needs at least "
                f"{MIN_SECRET_LENGTH} characters ({_HOW})"
            )
        found.append(secret)
    if not found:
        raise ConfigurationError(
            f"--cluster-secret-file {str(path)!r} holds no secret ({_HOW})"
        )
    return tuple(found)


def _pem(path: str, what: str, *, private: bool = False) -> bytes:
    if private:
        data = _private_bytes(Path(path), what)
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ConfigurationError(f"{what} {path!r}: {e.strerror or e}") from None
    if b"-----BEGIN " not in data:
        raise ConfigurationError(f"{what} {path!r} is not a PEM file")
    return data


def node_auth(
    secret_file: str | None,
    cert: str | None,
    key: str | None,
    ca: str | None,
    server_name: str | None = None,
) -> NodeAuth:
    """Read the options of node traffic into a :class:`NodeAuth`."""
    secret_path = Path(secret_file).absolute() if secret_file else None
    found = read_secret_file(secret_path) if secret_path is not None else ()
    given = [name for name, value in (("--tls-cert", cert), ("--tls-key", key),
                                      ("--tls-ca", ca)) if value]
    if given and len(given) < 3:
        raise ConfigurationError(
            f"TLS on node traffic needs --tls-cert, --tls-key and --tls-ca together, "
            f"not just {' and '.join(given)}"
        )
    tls = None
    if cert and key and ca:
        tls = TlsFiles(cert=_pem(cert, "--tls-cert"), key=_pem(key, "--tls-key", private=True),
                       ca=_pem(ca, "--tls-ca"))
    elif server_name:
        raise ConfigurationError("--tls-server-name needs --tls-cert, --tls-key and --tls-ca")
    args: list[str] = []
    for flag, file in (("--cluster-secret-file", secret_file), ("--tls-cert", cert),
                       ("--tls-key", key), ("--tls-ca", ca)):
        if file:
            args += [flag, str(Path(file).absolute())]
    if server_name:
        args += ["--tls-server-name", server_name]
    return NodeAuth(secret_file=secret_path, secrets=found, tls=tls, tls_server_name=server_name,
                    child_args=tuple(args))


def describe(auth: NodeAuth) -> str:
    """What a node requires of its callers, for its log (never the secrets themselves)."""
    parts = []
    if auth.secrets:
        parts.append(f"the cluster secret ({len(auth.secrets)} accepted)")
    if auth.tls is not None:
        parts.append("a TLS client certificate from the CA")
    return " and ".join(parts) or "no credential (loopback only)"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def require_credential(auth: NodeAuth, host: str, port: int) -> None:
    """
    Refuse to serve on a non-loopback ``host`` without a cluster credential.

    :raises ConfigurationError: saying why, and what to give.
    """
    if auth.secured or is_loopback(host):
        return
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    raise ConfigurationError(
        f"refusing to listen on {where} without a cluster credential: anyone who can reach "
        f"it could read and delete every chunk.  Give --cluster-secret-file PATH (the "
        f"gateway's secret) and/or --tls-cert, --tls-key and --tls-ca (client certificates), "
        f"or listen on 127.0.0.1; see docs/security.md"
    )


def standalone_auth(data_dir: Path) -> NodeAuth:
    """
    Standalone's credential: the secret in ``data_dir/cluster-secret``,
    made (owner-only, random) on first start.  The file can be handed to a
    ``twistd s3node storage`` child with ``--cluster-secret-file``.
    """
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    return NodeAuth(secret_file=path, secrets=read_secret_file(path),
                    child_args=("--cluster-secret-file", str(path)))
