"""
What a SigV4-signed request claims, read from either of its two forms (the
``Authorization`` header or a presigned URL's query) and checked for form:
the access key and scope, the time, the signed headers, the signature and
the payload hash.  :mod:`s3node.s3.sigv4` then checks the claims themselves.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from s3node.s3 import errors
from s3node.s3.canonical import ALGORITHM, PAYLOAD_MARKERS, UNSIGNED_PAYLOAD, Scope

__all__ = ["MAX_EXPIRES", "PRESIGN_PARAMS", "Claims", "header_claims", "presigned_claims"]

#: the longest a presigned URL may live, in seconds (seven days)
MAX_EXPIRES = 7 * 24 * 60 * 60
#: the query parameters of a presigned URL, every one required
PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)

_TIMESTAMP = re.compile(r"\d{8}T\d{6}Z")
_DATE = re.compile(r"\d{8}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class Claims(NamedTuple):
    """What one signature form says, before the checks both forms share."""

    access_key: str
    scope: Scope
    timestamp: str
    signed: str
    signature: str
    payload_hash: str
    expires: int | None
    bad: type[errors.S3Error]


def header_claims(header: dict[str, str], authorization: str,
                  default_payload_hash: str | None = None) -> Claims:
    """The claims of an ``Authorization`` header (``header`` has lower-case names)."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise errors.InvalidRequest(
            "The authorization mechanism you have provided is not supported."
            f" Please use {ALGORITHM}."
        )
    parts: dict[str, str] = {}
    for component in rest.split(","):
        name, eq, value = component.strip().partition("=")
        if not eq or name in parts:
            raise errors.AuthorizationHeaderMalformed(
                f"The authorization header is malformed; cannot parse {component.strip()!r}"
            )
        parts[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in parts]
    if missing or len(parts) != 3:
        raise errors.AuthorizationHeaderMalformed(
            "The authorization header is malformed; it must have exactly"
            " Credential, SignedHeaders and Signature"
        )
    bad = errors.AuthorizationHeaderMalformed
    access_key, scope = _parse_credential(parts["Credential"], bad)
    amz_date = header.get("x-amz-date")
    if amz_date is not None:
        timestamp = _parse_timestamp(amz_date, bad)
    elif "date" in header:
        timestamp = _parse_http_date(header["date"])
    else:
        raise errors.AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    payload_hash = header.get("x-amz-content-sha256", default_payload_hash)
    if payload_hash is None:
        raise errors.MissingSecurityHeader(
            "Missing required header for this request: x-amz-content-sha256"
        )
    if payload_hash not in PAYLOAD_MARKERS and not _HEX64.fullmatch(payload_hash):
        raise errors.InvalidArgument(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value."
        )
    return Claims(
        access_key, scope, timestamp, parts["SignedHeaders"], parts["Signature"], payload_hash,
        None, bad,
    )  # fmt: skip


def presigned_claims(header: dict[str, str], query: dict[str, str | None]) -> Claims:
    """The claims of a presigned URL's query parameters."""
    bad = errors.AuthorizationQueryParametersError
    values = {name: query.get(name) for name in PRESIGN_PARAMS}
    present = {name: value for name, value in values.items() if value}
    if len(present) != len(PRESIGN_PARAMS):
        raise bad(
            "Query-string authentication version 4 requires the X-Amz-Algorithm,"
            " X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders,"
            " and X-Amz-Expires parameters."
        )
    if present["X-Amz-Algorithm"] != ALGORITHM:
        raise bad(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    access_key, scope = _parse_credential(present["X-Amz-Credential"], bad)
    timestamp = _parse_timestamp(present["X-Amz-Date"], bad)
    expires_text = present["X-Amz-Expires"]
    if not expires_text.isdecimal() or not expires_text.isascii():
        raise bad("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires < 1:
        raise bad("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES:
        raise bad(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}")
    payload_hash = query.get("X-Amz-Content-Sha256") or header.get(
        "x-amz-content-sha256", UNSIGNED_PAYLOAD
    )
    return Claims(
        access_key, scope, timestamp, present["X-Amz-SignedHeaders"],
        present["X-Amz-Signature"], payload_hash, expires, bad,
    )  # fmt: skip


def _parse_credential(text: str, bad: type[errors.S3Error]) -> tuple[str, Scope]:
    parts = text.split("/")
    if len(parts) < 5 or parts[-1] != "aws4_request" or not all(parts):
        raise bad(
            f"The credential {text!r} is malformed; expecting"
            ' "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    date, region, service = parts[-4:-1]
    if not _DATE.fullmatch(date):
        raise bad(f"The credential date {date!r} is not in the form YYYYMMDD")
    return "/".join(parts[:-4]), Scope(date=date, region=region, service=service)


def _parse_timestamp(text: str, bad: type[errors.S3Error]) -> str:
    if _TIMESTAMP.fullmatch(text):
        try:
            datetime.strptime(text, "%Y%m%dT%H%M%SZ")
        except ValueError:
            pass
        else:
            return text
    raise bad(f"X-Amz-Date {text!r} must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")


def _parse_http_date(text: str) -> str:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise errors.AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
