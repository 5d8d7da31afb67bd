"""
The storage node's background scrubber: it re-reads every chunk against its
sidecar digest at a bounded rate, so rot in a chunk that nobody reads whole is
found, quarantined and (through the quarantine list the gateway's reconciler
reads) repaired.

- **Order and reads.**  A pass walks the store's chunk ids in ascending order, a
  page at a time, and reads each chunk whole through the store's own verifying
  read (:meth:`DiskChunkStore.read`), so a mismatch is quarantined exactly as a
  client's read would quarantine it, in one place.  One chunk at a time, one
  1 MiB block at a time, on the store's executor: the scrubber never holds
  more than one worker, and never a chunk's lock.
- **Rate.**  A :class:`~s3node.core.ratelimit.TokenBucket` of ``rate`` bytes a
  second that saves nothing up (capacity 0): each block is paid for just
  before it is read, once the bucket is out of debt, waiting on the injected
  clock (so the read's own time counts towards the wait), and each chunk also
  costs :data:`CHUNK_COST` (its open and sidecar read).  Over any ``T``
  seconds the scrubber is handed at most ``rate * T`` bytes plus one block
  (the store reads one block ahead of what it hands over).
- **Schedule.**  A pass starts ``interval`` seconds after the previous one
  started, or as soon as it ended if it took longer.
- **Checkpoint.**  The pass's progress (:class:`ScrubPass`) is saved in the data
  dir every :data:`SAVE_EVERY_CHUNKS` chunks or :data:`SAVE_EVERY_SECONDS`
  seconds, when a pass ends and when the node stops
  (:mod:`s3node.storage.scrubcheckpoint`); a restarted node resumes after the
  last chunk it dealt with.
- **Changes under way.**  A chunk deleted after it was listed is counted as
  ``vanished``; one deleted while it is read is read to its end from the open
  file; one stored behind the pass's position waits for the next pass.

:class:`ScrubberService` runs a :class:`Scrubber` as a child service of the
storage node (:mod:`s3node.storage.service`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from s3node._aio import aio
from s3node.core.chunking import FRAME_SIZE
from s3node.core.ratelimit import TokenBucket
from s3node.errors import ChunkNotFound, CorruptChunk
from s3node.interfaces import ChunkStore
from s3node.storage import limits, scrubcheckpoint
from s3node.storage.locks import run_to_end
from s3node.storage.scrubcheckpoint import CheckpointUnreadable, ScrubPass

__all__ = ["CHUNK_COST", "ScrubPass", "Scrubber", "ScrubberService"]

log = Logger()
T = TypeVar("T")

#: chunk ids listed at a time
PAGE = 1000
#: budget a chunk costs besides its bytes (opening it, reading its sidecar), so a store
#: of tiny chunks is not walked at full speed either
CHUNK_COST = 4096
#: the checkpoint is saved after this many chunks ...
SAVE_EVERY_CHUNKS = 1000
#: ... or this many seconds, whichever comes first
SAVE_EVERY_SECONDS = 60.0
#: seconds before a pass that failed (listing the store failed) is tried again
RETRY_AFTER = 60.0


class Clock(limits.Clock, Protocol):
    """What the scrubber needs of a clock: ``callLater`` and ``seconds``."""

    def seconds(self) -> float: ...


class Scrubber:
    """
    Verifies every chunk of ``store`` once per ``interval`` seconds, reading at
    most ``rate`` bytes a second.

    :param store: the node's store; whole reads must verify and quarantine
    :param clock: times the rate limit and the schedule (the reactor, or a
        :class:`twisted.internet.task.Clock`); it must run on the event loop's thread
    :param executor: where the checkpoint is read and written (the store's)
    :param checkpoint: the checkpoint file (``DATA_DIR/scrub.json``)
    :param rate: bytes a second, at least 1
    :param interval: seconds from the start of one pass to the start of the next
    :param fsync: fsync the checkpoint (off only for throwaway nodes)
    :param save_every_chunks: save the checkpoint after this many chunks ...
    :param save_every_seconds: ... or this many seconds, whichever comes first
    :param page_size: chunk ids listed at a time
    """

    def __init__(
        self,
        store: ChunkStore,
        *,
        clock: Clock,
        executor: Executor,
        checkpoint: Path,
        rate: int,
        interval: float,
        fsync: bool = True,
        save_every_chunks: int = SAVE_EVERY_CHUNKS,
        save_every_seconds: float = SAVE_EVERY_SECONDS,
        page_size: int = PAGE,
    ) -> None:
        self._store = store
        self._clock = clock
        self._executor = executor
        self.checkpoint = checkpoint
        self.rate = rate
        self.interval = interval
        self._fsync = fsync
        self._save_every_chunks = save_every_chunks
        self._save_every_seconds = save_every_seconds
        self._page_size = page_size
        self._bucket = TokenBucket(rate, 0, clock.seconds())
        self._task: asyncio.Task[None] | None = None
        #: the pass under way, else the last one (``None`` before the first)
        self.progress: ScrubPass | None = None
        #: the last pass that ended
        self.last_pass: ScrubPass | None = None
        #: the chunk being read, if any
        self.chunk_id: str | None = None

    # -- life cycle ------------------------------------------------------

    def start(self) -> None:
        """Start scrubbing in the background (on the running event loop)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self.run())
            self._task.add_done_callback(_log_end)

    async def stop(self) -> None:
        """
        Stop: the block read under way ends and the chunk is closed (it is
        verified again on resume), then the checkpoint is saved.
        """
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})
        self.chunk_id = None
        if self.progress is not None and self.progress.finished is None:
            await self._save(self.progress)

    async def run(self) -> None:
        """Scrub forever: resume the checkpoint's pass, then a pass every ``interval``."""
        progress = await self._load()
        if progress is not None and progress.finished is not None:
            self.progress = self.last_pass = progress  # the counters of the last pass, until the next
        while True:
            if progress is None or progress.finished is not None:
                if progress is not None:
                    await self._sleep_until(progress.started + self.interval)
                progress = ScrubPass(started=self._clock.seconds())
                log.info("scrub pass started ({rate} bytes/s)", rate=self.rate)
            else:
                log.info(
                    "scrub pass resumed after chunk {chunk_id}",
                    chunk_id=progress.last_chunk_id or "(none)",
                )
            self.progress = progress
            try:
                await self.scrub(progress)
            except Exception:  # noqa: BLE001 - logged; tried again later from where it was
                log.failure("scrub pass failed; trying again in {delay} s", Failure(),
                            delay=RETRY_AFTER)
                await self._sleep(RETRY_AFTER)
                continue
            self._log_pass(progress)

    def service(self) -> ScrubberService:
        """A Twisted service (named ``scrubber``) that scrubs while it is running."""
        return ScrubberService(self)

    # -- one pass ----------------------------------------------------------

    async def scrub(self, progress: ScrubPass) -> ScrubPass:
        """
        Verify every chunk after ``progress.last_chunk_id``, counting in
        ``progress``; mark it finished and save the checkpoint at the end.
        """
        self.progress = progress
        saved_at, unsaved = self._clock.seconds(), 0
        while True:
            page = await self._store.list(after=progress.last_chunk_id, limit=self._page_size)
            for chunk_id in page.chunk_ids:
                self.chunk_id = chunk_id
                try:
                    await self._scrub_chunk(chunk_id, progress)
                except Exception:  # noqa: BLE001 - one chunk never stops the pass
                    progress.errors += 1
                    log.failure("could not scrub chunk {chunk_id}", Failure(), chunk_id=chunk_id)
                self.chunk_id = None
                progress.last_chunk_id = chunk_id
                unsaved += 1
                now = self._clock.seconds()
                if unsaved >= self._save_every_chunks or now - saved_at >= self._save_every_seconds:
                    await self._save(progress)
                    saved_at, unsaved = now, 0
            if not page.next_page_token:
                break
        progress.finished = self._clock.seconds()
        self.last_pass = progress
        await self._save(progress)
        return progress

    async def _scrub_chunk(self, chunk_id: str, progress: ScrubPass) -> None:
        await self._pay(CHUNK_COST)
        try:
            read = await self._store.read(chunk_id, verify=True)
        except ChunkNotFound:
            progress.vanished += 1  # deleted since it was listed
            return
        except CorruptChunk:
            progress.corrupt_found += 1  # a broken sidecar: the store quarantined it
            return
        pieces, seen = aiter(read.pieces), 0
        try:
            while True:
                # Paid before it is read, so the read's own time counts towards the wait.
                expected = min(FRAME_SIZE, read.length - seen)
                await self._pay(expected)
                try:
                    piece = await anext(pieces)
                except StopAsyncIteration:
                    break
                seen += len(piece)
                progress.bytes_verified += len(piece)
                if len(piece) > expected:
                    self._bucket.spend(len(piece) - expected, self._clock.seconds())
        except CorruptChunk:
            # The digest differs: the store quarantined it.  It read the whole
            # chunk but held back the last piece, which counts too.
            progress.corrupt_found += 1
            progress.bytes_verified += read.length - seen
            return
        finally:
            await read.aclose()
        progress.chunks_verified += 1

    def _log_pass(self, progress: ScrubPass) -> None:
        took = (progress.finished or progress.started) - progress.started
        log.info(
            "scrub pass finished: {chunks} chunks ({bytes} bytes) verified, {corrupt} corrupt "
            "and quarantined, {vanished} deleted meanwhile, {errors} not checked, in {took:.2f} s",
            chunks=progress.chunks_verified,
            bytes=progress.bytes_verified,
            corrupt=progress.corrupt_found,
            vanished=progress.vanished,
            errors=progress.errors,
            took=took,
        )
        if took > self.interval:
            log.warn(  # noqa: G010 (twisted.logger has no .warning)
                "the scrub pass took {took:.0f} s, longer than --scrub-interval {interval:g} s; "
                "the next starts now (raise --scrub-rate to keep to the interval)",
                took=took,
                interval=self.interval,
            )

    # -- waiting on the clock ------------------------------------------------

    async def _pay(self, amount: int) -> None:
        """Wait (on the clock) until the budget is out of debt, then spend ``amount``."""
        delay = self._bucket.delay(self._clock.seconds())
        if delay > 0:
            await self._sleep(delay)
        self._bucket.spend(amount, self._clock.seconds())

    async def _sleep_until(self, when: float) -> None:
        # at most one interval: a clock set back must not stall scrubbing for longer
        delay = min(when - self._clock.seconds(), self.interval)
        if delay > 0:
            await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        call = self._clock.callLater(seconds, wake)
        try:
            await waiter
        finally:
            if call.active():
                call.cancel()

    # -- the checkpoint ------------------------------------------------------

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _load(self) -> ScrubPass | None:
        try:
            return await self._in_thread(scrubcheckpoint.load, self.checkpoint)
        except (OSError, CheckpointUnreadable) as e:
            log.warn(  # noqa: G010 (twisted.logger has no .warning)
                "ignoring the scrub checkpoint {path} ({error}); a new pass starts",
                path=str(self.checkpoint),
                error=str(e),
            )
            return None

    async def _save(self, progress: ScrubPass) -> None:
        content = progress.encode()
        save = lambda: scrubcheckpoint.save(self.checkpoint, content, fsync=self._fsync)
        try:
            # to its end even if the pass is stopped meanwhile: the next save
            # must not write the same temp file at the same time
            await run_to_end(self._in_thread(save))
        except OSError as e:
            log.warn(  # noqa: G010 (twisted.logger has no .warning)
                "could not save the scrub checkpoint {path}: {error}",
                path=str(self.checkpoint),
                error=str(e),
            )


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.failure("the scrubber stopped", Failure(task.exception()))


class ScrubberService(Service):
    """A :class:`Scrubber` as a Twisted service named ``scrubber``: it scrubs while running."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.setName("scrubber")
        self.scrubber = scrubber

    def startService(self) -> None:
        """Start scrubbing."""
        super().startService()
        self.scrubber.start()

    def stopService(self) -> Deferred[None]:
        """Stop scrubbing; fires once the read under way ended and the checkpoint is saved."""
        super().stopService()
        return aio(self.scrubber.stop())
