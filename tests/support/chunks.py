"""Small helpers for tests that make and check chunks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator

from s3node.core.ids import new_chunk_id

__all__ = ["aiter_of", "collect", "new_chunk", "sha256_hex"]

#: the largest chunk the storage tests' ``node`` fixture accepts
NODE_MAX_CHUNK = 16 * 1024 * 1024


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data``, lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def new_chunk(size: int) -> tuple[str, bytes, str]:
    """A fresh chunk id, ``size`` random bytes and their SHA-256."""
    data = os.urandom(size)
    return new_chunk_id(), data, sha256_hex(data)


async def aiter_of(*pieces: bytes) -> AsyncIterator[bytes]:
    """An async iterator over ``pieces``."""
    for piece in pieces:
        yield piece


async def collect(pieces: AsyncIterable[bytes]) -> bytes:
    """Everything an async iterable of bytes yields, joined."""
    return b"".join([p async for p in pieces])
