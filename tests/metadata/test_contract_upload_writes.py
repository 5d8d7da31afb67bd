"""
The MetadataStore contract for an upload's writes, on every backend: a file
created with its first chunk, and completed with the replicas its upload
wrote marked stored in the same transaction (docs/performance.md, "Two
metadata writes for a small upload", and "One transaction marks an upload's
replicas stored").
"""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk, md5

from s3node.errors import BucketNotFound, Conflict, FileNotFound, InvalidRequest, NotEnoughReplicas
from s3node.interfaces import MetadataStore
from s3node.records import FileRecord, FileStatus, ReplicaState

WRITING = ReplicaState.WRITING


async def _with_first_chunk(store: MetadataStore, nodes: tuple[str, ...] = ("n1", "n2"),
                            fid: uuid.UUID | None = None) -> FileRecord:
    fid = fid or uuid.uuid4()
    return await store.create_file(
        filename="a.bin", content_type="application/octet-stream", checksum_algorithm="sha256",
        chunk_size=100, file_id=fid, first_chunk=make_chunk(fid, 0, nodes=nodes, state=WRITING))


async def _states(store: MetadataStore, fid: uuid.UUID) -> list[list[tuple[str, str]]]:
    fwc = await store.get_file_with_chunks(fid)
    return [[(rep.node_id, rep.state.value) for rep in c.replicas] for c in fwc.chunks]


@pytest_twisted.ensureDeferred
async def test_a_file_is_created_with_its_first_chunk(store: MetadataStore) -> None:
    """The file is uploading and already has chunk 0, its replicas writing."""
    record = await _with_first_chunk(store)
    assert record.status is FileStatus.UPLOADING
    fwc = await store.get_file_with_chunks(record.file_id)
    assert fwc.file == record
    assert [c.chunk_id for c in fwc.chunks] == [make_chunk(record.file_id, 0).chunk_id]
    assert await _states(store, record.file_id) == [[("n1", "writing"), ("n2", "writing")]]
    await store.record_chunk(make_chunk(record.file_id, 1, state=WRITING))  # the next one
    assert len((await store.get_file_with_chunks(record.file_id)).chunks) == 2


@pytest_twisted.ensureDeferred
async def test_a_first_chunk_of_another_file_is_refused(store: MetadataStore) -> None:
    """A first chunk naming another file, or given without the file's id, creates nothing."""
    fid = uuid.uuid4()
    args = {"filename": "a.bin", "content_type": "", "checksum_algorithm": "sha256",
            "chunk_size": 100}
    with pytest.raises(InvalidRequest, match="first chunk"):
        await store.create_file(**args, file_id=fid,  # type: ignore[arg-type]
                                first_chunk=make_chunk(uuid.uuid4(), 0))
    with pytest.raises(InvalidRequest, match="first chunk"):
        await store.create_file(**args, first_chunk=make_chunk(fid, 0))  # type: ignore[arg-type]
    with pytest.raises(FileNotFound):
        await store.get_file(fid)


@pytest_twisted.ensureDeferred
async def test_a_duplicate_id_with_a_first_chunk_changes_nothing(store: MetadataStore) -> None:
    """Creating an existing id is a Conflict; the existing file keeps its chunks as they were."""
    record = await _with_first_chunk(store, nodes=("n1",))
    with pytest.raises(Conflict):
        await _with_first_chunk(store, nodes=("n3",), fid=record.file_id)
    assert await _states(store, record.file_id) == [[("n1", "writing")]]


@pytest_twisted.ensureDeferred
async def test_completing_marks_the_replicas_stored(store: MetadataStore) -> None:
    """Replicas still writing count once ``stored`` names them, in the completing transaction."""
    record = await _with_first_chunk(store)
    fid = record.file_id
    done = await store.complete_file(file_id=fid, size=100, checksum=digest("f"), replicas=2,
                                     stored=[(0, "n1"), (0, "n2")])
    assert done.status is FileStatus.COMPLETED
    assert await _states(store, fid) == [[("n1", "stored"), ("n2", "stored")]]
    again = await store.complete_file(file_id=fid, size=100, checksum=digest("f"), replicas=2,
                                      stored=[(0, "n1")])
    assert again == done


@pytest_twisted.ensureDeferred
async def test_completing_marks_every_chunks_replicas_at_once(store: MetadataStore) -> None:
    """Every replica of a many-chunk file, a handoff's among them, is marked by the
    completing transaction (each pair named once or twice); until then all are writing."""
    record = await _with_first_chunk(store)
    fid = record.file_id
    for index in range(1, 40):
        await store.record_chunk(make_chunk(fid, index, nodes=("n1", "n2"), state=WRITING))
    await store.set_replica_state(file_id=fid, index=7, node_id="n3", state=WRITING)  # a handoff
    marks = [(i, n) for i in range(40) for n in ("n1", "n2") if (i, n) != (7, "n2")]
    marks += [(7, "n3"), (3, "n1")]
    assert {s for states in await _states(store, fid) for _, s in states} == {"writing"}
    done = await store.complete_file(file_id=fid, size=4000, checksum=digest("f"), replicas=2,
                                     stored=marks)
    assert done.status is FileStatus.COMPLETED
    states = await _states(store, fid)
    assert states[7] == [("n1", "stored"), ("n2", "writing"), ("n3", "stored")]
    assert all(s == [("n1", "stored"), ("n2", "stored")] for i, s in enumerate(states) if i != 7)


@pytest_twisted.ensureDeferred
async def test_a_many_chunk_completion_with_a_chunk_it_lacks_marks_nothing(
        store: MetadataStore) -> None:
    """One mark among many for a chunk the file lacks: FileNotFound names it, nothing changes."""
    record = await _with_first_chunk(store, nodes=("n1",))
    fid = record.file_id
    for index in range(1, 10):
        await store.record_chunk(make_chunk(fid, index, nodes=("n1",), state=WRITING))
    with pytest.raises(FileNotFound, match="no chunk 12"):
        await store.complete_file(file_id=fid, size=1000, checksum=digest("f"), replicas=1,
                                  stored=[(i, "n1") for i in range(10)] + [(12, "n1")])
    assert {s for states in await _states(store, fid) for _, s in states} == {"writing"}
    assert (await store.get_file(fid)).status is FileStatus.UPLOADING


@pytest_twisted.ensureDeferred
async def test_a_refused_completion_marks_nothing(store: MetadataStore) -> None:
    """Too few marks, or a mark for a chunk the file lacks: refused, and no state changes."""
    record = await _with_first_chunk(store)
    fid = record.file_id
    with pytest.raises(NotEnoughReplicas):
        await store.complete_file(file_id=fid, size=100, checksum=digest("f"), replicas=2,
                                  stored=[(0, "n1")])
    with pytest.raises(FileNotFound):
        await store.complete_file(file_id=fid, size=100, checksum=digest("f"), replicas=1,
                                  stored=[(0, "n1"), (1, "n1")])
    with pytest.raises(InvalidRequest):
        await store.complete_file(file_id=fid, size=100, checksum=digest("f"), replicas=1,
                                  stored=[(-1, "n1")])
    assert await _states(store, fid) == [[("n1", "writing"), ("n2", "writing")]]
    assert (await store.get_file(fid)).status is FileStatus.UPLOADING


@pytest_twisted.ensureDeferred
async def test_objects_and_parts_complete_with_their_marks(store: MetadataStore) -> None:
    """complete_object and complete_part take the marks as complete_file does."""
    await store.create_bucket("bkt")
    named = await _with_first_chunk(store)
    with pytest.raises(BucketNotFound):
        await store.complete_object(file_id=named.file_id, size=100, checksum=digest("o"),
                                    replicas=2, bucket="gone", key="k", etag=md5("o"),
                                    stored=[(0, "n1"), (0, "n2")])
    assert await _states(store, named.file_id) == [[("n1", "writing"), ("n2", "writing")]]
    put = await store.complete_object(file_id=named.file_id, size=100, checksum=digest("o"),
                                      replicas=2, bucket="bkt", key="k", etag=md5("o"),
                                      stored=[(0, "n1"), (0, "n2")])
    assert put.object.file_id == named.file_id
    assert await _states(store, named.file_id) == [[("n1", "stored"), ("n2", "stored")]]

    up = await store.create_multipart("bkt", "mp", content_type="", headers=())
    part = await _with_first_chunk(store, nodes=("n3",))
    await store.complete_part(file_id=part.file_id, size=100, checksum=digest("p"), replicas=1,
                              upload_id=up.upload_id, part_number=1, etag=md5("p"),
                              stored=[(0, "n3")])
    assert await _states(store, part.file_id) == [[("n3", "stored")]]
    assert (await store.get_file(part.file_id)).status is FileStatus.COMPLETED
