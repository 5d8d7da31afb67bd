"""
The lifecycle and lease rules hold when several stores share one database
(several gateways on one PostgreSQL, or on one SQLite file): each rule is
decided in the statement that changes the row, so concurrent callers never
both win.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_twisted
from support.metadata import make_chunk, upload
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock

from s3node.errors import UploadAborted
from s3node.interfaces import MetadataStore
from s3node.records import FileStatus

# SQL only: the racers are separate stores on one database, which the in-memory
# store cannot share (each memory: store is its own database).
pytestmark = pytest.mark.sql_only

T0 = 1_700_000_000
UPLOADS = 24


def _all(coros) -> Deferred:  # type: ignore[no-untyped-def]
    return gatherResults([Deferred.fromCoroutine(c) for c in coros], consumeErrors=True)


async def _outcome(call) -> bool:  # type: ignore[no-untyped-def]
    """True when ``call`` succeeded, False when it raised UploadAborted."""
    try:
        await call
    except UploadAborted:
        return False
    return True


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest_twisted.ensureDeferred
async def test_concurrent_try_lease_from_two_stores(open_store) -> None:  # type: ignore[no-untyped-def]
    """Of several holders on two stores trying one free lease at once, exactly one gets it."""
    stores: list[MetadataStore] = [open_store(), open_store()]
    for s in stores:
        await s.migrate()
    now = _at(T0)
    for round_ in range(10):
        name = f"lease-{round_}"
        attempts = [
            stores[n % 2].try_lease(name=name, holder=f"gw-{n}", now=now, ttl=30)
            for n in range(6)
        ]
        won = await _all(attempts)
        assert won.count(True) == 1, won
        winner = f"gw-{won.index(True)}"
        # the winner renews; every other holder is still refused
        assert await stores[1].try_lease(name=name, holder=winner, now=now, ttl=30)
        assert not await stores[0].try_lease(name=name, holder="gw-late", now=now, ttl=30)


@pytest_twisted.ensureDeferred
async def test_concurrent_takeover_of_an_expired_lease(open_store) -> None:  # type: ignore[no-untyped-def]
    """Once a lease expired, of several holders taking it over at once exactly one wins."""
    stores: list[MetadataStore] = [open_store(), open_store()]
    for s in stores:
        await s.migrate()
    for round_ in range(10):
        name = f"lease-{round_}"
        assert await stores[0].try_lease(name=name, holder="dead", now=_at(T0), ttl=5)
        attempts = [
            stores[n % 2].try_lease(name=name, holder=f"gw-{n}", now=_at(T0 + 60), ttl=30)
            for n in range(6)
        ]
        assert (await _all(attempts)).count(True) == 1


@pytest_twisted.ensureDeferred
async def test_claim_stale_uploads_racing_touch_file_and_record_chunk(  # type: ignore[no-untyped-def]
    open_store,
) -> None:
    """
    A sweeper claiming stale uploads while their uploads show a sign of life (touch_file,
    record_chunk) from another store: every upload either kept going (its call succeeded,
    it stays uploading) or was claimed (its call raised UploadAborted, it is failed),
    never both, and the claim count says how many were claimed.
    """
    uploader_clock, sweeper_clock = Clock(), Clock()
    uploader_clock.advance(T0)
    sweeper_clock.advance(T0 + 1000)
    uploader: MetadataStore = open_store(clock=uploader_clock)
    sweeper: MetadataStore = open_store(clock=sweeper_clock)
    await uploader.migrate()
    await sweeper.migrate()
    for round_ in range(3):
        files = [await upload(uploader, chunks=1, complete=False) for _ in range(UPLOADS)]
        uploader_clock.advance(1000)
        signs = [
            uploader.touch_file(f.file_id) if n % 2 else
            uploader.record_chunk(make_chunk(f.file_id, 1))
            for n, f in enumerate(files)
        ]
        claim = sweeper.claim_stale_uploads(stale_before=_at(uploader_clock.seconds() - 500),
                                            limit=1000)
        # the claim goes in the middle of the signs of life
        half = UPLOADS // 2
        results = await _all([*map(_outcome, signs[:half]), claim,
                              *map(_outcome, signs[half:])])
        alive = results[:half] + results[half + 1:]
        claimed = results[half]
        statuses = [(await uploader.get_file(f.file_id)).status for f in files]
        for ok, status in zip(alive, statuses, strict=True):
            assert status is (FileStatus.UPLOADING if ok else FileStatus.FAILED), round_
        assert claimed == statuses.count(FileStatus.FAILED)
        # whatever is left is claimed by the next sweep, not kept alive by the race
        later = _at(uploader_clock.seconds() + 1)
        assert await sweeper.claim_stale_uploads(stale_before=later, limit=1000) == alive.count(
            True
        )


@pytest_twisted.ensureDeferred
async def test_two_sweepers_claim_each_upload_once(open_store) -> None:  # type: ignore[no-untyped-def]
    """Two stores claiming stale uploads at once, a few at a time, claim each one once."""
    clock = Clock()
    clock.advance(T0)
    stores: list[MetadataStore] = [open_store(clock=clock), open_store(clock=clock)]
    for s in stores:
        await s.migrate()
    files = [await upload(stores[0], chunks=0, complete=False) for _ in range(UPLOADS)]
    clock.advance(100)
    cutoff = _at(T0 + 50)
    total = 0
    while True:
        counts = await _all(
            s.claim_stale_uploads(stale_before=cutoff, limit=5) for s in stores * 2
        )
        total += sum(counts)
        if not any(counts):
            break
    assert total == UPLOADS
    for f in files:
        assert (await stores[1].get_file(f.file_id)).status is FileStatus.FAILED


@pytest_twisted.ensureDeferred
async def test_fail_file_racing_complete_file(open_store) -> None:  # type: ignore[no-untyped-def]
    """
    complete_file on one store and fail_file on another at once: the file ends completed
    exactly when fail_file said it did not move it, failed otherwise (and then the
    completion raised UploadAborted).
    """
    stores: list[MetadataStore] = [open_store(), open_store()]
    for s in stores:
        await s.migrate()
    for _ in range(UPLOADS // 2):
        record = await upload(stores[0], chunks=2, complete=False)
        completion = stores[0].complete_file(
            file_id=record.file_id, size=200, checksum="ab" * 32, replicas=1
        )
        completed, failed = await _all([_outcome(completion), stores[1].fail_file(record.file_id)])
        status = (await stores[0].get_file(record.file_id)).status
        assert completed is not failed
        assert status is (FileStatus.COMPLETED if completed else FileStatus.FAILED)

