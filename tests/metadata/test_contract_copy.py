"""
The MetadataStore contract for copies that share chunks (CopyObject,
UploadPartCopy) and for releasing a shared chunk's replicas, on every backend.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
import pytest_twisted
from support.metadata import digest, upload

from s3node.errors import (
    BucketNotFound,
    FileNotFound,
    InvalidRequest,
    PreconditionFailed,
    UploadNotFound,
)
from s3node.interfaces import MetadataStore
from s3node.records import FileStatus, ObjectPut


def etag(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # an ETag, not security


async def put(store: MetadataStore, bucket: str, key: str, *, chunks: int = 3) -> ObjectPut:
    record = await upload(store, chunks=chunks, complete=False)
    return await store.complete_object(
        file_id=record.file_id, size=chunks * 100, checksum=digest("file", record.file_id),
        replicas=1, bucket=bucket, key=key, etag=etag(key))


async def copy(store: MetadataStore, source: uuid.UUID, key: str, **kw: object) -> ObjectPut:
    return await store.copy_object(  # type: ignore[arg-type]
        source=source, bucket="cpy", key=key, etag=etag("src"),
        headers=(("x-amz-meta-new", "1"),), content_type="text/x-copy", filename="c", **kw)


async def release_all(store: MetadataStore, file_id: uuid.UUID) -> list[tuple[int, str, bool]]:
    """Release every replica row of a file as the sweeper does; what each call answered."""
    fwc = await store.get_file_with_chunks(file_id)
    out = []
    for chunk in fwc.chunks:
        for replica in chunk.replicas:
            last = await store.release_replica(file_id=file_id, index=chunk.index,
                                               node_id=replica.node_id)
            out.append((chunk.index, replica.node_id, last))
    return out


@pytest_twisted.ensureDeferred
async def test_copy_object_shares_the_source_chunks(store: MetadataStore) -> None:
    """A copy is a new completed file naming the same chunk ids and replicas; no chunk is new."""
    await store.create_bucket("cpy")
    src = (await put(store, "cpy", "src")).object
    made = await copy(store, src.file_id, "dst")
    assert made.replaced is None
    obj = made.object
    assert (obj.key, obj.size, obj.etag, obj.content_type, obj.headers) == (
        "dst", 300, etag("src"), "text/x-copy", (("x-amz-meta-new", "1"),))
    a = await store.get_file_with_chunks(src.file_id)
    b = await store.get_file_with_chunks(obj.file_id)
    assert b.file.status is FileStatus.COMPLETED and b.file.filename == "c"
    assert (b.file.checksum_algorithm, b.file.checksum) == (a.file.checksum_algorithm,
                                                            a.file.checksum)
    assert [(c.index, c.chunk_id, c.size, c.checksum, c.nodes_with()) for c in b.chunks] == [
        (c.index, c.chunk_id, c.size, c.checksum, c.nodes_with()) for c in a.chunks]
    assert (await store.get_object("cpy", "src")).file_id == src.file_id


@pytest_twisted.ensureDeferred
async def test_copy_refuses_a_source_no_longer_completed(store: MetadataStore) -> None:
    """A source replaced or deleted before the copy's transaction is not copied; nothing is named."""
    await store.create_bucket("cpy")
    first = (await put(store, "cpy", "src")).object
    await put(store, "cpy", "src")  # first's file moves to deleting
    with pytest.raises(FileNotFound):
        await copy(store, first.file_id, "dst")
    with pytest.raises(FileNotFound):
        await copy(store, uuid.uuid4(), "dst")
    with pytest.raises(BucketNotFound):
        await store.copy_object(source=(await store.get_object("cpy", "src")).file_id,
                                bucket="nope", key="k", etag=etag("x"), headers=(),
                                content_type="", filename="k")
    page = await store.list_objects("cpy", limit=10)
    assert [e.key for e in page.objects] == ["src"]


@pytest_twisted.ensureDeferred
async def test_copy_onto_a_key_replaces_it_and_obeys_conditions(store: MetadataStore) -> None:
    """A copy names its key as a put does: the key's old file moves to deleting; If-Match holds."""
    await store.create_bucket("cpy")
    src = (await put(store, "cpy", "src")).object
    old = (await put(store, "cpy", "dst")).object
    with pytest.raises(PreconditionFailed):
        await copy(store, src.file_id, "dst", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await copy(store, src.file_id, "dst", if_match=etag("other"))
    made = await copy(store, src.file_id, "dst", if_match=old.etag)
    assert made.replaced == old.file_id
    assert (await store.get_file(old.file_id)).status is FileStatus.DELETING
    # onto itself (a metadata REPLACE): the source's own file moves to deleting
    itself = await copy(store, src.file_id, "src")
    assert itself.replaced == src.file_id
    assert (await store.get_file(src.file_id)).status is FileStatus.DELETING


@pytest_twisted.ensureDeferred
async def test_release_keeps_a_chunk_that_a_copy_shares(store: MetadataStore) -> None:
    """
    Releasing the replicas of a deleted source drops its rows but answers
    False (the copy still names the chunks on those nodes); releasing the
    copy's rows after that answers True: the node's chunk may go.
    """
    await store.create_bucket("cpy")
    src = (await put(store, "cpy", "src", chunks=2)).object
    dst = (await copy(store, src.file_id, "dst")).object
    gone = await store.delete_object("cpy", "src")
    assert gone == src.file_id
    assert {last for _, _, last in await release_all(store, src.file_id)} == {False}
    assert all(not c.replicas for c in (await store.get_file_with_chunks(src.file_id)).chunks)
    # the copy is intact, and its rows are the last ones now
    assert all(len(c.nodes_with()) == 2
               for c in (await store.get_file_with_chunks(dst.file_id)).chunks)
    await store.delete_object("cpy", "dst")
    assert {last for _, _, last in await release_all(store, dst.file_id)} == {True}
    # a released row is gone: releasing it again answers False
    assert not await store.release_replica(file_id=dst.file_id, index=0, node_id="node-a")


@pytest_twisted.ensureDeferred
async def test_release_keep_last_keeps_the_row_of_an_unshared_chunk(store: MetadataStore) -> None:
    """keep_last=True leaves the last row (the sweeper drops it once the node confirmed)."""
    record = await upload(store, chunks=1)
    assert await store.release_replica(file_id=record.file_id, index=0, node_id="node-a",
                                       keep_last=True)
    chunk = (await store.get_file_with_chunks(record.file_id)).chunks[0]
    assert set(chunk.nodes_with()) == {"node-a", "node-b"}
    with pytest.raises(InvalidRequest):
        await store.release_replica(file_id=record.file_id, index=-1, node_id="node-a")


@pytest_twisted.ensureDeferred
async def test_copy_part_takes_a_span_of_chunks(store: MetadataStore) -> None:
    """
    A part copied from chunks 1..2 of a source shares them, re-indexed; its
    checksum is the chunks' (sha256-chunks) unless the span is the whole file;
    completing the upload stitches it like any part; the source's deletion
    then leaves the object's shared chunks in place.
    """
    await store.create_bucket("cpy")
    src = (await put(store, "cpy", "src", chunks=3)).object
    up = await store.create_multipart("cpy", "mp", content_type="text/x-mp")
    assert await store.copy_part(source=src.file_id, first=1, count=2, upload_id=up.upload_id,
                                 part_number=1, etag=etag("p1"), filename="p") is None
    assert await store.copy_part(source=src.file_id, first=0, count=3, upload_id=up.upload_id,
                                 part_number=2, etag=etag("p2"), filename="p") is None
    parts = await store.list_parts(up.upload_id, limit=10)
    assert [(p.number, p.size, p.etag) for p in parts] == [(1, 200, etag("p1")),
                                                          (2, 300, etag("p2"))]
    whole = await store.get_file_with_chunks(src.file_id)
    part1 = await store.get_file_with_chunks(parts[0].file_id)
    part2 = await store.get_file_with_chunks(parts[1].file_id)
    assert [c.chunk_id for c in part1.chunks] == [c.chunk_id for c in whole.chunks[1:]]
    assert [c.index for c in part1.chunks] == [0, 1]
    assert (part1.file.checksum_algorithm, part1.file.filename) == ("sha256-chunks", "p")
    assert part1.file.checksum == hashlib.sha256(
        b"".join(bytes.fromhex(c.checksum) for c in whole.chunks[1:])).hexdigest()
    assert (part2.file.checksum_algorithm, part2.file.checksum) == (
        whole.file.checksum_algorithm, whole.file.checksum)
    # a part copied again replaces the first copy
    replaced = await store.copy_part(source=src.file_id, first=0, count=1,
                                     upload_id=up.upload_id, part_number=1, etag=etag("p1b"), filename="p")
    assert replaced == part1.file.file_id
    put2 = await store.complete_multipart(up.upload_id, [(1, etag("p1b")), (2, etag("p2"))],
                                          min_part_size=1)
    fwc = await store.get_file_with_chunks(put2.object.file_id)
    ids = [c.chunk_id for c in whole.chunks]
    assert [c.chunk_id for c in fwc.chunks] == [ids[0], *ids]
    await store.delete_object("cpy", "src")
    released = await release_all(store, src.file_id)
    assert {last for _, _, last in released} == {False}  # the object shares every chunk


@pytest_twisted.ensureDeferred
async def test_copy_part_checks_its_span_and_upload(store: MetadataStore) -> None:
    """A span outside the source, or an unknown upload, is refused and records nothing."""
    await store.create_bucket("cpy")
    src = (await put(store, "cpy", "src", chunks=2)).object
    up = await store.create_multipart("cpy", "mp", content_type="")
    with pytest.raises(InvalidRequest):
        await store.copy_part(source=src.file_id, first=1, count=2, upload_id=up.upload_id,
                              part_number=1, etag=etag("x"), filename="p")
    with pytest.raises(InvalidRequest):
        await store.copy_part(source=src.file_id, first=0, count=-1, upload_id=up.upload_id,
                              part_number=1, etag=etag("x"), filename="p")
    with pytest.raises(UploadNotFound):
        await store.copy_part(source=src.file_id, first=0, count=1, upload_id="0" * 32,
                              part_number=1, etag=etag("x"), filename="p")
    assert list(await store.list_parts(up.upload_id, limit=10)) == []
