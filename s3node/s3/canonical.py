"""
The canonical forms and key derivation of AWS Signature Version 4, as S3 uses them.

These are the pure pieces both :mod:`s3node.s3.sigv4` (requests) and
:mod:`s3node.s3.chunked` (``aws-chunked`` bodies) sign with, written from
"Create a canonical request for IAM" and the S3 pages "Signature
Calculations for the Authorization Header":

- the canonical URI is the path decoded and re-encoded once with ``/`` kept
  (S3 neither double-encodes nor normalises the path, unlike other services);
- the canonical query string has every parameter encoded, sorted by encoded
  name, then encoded value, a bare name counting as ``name=``;
- canonical header values are trimmed, inner runs of spaces and tabs folded
  to one space, and a repeated header's values joined with commas; they are
  hashed as the bytes received (botocore sends a non-ASCII value as UTF-8
  and signs those bytes);
- the signing key is ``HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
  service), "aws4_request")``, and a signature is the lowercase hex HMAC of
  the string to sign under it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from s3node.s3.encoding import decode, parse_query, uri_encode, wire_bytes

__all__ = [
    "ALGORITHM",
    "PAYLOAD_MARKERS",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "Scope",
    "canonical_headers",
    "canonical_query",
    "canonical_uri",
    "hmac_sha256",
    "sign",
    "signing_key",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#: the values ``x-amz-content-sha256`` may take other than a hex SHA-256
PAYLOAD_MARKERS = frozenset(
    {UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)
_FOLD = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Scope:
    """The credential scope a request is signed for: ``date/region/service/aws4_request``."""

    #: ``YYYYMMDD``
    date: str
    region: str
    service: str

    def __str__(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def hmac_sha256(key: bytes, message: str) -> bytes:
    """HMAC-SHA256 of the UTF-8 ``message`` under ``key``."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, scope: Scope) -> bytes:
    """The key derived from ``secret`` for one scope (date, region, service, ``aws4_request``)."""
    key = hmac_sha256(("AWS4" + secret).encode("utf-8"), scope.date)
    for part in (scope.region, scope.service, "aws4_request"):
        key = hmac_sha256(key, part)
    return key


def sign(key: bytes, string_to_sign: str) -> str:
    """The lowercase hex signature of ``string_to_sign`` under a derived ``key``."""
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_uri(raw_path: str) -> str:
    """The path as S3 signs it: decoded, then encoded once with ``/`` kept."""
    return uri_encode(decode(raw_path), keep_slash=True) or "/"


def canonical_query(raw_query: str, *, without: str | None = None) -> str:
    """
    The canonical query string: each parameter encoded, sorted by name then value.

    :param without: a parameter name to leave out (``X-Amz-Signature``).
    """
    pairs = sorted(
        (uri_encode(name), uri_encode(value or ""))
        for name, value in parse_query(raw_query)
        if name != without
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_headers(headers: Iterable[tuple[str, str]], signed: Iterable[str]) -> str:
    """
    The canonical headers block: ``name:value\\n`` for each signed header, in ``signed`` order.

    Values are trimmed with runs of spaces and tabs folded to one space; a
    header sent several times has its values joined with commas, in order.
    A signed header the request lacks counts as empty.
    """
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(_FOLD.sub(" ", value.strip(" \t")))
    return "".join(f"{name}:{','.join(values.get(name, ()))}\n" for name in signed)


def string_to_sign(timestamp: str, scope: Scope, canonical_request: str) -> str:
    """The string a request's signature signs: algorithm, time, scope and the canonical request's hash."""
    digest = hashlib.sha256(wire_bytes(canonical_request)).hexdigest()
    return "\n".join([ALGORITHM, timestamp, str(scope), digest])
