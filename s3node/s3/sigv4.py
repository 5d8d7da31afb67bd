"""
AWS Signature Version 4 verification for S3 requests, written from the AWS specification.

A request is signed in one of two ways, both handled here:

- the ``Authorization`` header
  (``AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,
  SignedHeaders=host;x-amz-date, Signature=...``), with the time in
  ``x-amz-date`` (or ``Date``) and the payload's SHA-256 (or a marker such as
  ``UNSIGNED-PAYLOAD``) in ``x-amz-content-sha256``;
- a presigned URL: ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-Expires``, ``X-Amz-SignedHeaders`` and ``X-Amz-Signature`` in the
  query, with an ``UNSIGNED-PAYLOAD``.

:meth:`SignedRequest.parse` reads either form from the raw request (method,
path and query exactly as received, and the header list); :func:`verify`
checks it against a secret and a clock and returns the :class:`Credentials`
the rest of the request needs (the access key, and the signing key and seed
signature that :mod:`s3node.s3.chunked` chains ``aws-chunked`` signatures
from).  The body itself is not read here: a hex ``payload_hash`` is a claim
that the upload pipeline checks while streaming
(:class:`s3node.s3.checksums.PayloadCheck`).

The canonical forms and the key derivation are in :mod:`s3node.s3.canonical`;
the checks and the errors here follow the S3 pages "Authenticating Requests:
Using the Authorization Header" and "... Using Query Parameters".
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from s3node.s3 import errors
from s3node.s3.canonical import (
    ALGORITHM,
    PAYLOAD_MARKERS,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    Scope,
    canonical_headers,
    canonical_query,
    canonical_uri,
    sign,
    signing_key,
    string_to_sign,
)
from s3node.s3.encoding import parse_query
from s3node.s3.sigv4claims import (
    MAX_EXPIRES,
    PRESIGN_PARAMS,
    Claims,
    header_claims,
    presigned_claims,
)

__all__ = [
    "ALGORITHM",
    "MAX_CLOCK_SKEW",
    "MAX_EXPIRES",
    "PAYLOAD_MARKERS",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "Credentials",
    "Scope",
    "SignedRequest",
    "verify",
]

#: seconds a header-signed request's time may differ from the server's
MAX_CLOCK_SKEW = 15 * 60

_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")


@dataclass(frozen=True)
class Credentials:
    """Who signed a verified request, and what chained signatures continue from."""

    access_key: str
    scope: Scope
    #: the request's time, ``YYYYMMDDTHHMMSSZ``, as signed
    timestamp: str
    #: the request's signature: the seed of an ``aws-chunked`` signature chain
    signature: str
    #: the payload's claimed hex SHA-256, or one of :data:`PAYLOAD_MARKERS`
    payload_hash: str
    presigned: bool
    signing_key: bytes = field(repr=False)


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


@dataclass(frozen=True)
class SignedRequest:
    """
    A request's signature and everything it covers, parsed but not yet verified.

    Build one with :meth:`parse`; check it with :func:`verify`.
    """

    method: str
    raw_path: str
    raw_query: str
    #: (lowercase name, value) for every header, in the order received
    headers: tuple[tuple[str, str], ...]
    presigned: bool
    access_key: str
    scope: Scope
    #: ``YYYYMMDDTHHMMSSZ``
    timestamp: str
    signed_headers: tuple[str, ...]
    signature: str
    payload_hash: str
    #: a presigned URL's lifetime in seconds; ``None`` for header signing
    expires: int | None

    @classmethod
    def parse(
        cls,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        *,
        default_payload_hash: str | None = None,
    ) -> SignedRequest:
        """
        Read the signature of a request exactly as received.

        :param raw_path: the path before percent-decoding, without the query.
        :param raw_query: the query string after ``?``, still encoded.
        :param headers: every (name, value) pair; bytes are read as Latin-1.
        :param default_payload_hash: the payload hash of a header-signed request
            without ``x-amz-content-sha256`` (S3 requires the header: ``None``;
            other SigV4 services sign the body's hash without sending it).
        :raises s3node.s3.errors.S3Error: :class:`~.errors.AccessDenied` for an
            unsigned request, and the error S3 answers for each malformed form.
        """
        pairs = tuple((_text(n).lower(), _text(v)) for n, v in headers)
        header = dict(reversed(pairs))  # the first of repeated headers
        query = parse_query(raw_query)
        presign = [name for name, _ in query if name in PRESIGN_PARAMS]
        authorization = header.get("authorization")
        if authorization is not None and presign:
            raise errors.InvalidArgument("Only one auth mechanism allowed")
        if presign:
            claims = presigned_claims(header, dict(query))
        elif authorization is not None:
            claims = header_claims(header, authorization, default_payload_hash)
        else:
            raise errors.AccessDenied("Anonymous access is not allowed")
        return cls._checked(method, raw_path, raw_query, pairs, bool(presign), claims)

    @classmethod
    def _checked(
        cls,
        method: str,
        raw_path: str,
        raw_query: str,
        pairs: tuple[tuple[str, str], ...],
        presigned: bool,
        claims: Claims,
    ) -> SignedRequest:
        """The checks both forms share, then the parsed request."""
        bad, timestamp, scope, signed_text = (
            claims.bad,
            claims.timestamp,
            claims.scope,
            claims.signed,
        )
        if timestamp[:8] != scope.date:
            raise bad(
                "Invalid credential date. Date is not the same as X-Amz-Date.",
                fields=[("Date", timestamp[:8])],
            )
        signed = tuple(signed_text.split(";"))
        if not all(_HEADER_NAME.fullmatch(name) for name in signed) or len(set(signed)) != len(
            signed
        ):
            raise bad(f"SignedHeaders {signed_text!r} is not a list of lowercase header names")
        if "host" not in signed:
            raise bad("SignedHeaders must include host")
        unsigned = sorted({n for n, _ in pairs if n.startswith("x-amz-")} - set(signed))
        if unsigned:
            raise errors.AccessDenied(
                "There were headers present in the request which were not signed",
                fields=[("HeadersNotSigned", ", ".join(unsigned))],
            )
        return cls(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=pairs,
            presigned=presigned,
            access_key=claims.access_key,
            scope=scope,
            timestamp=timestamp,
            signed_headers=signed,
            signature=claims.signature,
            payload_hash=claims.payload_hash,
            expires=claims.expires,
        )

    def canonical_request(self) -> str:
        """The canonical request this signature covers."""
        query = canonical_query(
            self.raw_query, without="X-Amz-Signature" if self.presigned else None
        )
        return "\n".join(
            [
                self.method.upper(),
                canonical_uri(self.raw_path),
                query,
                canonical_headers(self.headers, self.signed_headers),
                ";".join(self.signed_headers),
                self.payload_hash,
            ]
        )

    def string_to_sign(self) -> str:
        """The string whose HMAC under the derived signing key is the signature."""
        return string_to_sign(self.timestamp, self.scope, self.canonical_request())

    def time(self) -> float:
        """The request's signed time, in seconds since the epoch."""
        return datetime.strptime(self.timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def verify(
    request: SignedRequest,
    secret_lookup: Callable[[str], str | None],
    now: float,
    region: str | None = "us-east-1",
) -> Credentials:
    """
    Check a parsed request's signature, scope and time.

    :param secret_lookup: the secret key of an access key, or ``None`` if unknown.
    :param now: the server's time, in seconds since the epoch.
    :param region: the region clients must sign for; ``None`` accepts any.
    :raises s3node.s3.errors.S3Error: :class:`~.errors.InvalidAccessKeyId`,
        :class:`~.errors.RequestTimeTooSkewed` (header signing, more than
        :data:`MAX_CLOCK_SKEW` off), :class:`~.errors.AccessDenied` (a presigned
        URL expired or not yet valid), :class:`~.errors.SignatureDoesNotMatch`,
        and for a wrong scope the malformed-signature error of its form.
    """
    bad = (
        errors.AuthorizationQueryParametersError
        if request.presigned
        else errors.AuthorizationHeaderMalformed
    )
    scope = request.scope
    if region is not None and scope.region != region:
        raise bad(
            f"The authorization header is malformed; the region '{scope.region}' is wrong;"
            f" expecting '{region}'",
            fields=[("Region", region)],
        )
    if scope.service != "s3":
        raise bad(f"The authorization header is malformed; incorrect service '{scope.service}'")
    secret = secret_lookup(request.access_key)
    if secret is None:
        raise errors.InvalidAccessKeyId(fields=[("AWSAccessKeyId", request.access_key)])
    _check_time(request, now)
    key = signing_key(secret, scope)
    string_to_sign = request.string_to_sign()
    expected = sign(key, string_to_sign)
    if not _SIGNATURE.fullmatch(request.signature) or not hmac.compare_digest(
        expected, request.signature
    ):
        raise errors.SignatureDoesNotMatch(
            fields=[
                ("AWSAccessKeyId", request.access_key),
                ("StringToSign", string_to_sign),
                ("SignatureProvided", request.signature),
                ("CanonicalRequest", request.canonical_request()),
            ]
        )
    return Credentials(
        access_key=request.access_key,
        scope=scope,
        timestamp=request.timestamp,
        signature=request.signature,
        payload_hash=request.payload_hash,
        presigned=request.presigned,
        signing_key=key,
    )


def _check_time(request: SignedRequest, now: float) -> None:
    signed_at = request.time()
    server_time = _iso(now)
    if request.expires is None:
        if abs(now - signed_at) > MAX_CLOCK_SKEW:
            raise errors.RequestTimeTooSkewed(
                fields=[
                    ("RequestTime", request.timestamp),
                    ("ServerTime", server_time),
                    ("MaxAllowedSkewMilliseconds", str(MAX_CLOCK_SKEW * 1000)),
                ]
            )
        return
    if signed_at - now > MAX_CLOCK_SKEW:
        raise errors.AccessDenied("Request is not yet valid")
    if now > signed_at + request.expires:
        raise errors.AccessDenied(
            "Request has expired",
            fields=[
                ("X-Amz-Expires", str(request.expires)),
                ("Expires", _iso(signed_at + request.expires)),
                ("ServerTime", server_time),
            ],
        )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
