"""
Helpers for tests that run against every chunk store (the ``store`` fixture of
``tests/storage/conftest.py``: the disk store, the memory store and a real
node through gRPC).
"""

from __future__ import annotations

from typing import Any

from s3node.core.chunking import FRAME_SIZE
from s3node.storage.memorystore import MemoryChunkStore
from support.chunks import aiter_of, collect

__all__ = ["CONTRACT_MAX_CHUNK", "backing", "corrupt", "leftovers", "put", "read"]

#: the largest chunk the ``store`` fixture's stores accept
CONTRACT_MAX_CHUNK = 8 * FRAME_SIZE


def backing(store: Any) -> Any:
    """The disk store behind ``store``, if any."""
    return getattr(store, "backing", store)


def corrupt(store: Any, chunk_id: str, position: int) -> None:
    """Flip one bit of the stored chunk's byte at ``position``."""
    if isinstance(store, MemoryChunkStore):
        store.corrupt(chunk_id, position)
        return
    path = backing(store).layout.data_path(chunk_id)
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0x01]))


async def put(store: Any, chunk_id: str, data: bytes, digest: str, *, algorithm: str = "sha256",
              pieces: list[bytes] | None = None, transfer_crc32c: str | None = None) -> Any:
    """Put ``data`` (in ``pieces`` when given) as ``chunk_id``."""
    return await store.put(
        chunk_id,
        size=len(data),
        algorithm=algorithm,
        digest=digest,
        data=aiter_of(*(pieces if pieces is not None else [data])),
        transfer_crc32c=transfer_crc32c,
    )


async def read(store: Any, chunk_id: str, **kw: Any) -> bytes:
    """All the bytes a read of ``chunk_id`` (with ``kw``) yields."""
    return await collect((await store.read(chunk_id, **kw)).pieces)


def leftovers(store: Any) -> list[str]:
    """The names in a disk store's temp folder (none for the memory store)."""
    if isinstance(store, MemoryChunkStore):
        return []
    return sorted(p.name for p in backing(store).layout.tmp.iterdir())
