"""
Fakes of the gateway's collaborators, for tests of the gateway layer alone.

:class:`FakeNode` is an in-memory storage client with the
:class:`s3node.storage.client.StorageClient` coroutine API and switches to make
it fail, corrupt or stall.  The metadata store needs no fake: the tests use the
shipped :class:`s3node.metadata.memory.MemoryMetadataStore` (its ``down``
switch simulates an outage).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from s3node.errors import ChunkNotFound, Unavailable


@dataclass(frozen=True)
class FakeHealth:
    node_id: str
    capacity: int
    used: int
    free: int
    chunk_count: int


class FakeNode:
    """An in-memory storage client; set ``down`` or ``corrupt`` to misbehave."""

    message_size = 64 * 1024

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.chunks: dict[str, bytes] = {}
        self.down = False
        #: ids of chunks whose bytes come back flipped
        self.corrupt: set[str] = set()
        self.puts = 0
        self.reads = 0
        #: when set, puts wait until the event is set (a stalled node)
        self.gate: asyncio.Event | None = None

    def _check(self) -> None:
        if self.down:
            raise Unavailable(f"node {self.node_id} is down")

    async def put_chunk(self, chunk_id: str, data: bytes, *, algorithm: str,
                        digest: str, timeout: float | None = None) -> None:
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        self._check()
        assert algorithm == "sha256" and hashlib.sha256(data).hexdigest() == digest
        self.chunks[chunk_id] = bytes(data)
        self.puts += 1

    async def _stream(self, data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), self.message_size):
            await asyncio.sleep(0)
            self._check()
            yield data[i:i + self.message_size]

    def get_chunk(self, chunk_id: str, *, offset: int = 0, length: int | None = None,
                  timeout: float | None = None) -> AsyncIterator[bytes]:
        self._check()
        if chunk_id not in self.chunks:
            raise ChunkNotFound(chunk_id)
        self.reads += 1
        data = self.chunks[chunk_id]
        if chunk_id in self.corrupt:
            data = bytes([data[0] ^ 1]) + data[1:]
        end = len(data) if length is None else offset + length
        return self._stream(data[offset:end])

    async def delete_chunk(self, chunk_id: str, *, timeout: float | None = None) -> None:
        self._check()
        if self.chunks.pop(chunk_id, None) is None:
            raise ChunkNotFound(chunk_id)

    async def health(self) -> FakeHealth:
        self._check()
        used = sum(map(len, self.chunks.values()))
        return FakeHealth(self.node_id, 10**9, used, 10**9 - used, len(self.chunks))

    async def close(self) -> None:
        pass
