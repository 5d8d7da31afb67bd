"""
The protocol-neutral file service, driven directly (no HTTP): a byte source in,
a completed file out; the status rules of open/describe; delete bookkeeping;
a stop that aborts stores still under way after their grace.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import pytest_twisted
from support.waiting import poll_until, within
from twisted.internet.defer import Deferred

from s3node.errors import ClientDisconnected, FileNotFound, FileNotReady, UploadAborted
from s3node.records import FileStatus


class Pieces:
    """A byte source over fixed pieces; ``hold`` makes it wait before the piece at that index."""

    def __init__(self, pieces: list[bytes], *, name: str = "x.bin",
                 ctype: str = "application/x-test", hold: int | None = None) -> None:
        self._pieces = list(pieces)
        self._name, self._ctype = name, ctype
        self._hold = hold
        self._sent = 0
        self.size_hint: int | None = None
        #: fires when the source starts waiting at ``hold``
        self.waiting: Deferred[None] = Deferred()
        #: fire it with an exception to end the wait with it, or ``None`` to go on
        self.release: Deferred[Any] = Deferred()

    async def start(self) -> tuple[str, str]:
        return self._name, self._ctype

    async def read(self) -> bytes:
        if self._sent == self._hold:
            self._hold = None
            self.waiting.callback(None)
            error = await self.release
            if error is not None:
                raise error
        if not self._pieces:
            return b""
        self._sent += 1
        return self._pieces.pop(0)


@pytest_twisted.ensureDeferred
async def test_store_from_a_byte_source_then_open_and_describe(gw):
    """Any byte source becomes a completed file; open and describe return it with its chunks."""
    files = gw.gateway.files
    data = bytes(range(256)) * 10
    stored = await files.store(Pieces([data[:700], data[700:1900], data[1900:]]),
                               abort=lambda: None)
    assert stored.chunk_count == 3
    record = stored.record
    assert record.status is FileStatus.COMPLETED and record.size == len(data)
    assert record.filename == "x.bin" and record.content_type == "application/x-test"
    assert record.checksum == hashlib.sha256(data).hexdigest()
    opened = await files.open(record.file_id)
    assert [c.size for c in opened.chunks] == [1000, 1000, 560]
    assert (await files.describe(record.file_id)).file.file_id == record.file_id
    page = await files.list_page(page=1, per_page=10, status=None)
    assert [f.file_id for f in page.files] == [record.file_id]
    cpage = await files.list_after(cursor=None, limit=10, status=FileStatus.FAILED)
    assert cpage.files == ()


@pytest_twisted.ensureDeferred
async def test_a_failing_source_fails_the_file(gw):
    """A source that raises midway fails the store with its error and leaves the file failed."""
    files = gw.gateway.files
    source = Pieces([bytes(1500), bytes(10)], hold=1)
    work = files.store(source, abort=lambda: None)
    await within(source.waiting, what="the source to be read up to its hold")
    [file_id] = list(gw.store.files)
    with pytest.raises(FileNotReady):
        await files.open(file_id)  # uploading: not readable yet
    source.release.callback(ClientDisconnected("gone"))
    with pytest.raises(ClientDisconnected):
        await work
    assert gw.store.files[file_id].status is FileStatus.FAILED
    with pytest.raises(FileNotReady):
        await files.open(file_id)
    assert (await files.describe(file_id)).file.status is FileStatus.FAILED


@pytest_twisted.ensureDeferred
async def test_delete_hides_the_file_and_sweeps_its_chunks(gw):
    """Delete makes the file unknown to open, describe and a second delete; its chunks go."""
    files = gw.gateway.files
    stored = await files.store(Pieces([bytes(2500)]), abort=lambda: None)
    file_id = stored.record.file_id
    assert sum(len(n.chunks) for n in gw.nodes.values()) == 6
    deleted = await files.delete(file_id)
    assert deleted.file_id == file_id
    for call in (files.open, files.describe, files.delete):
        with pytest.raises(FileNotFound):
            await call(file_id)
    await files.wait_background()
    assert sum(len(n.chunks) for n in gw.nodes.values()) == 0
    assert file_id not in gw.store.files


@pytest_twisted.ensureDeferred
async def test_close_aborts_stores_still_under_way_after_the_grace(gw):
    """A stop waits the grace for a stalled store, then calls its abort; the file ends failed."""
    files = gw.gateway.files
    source = Pieces([bytes(1200), bytes(5)], hold=1)
    aborted: list[bool] = []

    def abort() -> None:
        aborted.append(True)
        source.release.callback(ClientDisconnected("aborted by the stop"))

    errors: list[Any] = []
    files.store(source, abort=abort).addErrback(lambda f: errors.append(f.value))
    await within(source.waiting, what="the store to stall")
    [file_id] = list(gw.store.files)
    await files.close(grace=0.05)
    assert aborted == [True]
    assert [type(e) for e in errors] == [ClientDisconnected]
    await poll_until(lambda: gw.store.files[file_id].status is FileStatus.FAILED,
                     what="the aborted store to fail its file")


@pytest_twisted.ensureDeferred
async def test_a_store_whose_file_was_deleted_meanwhile_is_aborted(gw):
    """A file deleted (and swept) while its bytes still arrive ends the store with UploadAborted."""
    files = gw.gateway.files
    source = Pieces([bytes(1200), bytes(5)], hold=1)
    work = files.store(source, abort=lambda: None)
    await within(source.waiting, what="the store to stall")
    [file_id] = list(gw.store.files)
    await files.delete(file_id)
    await files.wait_background()
    source.release.callback(None)
    with pytest.raises(UploadAborted):
        await work
