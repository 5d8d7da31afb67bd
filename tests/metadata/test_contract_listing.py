"""The MetadataStore contract for numbered and keyset (cursor) listings, on every backend."""

from __future__ import annotations

import base64

import pytest
import pytest_twisted
from support.metadata import upload
from twisted.internet.task import Clock

from s3node.errors import InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.records import FileStatus


async def _files(s: MetadataStore, clock: Clock, n: int, *, step: float = 1.0) -> list:
    out = []
    for i in range(n):
        clock.advance(step)
        out.append(await upload(s, chunks=1, complete=i % 3 != 2, filename=f"f{i}"))
    return out


@pytest_twisted.async_fixture
async def clocked(open_store):  # type: ignore[no-untyped-def]
    """A migrated store whose timestamps come from a Clock the test advances."""
    clock = Clock()
    clock.advance(1_700_000_000)
    s = open_store(clock=clock)
    await s.migrate()
    return s, clock


@pytest_twisted.ensureDeferred
async def test_list_files_numbered_pages(clocked) -> None:  # type: ignore[no-untyped-def]
    """Numbered pages list files newest first with the total; a page past the end is empty."""
    s, clock = clocked
    made = await _files(s, clock, 7)
    newest_first = [f.file_id for f in reversed(made)]
    seen = []
    for page in (1, 2, 3):
        result = await s.list_files(page=page, per_page=3)
        assert (result.page, result.per_page, result.total, result.total_pages) == (page, 3, 7, 3)
        seen += [f.file_id for f in result.files]
    assert seen == newest_first
    assert (await s.list_files(page=4, per_page=3)).files == ()


@pytest_twisted.ensureDeferred
async def test_list_files_by_status(clocked) -> None:  # type: ignore[no-untyped-def]
    """A status filter lists and counts only files in that status."""
    s, clock = clocked
    made = await _files(s, clock, 6)
    done = [f.file_id for f in reversed(made) if f.status is FileStatus.COMPLETED]
    result = await s.list_files(page=1, per_page=100, status=FileStatus.COMPLETED)
    assert [f.file_id for f in result.files] == done and result.total == len(done) == 4
    uploading = await s.list_files(page=1, per_page=100, status=FileStatus.UPLOADING)
    assert uploading.total == 2
    assert all(f.status is FileStatus.UPLOADING for f in uploading.files)


@pytest_twisted.ensureDeferred
async def test_same_timestamp_breaks_ties_by_id(clocked) -> None:  # type: ignore[no-untyped-def]
    """Files created in the same microsecond are ordered by id, and cursors never skip them."""
    s, clock = clocked
    made = await _files(s, clock, 5, step=0.0)
    expected = sorted((f.file_id for f in made), key=lambda u: u.bytes, reverse=True)
    numbered = await s.list_files(page=1, per_page=10)
    assert [f.file_id for f in numbered.files] == expected
    seen, cursor = [], None
    while True:
        page = await s.list_files_after(cursor=cursor, limit=2)
        seen += [f.file_id for f in page.files]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected


@pytest_twisted.ensureDeferred
async def test_cursor_pages_cover_every_file_once(clocked) -> None:  # type: ignore[no-untyped-def]
    """
    Keyset pages, filtered or not, list every file exactly once, newest first, and end with no
    cursor.
    """
    s, clock = clocked
    made = await _files(s, clock, 10)
    for status in (None, FileStatus.COMPLETED):
        want = [f.file_id for f in reversed(made) if status is None or f.status is status]
        seen, cursor, pages = [], None, 0
        while True:
            page = await s.list_files_after(cursor=cursor, limit=3, status=status)
            pages += 1
            assert len(page.files) <= 3
            seen += [f.file_id for f in page.files]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == want
        assert pages == (len(want) + 2) // 3


@pytest_twisted.ensureDeferred
async def test_cursor_pagination_while_files_are_added(clocked) -> None:  # type: ignore[no-untyped-def]
    """New files added between cursor pages never make an existing file appear twice or vanish."""
    s, clock = clocked
    made = await _files(s, clock, 25)
    seen, cursor = [], None
    while True:
        page = await s.list_files_after(cursor=cursor, limit=4)
        seen += [f.file_id for f in page.files]
        await _files(s, clock, 2)  # newer files arrive mid-listing
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert seen == [f.file_id for f in reversed(made)]


@pytest_twisted.ensureDeferred
async def test_empty_listings(store: MetadataStore) -> None:
    """An empty store lists no files, a total of 0 and no next cursor."""
    page = await store.list_files(page=1, per_page=10)
    assert (page.files, page.total, page.total_pages) == ((), 0, 0)
    cpage = await store.list_files_after(cursor=None, limit=10)
    assert (cpage.files, cpage.next_cursor) == ((), None)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "bm90IGEgY3Vyc29y",
        base64.urlsafe_b64encode(b"v1:abc:def").decode(),
        "x" * 300,
        # well-formed, but its moment is far outside any datetime (or SQLite integer)
        base64.urlsafe_b64encode(b"v1:" + b"9" * 30 + b":" + b"0" * 32).decode(),
        base64.urlsafe_b64encode(b"v1:-" + b"9" * 20 + b":" + b"0" * 32).decode(),
        base64.urlsafe_b64encode(b"v1:" + b"9" * 18 + b":" + b"0" * 32).decode(),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_cursor_is_invalid_request(store: MetadataStore, cursor: str) -> None:
    """A cursor the store did not make raises InvalidRequest."""
    with pytest.raises(InvalidRequest, match="cursor"):
        await store.list_files_after(cursor=cursor, limit=10)


@pytest.mark.parametrize(
    "args",
    [
        {"page": 0, "per_page": 10},
        {"page": 1, "per_page": 0},
        {"page": 1, "per_page": 1001},
        {"page": "1", "per_page": 10},
        {"page": 1, "per_page": 10, "status": "completed"},
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_page_is_invalid_request(store: MetadataStore, args: dict) -> None:
    """Out-of-range pages, page sizes and statuses raise InvalidRequest."""
    with pytest.raises(InvalidRequest):
        await store.list_files(**args)
