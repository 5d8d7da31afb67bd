"""
Who sent a request: the access keys of the metadata store, checked for both
APIs.  S3 requests and REST requests signed with SigV4 are verified by
:mod:`s3node.s3.sigv4`; REST requests with HTTP Basic credentials by a
constant-time comparison of the secret (:meth:`KeyRing.basic`).

:class:`KeyRing` keeps the keys it looked up for :data:`CACHE_SECONDS`
seconds of the injected clock, so a busy client costs no metadata query per
request; a disabled key (or changed grants) therefore takes effect within
that time on other gateways, at once on the one that changed it
(:meth:`KeyRing.forget`).

A refused authentication is answered only :attr:`KeyRing.failure_delay`
seconds after the request arrived, whether its key exists or not, so that
neither the answer nor its timing tells a guesser which ids exist
(:meth:`KeyRing.refuse_after`).
"""

from __future__ import annotations

import hmac
import secrets
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from s3node.errors import AccessKeyNotFound, InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.records import AccessKey
from s3node.s3 import errors, sigv4

__all__ = ["CACHE_SECONDS", "FAILURE_DELAY", "KeyRing", "new_access_key"]

#: seconds a looked-up key (or its absence) is remembered
CACHE_SECONDS = 30.0
#: keys remembered at most (access keys are few; this bounds a scan of bad ids)
CACHE_SIZE = 1024
#: seconds after its arrival that a refused authentication is answered
FAILURE_DELAY = 0.5
_ID_ALPHABET = string.ascii_uppercase + string.digits
#: what an unknown key's secret is compared with, so that the comparison costs the same
_NO_SECRET = b"\0" * 40


def new_access_key(description: str = "") -> AccessKey:
    """A fresh random access key (its ``created_at`` is set by the store)."""
    key_id = "S3N" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))
    secret = secrets.token_urlsafe(30)  # 40 characters
    return AccessKey(key_id, secret, datetime.now(UTC), description)


class KeyRing:
    """Looks up and checks the access keys of ``store``."""

    def __init__(self, store: MetadataStore, clock: IReactorTime, *, region: str,
                 failure_delay: float = FAILURE_DELAY) -> None:
        self._store = store
        self._clock = clock
        self.region = region
        self.failure_delay = failure_delay
        self._cache: dict[str, tuple[AccessKey | None, float]] = {}

    def now(self) -> float:
        """The server's time for signature checks."""
        clock: Any = self._clock
        return float(clock.seconds())

    async def key(self, access_key_id: str) -> AccessKey | None:
        """The enabled key ``access_key_id``; ``None`` when it is unknown or disabled."""
        now = self.now()
        cached = self._cache.get(access_key_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            key: AccessKey | None = await self._store.get_access_key(access_key_id)
        except (AccessKeyNotFound, InvalidRequest):  # a malformed id is simply unknown
            key = None
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[access_key_id] = (key, now + CACHE_SECONDS)
        return key

    async def secret(self, access_key_id: str) -> str | None:
        """The secret of ``access_key_id``; ``None`` when it is unknown or disabled."""
        key = await self.key(access_key_id)
        return key.secret if key is not None else None

    def forget(self, access_key_id: str) -> None:
        """Look ``access_key_id`` up again next time (it was just changed here)."""
        self._cache.pop(access_key_id, None)

    async def basic(self, access_key_id: str, secret: str) -> AccessKey | None:
        """
        The key whose id and secret these are, or ``None``; the secrets are
        compared in constant time, and an unknown id costs the same comparison.
        """
        key = await self.key(access_key_id)
        expected = key.secret.encode("utf-8") if key is not None else _NO_SECRET
        matches = hmac.compare_digest(expected, secret.encode("utf-8", "surrogateescape"))
        return key if matches and key is not None else None

    async def verify(self, method: str, raw_path: str, raw_query: str,
                     headers: Iterable[tuple[str, str]], *,
                     default_payload_hash: str | None = None,
                     ) -> tuple[sigv4.Credentials, AccessKey]:
        """
        The credentials of a SigV4 request, verified, and their key
        (``default_payload_hash``: see :meth:`~s3node.s3.sigv4.SignedRequest.parse`).

        :raises s3node.s3.errors.S3Error: unsigned, malformed, unknown key,
            skewed or expired, or a signature that does not match.
        """
        if "AWSAccessKeyId=" in raw_query and "Signature=" in raw_query:
            # a SigV2 presigned URL (boto3's default for presigning without s3v4)
            raise errors.InvalidRequest(
                "The authorization mechanism you have provided is not supported."
                " Please use AWS4-HMAC-SHA256.")
        signed = sigv4.SignedRequest.parse(method, raw_path, raw_query, list(headers),
                                           default_payload_hash=default_payload_hash)
        key = await self.key(signed.access_key)
        secret = key.secret if key is not None else None
        credentials = sigv4.verify(signed, lambda _: secret, self.now(), region=self.region)
        assert key is not None  # verify refuses an unknown key
        return credentials, key

    async def refuse_after(self, started: float) -> None:
        """Wait until :attr:`failure_delay` seconds after ``started`` (the request's arrival)."""
        wait = started + self.failure_delay - self.now()
        if wait > 0:
            await deferLater(self._clock, wait)
