"""
Who signed an S3 request: SigV4 (:mod:`s3node.s3.sigv4`) against the access
keys in the metadata store.

:class:`KeyRing` keeps the secrets it looked up for :data:`CACHE_SECONDS`
seconds of the injected clock, so a busy client costs no metadata query per
request; a revoked key therefore stops working within that time (and at once
on a gateway that had not used it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet.interfaces import IReactorTime

from s3node.errors import AccessKeyNotFound, InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.s3 import errors, sigv4

__all__ = ["CACHE_SECONDS", "KeyRing"]

#: seconds a looked-up secret (or its absence) is remembered
CACHE_SECONDS = 30.0
#: secrets remembered at most (access keys are few; this bounds a scan of bad ids)
CACHE_SIZE = 1024


class KeyRing:
    """Verifies requests against the access keys of ``store``."""

    def __init__(self, store: MetadataStore, clock: IReactorTime, *, region: str) -> None:
        self._store = store
        self._clock = clock
        self.region = region
        self._cache: dict[str, tuple[str | None, float]] = {}

    def now(self) -> float:
        """The server's time for signature checks."""
        clock: Any = self._clock
        return float(clock.seconds())

    async def secret(self, access_key: str) -> str | None:
        """The secret of ``access_key``; ``None`` when it is unknown or revoked."""
        now = self.now()
        cached = self._cache.get(access_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            secret: str | None = (await self._store.get_access_key(access_key)).secret
        except (AccessKeyNotFound, InvalidRequest):  # a malformed id is simply unknown
            secret = None
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[access_key] = (secret, now + CACHE_SECONDS)
        return secret

    async def verify(self, method: str, raw_path: str, raw_query: str,
                     headers: Iterable[tuple[str, str]]) -> sigv4.Credentials:
        """
        The credentials of a request, verified.

        :raises s3node.s3.errors.S3Error: unsigned, malformed, unknown key,
            skewed or expired, or a signature that does not match.
        """
        if "AWSAccessKeyId=" in raw_query and "Signature=" in raw_query:
            # a SigV2 presigned URL (boto3's default for presigning without s3v4)
            raise errors.InvalidRequest(
                "The authorization mechanism you have provided is not supported."
                " Please use AWS4-HMAC-SHA256.")
        signed = sigv4.SignedRequest.parse(method, raw_path, raw_query, list(headers))
        secret = await self.secret(signed.access_key)
        return sigv4.verify(signed, lambda _: secret, self.now(), region=self.region)
