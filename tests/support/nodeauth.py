"""
Credentials for tests: cluster secret files and throwaway certificates.

:func:`write_secret` writes an owner-only secret file as ``--cluster-secret-file``
wants it.  :func:`make_pki` makes a small certificate authority with the
`cryptography` package (a node certificate for ``127.0.0.1``/``localhost``, a
client certificate) and a second, unrelated CA with a client certificate of
its own, all as PEM files in a folder.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from s3node.config import NodeAuth

__all__ = ["TEST_SECRET", "Pki", "make_pki", "secret_auth", "write_secret"]

#: the cluster secret test clusters share
TEST_SECRET = "s3node-test-cluster-secret-4f1c9a7e2b"


def write_secret(path: Path, *secrets: str) -> Path:
    """Write ``secrets`` (default :data:`TEST_SECRET`), one a line, owner-only, to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write("".join(f"{s}\n" for s in secrets or (TEST_SECRET,)))
    os.chmod(path, 0o600)
    return path


def secret_auth(secret: str = TEST_SECRET) -> NodeAuth:
    """A :class:`NodeAuth` that sends ``secret`` (for a :class:`StorageClient`)."""
    return NodeAuth(secrets=(secret.encode("ascii"),))


@dataclass(frozen=True)
class Pki:
    """The PEM files :func:`make_pki` wrote."""

    ca: Path
    node_cert: Path
    node_key: Path
    client_cert: Path
    client_key: Path
    #: an unrelated CA, and a client certificate it signed
    other_ca: Path
    other_client_cert: Path
    other_client_key: Path

    def node_args(self) -> list[str]:
        """A storage node's TLS options."""
        return ["--tls-cert", str(self.node_cert), "--tls-key", str(self.node_key),
                "--tls-ca", str(self.ca)]

    def gateway_args(self, *, other: bool = False) -> list[str]:
        """A gateway's TLS options (``other``: the client certificate of the unrelated CA)."""
        if other:
            return ["--tls-cert", str(self.other_client_cert), "--tls-key",
                    str(self.other_client_key), "--tls-ca", str(self.ca)]
        return ["--tls-cert", str(self.client_cert), "--tls-key", str(self.client_key),
                "--tls-ca", str(self.ca)]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
                 server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey | None = None) -> tuple[Path, Path | None]:
    cert_path = folder / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is None:
        return cert_path, None
    key_path = folder / f"{name}.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def _issue(folder: Path, name: str, ca_name: x509.Name, ca_key: ec.EllipticCurvePrivateKey,
           *, server: bool = False) -> tuple[Path, Path]:
    key = _key()
    cert_path, key_path = _write(folder, name, _certificate(name, key, ca_name, ca_key,
                                                            server=server), key)
    assert key_path is not None
    return cert_path, key_path


def make_pki(folder: Path) -> Pki:
    """A CA with a node and a client certificate, and an unrelated CA with a client one."""
    folder.mkdir(parents=True, exist_ok=True)
    cas = []
    for name in ("s3node-test-ca", "s3node-other-ca"):
        key = _key()
        cert_path, _ = _write(folder, name, _certificate(name, key, _name(name), key, ca=True))
        cas.append((cert_path, _name(name), key))
    (ca, ca_name, ca_key), (other_ca, other_name, other_key) = cas
    node_cert, node_key = _issue(folder, "node", ca_name, ca_key, server=True)
    client_cert, client_key = _issue(folder, "gateway", ca_name, ca_key)
    other_cert, other_key_path = _issue(folder, "intruder", other_name, other_key)
    return Pki(ca=ca, node_cert=node_cert, node_key=node_key, client_cert=client_cert,
               client_key=client_key, other_ca=other_ca, other_client_cert=other_cert,
               other_client_key=other_key_path)
