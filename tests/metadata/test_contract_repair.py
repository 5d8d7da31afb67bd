"""
The MetadataStore contract for self-healing (issue 10), on every backend:
the walk over every chunk of completed files, starting a repair copy,
damaged files, the durability figures that leave unhealthy nodes out, the
persistent repair queue (ordering, deferral, entries kept and merged, gone
with their chunks) and the cluster-wide counters.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from support.metadata import digest, make_chunk

from s3node.errors import FileNotFound, InvalidRequest
from s3node.interfaces import MetadataStore
from s3node.records import (
    ChunkRecord,
    FileRecord,
    FileStatus,
    RepairReason,
    RepairTask,
    ReplicaState,
)

T = datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)
DEGRADED, DRAINING, MISPLACED = RepairReason.DEGRADED, RepairReason.DRAINING, RepairReason.MISPLACED
STORED = ReplicaState.STORED


async def _file(
    store: MetadataStore,
    sizes: Sequence[int],
    *,
    nodes: Sequence[str] = ("n1", "n2"),
    file_id: uuid.UUID | None = None,
    complete: bool = True,
) -> FileRecord:
    """A file whose chunks have ``sizes``, stored on ``nodes``, completed unless told."""
    record = await store.create_file(
        filename="f", content_type="", checksum_algorithm="sha256", chunk_size=1000,
        file_id=file_id,
    )
    for index, size in enumerate(sizes):
        await store.record_chunk(make_chunk(record.file_id, index, size=size, nodes=nodes))
    if not complete:
        return record
    return await store.complete_file(
        file_id=record.file_id, size=sum(sizes), checksum=digest(record.file_id), replicas=1
    )


def _keys(chunks: Sequence[ChunkRecord]) -> list[tuple[uuid.UUID, int]]:
    return [(c.file_id, c.index) for c in chunks]


def _replicas(chunk: ChunkRecord | None) -> list[tuple[str, ReplicaState]]:
    assert chunk is not None
    return [(rep.node_id, rep.state) for rep in chunk.replicas]


async def _state(store: MetadataStore, file_id: uuid.UUID, index: int, node_id: str) -> object:
    """The state of one replica row, or None when there is none."""
    chunk = (await store.get_file_with_chunks(file_id)).chunks[index]
    return dict(_replicas(chunk)).get(node_id)


# -- scan_chunks and get_completed_chunk ----------------------------------------------


@pytest_twisted.ensureDeferred
async def test_scan_chunks_walks_completed_files_in_key_order(store: MetadataStore) -> None:
    """scan_chunks returns the chunks of completed files only, in (file id, index) order (the
    id's byte order), with every replica in any state ordered by node; pages resume after the
    key given and end with an empty page."""
    high, low = uuid.UUID("f" * 32), uuid.UUID("0" * 31 + "1")
    mid = uuid.UUID("a0000000-0000-4000-8000-000000000000")
    for file_id, count in ((high, 2), (mid, 3), (low, 1)):
        await _file(store, [10] * count, file_id=file_id)
    await _file(store, [10, 10], complete=False)
    failed = await _file(store, [10], complete=False)
    await store.fail_file(failed.file_id)
    deleting = await _file(store, [10])
    await store.start_delete(deleting.file_id)
    await store.set_replica_state(file_id=mid, index=1, node_id="n0", state=ReplicaState.CORRUPT)
    await store.set_replica_state(file_id=mid, index=1, node_id="n2", state=ReplicaState.MISSING)

    everything = await store.scan_chunks(after=None, limit=100)
    want = [(low, 0), (mid, 0), (mid, 1), (mid, 2), (high, 0), (high, 1)]
    assert _keys(everything) == want
    assert _replicas(everything[2]) == [
        ("n0", ReplicaState.CORRUPT), ("n1", STORED), ("n2", ReplicaState.MISSING)
    ]
    assert everything[0] == (await store.get_file_with_chunks(low)).chunks[0]
    pages, after = [], None
    while True:
        page = await store.scan_chunks(after=after, limit=4)
        if not page:
            break
        pages.append(_keys(page))
        after = (page[-1].file_id, page[-1].index)
    assert pages == [want[:4], want[4:]]
    assert _keys(await store.scan_chunks(after=(mid, 1), limit=2)) == [(mid, 2), (high, 0)]
    assert _keys(await store.scan_chunks(after=(mid, 99), limit=9)) == want[4:]
    assert await store.scan_chunks(after=(high, 1), limit=9) == []


@pytest_twisted.ensureDeferred
async def test_scan_chunks_of_an_empty_store_and_bad_arguments(store: MetadataStore) -> None:
    """An empty store scans to nothing; a limit outside 1..1000 or an after that is no
    (UUID, index) pair is InvalidRequest."""
    assert await store.scan_chunks(after=None, limit=10) == []
    assert await store.scan_chunks(after=(uuid.uuid4(), 0), limit=10) == []
    for after, limit in [(None, 0), (None, 1001), ((uuid.uuid4(),), 1),
                         (("x", 0), 1), ((uuid.uuid4(), -1), 1)]:
        with pytest.raises(InvalidRequest):
            await store.scan_chunks(after=after, limit=limit)  # type: ignore[arg-type]


@pytest_twisted.ensureDeferred
async def test_get_completed_chunk(store: MetadataStore) -> None:
    """get_completed_chunk returns a completed file's chunk with every replica in any state;
    None for a file in any other status, an unknown index or an unknown file."""
    done = await _file(store, [10, 20])
    await store.set_replica_state(
        file_id=done.file_id, index=1, node_id="n1", state=ReplicaState.WRITING
    )
    chunk = await store.get_completed_chunk(done.file_id, 1)
    assert chunk == (await store.get_file_with_chunks(done.file_id)).chunks[1]
    assert chunk is not None and chunk.size == 20
    assert _replicas(chunk) == [("n1", ReplicaState.WRITING), ("n2", STORED)]
    uploading = await _file(store, [10], complete=False)
    assert await store.get_completed_chunk(uploading.file_id, 0) is None
    await store.start_delete(done.file_id)
    assert await store.get_completed_chunk(done.file_id, 0) is None
    assert await store.get_completed_chunk(done.file_id, 5) is None
    assert await store.get_completed_chunk(uuid.uuid4(), 0) is None
    with pytest.raises(InvalidRequest):
        await store.get_completed_chunk(done.file_id, -1)


# -- begin_replica ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_begin_replica_adds_a_writing_row_once(store: MetadataStore) -> None:
    """begin_replica on a node without a row adds a writing replica carrying the chunk's id
    (a node's walk finds it); a second call, or one on a node storing it, returns False and
    changes nothing."""
    record = await _file(store, [10, 10])
    assert await store.begin_replica(file_id=record.file_id, index=1, node_id="n3") is True
    assert await _state(store, record.file_id, 1, "n3") is ReplicaState.WRITING
    (on_n3,) = await store.node_replicas(node_id="n3", after="", upto=None, limit=10)
    assert (on_n3.chunk_id, on_n3.file_id, on_n3.index) == (
        make_chunk(record.file_id, 1).chunk_id, record.file_id, 1
    )
    before = await store.get_file_with_chunks(record.file_id)
    assert await store.begin_replica(file_id=record.file_id, index=1, node_id="n3") is False
    assert await store.begin_replica(file_id=record.file_id, index=1, node_id="n1") is False
    assert await store.get_file_with_chunks(record.file_id) == before


@pytest.mark.parametrize("state", [ReplicaState.MISSING, ReplicaState.CORRUPT])
@pytest_twisted.ensureDeferred
async def test_begin_replica_over_a_lost_copy(store: MetadataStore, state: ReplicaState) -> None:
    """A node whose replica is missing or corrupt may be written again: its row becomes
    writing (True), and only once."""
    record = await _file(store, [10])
    await store.set_replica_state(file_id=record.file_id, index=0, node_id="n1", state=state)
    assert await store.begin_replica(file_id=record.file_id, index=0, node_id="n1") is True
    assert await _state(store, record.file_id, 0, "n1") is ReplicaState.WRITING
    assert await store.begin_replica(file_id=record.file_id, index=0, node_id="n1") is False


@pytest_twisted.ensureDeferred
async def test_begin_replica_only_for_completed_files(store: MetadataStore) -> None:
    """An uploading, failed or deleting file, an unknown chunk or an unknown file: False, and
    no row appears."""
    uploading = await _file(store, [10], complete=False)
    failed = await _file(store, [10], complete=False)
    await store.fail_file(failed.file_id)
    deleting = await _file(store, [10])
    await store.start_delete(deleting.file_id)
    for record in (uploading, failed, deleting):
        assert await store.begin_replica(file_id=record.file_id, index=0, node_id="n9") is False
        assert await _state(store, record.file_id, 0, "n9") is None
    done = await _file(store, [10])
    assert await store.begin_replica(file_id=done.file_id, index=1, node_id="n9") is False
    assert await store.begin_replica(file_id=uuid.uuid4(), index=0, node_id="n9") is False
    assert await store.node_replicas(node_id="n9", after="", upto=None, limit=10) == []
    with pytest.raises(InvalidRequest):
        await store.begin_replica(file_id=done.file_id, index=0, node_id="")


# -- damaged files --------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_damaged_flag_round_trip(store: MetadataStore) -> None:
    """A new file is not damaged; set_file_damaged sets and clears the flag, and every read of
    the file record carries it (get, listings, with chunks, start_delete, sweeping)."""
    record = await _file(store, [10])
    assert record.damaged is False and (await store.get_file(record.file_id)).damaged is False
    await store.set_file_damaged(record.file_id, True)
    assert (await store.get_file(record.file_id)).damaged is True
    assert (await store.get_file_with_chunks(record.file_id)).file.damaged is True
    assert [f.damaged for f in (await store.list_files(page=1, per_page=10)).files] == [True]
    listed = await store.list_files_after(cursor=None, limit=10, status=FileStatus.COMPLETED)
    assert [f.damaged for f in listed.files] == [True]
    await store.set_file_damaged(record.file_id, False)
    assert (await store.get_file(record.file_id)).damaged is False
    await store.set_file_damaged(record.file_id, True)
    deleting = await store.start_delete(record.file_id)
    assert deleting.damaged is True
    (due,) = await store.files_to_sweep(now=T + timedelta(days=3650), limit=10)
    assert due.file.damaged is True


@pytest_twisted.ensureDeferred
async def test_set_file_damaged_checks_its_arguments(store: MetadataStore) -> None:
    """An unknown file is FileNotFound; a flag that is not a bool is InvalidRequest."""
    with pytest.raises(FileNotFound):
        await store.set_file_damaged(uuid.uuid4(), True)
    record = await _file(store, [10])
    with pytest.raises(InvalidRequest):
        await store.set_file_damaged(record.file_id, 1)  # type: ignore[arg-type]
    assert (await store.get_file(record.file_id)).damaged is False


# -- durability_counts ---------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_durability_counts_leave_unhealthy_nodes_out(store: MetadataStore) -> None:
    """Stored replicas on the nodes named unhealthy do not count: chunks left with none count
    under 0; bytes follow the chunks' sizes under the same keys; damaged files are the
    completed ones flagged."""
    await _file(store, [1, 2], nodes=("n1", "n2", "n3"))
    narrow = await _file(store, [10, 20, 40], nodes=("n1", "n2"))
    await store.set_replica_state(
        file_id=narrow.file_id, index=2, node_id="n2", state=ReplicaState.CORRUPT
    )
    await _file(store, [1000], nodes=("n1",), complete=False)
    await store.set_file_damaged(narrow.file_id, True)
    gone = await _file(store, [500], nodes=("n3",))
    await store.set_file_damaged(gone.file_id, True)
    await store.start_delete(gone.file_id)

    counts = await store.durability_counts()
    assert counts.chunks_by_stored_replicas == {3: 2, 2: 2, 1: 1}
    assert counts.bytes_by_stored_replicas == {3: 3, 2: 30, 1: 40}
    assert counts.damaged_files == 1
    assert counts.files_by_status == {
        FileStatus.COMPLETED: 2, FileStatus.UPLOADING: 1, FileStatus.DELETING: 1
    }
    assert await store.durability_counts(unhealthy_nodes=()) == counts

    without_n1 = await store.durability_counts(unhealthy_nodes={"n1"})
    assert without_n1.chunks_by_stored_replicas == {2: 2, 1: 2, 0: 1}
    assert without_n1.bytes_by_stored_replicas == {2: 3, 1: 30, 0: 40}
    assert without_n1.files_by_status == counts.files_by_status
    both = await store.durability_counts(unhealthy_nodes=["n1", "n2", "unknown"])
    assert both.chunks_by_stored_replicas == {1: 2, 0: 3}
    assert both.bytes_by_stored_replicas == {1: 3, 0: 70}
    assert both.damaged_files == 1
    with pytest.raises(InvalidRequest):
        await store.durability_counts(unhealthy_nodes="n1")
    with pytest.raises(InvalidRequest):
        await store.durability_counts(unhealthy_nodes=[""])


# -- the repair queue ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_due_repairs_lowest_priority_then_earliest_due(store: MetadataStore) -> None:
    """Entries come out by priority (fewest healthy replicas first), then by due time; entries
    not yet due stay in; the limit cuts the page."""
    a = await _file(store, [10] * 3)
    b = await _file(store, [10] * 2)
    assert await store.enqueue_repairs([(a.file_id, 0, MISPLACED, 2)], now=T) == 1
    assert await store.enqueue_repairs(
        [(a.file_id, 1, DEGRADED, 1), (b.file_id, 0, DRAINING, 2)], now=T - timedelta(seconds=5)
    ) == 2
    assert await store.enqueue_repairs(
        [(a.file_id, 2, DEGRADED, 0), (b.file_id, 1, DEGRADED, 0)], now=T + timedelta(hours=1)
    ) == 2
    due = await store.due_repairs(now=T, limit=10)
    assert [(t.file_id, t.index) for t in due] == [
        (a.file_id, 1), (b.file_id, 0), (a.file_id, 0)
    ]
    assert due[0] == RepairTask(a.file_id, 1, DEGRADED, 1, 0, T - timedelta(seconds=5), None)
    assert due[0].due_at.utcoffset() == timedelta(0)
    assert [t.index for t in await store.due_repairs(now=T, limit=1)] == [1]
    later = await store.due_repairs(now=T + timedelta(hours=1), limit=10)
    # equal priority and due time: by file id (byte order), then index
    ties = sorted([(a.file_id, 2), (b.file_id, 1)], key=lambda k: k[0].bytes)
    assert [(t.file_id, t.index) for t in later] == [
        *ties, (a.file_id, 1), (b.file_id, 0), (a.file_id, 0)
    ]
    assert await store.repair_queue_length(now=T) == (5, 3)
    assert await store.repair_queue_length(now=T - timedelta(days=1)) == (5, 0)


@pytest_twisted.ensureDeferred
async def test_enqueue_keeps_an_entry_and_merges_it(store: MetadataStore) -> None:
    """A chunk already queued keeps its due time, attempts and error but takes the new reason
    and the lower of the priorities; it does not count as new."""
    record = await _file(store, [10, 10])
    await store.enqueue_repairs([(record.file_id, 0, DEGRADED, 1)], now=T)
    await store.defer_repair(
        record.file_id, 0, until=T + timedelta(minutes=1), attempts=2, error="n3 down"
    )
    assert await store.enqueue_repairs(
        [(record.file_id, 0, MISPLACED, 2), (record.file_id, 1, DRAINING, 2)],
        now=T + timedelta(hours=1),
    ) == 1
    at = T + timedelta(hours=2)
    queued = {t.index: t for t in await store.due_repairs(now=at, limit=10)}
    assert queued[0] == RepairTask(
        record.file_id, 0, MISPLACED, 1, 2, T + timedelta(minutes=1), "n3 down"
    )
    assert queued[1] == RepairTask(record.file_id, 1, DRAINING, 2, 0, T + timedelta(hours=1))
    assert await store.enqueue_repairs([(record.file_id, 1, DEGRADED, 0)], now=at) == 0
    (first, _) = await store.due_repairs(now=at, limit=10)
    assert (first.index, first.reason, first.priority) == (1, DEGRADED, 0)


@pytest_twisted.ensureDeferred
async def test_enqueue_merges_a_chunk_named_twice_and_skips_gone_chunks(
    store: MetadataStore,
) -> None:
    """A chunk named twice in one call is one new entry (last reason, lowest priority); chunks
    that do not exist (unknown index, unknown file) are skipped without an error; an empty call
    adds nothing."""
    record = await _file(store, [10])
    added = await store.enqueue_repairs(
        [(record.file_id, 0, DEGRADED, 0), (record.file_id, 7, DEGRADED, 0),
         (uuid.uuid4(), 0, DEGRADED, 0), (record.file_id, 0, MISPLACED, 3)],
        now=T,
    )
    assert added == 1
    assert await store.due_repairs(now=T, limit=10) == [
        RepairTask(record.file_id, 0, MISPLACED, 0, 0, T)
    ]
    assert await store.enqueue_repairs([], now=T) == 0
    assert await store.repair_queue_length(now=T) == (1, 1)


@pytest_twisted.ensureDeferred
async def test_defer_and_finish(store: MetadataStore) -> None:
    """A deferred entry is due again at its new time with its attempts and error; a finished
    one is gone; finishing or deferring an entry that is not queued is not an error."""
    record = await _file(store, [10, 10])
    await store.enqueue_repairs(
        [(record.file_id, 0, DEGRADED, 0), (record.file_id, 1, DEGRADED, 1)], now=T
    )
    later = T + timedelta(seconds=30)
    await store.defer_repair(record.file_id, 0, until=later, attempts=1, error="timeout")
    assert [t.index for t in await store.due_repairs(now=T, limit=10)] == [1]
    assert await store.repair_queue_length(now=T) == (2, 1)
    again = await store.due_repairs(now=later, limit=10)
    assert again[0] == RepairTask(record.file_id, 0, DEGRADED, 0, 1, later, "timeout")
    await store.finish_repair(record.file_id, 1)
    await store.finish_repair(record.file_id, 1)
    await store.finish_repair(uuid.uuid4(), 0)
    await store.defer_repair(uuid.uuid4(), 0, until=later, attempts=1, error="x")
    assert [t.index for t in await store.due_repairs(now=later, limit=10)] == [0]
    await store.finish_repair(record.file_id, 0)
    assert await store.repair_queue_length(now=later) == (0, 0)


@pytest_twisted.ensureDeferred
async def test_a_long_or_odd_error_is_kept_cut_and_cleaned(store: MetadataStore) -> None:
    """defer_repair keeps at most 1000 characters of an error, with NUL characters replaced,
    rather than refusing the deferral."""
    record = await _file(store, [10])
    await store.enqueue_repairs([(record.file_id, 0, DEGRADED, 0)], now=T)
    await store.defer_repair(record.file_id, 0, until=T, attempts=1, error="a\x00b" + "x" * 5000)
    (task,) = await store.due_repairs(now=T, limit=1)
    assert task.last_error is not None and len(task.last_error) == 1000
    assert task.last_error.startswith("a\ufffdbxxx")


@pytest_twisted.ensureDeferred
async def test_entries_go_with_their_files(store: MetadataStore) -> None:
    """Deleting a file (start_delete, then finish_delete) takes its queue entries along; the
    entries of other files stay."""
    gone = await _file(store, [10, 10])
    kept = await _file(store, [10])
    await store.enqueue_repairs(
        [(gone.file_id, 0, DEGRADED, 0), (gone.file_id, 1, DEGRADED, 0),
         (kept.file_id, 0, DEGRADED, 0)],
        now=T,
    )
    await store.start_delete(gone.file_id)
    assert await store.repair_queue_length(now=T) == (3, 3)
    await store.finish_delete(gone.file_id)
    assert [t.file_id for t in await store.due_repairs(now=T, limit=10)] == [kept.file_id]
    assert await store.repair_queue_length(now=T) == (1, 1)


@pytest_twisted.ensureDeferred
async def test_repair_queue_arguments_are_checked(store: MetadataStore) -> None:
    """Malformed entries, reasons, priorities, naive times and negative attempts are
    InvalidRequest, and nothing is queued."""
    record = await _file(store, [10])
    fid = record.file_id
    bad_batches: list[object] = [
        [(fid, 0, "degraded", 0)], [(fid, 0, DEGRADED)], [(fid, -1, DEGRADED, 0)],
        [("x", 0, DEGRADED, 0)], [(fid, 0, DEGRADED, 2**31)], [(fid, 0, DEGRADED, True)],
        "not a list",
    ]
    for batch in bad_batches:
        with pytest.raises(InvalidRequest):
            await store.enqueue_repairs(batch, now=T)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        await store.enqueue_repairs([(fid, 0, DEGRADED, 0)], now=datetime(2026, 1, 1))
    assert await store.repair_queue_length(now=T) == (0, 0)
    await store.enqueue_repairs([(fid, 0, DEGRADED, 0)], now=T)
    with pytest.raises(InvalidRequest):
        await store.defer_repair(fid, 0, until=T, attempts=-1, error="")
    with pytest.raises(InvalidRequest):
        await store.defer_repair(fid, 0, until=datetime(2026, 1, 1), attempts=1, error="")
    with pytest.raises(InvalidRequest):
        await store.due_repairs(now=T, limit=0)
    with pytest.raises(InvalidRequest):
        await store.repair_queue_length(now=datetime(2026, 1, 1))
    assert await store.due_repairs(now=T, limit=5) == [RepairTask(fid, 0, DEGRADED, 0, 0, T)]


# -- the cluster-wide counters ---------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_counters_add_up_across_calls(store: MetadataStore) -> None:
    """add_counters adds to each named counter, creating it at its first increment (0
    included); read_counters gives every counter added to."""
    assert await store.read_counters() == {}
    await store.add_counters({"repairs_done": 2, "corrupt_found": 1})
    await store.add_counters({"repairs_done": 3, "bytes_copied": 0})
    await store.add_counters({})
    assert await store.read_counters() == {
        "repairs_done": 5, "corrupt_found": 1, "bytes_copied": 0
    }
    await store.add_counters({"bytes_copied": 2**40})
    assert (await store.read_counters())["bytes_copied"] == 2**40


@pytest.mark.parametrize(
    "deltas", [{"x": -1}, {"": 1}, {"x": 1.5}, {"x": True}, {"n" * 256: 1}, [("x", 1)]]
)
@pytest_twisted.ensureDeferred
async def test_bad_counter_increments_are_refused(store: MetadataStore, deltas: object) -> None:
    """Negative, fractional or boolean increments, empty or overlong names and anything but a
    mapping are InvalidRequest, and no counter changes."""
    await store.add_counters({"x": 1})
    with pytest.raises(InvalidRequest):
        await store.add_counters(deltas)  # type: ignore[arg-type]
    assert await store.read_counters() == {"x": 1}

