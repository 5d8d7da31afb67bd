"""
The MetadataStore contract for a multipart object's part boundaries (migration
0007) and ListMultipartUploads' keyset pages, on every backend.
"""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted
from support.metadata import digest, md5, part, upload

from s3node.errors import InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.records import MultipartUpload, PartSpan, UploadPage


async def _multipart(store: MetadataStore, key: str) -> uuid.UUID:
    """Complete parts 1 (200 bytes), 3 (150) and 5 (40) of an upload; part 2 is not listed."""
    up = await store.create_multipart("mpu", key, content_type="a/b")
    _, e1 = await part(store, up.upload_id, 1, chunks=2)
    await part(store, up.upload_id, 2, chunks=1)
    _, e3 = await part(store, up.upload_id, 3, chunks=3, chunk_size=50)
    _, e5 = await part(store, up.upload_id, 5, chunks=1, chunk_size=40)
    put = await store.complete_multipart(up.upload_id, [(1, e1), (3, e3), (5, e5)],
                                         min_part_size=100)
    return put.object.file_id


async def _plain(store: MetadataStore, key: str) -> uuid.UUID:
    record = await upload(store, chunks=1, complete=False)
    put = await store.complete_object(file_id=record.file_id, size=100,
                                      checksum=digest("file", record.file_id), replicas=1,
                                      bucket="mpu", key=key, etag=md5(key))
    return put.object.file_id


@pytest_twisted.ensureDeferred
async def test_completion_keeps_where_each_listed_part_lies(store: MetadataStore) -> None:
    """Each listed part keeps its uploaded number, offset and size; others are not parts."""
    await store.create_bucket("mpu")
    file_id = await _multipart(store, "big")
    assert await store.object_part(file_id, 1) == (3, PartSpan(1, 0, 200))
    assert await store.object_part(file_id, 3) == (3, PartSpan(3, 200, 150))
    assert await store.object_part(file_id, 5) == (3, PartSpan(5, 350, 40))
    for missing in (2, 4, 6, 10000):
        assert await store.object_part(file_id, missing) == (3, None)
    assert await store.object_part(await _plain(store, "small"), 1) == (0, None)


@pytest_twisted.ensureDeferred
async def test_copies_keep_the_parts_and_the_parts_go_with_their_file(
        store: MetadataStore) -> None:
    """A copy sharing a multipart object's chunks has its parts; deleting the source keeps them."""
    await store.create_bucket("mpu")
    source = await _multipart(store, "big")
    etag = (await store.get_object("mpu", "big")).etag
    copy = await store.copy_object(source=source, bucket="mpu", key="copy", etag=etag,
                                   headers=(), content_type="a/b", filename="copy")
    assert await store.object_part(copy.object.file_id, 3) == (3, PartSpan(3, 200, 150))
    plain = await _plain(store, "plain")
    of_plain = await store.copy_object(source=plain, bucket="mpu", key="copy2",
                                       etag=md5("plain"), headers=(), content_type="a/b",
                                       filename="copy2")
    assert await store.object_part(of_plain.object.file_id, 1) == (0, None)
    # overwriting the multipart key: the new object has no parts, the old file keeps its
    # rows until it is deleted for good
    await _plain(store, "big")
    assert await store.object_part((await store.get_object("mpu", "big")).file_id, 1) == (
        0, None)
    assert (await store.object_part(source, 1))[0] == 3
    await store.finish_delete(source)
    assert await store.object_part(source, 1) == (0, None)
    assert await store.object_part(copy.object.file_id, 5) == (3, PartSpan(5, 350, 40))


async def _all_pages(store: MetadataStore, limit: int, **options: str) -> list[UploadPage]:
    pages = [await store.list_multipart("mpu", limit=limit, **options)]
    while pages[-1].truncated:
        assert len(pages) < 50
        last = pages[-1]
        pages.append(await store.list_multipart("mpu", limit=limit, after=last.next_key,
                                                after_upload=last.next_upload_id, **options))
    return pages


def _entries(pages: list[UploadPage]) -> tuple[list[str], list[str]]:
    """The upload ids and the common prefixes of all the pages, in order."""
    return ([u.upload_id for p in pages for u in p.uploads],
            [prefix for p in pages for prefix in p.prefixes])


@pytest_twisted.ensureDeferred
async def test_uploads_page_by_key_then_id_without_skipping_any(store: MetadataStore) -> None:
    """Pages of any size resume after the last upload: many uploads of one key are all listed."""
    await store.create_bucket("mpu")
    made: list[MultipartUpload] = []
    for key in ["same"] * 5 + ["dir/a", "z", "dir/a", "dir/b", "same"]:
        made.append(await store.create_multipart("mpu", key, content_type="a/b"))
    whole = await store.list_multipart("mpu", limit=100)
    assert not whole.truncated and whole.prefixes == ()
    assert [u.key for u in whole.uploads] == ["dir/a"] * 2 + ["dir/b"] + ["same"] * 6 + ["z"]
    ids = [u.upload_id for u in whole.uploads]
    assert len(set(ids)) == len(made)  # ids are unique
    assert sorted(ids) == sorted(u.upload_id for u in made)
    for key in ("dir/a", "same"):  # a key's uploads by id, which is oldest first
        mine = [u for u in whole.uploads if u.key == key]
        assert [u.upload_id for u in mine] == sorted(u.upload_id for u in mine)
        assert [u.created_at for u in mine] == sorted(u.created_at for u in mine)
    for limit in (1, 2, 3, 4):
        pages = await _all_pages(store, limit)
        assert _entries(pages) == (ids, [])
        assert all(len(p.uploads) == limit for p in pages[:-1])
        assert all((p.next_key, p.next_upload_id) == (p.uploads[-1].key,
                                                      p.uploads[-1].upload_id) for p in pages)
    # the id marker alone of the key marker's uploads: those above it follow
    same = [u.upload_id for u in whole.uploads if u.key == "same"]
    after = await store.list_multipart("mpu", after="same", after_upload=same[1], limit=100)
    assert [u.upload_id for u in after.uploads] == same[2:] + [ids[-1]]
    after = await store.list_multipart("mpu", after="same", limit=100)
    assert [u.key for u in after.uploads] == ["z"]
    with pytest.raises(InvalidRequest):
        await store.list_multipart("mpu", after="same", after_upload="a\x00", limit=1)


@pytest_twisted.ensureDeferred
async def test_a_delimiter_rolls_keys_up_into_common_prefixes(store: MetadataStore) -> None:
    """With a delimiter, keys under one prefix list once; pages resume after a common prefix."""
    await store.create_bucket("mpu")
    for key in ["a/1", "a/2", "a/2", "b", "b", "b", "c/x/1", "d"]:
        await store.create_multipart("mpu", key, content_type="a/b")
    whole = await store.list_multipart("mpu", delimiter="/", limit=100)
    assert [u.key for u in whole.uploads] == ["b", "b", "b", "d"]
    assert whole.prefixes == ("a/", "c/")
    for limit in (1, 2, 3):
        pages = await _all_pages(store, limit, delimiter="/")
        assert _entries(pages) == ([u.upload_id for u in whole.uploads], ["a/", "c/"])
        assert all(len(p.uploads) + len(p.prefixes) == limit for p in pages[:-1])
    first = await store.list_multipart("mpu", delimiter="/", limit=1)
    assert (first.prefixes, first.truncated, first.next_key, first.next_upload_id) == (
        ("a/",), True, "a/", None)
    under = await store.list_multipart("mpu", prefix="c/", delimiter="/", limit=100)
    assert (under.uploads, under.prefixes) == ((), ("c/x/",))
    inside = await store.list_multipart("mpu", prefix="a/", delimiter="/", limit=100)
    assert [u.key for u in inside.uploads] == ["a/1", "a/2", "a/2"]
    # a key marker inside a common prefix resumes after the whole prefix
    after = await store.list_multipart("mpu", delimiter="/", after="a/1", limit=100)
    assert [u.key for u in after.uploads][:1] == ["b"] and after.prefixes == ("c/",)
