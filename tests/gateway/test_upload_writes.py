"""
How many metadata writes an upload makes: the file's row is created with its
first chunk's, each later chunk is recorded before its bytes leave, and every
replica written is marked stored when the file completes (docs/performance.md,
"Two metadata writes for a small upload" and "One transaction marks an
upload's replicas stored").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_twisted
from gateway.conftest import Running, running_gateway
from gateway.test_app_files import upload
from gateway.test_durability import states

WRITES = ("create_file", "record_chunk", "touch_file", "set_replica_state", "complete_file",
          "fail_file")


def count_writes(running: Running) -> list[str]:
    """The names of the metadata writes the gateway makes from now on, in order."""
    made: list[str] = []
    store = running.store

    def counted(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        async def write(*args: Any, **kwargs: Any) -> Any:
            made.append(name)
            return await method(*args, **kwargs)
        return write

    for name in WRITES:
        setattr(store, name, counted(name, getattr(store, name)))
    return made


@pytest_twisted.async_yield_fixture
async def gw3() -> AsyncIterator[Running]:
    """A gateway with 3 fake nodes, 2 replicas and 1000-byte chunks."""
    async with running_gateway() as running:
        yield running


@pytest_twisted.ensureDeferred
async def test_a_one_chunk_upload_makes_two_metadata_writes(gw3):
    """Create (with the chunk, its replicas writing), then complete (marking them stored)."""
    made = count_writes(gw3)
    code, reply = await upload(gw3.url, b"s" * 500)
    assert code == 201, reply
    assert made == ["create_file", "complete_file"]
    (chunk,) = states(gw3, reply["file_id"])
    assert [state for _, state in chunk] == ["stored", "stored"]


@pytest_twisted.ensureDeferred
async def test_every_chunks_replicas_are_marked_by_the_completion(gw3):
    """Chunks after the first are recorded, one write each; no replica is marked on its
    own: the completing transaction marks all six (3 chunks, 2 replicas) stored."""
    made = count_writes(gw3)
    marks: list[tuple[int, str]] = []
    complete = gw3.store.complete_file

    async def completing(*args: Any, **kwargs: Any) -> Any:
        marks.extend(kwargs["stored"])
        return await complete(*args, **kwargs)

    gw3.store.complete_file = completing
    code, reply = await upload(gw3.url, b"m" * 2500)  # chunks of 1000, 1000 and 500 bytes
    assert code == 201, reply
    assert made == ["create_file", "record_chunk", "record_chunk", "complete_file"]
    chunks = states(gw3, reply["file_id"])
    assert sorted(marks) == sorted((i, node) for i, chunk in enumerate(chunks) for node, _ in chunk)
    assert all([s for _, s in chunk] == ["stored", "stored"] for chunk in chunks)
