"""The MetadataStore contract for S3 multipart uploads, on every backend."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import pytest_twisted
from support.metadata import digest, md5, part, upload

from s3node.errors import (
    BucketNotEmpty,
    BucketNotFound,
    FileNotFound,
    InvalidPart,
    InvalidRequest,
    PartTooSmall,
    UploadNotFound,
)
from s3node.interfaces import MetadataStore
from s3node.records import FileStatus


@pytest_twisted.ensureDeferred
async def test_completion_stitches_the_listed_parts_chunks(store: MetadataStore) -> None:
    """The object's file takes the listed parts' chunks in order; no part file stays."""
    await store.create_bucket("mpu")
    up = await store.create_multipart("mpu", "big/object", content_type="text/x-mp",
                                      headers=(("x-amz-meta-a", "1"),))
    assert (await store.get_multipart(up.upload_id)).key == "big/object"
    f1, e1 = await part(store, up.upload_id, 1, chunks=2)
    f2, e2 = await part(store, up.upload_id, 2, chunks=1)
    f3, e3 = await part(store, up.upload_id, 3, chunks=1, chunk_size=40)
    chunks_before = [c.chunk_id for f in (f1, f3) for c in
                     (await store.get_file_with_chunks(f)).chunks]
    assert [p.number for p in await store.list_parts(up.upload_id, limit=10)] == [1, 2, 3]
    assert [p.number for p in await store.list_parts(up.upload_id, after=1, limit=1)] == [2]
    put = await store.complete_multipart(up.upload_id, [(1, f'"{e1}"'), (3, e3)],
                                         min_part_size=200)
    obj = put.object
    expected_etag = hashlib.md5(bytes.fromhex(e1) + bytes.fromhex(e3)).hexdigest() + "-2"
    assert (obj.key, obj.size, obj.etag, obj.content_type, obj.headers) == (
        "big/object", 240, expected_etag, "text/x-mp", (("x-amz-meta-a", "1"),))
    fwc = await store.get_file_with_chunks(obj.file_id)
    assert fwc.file.status is FileStatus.COMPLETED and fwc.file.size == 240
    assert fwc.file.checksum_algorithm == "sha256-parts"
    assert [(c.index, c.size) for c in fwc.chunks] == [(0, 100), (1, 100), (2, 40)]
    assert [c.chunk_id for c in fwc.chunks] == chunks_before
    assert all(len(c.nodes_with()) == 2 for c in fwc.chunks)  # replicas moved too
    for gone in (f1, f3):
        with pytest.raises(FileNotFound):
            await store.get_file(gone)
    assert (await store.get_file(f2)).status is FileStatus.DELETING  # not listed
    with pytest.raises(UploadNotFound):
        await store.get_multipart(up.upload_id)
    assert (await store.get_object("mpu", "big/object")).file_id == obj.file_id
    del e2


@pytest_twisted.ensureDeferred
async def test_completion_checks_parts_and_sizes(store: MetadataStore) -> None:
    """Unknown parts, wrong ETags and small parts refuse the completion and change nothing."""
    await store.create_bucket("mpu")
    up = await store.create_multipart("mpu", "k", content_type="a/b")
    _, e1 = await part(store, up.upload_id, 1, chunks=1)
    _, e2 = await part(store, up.upload_id, 2, chunks=1)
    with pytest.raises(InvalidPart):
        await store.complete_multipart(up.upload_id, [(1, e1), (4, e2)], min_part_size=1)
    with pytest.raises(InvalidPart):
        await store.complete_multipart(up.upload_id, [(1, e2)], min_part_size=1)
    with pytest.raises(PartTooSmall):
        await store.complete_multipart(up.upload_id, [(1, e1), (2, e2)], min_part_size=101)
    with pytest.raises(InvalidRequest):
        await store.complete_multipart(up.upload_id, [(2, e2), (1, e1)], min_part_size=1)
    assert len(await store.list_parts(up.upload_id, limit=10)) == 2
    put = await store.complete_multipart(up.upload_id, [(1, e1), (2, e2)], min_part_size=100)
    assert put.object.size == 200


@pytest_twisted.ensureDeferred
async def test_a_part_uploaded_again_replaces_the_first(store: MetadataStore) -> None:
    """Uploading a part number again keeps the newer part; the older one's file is deleted."""
    await store.create_bucket("mpu")
    up = await store.create_multipart("mpu", "k", content_type="a/b")
    first, _ = await part(store, up.upload_id, 1, chunks=1)
    second, etag = await part(store, up.upload_id, 1, chunks=2, tag="again")
    [only] = await store.list_parts(up.upload_id, limit=10)
    assert (only.file_id, only.etag, only.size) == (second, etag, 200)
    assert (await store.get_file(first)).status is FileStatus.DELETING


@pytest_twisted.ensureDeferred
async def test_abort_deletes_the_parts_and_ends_the_upload(store: MetadataStore) -> None:
    """Aborting moves every part's file to deleting; the upload is gone, its parts refused."""
    await store.create_bucket("mpu")
    up = await store.create_multipart("mpu", "k", content_type="a/b")
    f1, _ = await part(store, up.upload_id, 1, chunks=1)
    f2, _ = await part(store, up.upload_id, 2, chunks=1)
    assert sorted(map(str, await store.abort_multipart(up.upload_id))) == sorted(
        map(str, (f1, f2)))
    for file_id in (f1, f2):
        assert (await store.get_file(file_id)).status is FileStatus.DELETING
    for call in (store.get_multipart, store.abort_multipart):
        with pytest.raises(UploadNotFound):
            await call(up.upload_id)
    late = await upload(store, chunks=1, complete=False)
    with pytest.raises(UploadNotFound):
        await store.complete_part(file_id=late.file_id, size=100,
                                  checksum=digest("file", late.file_id), replicas=1,
                                  upload_id=up.upload_id, part_number=3, etag=md5("3"))
    assert (await store.get_file(late.file_id)).status is FileStatus.UPLOADING
    assert list(await store.delete_bucket("mpu")) == []


@pytest_twisted.ensureDeferred
async def test_deleting_a_bucket_aborts_its_uploads_in_the_same_transaction(
        store: MetadataStore) -> None:
    """A bucket with uploads under way (and no object) goes with them, their parts' files to deleting; one with an object stays whole."""
    await store.create_bucket("mpu")
    await store.create_bucket("other")
    ups = [await store.create_multipart("mpu", k, content_type="a/b") for k in ("k", "k", "j")]
    kept = await store.create_multipart("other", "k", content_type="a/b")
    files = [(await part(store, up.upload_id, n, chunks=1))[0]
             for up in ups[:2] for n in (1, 2)]
    other, _ = await part(store, kept.upload_id, 1, chunks=1)
    obj = await upload(store, chunks=1, complete=False)
    await store.complete_object(file_id=obj.file_id, size=100,
                                checksum=digest("file", obj.file_id), replicas=1,
                                bucket="mpu", key="an-object", etag=md5("o"))
    with pytest.raises(BucketNotEmpty):
        await store.delete_bucket("mpu")  # an object: nothing changes
    assert len((await store.list_multipart("mpu", limit=10)).uploads) == 3
    assert [(await store.get_file(f)).status for f in files] == [FileStatus.COMPLETED] * 4
    await store.delete_object("mpu", "an-object")
    assert sorted(map(str, await store.delete_bucket("mpu"))) == sorted(map(str, files))
    for file_id in files:
        assert (await store.get_file(file_id)).status is FileStatus.DELETING
    for up in ups:
        with pytest.raises(UploadNotFound):
            await store.get_multipart(up.upload_id)
    late = await upload(store, chunks=1, complete=False)
    with pytest.raises(UploadNotFound):  # a part finishing after the bucket went
        await store.complete_part(file_id=late.file_id, size=100,
                                  checksum=digest("file", late.file_id), replicas=1,
                                  upload_id=ups[0].upload_id, part_number=3, etag=md5("3"))
    with pytest.raises(BucketNotFound):
        await store.get_bucket("mpu")
    assert [p.file_id for p in await store.list_parts(kept.upload_id, limit=10)] == [other]
    await store.create_bucket("mpu")  # the name is free, and nothing of the old is in it
    assert (await store.list_multipart("mpu", limit=10)).uploads == ()


@pytest_twisted.ensureDeferred
async def test_uploads_are_listed_by_key_and_expire_by_age(store: MetadataStore) -> None:
    """ListMultipartUploads orders by key then age; expired_multipart finds the old ones."""
    await store.create_bucket("mpu")
    b = await store.create_multipart("mpu", "b", content_type="a/b")
    a1 = await store.create_multipart("mpu", "a", content_type="a/b")
    c = await store.create_multipart("mpu", "x/c", content_type="a/b")
    listed = (await store.list_multipart("mpu", limit=10)).uploads
    assert [u.key for u in listed] == ["a", "b", "x/c"]
    assert [u.upload_id for u in (await store.list_multipart("mpu", prefix="x/", limit=10)
                                  ).uploads] == [c.upload_id]
    assert [u.key for u in (await store.list_multipart("mpu", after="a", limit=1)
                            ).uploads] == ["b"]
    later = max(u.created_at for u in (a1, b, c)) + timedelta(seconds=1)
    expired = await store.expired_multipart(before=later, limit=10)
    assert sorted(expired) == sorted(u.upload_id for u in (a1, b, c))
    earlier = min(u.created_at for u in (a1, b, c)) - timedelta(seconds=1)
    assert await store.expired_multipart(before=earlier, limit=10) == []
