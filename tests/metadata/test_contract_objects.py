"""The MetadataStore contract for the S3 namespace (buckets, keys, listing), on every backend."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import pytest_twisted
from support.metadata import digest, upload

from s3node.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    Conflict,
    FileNotFound,
    InvalidRequest,
    NotEnoughReplicas,
    ObjectNotFound,
)
from s3node.interfaces import MetadataStore
from s3node.records import FileStatus, ObjectPage


def etag(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # an ETag, not security


async def put(store: MetadataStore, bucket: str, key: str, *, chunks: int = 1,
              headers: tuple[tuple[str, str], ...] = ()):  # type: ignore[no-untyped-def]
    """An uploading file with ``chunks`` chunks, completed as ``bucket``/``key``."""
    record = await upload(store, chunks=chunks, complete=False)
    return await store.complete_object(
        file_id=record.file_id, size=chunks * 100, checksum=digest("file", record.file_id),
        replicas=1, bucket=bucket, key=key, etag=etag(key), headers=headers)


@pytest_twisted.ensureDeferred
async def test_buckets_are_created_listed_and_deleted(store: MetadataStore) -> None:
    """Buckets list by name; a second create conflicts; an empty bucket deletes, once."""
    for name in ("zeta", "alpha", "mid.dle-1"):
        created = await store.create_bucket(name)
        assert created.name == name and created.created_at.tzinfo is not None
    assert [b.name for b in await store.list_buckets()] == ["alpha", "mid.dle-1", "zeta"]
    with pytest.raises(BucketExists):
        await store.create_bucket("alpha")
    assert (await store.get_bucket("zeta")).name == "zeta"
    await store.delete_bucket("zeta")
    for call in (store.get_bucket, store.delete_bucket):
        with pytest.raises(BucketNotFound):
            await call("zeta")
    assert [b.name for b in await store.list_buckets()] == ["alpha", "mid.dle-1"]
    with pytest.raises(InvalidRequest):
        await store.create_bucket("No_Such Name")


@pytest_twisted.ensureDeferred
async def test_complete_object_names_the_file_with_its_headers(store: MetadataStore) -> None:
    """Completing an object completes its file and makes the key name it, headers kept."""
    await store.create_bucket("bk1")
    headers = (("cache-control", "no-cache"), ("x-amz-meta-Ünï", "välue"),)
    with pytest.raises(InvalidRequest):  # header names are lower case
        await put(store, "bk1", "k", headers=headers)
    headers = (("cache-control", "no-cache"), ("x-amz-meta-color", "blå"))
    done = await put(store, "bk1", "dir/ä key", chunks=2, headers=headers)
    assert done.replaced is None
    obj = done.object
    assert (obj.bucket, obj.key, obj.size, obj.etag) == ("bk1", "dir/ä key", 200,
                                                        etag("dir/ä key"))
    assert obj.headers == headers and obj.content_type == "application/octet-stream"
    assert (await store.get_file(obj.file_id)).status is FileStatus.COMPLETED
    assert await store.get_object("bk1", "dir/ä key") == obj
    with pytest.raises(ObjectNotFound):
        await store.get_object("bk1", "dir/ä")
    with pytest.raises(BucketNotFound):
        await store.get_object("nobk", "dir/ä key")


@pytest_twisted.ensureDeferred
async def test_completing_into_a_missing_bucket_changes_nothing(store: MetadataStore) -> None:
    """Without its bucket (deleted meanwhile), an object does not complete; its file stays open."""
    record = await upload(store, chunks=1, complete=False)
    with pytest.raises(BucketNotFound):
        await store.complete_object(
            file_id=record.file_id, size=100, checksum=digest("file", record.file_id),
            replicas=1, bucket="gone", key="k", etag=etag("k"))
    assert (await store.get_file(record.file_id)).status is FileStatus.UPLOADING


@pytest_twisted.ensureDeferred
async def test_completion_rules_still_apply_to_objects(store: MetadataStore) -> None:
    """Too few replicas or a wrong size refuse the object; the key stays unnamed."""
    await store.create_bucket("bk1")
    record = await upload(store, chunks=1, complete=False)
    with pytest.raises(NotEnoughReplicas):
        await store.complete_object(
            file_id=record.file_id, size=100, checksum=digest("x"), replicas=3,
            bucket="bk1", key="k", etag=etag("k"))
    with pytest.raises(ObjectNotFound):
        await store.get_object("bk1", "k")
    with pytest.raises(FileNotFound):
        await store.complete_object(
            file_id=uuid.uuid4(), size=100, checksum=digest("x"), replicas=1,
            bucket="bk1", key="k", etag=etag("k"))


@pytest_twisted.ensureDeferred
async def test_overwrite_replaces_atomically_and_the_old_file_is_swept(
        store: MetadataStore) -> None:
    """A second object under a key replaces the first; the old file moves to deleting."""
    await store.create_bucket("bk1")
    first = await put(store, "bk1", "k")
    second = await put(store, "bk1", "k", chunks=3)
    assert second.replaced == first.object.file_id
    assert (await store.get_object("bk1", "k")).file_id == second.object.file_id
    assert (await store.get_object("bk1", "k")).size == 300
    assert (await store.get_file(first.object.file_id)).status is FileStatus.DELETING
    page = await store.list_objects("bk1", limit=10)
    assert [(o.key, o.file_id) for o in page.objects] == [("k", second.object.file_id)]


@pytest_twisted.ensureDeferred
async def test_delete_object_unnames_the_key_and_deletes_the_file(store: MetadataStore) -> None:
    """Deleting a key moves its file to deleting; deleting a missing key is no error."""
    await store.create_bucket("bk1")
    done = await put(store, "bk1", "k")
    assert await store.delete_object("bk1", "k") == done.object.file_id
    assert (await store.get_file(done.object.file_id)).status is FileStatus.DELETING
    assert await store.delete_object("bk1", "k") is None
    with pytest.raises(ObjectNotFound):
        await store.get_object("bk1", "k")
    with pytest.raises(BucketNotFound):
        await store.delete_object("nobk", "k")


@pytest_twisted.ensureDeferred
async def test_deleting_the_file_unnames_its_key(store: MetadataStore) -> None:
    """A REST delete of an object's file (start_delete) takes the key with it."""
    await store.create_bucket("bk1")
    done = await put(store, "bk1", "k")
    await store.start_delete(done.object.file_id)
    with pytest.raises(ObjectNotFound):
        await store.get_object("bk1", "k")
    await store.delete_bucket("bk1")  # empty now


@pytest_twisted.ensureDeferred
async def test_a_bucket_with_objects_is_not_deleted(store: MetadataStore) -> None:
    """DeleteBucket refuses a bucket that names an object, and keeps it."""
    await store.create_bucket("bk1")
    await put(store, "bk1", "k")
    with pytest.raises(BucketNotEmpty):
        await store.delete_bucket("bk1")
    assert (await store.get_bucket("bk1")).name == "bk1"
    await store.delete_object("bk1", "k")
    await store.delete_bucket("bk1")


@pytest_twisted.ensureDeferred
async def test_a_file_names_one_key_at_most(store: MetadataStore) -> None:
    """Completing the same file again under its key is idempotent; under another key conflicts."""
    await store.create_bucket("bk1")
    done = await put(store, "bk1", "k")
    args = {"file_id": done.object.file_id, "size": 100,
            "checksum": digest("file", done.object.file_id), "replicas": 1, "bucket": "bk1"}
    again = await store.complete_object(**args, key="k", etag=etag("k"))  # type: ignore[arg-type]
    assert again.object.file_id == done.object.file_id and again.replaced is None
    with pytest.raises(Conflict):
        await store.complete_object(**args, key="other", etag=etag("k"))  # type: ignore[arg-type]


KEYS = ["a", "a/b", "a/c/d", "a/c/e", "a b", "a+b", "a%b", "b/", "b/x", "c", "ä", "日本/語",
        "z/y/x", "\U0001F600"]


async def fill(store: MetadataStore) -> None:
    await store.create_bucket("lst")
    for key in KEYS:
        await put(store, "lst", key)


def entries(page: ObjectPage) -> list[str]:
    return sorted([o.key for o in page.objects] + list(page.prefixes))


async def walk(store: MetadataStore, **kw: object) -> list[ObjectPage]:
    """Every page of a listing, following ``last``."""
    pages: list[ObjectPage] = []
    after = None
    for _ in range(100):
        page = await store.list_objects("lst", after=after, **kw)  # type: ignore[arg-type]
        pages.append(page)
        if not page.truncated:
            return pages
        after = page.last
    raise AssertionError("the listing does not end")


@pytest_twisted.ensureDeferred
async def test_listing_is_in_byte_order_and_pages(store: MetadataStore) -> None:
    """Keys list in UTF-8 byte order; pages of any size walk them all exactly once."""
    await fill(store)
    expected = sorted(KEYS, key=lambda k: k.encode())
    page = await store.list_objects("lst", limit=1000)
    assert [o.key for o in page.objects] == expected and not page.truncated
    assert page.prefixes == () and page.last == expected[-1]
    for size in (1, 2, 5):
        pages = await walk(store, limit=size)
        assert [o.key for p in pages for o in p.objects] == expected
        assert all(len(p.objects) == size for p in pages[:-1])
    with pytest.raises(BucketNotFound):
        await store.list_objects("nobk", limit=10)


@pytest_twisted.ensureDeferred
async def test_listing_with_prefix_start_and_delimiter(store: MetadataStore) -> None:
    """Prefix bounds the keys, after skips, a delimiter rolls keys up into common prefixes."""
    await fill(store)
    page = await store.list_objects("lst", prefix="a", limit=100)
    assert [o.key for o in page.objects] == ["a", "a b", "a%b", "a+b", "a/b", "a/c/d", "a/c/e"]
    page = await store.list_objects("lst", prefix="a/", delimiter="/", limit=100)
    assert [o.key for o in page.objects] == ["a/b"] and page.prefixes == ("a/c/",)
    page = await store.list_objects("lst", delimiter="/", limit=100)
    assert [o.key for o in page.objects] == ["a", "a b", "a%b", "a+b", "c", "ä", "\U0001F600"]
    assert page.prefixes == ("a/", "b/", "z/", "日本/")
    page = await store.list_objects("lst", after="a+b", limit=3)
    assert [o.key for o in page.objects] == ["a/b", "a/c/d", "a/c/e"] and page.truncated
    page = await store.list_objects("lst", prefix="zz", limit=10)
    assert page == ObjectPage((), (), False, None)
    page = await store.list_objects("lst", prefix="\U0001F600", limit=10)
    assert [o.key for o in page.objects] == ["\U0001F600"]


@pytest_twisted.ensureDeferred
async def test_delimiter_pages_skip_each_common_prefix_once(store: MetadataStore) -> None:
    """Paging a delimited listing one entry at a time returns each key or prefix exactly once."""
    await fill(store)
    whole = await store.list_objects("lst", delimiter="/", limit=1000)
    pages = await walk(store, delimiter="/", limit=1)
    assert [e for p in pages for e in entries(p)] == sorted(
        [o.key for o in whole.objects] + list(whole.prefixes), key=lambda k: k.encode())
    # continuing from a common prefix (or a key inside it) skips the whole prefix
    for after in ("a/", "a/c/d"):
        page = await store.list_objects("lst", delimiter="/", after=after, limit=1)
        assert entries(page) == ["b/"]
    page = await store.list_objects("lst", prefix="a/", delimiter="/", after="a/c/", limit=5)
    assert page == ObjectPage((), (), False, None)


@pytest_twisted.ensureDeferred
async def test_a_large_common_prefix_costs_no_extra_entries(store: MetadataStore) -> None:
    """Many keys under one common prefix roll up into it; the listing still ends."""
    await store.create_bucket("lst")
    for i in range(12):
        await put(store, "lst", f"big/{i:02d}")
    await put(store, "lst", "big0")
    await put(store, "lst", "c")
    page = await store.list_objects("lst", delimiter="/", limit=2)
    assert page.prefixes == ("big/",) and [o.key for o in page.objects] == ["big0"]
    assert page.truncated and page.last == "big0"
    page = await store.list_objects("lst", delimiter="/", after=page.last, limit=2)
    assert [o.key for o in page.objects] == ["c"] and not page.truncated


@pytest_twisted.ensureDeferred
async def test_access_keys_are_added_found_listed_and_revoked(store: MetadataStore) -> None:
    """An access key is found by id with its secret until revoked; revoked keys stay listed."""
    from datetime import UTC, datetime

    from s3node.errors import AccessKeyNotFound
    from s3node.records import AccessKey

    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    key = AccessKey("S3NODEKEY0000000000A", "s" * 40, epoch, "first")
    await store.add_access_key(key)
    await store.add_access_key(AccessKey("S3NODEKEY0000000000B", "t" * 40, epoch))
    with pytest.raises(Conflict):
        await store.add_access_key(key)
    found = await store.get_access_key("S3NODEKEY0000000000A")
    assert (found.secret, found.description, found.revoked_at) == ("s" * 40, "first", None)
    assert found.created_at > epoch  # the store's clock, not the caller's
    await store.revoke_access_key("S3NODEKEY0000000000A")
    for call in (store.get_access_key, store.revoke_access_key):
        with pytest.raises(AccessKeyNotFound):
            await call("S3NODEKEY0000000000A")
    listed = await store.list_access_keys()
    assert [k.access_key_id for k in listed] == ["S3NODEKEY0000000000A", "S3NODEKEY0000000000B"]
    assert listed[0].revoked_at is not None and listed[1].revoked_at is None
    with pytest.raises(InvalidRequest):
        await store.add_access_key(AccessKey("short", "s" * 40, epoch))
    with pytest.raises(InvalidRequest):
        await store.add_access_key(AccessKey("S3NODEKEY0000000000C", "tiny", epoch))


@pytest_twisted.ensureDeferred
async def test_concurrent_overwrites_leave_one_object_and_no_leak(store: MetadataStore) -> None:
    """Racing writers of one key: one file ends named, every other one ends deleting."""
    from twisted.internet.defer import Deferred, gatherResults

    await store.create_bucket("race")
    files = [await upload(store, chunks=1, complete=False) for _ in range(6)]

    async def complete(record):  # type: ignore[no-untyped-def]
        return await store.complete_object(
            file_id=record.file_id, size=100, checksum=digest("file", record.file_id),
            replicas=1, bucket="race", key="k", etag=etag("k"))

    puts = await gatherResults([Deferred.fromCoroutine(complete(f)) for f in files])
    named = (await store.get_object("race", "k")).file_id
    statuses = {f.file_id: (await store.get_file(f.file_id)).status for f in files}
    assert statuses.pop(named) is FileStatus.COMPLETED
    assert set(statuses.values()) == {FileStatus.DELETING}
    replaced = [p.replaced for p in puts if p.replaced is not None]
    assert sorted(map(str, replaced)) == sorted(map(str, statuses))


@pytest_twisted.ensureDeferred
async def test_conditional_writes_are_decided_in_the_completing_transaction(
        store: MetadataStore) -> None:
    """If-None-Match: * names only an unnamed key; If-Match only the object with that ETag."""
    from s3node.errors import PreconditionFailed

    await store.create_bucket("cond")

    async def attempt(**condition: object):  # type: ignore[no-untyped-def]
        record = await upload(store, chunks=1, complete=False)
        try:
            return await store.complete_object(
                file_id=record.file_id, size=100, checksum=digest("file", record.file_id),
                replicas=1, bucket="cond", key="k", etag=etag(str(record.file_id)),
                **condition)  # type: ignore[arg-type]
        except PreconditionFailed:
            assert (await store.get_file(record.file_id)).status is FileStatus.UPLOADING
            raise

    first = await attempt(if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await attempt(if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await attempt(if_match=etag("something else"))
    second = await attempt(if_match=f'"{first.object.etag}"')
    assert second.replaced == first.object.file_id
    assert (await store.get_object("cond", "k")).file_id == second.object.file_id
    await store.delete_object("cond", "k")
    with pytest.raises(PreconditionFailed):
        await attempt(if_match=second.object.etag)
