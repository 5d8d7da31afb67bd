"""
The MetadataStore contract for inline files (migration 0008), on every
backend: a completed file whose whole content is small keeps its bytes in its
metadata row (``complete_file(inline=...)``, ``complete_object(inline=...)``)
and has no chunk; ``get_file_with_chunks`` returns them, a copy copies them,
a part copy refuses them, and a delete leaves nothing behind.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk, md5, upload

from s3node.errors import FileNotFound, InvalidRequest, ObjectNotFound
from s3node.interfaces import MetadataStore
from s3node.metadata.migrations import load_migrations
from s3node.records import FileRecord, FileStatus, ObjectPut

BODY = b"small enough to live in the metadata row\x00\xff"


async def _new_file(store: MetadataStore) -> FileRecord:
    """An uploading file with no chunk."""
    return await upload(store, chunks=0, complete=False, filename="tiny.txt")


async def _complete_inline(store: MetadataStore, body: bytes = BODY) -> FileRecord:
    record = await _new_file(store)
    return await store.complete_file(file_id=record.file_id, size=len(body),
                                     checksum=digest("file", record.file_id), replicas=1,
                                     inline=body)


async def _put_inline(store: MetadataStore, key: str, body: bytes = BODY,
                      **kw: Any) -> ObjectPut:
    record = await _new_file(store)
    return await store.complete_object(
        file_id=record.file_id, size=len(body), checksum=digest("file", record.file_id),
        replicas=1, bucket="inl", key=key, etag=md5(key), inline=body, **kw)


async def _unchanged(store: MetadataStore, file_id: uuid.UUID, chunks: int) -> None:
    """The file is still uploading, with ``chunks`` chunks and no inline content."""
    fwc = await store.get_file_with_chunks(file_id)
    assert fwc.file.status is FileStatus.UPLOADING
    assert (fwc.file.size, fwc.file.checksum) == (None, None)
    assert len(fwc.chunks) == chunks
    assert fwc.inline is None


@pytest_twisted.ensureDeferred
async def test_complete_file_keeps_the_inline_bytes(store: MetadataStore) -> None:
    """An inline file is completed with its bytes and no chunk; they are read back as they were."""
    record = await _complete_inline(store)
    assert record.status is FileStatus.COMPLETED
    assert (record.size, record.checksum) == (len(BODY), digest("file", record.file_id))
    fwc = await store.get_file_with_chunks(record.file_id)
    assert fwc.file == record
    assert fwc.chunks == ()
    assert fwc.inline == BODY and isinstance(fwc.inline, bytes)
    # completing again (a lost reply) changes nothing, and keeps the bytes
    again = await store.complete_file(file_id=record.file_id, size=len(BODY),
                                      checksum=digest("file", record.file_id), replicas=1)
    assert again == record
    assert (await store.get_file_with_chunks(record.file_id)).inline == BODY


@pytest_twisted.ensureDeferred
async def test_other_files_have_no_inline_content(store: MetadataStore) -> None:
    """A chunked file and an empty file completed without ``inline`` read ``inline`` None;
    an empty file completed with ``b""`` reads ``b""``."""
    chunked = await upload(store, chunks=2)
    empty = await upload(store, chunks=0)
    assert empty.status is FileStatus.COMPLETED and empty.size == 0
    fwc = await store.get_file_with_chunks(chunked.file_id)
    assert len(fwc.chunks) == 2 and fwc.inline is None
    fwc = await store.get_file_with_chunks(empty.file_id)
    assert fwc.chunks == () and fwc.inline is None
    nothing = await _complete_inline(store, b"")
    fwc = await store.get_file_with_chunks(nothing.file_id)
    assert (fwc.file.size, fwc.chunks, fwc.inline) == (0, (), b"")


@pytest_twisted.ensureDeferred
async def test_complete_object_inline_is_read_back(store: MetadataStore) -> None:
    """An inline object is named like any other; its file read with its chunks holds the bytes."""
    await store.create_bucket("inl")
    put = await _put_inline(store, "k", headers=(("x-amz-meta-a", "1"),))
    assert put.replaced is None
    obj = await store.get_object("inl", "k")
    assert obj == put.object
    assert (obj.size, obj.etag, obj.headers) == (len(BODY), md5("k"), (("x-amz-meta-a", "1"),))
    fwc = await store.get_file_with_chunks(obj.file_id)
    assert (fwc.file.status, fwc.chunks, fwc.inline) == (FileStatus.COMPLETED, (), BODY)
    page = await store.list_objects("inl", limit=10)
    assert [(e.key, e.size) for e in page.objects] == [("k", len(BODY))]
    # an inline object replacing a chunked one, and the other way round
    other = await _put_inline(store, "k", b"second")
    assert other.replaced == obj.file_id
    assert (await store.get_file_with_chunks(other.object.file_id)).inline == b"second"
    assert (await store.get_file(obj.file_id)).status is FileStatus.DELETING


@pytest_twisted.ensureDeferred
async def test_inline_with_a_chunk_recorded_is_refused(store: MetadataStore) -> None:
    """A file that has a chunk row cannot complete inline; nothing changes, not even ``stored``."""
    await store.create_bucket("inl")
    record = await upload(store, chunks=1, complete=False)
    body = b"x" * 100
    with pytest.raises(InvalidRequest, match="inline"):
        await store.complete_file(file_id=record.file_id, size=100,
                                  checksum=digest("file", record.file_id), replicas=1,
                                  inline=body)
    await _unchanged(store, record.file_id, 1)
    with pytest.raises(InvalidRequest, match="inline"):
        await store.complete_object(file_id=record.file_id, size=100,
                                    checksum=digest("file", record.file_id), replicas=1,
                                    bucket="inl", key="k", etag=md5("k"), inline=body)
    await _unchanged(store, record.file_id, 1)
    with pytest.raises(ObjectNotFound):
        await store.get_object("inl", "k")
    # it still completes as the chunked file it is
    done = await store.complete_file(file_id=record.file_id, size=100,
                                     checksum=digest("file", record.file_id), replicas=1)
    assert done.status is FileStatus.COMPLETED
    assert (await store.get_file_with_chunks(record.file_id)).inline is None


@pytest_twisted.ensureDeferred
async def test_inline_of_the_wrong_length_is_refused(store: MetadataStore) -> None:
    """``inline`` must be ``size`` bytes, bytes at all, and come without ``stored``."""
    await store.create_bucket("inl")
    record = await _new_file(store)
    fid, checksum = record.file_id, digest("file", record.file_id)
    for size, inline in ((len(BODY) + 1, BODY), (len(BODY) - 1, BODY), (1, b""),
                         (0, b"x")):
        with pytest.raises(InvalidRequest, match="bytes"):
            await store.complete_file(file_id=fid, size=size, checksum=checksum, replicas=1,
                                      inline=inline)
        await _unchanged(store, fid, 0)
    with pytest.raises(InvalidRequest, match="bytes"):
        await store.complete_object(file_id=fid, size=3, checksum=checksum, replicas=1,
                                    bucket="inl", key="k", etag=md5("k"), inline=b"four")
    with pytest.raises(InvalidRequest, match="bytes"):
        await store.complete_file(file_id=fid, size=4, checksum=checksum, replicas=1,
                                  inline="four")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="stored"):
        await store.complete_file(file_id=fid, size=4, checksum=checksum, replicas=1,
                                  inline=b"four", stored=((0, "node-a"),))
    await _unchanged(store, fid, 0)
    with pytest.raises(ObjectNotFound):
        await store.get_object("inl", "k")


@pytest_twisted.ensureDeferred
async def test_copy_object_copies_the_inline_bytes(store: MetadataStore) -> None:
    """A copy of an inline object is a new inline file with the same bytes, and outlives its source."""
    await store.create_bucket("inl")
    src = (await _put_inline(store, "src")).object
    made = await store.copy_object(source=src.file_id, bucket="inl", key="dst", etag=md5("src"),
                                   headers=(), content_type="text/plain", filename="dst")
    assert made.object.file_id != src.file_id and made.object.size == len(BODY)
    fwc = await store.get_file_with_chunks(made.object.file_id)
    assert (fwc.file.status, fwc.file.filename, fwc.chunks, fwc.inline) == (
        FileStatus.COMPLETED, "dst", (), BODY)
    assert fwc.file.checksum == (await store.get_file(src.file_id)).checksum
    assert (await store.get_file_with_chunks(src.file_id)).inline == BODY
    await store.delete_object("inl", "src")
    await store.finish_delete(src.file_id)
    assert (await store.get_file_with_chunks(made.object.file_id)).inline == BODY
    # a copy of a chunked object stays chunked
    chunked = await upload(store, chunks=2)
    plain = await store.copy_object(source=chunked.file_id, bucket="inl", key="plain",
                                    etag=md5("p"), headers=(), content_type="", filename="p")
    fwc = await store.get_file_with_chunks(plain.object.file_id)
    assert len(fwc.chunks) == 2 and fwc.inline is None


@pytest_twisted.ensureDeferred
async def test_copy_part_of_an_inline_source_is_refused(store: MetadataStore) -> None:
    """An inline file has no chunk to share: a part copy of it is refused and records nothing."""
    await store.create_bucket("inl")
    src = (await _put_inline(store, "src")).object
    up = await store.create_multipart("inl", "mp", content_type="")
    with pytest.raises(InvalidRequest, match="inline"):
        await store.copy_part(source=src.file_id, first=0, count=0, upload_id=up.upload_id,
                              part_number=1, etag=md5("p"), filename="p")
    assert list(await store.list_parts(up.upload_id, limit=10)) == []
    assert (await store.get_file_with_chunks(src.file_id)).inline == BODY
    files = await store.list_files(page=1, per_page=100)
    assert files.total == 1  # no part file was made


@pytest_twisted.ensureDeferred
async def test_deleting_inline_files_leaves_nothing(store: MetadataStore) -> None:
    """An inline object or file is deleted like an empty one: swept with no chunk, then gone."""
    await store.create_bucket("inl")
    obj = (await _put_inline(store, "k")).object
    loose = await _complete_inline(store, b"loose")
    assert await store.delete_object("inl", "k") == obj.file_id
    assert (await store.start_delete(loose.file_id)).status is FileStatus.DELETING
    due = await store.files_to_sweep(now=datetime.now(UTC) + timedelta(days=1), limit=10)
    assert {f.file.file_id: f.chunks for f in due} == {obj.file_id: (), loose.file_id: ()}
    for file_id in (obj.file_id, loose.file_id):
        await store.finish_delete(file_id)
        with pytest.raises(FileNotFound):
            await store.get_file_with_chunks(file_id)
    assert (await store.list_files(page=1, per_page=10)).total == 0
    assert (await store.list_objects("inl", limit=10)).objects == ()
    assert await store.files_to_sweep(now=datetime.now(UTC) + timedelta(days=1),
                                      limit=10) == []


@pytest_twisted.ensureDeferred
async def test_inline_files_are_not_damaged_or_under_replicated(store: MetadataStore) -> None:
    """Scans of chunks see no chunk of an inline file: nothing to repair, nothing counted."""
    record = await _complete_inline(store)
    chunked = await upload(store, chunks=1, nodes=("node-a",))
    lacking = await store.under_replicated_chunks(target=3, limit=100)
    assert [(c.file_id, c.index) for c in lacking] == [(chunked.file_id, 0)]
    counts = await store.durability_counts()
    assert counts.chunks_by_stored_replicas == {1: 1}
    assert counts.files_by_status == {FileStatus.COMPLETED: 2}
    assert counts.damaged_files == 0
    assert (await store.get_file(record.file_id)).damaged is False


@pytest.mark.sql_only  # the in-memory store has no schema
@pytest_twisted.ensureDeferred
async def test_migration_0008_adds_a_nullable_column(open_store: Any, backend: str,
                                                     db_url: str) -> None:
    """A fresh database migrates to 0008_inline_data; ``files.inline_data`` is nullable."""
    last = load_migrations(backend)[-1]
    assert (last.version, last.name) == (8, "inline_data")
    s = open_store()
    assert await s.migrate() == 8
    if backend == "sqlite":
        conn = sqlite3.connect(db_url.removeprefix("sqlite:"))
        try:
            cols = {row[1]: (row[2], row[3]) for row in conn.execute("PRAGMA table_info(files)")}
        finally:
            conn.close()
        assert cols["inline_data"] == ("BLOB", 0)
    else:
        import psycopg2

        pg = psycopg2.connect(db_url)
        try:
            with pg.cursor() as cur:
                cur.execute("SELECT data_type, is_nullable FROM information_schema.columns"
                            " WHERE table_name = 'files' AND column_name = 'inline_data'")
                assert cur.fetchall() == [("bytea", "YES")]
        finally:
            pg.close()
    chunked = await upload(s, chunks=1)
    assert (await s.get_file_with_chunks(chunked.file_id)).inline is None
    first = make_chunk(chunked.file_id, 0)
    assert (await s.get_file_with_chunks(chunked.file_id)).chunks[0].chunk_id == first.chunk_id
