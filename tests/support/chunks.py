"""Small helpers for tests that make and check chunks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from s3node.core.checksums import HashAlgorithm
from s3node.core.ids import new_chunk_id

__all__ = ["CountingSha256", "aiter_of", "collect", "counting_sha256", "new_chunk", "sha256_hex"]

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


class CountingSha256:
    """A SHA-256 hasher that adds the length of every update to ``fed[0]``."""

    name = "sha256"
    digest_size = 32

    def __init__(self, fed: list[int], inner: Any = None) -> None:
        self._fed = fed
        self._inner = inner if inner is not None else hashlib.sha256()

    def update(self, data: bytes | memoryview) -> None:
        self._fed[0] += memoryview(data).nbytes
        self._inner.update(data)

    def digest(self) -> bytes:
        return bytes(self._inner.digest())

    def hexdigest(self) -> str:
        return str(self._inner.hexdigest())

    def copy(self) -> CountingSha256:
        return CountingSha256(self._fed, self._inner.copy())


def counting_sha256(fed: list[int]) -> HashAlgorithm:
    """A ``sha256`` algorithm whose hashers count the bytes they are fed in ``fed[0]``."""
    return HashAlgorithm("sha256", 32, lambda: CountingSha256(fed))
