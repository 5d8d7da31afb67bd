"""
Who signed an S3 request: the gateway's :class:`~s3node.gateway.keyring.KeyRing`
(one set of access keys for the S3 and REST APIs), re-exported here.
"""

from __future__ import annotations

from s3node.gateway.keyring import CACHE_SECONDS, KeyRing

__all__ = ["CACHE_SECONDS", "KeyRing"]
