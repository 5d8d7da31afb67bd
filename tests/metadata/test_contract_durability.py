"""
The MetadataStore contract for the upload lifecycle and the sweeper's
retries (``docs/durability.md``), on every backend: only ``pending``/
``uploading`` files fail, record chunks, are touched or complete; stale
uploads are claimed before anything is deleted; sweeps are retried later.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk, upload
from twisted.internet.task import Clock

from s3node.errors import Conflict, FileNotFound, InvalidRequest, UploadAborted
from s3node.interfaces import MetadataStore
from s3node.records import FileRecord, FileStatus, ReplicaRecord, ReplicaState

T0 = 1_700_000_000


@dataclass
class Timed:
    """A migrated store whose timestamps come from ``clock``."""

    store: MetadataStore
    clock: Clock

    def now(self, plus: float = 0) -> datetime:
        """The clock's time (plus ``plus`` seconds) as an aware datetime."""
        return datetime.fromtimestamp(self.clock.seconds() + plus, UTC)


@pytest_twisted.async_yield_fixture
async def timed(open_store) -> AsyncIterator[Timed]:  # type: ignore[no-untyped-def]
    """A migrated store on a fake clock set to T0."""
    clock = Clock()
    clock.advance(T0)
    store = open_store(clock=clock)
    await store.migrate()
    yield Timed(store, clock)


async def _complete(store: MetadataStore, record: FileRecord, chunks: int = 1) -> FileRecord:
    return await store.complete_file(
        file_id=record.file_id, size=100 * chunks, checksum=digest("file", record.file_id),
        replicas=1,
    )


async def _status(store: MetadataStore, file_id: uuid.UUID) -> FileStatus:
    return (await store.get_file(file_id)).status


# -- fail_file ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_fail_file_moves_only_uploads_and_says_so(store: MetadataStore) -> None:
    """fail_file moves an uploading file to failed and returns True; a failed file stays
    failed and returns False."""
    record = await upload(store, chunks=1, complete=False)
    assert await store.fail_file(record.file_id) is True
    assert await _status(store, record.file_id) is FileStatus.FAILED
    assert await store.fail_file(record.file_id) is False
    assert await _status(store, record.file_id) is FileStatus.FAILED


@pytest_twisted.ensureDeferred
async def test_fail_file_on_a_completed_file_leaves_it_completed(store: MetadataStore) -> None:
    """
    Issue 7, finding 1: a lost reply to complete_file followed by fail_file must not turn
    a stored file into a failed one (which the sweeper would delete).
    """
    record = await upload(store, chunks=2)
    moved = await store.fail_file(record.file_id)
    assert await store.get_file(record.file_id) == record
    assert moved is False
    assert await store.files_to_sweep(now=datetime.now(UTC) + timedelta(days=1), limit=10) == []


@pytest_twisted.ensureDeferred
async def test_fail_file_leaves_a_deleting_file_deleting(store: MetadataStore) -> None:
    """fail_file on a deleting file changes nothing and returns False; unknown is FileNotFound."""
    record = await upload(store, chunks=1)
    await store.start_delete(record.file_id)
    moved = await store.fail_file(record.file_id)
    assert await _status(store, record.file_id) is FileStatus.DELETING
    assert moved is False
    with pytest.raises(FileNotFound):
        await store.fail_file(uuid.uuid4())


@pytest_twisted.ensureDeferred
async def test_a_lost_completion_reply_is_safe(store: MetadataStore) -> None:
    """complete_file replayed after it committed returns the same record; fail_file after it
    leaves the file completed."""
    record = await upload(store, chunks=1, complete=False)
    done = await _complete(store, record)
    assert await _complete(store, record) == done
    moved = await store.fail_file(record.file_id)
    assert await store.get_file(record.file_id) == done
    assert moved is False


# -- UploadAborted ---------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_claimed_stale_upload_can_no_longer_record_a_chunk_or_complete(
    timed: Timed,
) -> None:
    """
    Issue 7, finding 1: once the sweeper claimed an upload nobody touched, its next
    record_chunk, touch_file and complete_file raise UploadAborted and change nothing.
    """
    store = timed.store
    record = await upload(store, chunks=1, complete=False)
    timed.clock.advance(3600)
    assert await store.claim_stale_uploads(stale_before=timed.now(-60), limit=10) == 1
    claimed = await store.get_file(record.file_id)
    assert claimed.status is FileStatus.FAILED
    for call in (
        lambda: store.record_chunk(make_chunk(record.file_id, 1)),
        lambda: _complete(store, record),
        lambda: store.touch_file(record.file_id),
    ):
        with pytest.raises(UploadAborted):
            await call()
    fwc = await store.get_file_with_chunks(record.file_id)
    assert fwc.file == claimed
    assert [c.index for c in fwc.chunks] == [0]
    swept = await store.files_to_sweep(now=timed.now(), limit=10)
    assert [f.file.file_id for f in swept] == [record.file_id]


@pytest_twisted.ensureDeferred
async def test_an_upload_deleted_mid_way_is_aborted(store: MetadataStore) -> None:
    """
    Issue 7, finding 2: after a DELETE (start_delete) of a file still uploading, the
    upload's record_chunk, touch_file and complete_file raise UploadAborted, and the
    sweeper gets every replica recorded so far, writing ones included.
    """
    record = await upload(store, chunks=1, complete=False)
    await store.record_chunk(make_chunk(record.file_id, 1, state=ReplicaState.WRITING))
    await store.start_delete(record.file_id)
    for call in (
        lambda: store.record_chunk(make_chunk(record.file_id, 2)),
        lambda: store.complete_file(
            file_id=record.file_id, size=200, checksum=digest(), replicas=1
        ),
        lambda: store.touch_file(record.file_id),
    ):
        with pytest.raises(UploadAborted):
            await call()
    (swept,) = await store.files_to_sweep(now=datetime.now(UTC) + timedelta(days=1), limit=10)
    assert swept.file.status is FileStatus.DELETING
    assert [c.nodes_with(ReplicaState.WRITING) for c in swept.chunks] == [
        (), ("node-a", "node-b")
    ]


@pytest_twisted.ensureDeferred
async def test_a_failed_upload_is_aborted(store: MetadataStore) -> None:
    """After fail_file, record_chunk, touch_file and complete_file raise UploadAborted,
    a Conflict."""
    record = await upload(store, chunks=1, complete=False)
    await store.fail_file(record.file_id)
    for call in (
        lambda: store.record_chunk(make_chunk(record.file_id, 0)),
        lambda: _complete(store, record),
        lambda: store.touch_file(record.file_id),
    ):
        with pytest.raises(UploadAborted) as caught:
            await call()
        assert isinstance(caught.value, Conflict)


@pytest_twisted.ensureDeferred
async def test_unknown_files_are_not_found_not_aborted(store: MetadataStore) -> None:
    """record_chunk, touch_file and defer_sweep of an unknown file raise FileNotFound."""
    missing = uuid.uuid4()
    for call in (
        lambda: store.record_chunk(make_chunk(missing, 0)),
        lambda: store.touch_file(missing),
        lambda: store.defer_sweep(missing, until=datetime.now(UTC), attempts=1),
    ):
        with pytest.raises(FileNotFound):
            await call()


# -- touch_file and claim_stale_uploads ----------------------------------------------


@pytest_twisted.ensureDeferred
async def test_touch_file_keeps_an_upload_alive(timed: Timed) -> None:
    """touch_file moves updated_at to the clock's time (status unchanged), so a slow upload
    that keeps touching is never claimed, while a stalled one is."""
    store = timed.store
    slow = await upload(store, chunks=1, complete=False)
    stalled = await upload(store, chunks=1, complete=False)
    for _ in range(4):
        timed.clock.advance(1000)
        await store.touch_file(slow.file_id)
    touched = await store.get_file(slow.file_id)
    assert touched.updated_at == timed.now()
    assert touched.status is FileStatus.UPLOADING
    assert (touched.size, touched.created_at) == (slow.size, slow.created_at)
    assert await store.claim_stale_uploads(stale_before=timed.now(-3600), limit=10) == 1
    assert await _status(store, slow.file_id) is FileStatus.UPLOADING
    assert await _status(store, stalled.file_id) is FileStatus.FAILED


@pytest_twisted.ensureDeferred
async def test_touch_file_refuses_files_not_uploading(store: MetadataStore) -> None:
    """touch_file of a completed file raises UploadAborted and changes nothing."""
    record = await upload(store, chunks=1)
    with pytest.raises(UploadAborted):
        await store.touch_file(record.file_id)
    assert await store.get_file(record.file_id) == record
    with pytest.raises(InvalidRequest):
        await store.touch_file("not-a-uuid")  # type: ignore[arg-type]


@pytest_twisted.ensureDeferred
async def test_claim_stale_uploads_takes_only_untouched_uploads(timed: Timed) -> None:
    """
    Only pending/uploading files whose updated_at is before stale_before are claimed:
    completed, failed and deleting files keep their status, however old.
    """
    store = timed.store
    stale = await upload(store, chunks=1, complete=False)
    completed = await upload(store, chunks=1)
    failed = await upload(store, chunks=1, complete=False)
    await store.fail_file(failed.file_id)
    deleting = await upload(store, chunks=1)
    await store.start_delete(deleting.file_id)
    timed.clock.advance(100)
    fresh = await upload(store, chunks=1, complete=False)
    cutoff = timed.now(-50)
    timed.clock.advance(1)
    assert await store.claim_stale_uploads(stale_before=cutoff, limit=10) == 1
    claimed = await store.get_file(stale.file_id)
    assert (claimed.status, claimed.updated_at) == (FileStatus.FAILED, timed.now())
    expected = {
        completed.file_id: FileStatus.COMPLETED, failed.file_id: FileStatus.FAILED,
        deleting.file_id: FileStatus.DELETING, fresh.file_id: FileStatus.UPLOADING,
    }
    assert {f: await _status(store, f) for f in expected} == expected
    assert await store.claim_stale_uploads(stale_before=cutoff, limit=10) == 0


@pytest_twisted.ensureDeferred
async def test_claim_stale_uploads_honours_its_limit_oldest_first(timed: Timed) -> None:
    """claim_stale_uploads moves at most limit files, the least recently updated first."""
    store = timed.store
    files = []
    for _ in range(3):
        files.append(await upload(store, chunks=0, complete=False))
        timed.clock.advance(10)
    assert await store.claim_stale_uploads(stale_before=timed.now(), limit=2) == 2
    statuses = [await _status(store, f.file_id) for f in files]
    assert statuses == [FileStatus.FAILED, FileStatus.FAILED, FileStatus.UPLOADING]
    assert await store.claim_stale_uploads(stale_before=timed.now(), limit=2) == 1
    with pytest.raises(InvalidRequest):
        await store.claim_stale_uploads(stale_before=datetime(2020, 1, 1), limit=2)
    with pytest.raises(InvalidRequest):
        await store.claim_stale_uploads(stale_before=timed.now(), limit=0)


# -- files_to_sweep and defer_sweep ----------------------------------------------


@pytest_twisted.ensureDeferred
async def test_files_to_sweep_has_every_replica_in_any_state(store: MetadataStore) -> None:
    """
    Issue 7, finding 4: files_to_sweep gives each failed file's chunks with every replica,
    whatever its state (writing, stored, missing, corrupt), and sweep_attempts 0.
    """
    record = await upload(store, chunks=1, complete=False)
    for node, state in (("n-w", ReplicaState.WRITING), ("n-m", ReplicaState.MISSING),
                        ("n-c", ReplicaState.CORRUPT)):
        await store.set_replica_state(file_id=record.file_id, index=0, node_id=node, state=state)
    await store.fail_file(record.file_id)
    (swept,) = await store.files_to_sweep(now=datetime.now(UTC) + timedelta(days=1), limit=10)
    assert swept.sweep_attempts == 0
    assert swept.chunks[0].replicas == (
        ReplicaRecord("n-c", ReplicaState.CORRUPT),
        ReplicaRecord("n-m", ReplicaState.MISSING),
        ReplicaRecord("n-w", ReplicaState.WRITING),
        ReplicaRecord("node-a", ReplicaState.STORED),
        ReplicaRecord("node-b", ReplicaState.STORED),
    )


@pytest_twisted.ensureDeferred
async def test_files_to_sweep_honours_defer_sweep(timed: Timed) -> None:
    """
    Issue 7, finding 3: a file deferred with defer_sweep is not returned before its retry
    time, so files whose sweeps keep failing never hold back the others; once due it
    comes back with its sweep_attempts.
    """
    store = timed.store
    blocked = []
    for _ in range(3):
        record = await upload(store, chunks=1, complete=False)
        await store.fail_file(record.file_id)
        blocked.append(record)
    timed.clock.advance(10)
    other = await upload(store, chunks=1, complete=False)
    await store.fail_file(other.file_id)
    now = timed.now()
    oldest = await store.files_to_sweep(now=now, limit=3)
    assert {f.file.file_id for f in oldest} == {b.file_id for b in blocked}
    for attempt, record in enumerate(blocked, start=1):
        await store.defer_sweep(record.file_id, until=timed.now(60 * attempt), attempts=attempt)
    assert [f.file.file_id for f in await store.files_to_sweep(now=now, limit=3)] == [
        other.file_id
    ]
    due = await store.files_to_sweep(now=timed.now(120), limit=10)
    assert [(f.file.file_id, f.sweep_attempts) for f in due] == [
        (other.file_id, 0), (blocked[0].file_id, 1), (blocked[1].file_id, 2)
    ]
    assert (await store.get_file_with_chunks(blocked[2].file_id)).sweep_attempts == 3


@pytest_twisted.ensureDeferred
async def test_files_to_sweep_takes_the_earliest_due_first(timed: Timed) -> None:
    """
    files_to_sweep orders by when each file became due (its retry time, else its last
    update), then by updated_at and id, and returns at most limit files; completed and
    uploading files never, however old.
    """
    store = timed.store
    await upload(store, chunks=1)
    await upload(store, chunks=1, complete=False)
    early = await upload(store, chunks=1, complete=False)
    await store.fail_file(early.file_id)
    timed.clock.advance(10)
    retried = await upload(store, chunks=1)
    await store.start_delete(retried.file_id)
    await store.defer_sweep(retried.file_id, until=timed.now(5), attempts=1)
    timed.clock.advance(20)
    late = await upload(store, chunks=1, complete=False)
    await store.fail_file(late.file_id)
    swept = await store.files_to_sweep(now=timed.now(), limit=10)
    assert [f.file.file_id for f in swept] == [early.file_id, retried.file_id, late.file_id]
    assert [f.file.status for f in swept] == [
        FileStatus.FAILED, FileStatus.DELETING, FileStatus.FAILED
    ]
    assert len(await store.files_to_sweep(now=timed.now(), limit=2)) == 2


@pytest_twisted.ensureDeferred
async def test_claimed_uploads_are_due_for_sweeping_at_once(timed: Timed) -> None:
    """A claimed upload is returned by files_to_sweep at the time it was claimed."""
    store = timed.store
    record = await upload(store, chunks=1, complete=False)
    timed.clock.advance(7200)
    await store.claim_stale_uploads(stale_before=timed.now(-3600), limit=10)
    (swept,) = await store.files_to_sweep(now=timed.now(), limit=10)
    assert (swept.file.file_id, swept.sweep_attempts) == (record.file_id, 0)


@pytest_twisted.ensureDeferred
async def test_defer_sweep_applies_to_failed_and_deleting_files_only(store: MetadataStore) -> None:
    """defer_sweep of an uploading or completed file is a Conflict; bad arguments are
    InvalidRequest."""
    uploading = await upload(store, chunks=1, complete=False)
    completed = await upload(store, chunks=1)
    until = datetime.now(UTC)
    for record in (uploading, completed):
        with pytest.raises(Conflict):
            await store.defer_sweep(record.file_id, until=until, attempts=1)
    await store.fail_file(uploading.file_id)
    with pytest.raises(InvalidRequest):
        await store.defer_sweep(uploading.file_id, until=datetime(2030, 1, 1), attempts=1)
    with pytest.raises(InvalidRequest):
        await store.defer_sweep(uploading.file_id, until=until, attempts=-1)
    with pytest.raises(InvalidRequest):
        await store.files_to_sweep(now=datetime(2030, 1, 1), limit=10)
    with pytest.raises(InvalidRequest):
        await store.files_to_sweep(now=until, limit=0)
