"""The MetadataStore contract for file records, chunks and replicas, on every backend."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk, upload

from s3node.errors import (
    Conflict,
    FileNotFound,
    InvalidChunkId,
    InvalidRequest,
    NotEnoughReplicas,
)
from s3node.interfaces import MetadataStore
from s3node.records import (
    ChunkRecord,
    FileStatus,
    ReplicaRecord,
    ReplicaState,
)

STORED = ReplicaState.STORED


async def _new(store: MetadataStore, **kw: object):  # type: ignore[no-untyped-def]
    args = {"filename": "a.txt", "content_type": "text/plain", "checksum_algorithm": "sha256",
            "chunk_size": 1024}
    args.update(kw)
    return await store.create_file(**args)  # type: ignore[arg-type]


@pytest_twisted.ensureDeferred
async def test_create_file_starts_uploading(store: MetadataStore) -> None:
    """A new file is 'uploading', has no size or checksum yet, and UTC-aware timestamps."""
    record = await _new(store, filename="ünïcode name.txt")
    assert record.status is FileStatus.UPLOADING
    assert record.size is None and record.checksum is None
    assert record.filename == "ünïcode name.txt"
    assert record.created_at.tzinfo is not None
    assert record.created_at.utcoffset() == timedelta(0)
    assert record.created_at == record.updated_at
    assert await store.get_file(record.file_id) == record


@pytest_twisted.ensureDeferred
async def test_create_file_with_given_id_and_duplicate(store: MetadataStore) -> None:
    """A caller-chosen id is used; creating the same id twice is a Conflict."""
    fid = uuid.uuid4()
    record = await _new(store, file_id=fid)
    assert record.file_id == fid
    with pytest.raises(Conflict):
        await _new(store, file_id=fid)


@pytest.mark.parametrize(
    "bad",
    [
        {"filename": ""},
        {"filename": "x" * 1025},
        {"filename": "nul\x00name"},
        {"filename": "lone \udc80 surrogate"},
        {"content_type": "text/\ud800"},
        {"content_type": "t" * 256},
        {"checksum_algorithm": ""},
        {"chunk_size": 0},
        {"chunk_size": -5},
        {"chunk_size": "8"},
        {"file_id": "not-a-uuid"},
    ],
)
@pytest_twisted.ensureDeferred
async def test_create_file_rejects_bad_input(store: MetadataStore, bad: dict) -> None:
    """Bad arguments raise InvalidRequest and store nothing."""
    with pytest.raises(InvalidRequest):
        await _new(store, **bad)
    assert (await store.list_files(page=1, per_page=10)).total == 0


@pytest_twisted.ensureDeferred
async def test_unknown_file_is_not_found(store: MetadataStore) -> None:
    """Reading, failing or deleting an unknown file raises FileNotFound."""
    missing = uuid.uuid4()
    for call in (
        store.get_file(missing),
        store.get_file_with_chunks(missing),
        store.fail_file(missing),
        store.start_delete(missing),
        store.finish_delete(missing),
        store.record_chunk(make_chunk(missing, 0)),
        store.complete_file(file_id=missing, size=0, checksum=digest(), replicas=1),
    ):
        with pytest.raises(FileNotFound):
            await call


@pytest_twisted.ensureDeferred
async def test_chunks_round_trip_in_index_order(store: MetadataStore) -> None:
    """Chunks recorded out of order come back in index order with their replicas."""
    record = await _new(store)
    chunks = [make_chunk(record.file_id, i, size=10 + i, nodes=("n2", "n1")) for i in range(5)]
    for c in reversed(chunks):
        await store.record_chunk(c)
    fwc = await store.get_file_with_chunks(record.file_id)
    assert fwc.file.file_id == record.file_id
    assert [c.index for c in fwc.chunks] == [0, 1, 2, 3, 4]
    for got, want in zip(fwc.chunks, chunks, strict=True):
        assert (got.chunk_id, got.size, got.checksum, got.checksum_algorithm) == (
            want.chunk_id, want.size, want.checksum, want.checksum_algorithm)
        assert got.replicas == (ReplicaRecord("n1", STORED), ReplicaRecord("n2", STORED))


@pytest_twisted.ensureDeferred
async def test_record_chunk_touches_updated_at(store: MetadataStore) -> None:
    """Recording a chunk moves the file's updated_at forward (the sweeper's liveness)."""
    record = await _new(store)
    await store.record_chunk(make_chunk(record.file_id, 0))
    after = await store.get_file(record.file_id)
    assert after.updated_at >= record.updated_at
    assert after.created_at == record.created_at


@pytest_twisted.ensureDeferred
async def test_record_chunk_retry_is_idempotent_and_conflicts_differ(store: MetadataStore) -> None:
    """
    Recording the same chunk again adds its replicas; a different chunk at that index is a Conflict.
    """
    record = await _new(store)
    first = make_chunk(record.file_id, 0, nodes=("n1",))
    await store.record_chunk(first)
    await store.record_chunk(
        ChunkRecord(**{**first.__dict__, "replicas": (ReplicaRecord("n2", STORED),)})
    )
    fwc = await store.get_file_with_chunks(record.file_id)
    assert fwc.chunks[0].nodes_with() == ("n1", "n2")
    other = ChunkRecord(**{**first.__dict__, "size": 999})
    with pytest.raises(Conflict):
        await store.record_chunk(other)
    assert (await store.get_file_with_chunks(record.file_id)).chunks[0].size == first.size


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("chunk_id", "ABC", InvalidChunkId),
        ("chunk_id", "g" * 32, InvalidChunkId),
        ("chunk_id", "a" * 65, InvalidChunkId),
        ("checksum", "xyz", InvalidRequest),
        ("checksum", "abc", InvalidRequest),
        ("size", -1, InvalidRequest),
        ("index", -1, InvalidRequest),
        ("replicas", (ReplicaRecord("n1", STORED), ReplicaRecord("n1", STORED)), InvalidRequest),
        ("replicas", (ReplicaRecord("", STORED),), InvalidRequest),
    ],
)
@pytest_twisted.ensureDeferred
async def test_record_chunk_rejects_bad_chunks(
    store: MetadataStore, field: str, value: object, error: type[Exception]
) -> None:
    """A malformed chunk record raises a clear error and records nothing."""
    record = await _new(store)
    bad = ChunkRecord(**{**make_chunk(record.file_id, 0).__dict__, field: value})
    with pytest.raises(error):
        await store.record_chunk(bad)
    assert (await store.get_file_with_chunks(record.file_id)).chunks == ()


@pytest_twisted.ensureDeferred
async def test_set_replica_state_inserts_and_updates(store: MetadataStore) -> None:
    """
    set_replica_state adds a replica row or changes its state; an unknown chunk is FileNotFound.
    """
    record = await _new(store)
    await store.record_chunk(
        make_chunk(record.file_id, 0, nodes=("n1",), state=ReplicaState.WRITING)
    )
    await store.set_replica_state(file_id=record.file_id, index=0, node_id="n1", state=STORED)
    await store.set_replica_state(
        file_id=record.file_id, index=0, node_id="n3", state=ReplicaState.CORRUPT
    )
    chunk = (await store.get_file_with_chunks(record.file_id)).chunks[0]
    assert chunk.replicas == (
        ReplicaRecord("n1", STORED), ReplicaRecord("n3", ReplicaState.CORRUPT)
    )
    with pytest.raises(FileNotFound):
        await store.set_replica_state(file_id=record.file_id, index=7, node_id="n1", state=STORED)
    with pytest.raises(FileNotFound):
        await store.set_replica_state(file_id=uuid.uuid4(), index=0, node_id="n1", state=STORED)


@pytest_twisted.ensureDeferred
async def test_complete_file(store: MetadataStore) -> None:
    """
    complete_file sets size and checksum and moves the file to completed; repeating it is a no-op.
    """
    record = await upload(store, chunks=3, complete=False)
    done = await store.complete_file(
        file_id=record.file_id, size=300, checksum=digest("whole"), replicas=2
    )
    assert done.status is FileStatus.COMPLETED
    assert (done.size, done.checksum) == (300, digest("whole"))
    assert await store.get_file(record.file_id) == done
    again = await store.complete_file(
        file_id=record.file_id, size=300, checksum=digest("whole"), replicas=2
    )
    assert again == done
    with pytest.raises(Conflict):
        await store.complete_file(file_id=record.file_id, size=301, checksum=digest(), replicas=1)


@pytest_twisted.ensureDeferred
async def test_complete_empty_file(store: MetadataStore) -> None:
    """A file with no chunks completes with size 0."""
    record = await _new(store)
    done = await store.complete_file(file_id=record.file_id, size=0, checksum=digest(), replicas=2)
    assert done.status is FileStatus.COMPLETED and done.size == 0


@pytest_twisted.ensureDeferred
async def test_complete_file_refuses_and_changes_nothing(store: MetadataStore) -> None:
    """
    Too few stored replicas, wrong total size or a missing chunk raise NotEnoughReplicas; nothing
    changes.
    """
    record = await _new(store)
    fid = record.file_id
    await store.record_chunk(make_chunk(fid, 0, nodes=("n1", "n2")))
    await store.record_chunk(make_chunk(fid, 1, nodes=("n1",)))
    await store.record_chunk(
        make_chunk(fid, 2, nodes=("n1", "n2", "n3"), state=ReplicaState.WRITING)
    )
    before = await store.get_file(fid)
    with pytest.raises(NotEnoughReplicas, match="fewer than 2"):
        await store.complete_file(file_id=fid, size=300, checksum=digest(), replicas=2)
    with pytest.raises(NotEnoughReplicas):
        await store.complete_file(file_id=fid, size=300, checksum=digest(), replicas=1)
    await store.set_replica_state(file_id=fid, index=2, node_id="n1", state=STORED)
    with pytest.raises(NotEnoughReplicas, match="add up to 300 bytes, not the 299"):
        await store.complete_file(file_id=fid, size=299, checksum=digest(), replicas=1)
    assert await store.get_file(fid) == before

    gap = await _new(store)
    await store.record_chunk(make_chunk(gap.file_id, 0))
    await store.record_chunk(make_chunk(gap.file_id, 2))
    with pytest.raises(NotEnoughReplicas, match="missing"):
        await store.complete_file(file_id=gap.file_id, size=200, checksum=digest(), replicas=1)
    assert (await store.get_file(gap.file_id)).status is FileStatus.UPLOADING

    done = await store.complete_file(file_id=fid, size=300, checksum=digest(), replicas=1)
    assert done.status is FileStatus.COMPLETED


@pytest_twisted.ensureDeferred
async def test_complete_file_rejects_bad_arguments(store: MetadataStore) -> None:
    """complete_file checks its size, checksum and replica count."""
    record = await _new(store)
    for kw in ({"size": -1}, {"checksum": "XYZ"}, {"replicas": 0}):
        args = {"file_id": record.file_id, "size": 0, "checksum": digest(), "replicas": 1, **kw}
        with pytest.raises(InvalidRequest):
            await store.complete_file(**args)  # type: ignore[arg-type]


@pytest_twisted.ensureDeferred
async def test_no_chunks_after_completion_or_failure(store: MetadataStore) -> None:
    """Chunks cannot be added to a completed or failed file (Conflict)."""
    done = await upload(store, chunks=1)
    with pytest.raises(Conflict):
        await store.record_chunk(make_chunk(done.file_id, 1))
    failed = await _new(store)
    await store.fail_file(failed.file_id)
    with pytest.raises(Conflict):
        await store.record_chunk(make_chunk(failed.file_id, 0))


@pytest_twisted.ensureDeferred
async def test_fail_file(store: MetadataStore) -> None:
    """fail_file moves a file to failed, but leaves a deleting file deleting."""
    record = await _new(store)
    await store.fail_file(record.file_id)
    assert (await store.get_file(record.file_id)).status is FileStatus.FAILED
    with pytest.raises(Conflict):
        await store.complete_file(file_id=record.file_id, size=0, checksum=digest(), replicas=1)
    deleting = await _new(store)
    await store.start_delete(deleting.file_id)
    await store.fail_file(deleting.file_id)
    assert (await store.get_file(deleting.file_id)).status is FileStatus.DELETING


@pytest_twisted.ensureDeferred
async def test_timestamps_come_from_the_clock(open_store) -> None:  # type: ignore[no-untyped-def]
    """Timestamps are taken from the injected clock, in UTC, to the microsecond."""
    from twisted.internet.task import Clock

    clock = Clock()
    clock.advance(1_780_000_000.123456)
    s = open_store(clock=clock)
    await s.migrate()
    record = await _new(s)
    assert record.created_at.tzinfo == UTC or record.created_at.utcoffset() == timedelta(0)
    assert abs(record.created_at.timestamp() - 1_780_000_000.123456) < 1e-6
    clock.advance(5)
    await s.fail_file(record.file_id)
    assert (await s.get_file(record.file_id)).updated_at - record.created_at == timedelta(seconds=5)
