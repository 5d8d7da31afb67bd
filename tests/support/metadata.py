"""Record builders for the metadata store tests and benchmarks."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import replace

from s3node.interfaces import MetadataStore
from s3node.records import ChunkRecord, FileRecord, ReplicaRecord, ReplicaState

__all__ = ["digest", "make_chunk", "md5", "part", "spread_over_nodes", "upload"]


def digest(*parts: object) -> str:
    """A sha256 hex digest standing for the content named by ``parts``."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def make_chunk(
    file_id: uuid.UUID,
    index: int,
    *,
    size: int = 100,
    nodes: Sequence[str] = ("node-a", "node-b"),
    state: ReplicaState = ReplicaState.STORED,
) -> ChunkRecord:
    """Chunk ``index`` of ``file_id`` with one replica per node, all in ``state``."""
    return ChunkRecord(
        file_id=file_id,
        index=index,
        chunk_id=digest("id", file_id, index),
        size=size,
        checksum_algorithm="sha256",
        checksum=digest("content", file_id, index),
        replicas=tuple(ReplicaRecord(n, state) for n in nodes),
    )


async def upload(
    store: MetadataStore,
    *,
    chunks: int = 3,
    chunk_size: int = 100,
    nodes: Sequence[str] = ("node-a", "node-b"),
    complete: bool = True,
    filename: str = "file.bin",
) -> FileRecord:
    """Create a file, record ``chunks`` full chunks, and complete it (with 1 replica)."""
    record = await store.create_file(
        filename=filename,
        content_type="application/octet-stream",
        checksum_algorithm="sha256",
        chunk_size=chunk_size,
    )
    for i in range(chunks):
        await store.record_chunk(make_chunk(record.file_id, i, size=chunk_size, nodes=nodes))
    if complete:
        record = await store.complete_file(
            file_id=record.file_id,
            size=chunks * chunk_size,
            checksum=digest("file", record.file_id),
            replicas=1,
        )
    return record


async def spread_over_nodes(store: MetadataStore) -> tuple[list[str], uuid.UUID, uuid.UUID]:
    """
    Six chunks of chosen ids over two files, all on node ``n1`` and the first
    three on ``n2`` too; one file completed, the other still uploading with
    its chunk ``f...f`` writing on ``n1``.  Return n1's chunk ids in byte
    order, the completed file's id and the uploading one's.
    """
    ids = ["f" * 32, "0" * 32, "a" * 40, "9" * 64, "a" * 32, "0a" + "b" * 30]
    done = await upload(store, chunks=0, complete=False)
    busy = await upload(store, chunks=0, complete=False)
    for n, chunk_id in enumerate(ids):
        file_id = (done if n % 2 else busy).file_id
        nodes = ("n1", "n2") if n < 3 else ("n1",)
        await store.record_chunk(replace(make_chunk(file_id, n // 2, nodes=nodes), chunk_id=chunk_id))
    await store.complete_file(file_id=done.file_id, size=300, checksum="ab" * 32, replicas=1)
    await store.set_replica_state(
        file_id=busy.file_id, index=0, node_id="n1", state=ReplicaState.WRITING
    )
    return sorted(ids), done.file_id, busy.file_id


def md5(text: str) -> str:
    """A made-up ETag: the MD5 of ``text``, hex."""
    return hashlib.md5(text.encode()).hexdigest()  # an ETag, not security


async def part(store: MetadataStore, upload_id: str, number: int, *, chunks: int,
               chunk_size: int = 100, tag: str = "") -> tuple[uuid.UUID, str]:
    """Upload part ``number``: a file of ``chunks`` chunks, completed as the part."""
    record = await upload(store, chunks=chunks, chunk_size=chunk_size, complete=False)
    etag = md5(f"{number}{tag}")
    await store.complete_part(
        file_id=record.file_id, size=chunks * chunk_size,
        checksum=digest("file", record.file_id), replicas=1, upload_id=upload_id,
        part_number=number, etag=etag)
    return record.file_id, etag
