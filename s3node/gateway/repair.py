"""
The repair worker: every chunk of every completed file back at R stored
replicas on the nodes placement prefers, by itself, throttled.

It runs on the one gateway that holds the background lease (always in
standalone), every ``--repair-interval`` seconds, in two steps:

- **Plan.**  Walk the chunks of completed files (``scan_chunks``, a batch a
  round, wrapping round at the end) and judge each with
  :func:`~s3node.gateway.repairplan.plan_chunk`.  A chunk that needs work
  (fewer than R healthy replicas, a replica on a draining node, a replica off
  the nodes placement now prefers) goes into the persistent repair queue in the
  metadata database, with the number of healthy replicas as its priority.  A
  chunk with no stored copy left on any registered node is *lost*: its file is
  marked ``damaged`` (downloads answer ``file_damaged``) and an error is logged.
- **Work.**  Take the due queue entries, fewest healthy replicas first, and
  repair up to ``--repair-concurrency`` chunks at once, spending at most
  ``--repair-bandwidth`` bytes a second: judge the chunk again, copy it from
  a replica whose digest verifies to each target that lacks it (the row is
  ``writing`` first, ``stored`` once the node has verified the copy), and
  only once every target holds a stored copy drop the replicas elsewhere
  (deleting the chunk from a node that answers).  A chunk that fails is
  retried later with a doubling delay; the others go on.

The queue and the counters live in the database, so a gateway that takes the
lease over (another one, or this one restarted) resumes where the last left off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredList, DeferredSemaphore
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from s3node._aio import CpuRunner, aio
from s3node.core.ratelimit import TokenBucket
from s3node.errors import (
    ChunkNotFound,
    Conflict,
    CorruptChunk,
    IntegrityError,
    NotEnoughReplicas,
    S3NodeError,
    describe,
)
from s3node.gateway.counters import (
    COPIES_MADE,
    COPY_BYTES,
    CORRUPT_BY_READ,
    FAILURES,
    REPLICAS_DROPPED,
)
from s3node.gateway.download import _drain, _verify
from s3node.gateway.lease import Lease
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.gateway.repairplan import ChunkPlan, NodeView, plan_chunk
from s3node.gateway.worker import LeasedWorker
from s3node.interfaces import ChecksumAlgorithm, MetadataStore, NodeClient, PlacementStrategy
from s3node.records import (
    ChunkRecord,
    NodeAdmin,
    RepairReason,
    RepairTask,
    ReplicaRecord,
    ReplicaState,
)

__all__ = ["RepairSettings", "Repairer"]

log = Logger()

#: chunks read per ``scan_chunks`` call
SCAN_PAGE = 500


@dataclass(frozen=True)
class RepairSettings:
    """How repair behaves (``--repair-*`` options; defaults in :mod:`s3node.config`)."""

    #: R: stored replicas every chunk should have
    replicas: int
    #: seconds a node may be down before its replicas count as lost
    repair_after: float
    #: bytes a second copied at most (0: unthrottled)
    bandwidth: int
    #: chunks repaired at once
    concurrency: int
    #: chunks judged per round
    scan_batch: int = 20_000
    #: seconds a round keeps taking due entries before it lets the next round plan
    round_budget: float = 60.0
    #: seconds a node must have been draining before it may count as drained:
    #: time for every gateway to have taken the drain in (and stopped placing there)
    drain_settle: float = 0.0
    #: first retry delay of a chunk that failed; doubles with each failure
    backoff: float = 10.0
    max_backoff: float = 3600.0


class Repairer(LeasedWorker):
    """Plans and performs repairs while this gateway holds the background lease."""

    name = "repair"

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        clock: IReactorTime,
        lease: Lease,
        placement: PlacementStrategy,
        algorithm_for: Callable[[str], ChecksumAlgorithm],
        cpu: CpuRunner,
        *,
        interval: float,
        settings: RepairSettings,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        super().__init__(store, pool, clock, lease, interval=interval, metrics=metrics)
        self._placement = placement
        self._algorithm_for = algorithm_for
        self._cpu = cpu
        self.settings = settings
        self._bucket = (TokenBucket(settings.bandwidth, 0, self._seconds())
                        if settings.bandwidth > 0 else None)
        #: where the plan walk goes on from; ``None``: the start of a new pass
        self._cursor: Any = None
        #: files this process marked damaged (to clear the mark once they heal)
        self._damaged: set[Any] = set()
        self._lost_this_pass: set[Any] = set()
        #: node id → when this gateway first saw it draining
        self._draining_since: dict[str, float] = {}
        #: clock time the last full plan pass ended (``None``: none yet)
        self.last_pass: float | None = None

    # -- a round ------------------------------------------------------------

    async def run(self) -> None:
        """One round: plan a batch of chunks, then work the due queue for up to a budget."""
        if not await self._lease.hold():
            return
        views = self._pool.views(repair_after=self.settings.repair_after)
        order = self._order()
        await self.plan(views, order)
        deadline = self._seconds() + self.settings.round_budget
        while self._seconds() < deadline:
            if not await self.work(views, order):
                break
            if not await self._lease.hold():
                return
            views = self._pool.views(repair_after=self.settings.repair_after)
            order = self._order()
        await self.settle_drains()

    async def settle_drains(self) -> list[str]:
        """
        Move every draining node that holds no replica row any more, and has
        been draining for ``drain_settle`` seconds as this gateway saw it, to
        ``drained``.
        """
        done = []
        now = self._seconds()
        draining = {n.node_id for n in self._pool.nodes() if n.admin is NodeAdmin.DRAINING}
        for node_id in set(self._draining_since) - draining:
            del self._draining_since[node_id]
        for node_id in sorted(draining):
            since = self._draining_since.setdefault(node_id, now)
            if now - since >= self.settings.drain_settle:
                usage = await self._store.node_usage(node_id)
                if usage.replicas == 0:
                    await self._store.set_node_admin(node_id, NodeAdmin.DRAINED)
                    log.info("node {node_id} is drained", node_id=node_id)
                    done.append(node_id)
        if done:
            await self._pool.refresh()
        return done

    def _order(self) -> Callable[[str], Sequence[str]]:
        members = self._pool.members()
        return lambda chunk_id: self._placement.preference_list(chunk_id, members)

    async def plan(self, views: Mapping[str, NodeView], order: Callable[[str], Sequence[str]]
                   ) -> int:
        """Judge up to ``scan_batch`` chunks and queue those needing work; return how many were queued."""
        queued = 0
        judged = 0
        while judged < self.settings.scan_batch:
            page = await self._store.scan_chunks(after=self._cursor, limit=SCAN_PAGE)
            work: list[tuple[Any, int, RepairReason, int]] = []
            for chunk in page:
                plan = plan_chunk(chunk, views, order, self.settings.replicas)
                if plan.lost:
                    await self._lost(chunk)
                elif _actionable(plan) and plan.reason is not None:
                    work.append((chunk.file_id, chunk.index, plan.reason, plan.healthy))
            if work:
                queued += await self._store.enqueue_repairs(work, now=self._now())
            judged += len(page)
            if len(page) < SCAN_PAGE:
                await self._pass_ended()
                break
            self._cursor = (page[-1].file_id, page[-1].index)
        return queued

    async def _pass_ended(self) -> None:
        self._cursor = None
        self.last_pass = self._seconds()
        for file_id in self._damaged - self._lost_this_pass:
            try:
                await self._store.set_file_damaged(file_id, False)
            except S3NodeError as e:
                log.info("cannot clear the damaged mark of {file_id}: {error}",
                         file_id=file_id, error=e.message)
                continue
            log.info("file {file_id} has every chunk readable again", file_id=file_id)
            self._damaged.discard(file_id)
        self._lost_this_pass = set()

    async def _lost(self, chunk: ChunkRecord) -> None:
        self._lost_this_pass.add(chunk.file_id)
        if chunk.file_id in self._damaged:
            return
        await self._store.set_file_damaged(chunk.file_id, True)
        self._damaged.add(chunk.file_id)
        log.error(
            "DATA LOSS: chunk {index} ({chunk_id}) of file {file_id} has no stored replica left"
            " on any node; the file is marked damaged",
            index=chunk.index, chunk_id=chunk.chunk_id, file_id=chunk.file_id)

    async def work(self, views: Mapping[str, NodeView],
                   order: Callable[[str], Sequence[str]]) -> int:
        """Repair the due queue entries (a batch), ``concurrency`` at a time; return how many were taken."""
        due = await self._store.due_repairs(now=self._now(),
                                            limit=self.settings.concurrency * 4)
        gate = DeferredSemaphore(self.settings.concurrency)

        def one(task: RepairTask) -> Deferred[bool]:
            return Deferred.fromCoroutine(self.repair(task, views, order))

        await DeferredList([gate.run(one, task) for task in due], consumeErrors=True)
        return len(due)

    # -- one chunk ----------------------------------------------------------

    async def repair(self, task: RepairTask, views: Mapping[str, NodeView],
                     order: Callable[[str], Sequence[str]]) -> bool:
        """Repair one queued chunk; return whether it left the queue."""
        try:
            chunk = await self._store.get_completed_chunk(task.file_id, task.index)
            if chunk is None:  # deleted meanwhile
                await self._store.finish_repair(task.file_id, task.index)
                return True
            plan = plan_chunk(chunk, views, order, self.settings.replicas)
            if plan.lost:
                await self._lost(chunk)
                raise NotEnoughReplicas("no stored replica left to copy from")
            if not _actionable(plan):
                await self._store.finish_repair(task.file_id, task.index)
                return True
            for target in plan.copies:
                await self._copy(chunk, target, plan.sources)
            if plan.may_drop:
                for replica in plan.drops:
                    await self._drop(chunk, replica, views)
        except CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure: retry this chunk later
            await self._defer(task, e)
            return False
        await self._store.finish_repair(task.file_id, task.index)
        return True

    async def _defer(self, task: RepairTask, error: Exception) -> None:
        attempts = task.attempts + 1
        delay = min(self.settings.max_backoff, self.settings.backoff * 2 ** (attempts - 1))
        log.warn(  # noqa: G010 - twisted.logger.Logger spells it warn
            "repair of chunk {index} of {file_id} failed (try {attempts}); again in {delay} s:"
            " {error}", index=task.index, file_id=task.file_id, attempts=attempts,
            delay=delay, error=describe(error))
        try:
            await self._store.defer_repair(
                task.file_id, task.index, until=self._now() + timedelta(seconds=delay),
                attempts=attempts, error=describe(error)[:500])
            await self._store.add_counters({FAILURES: 1})
            self._metrics.repair_failures.inc()
        except S3NodeError as e:
            log.info("cannot record the failed repair: {error}", error=e.message)

    async def _copy(self, chunk: ChunkRecord, target: str, sources: Sequence[str]) -> None:
        """Write a verified copy of ``chunk`` to ``target``, read from the first source that serves it."""
        if not sources:
            raise NotEnoughReplicas("no node that answers holds a stored replica to copy from")
        parts = await self._read_verified(chunk, sources)
        fence = self._pool.fence
        fence.copying(chunk.chunk_id, self._seconds())
        try:
            await self._write(chunk, target, parts)
        finally:
            fence.copied(chunk.chunk_id, self._seconds())
        await self._store.add_counters({COPIES_MADE: 1, COPY_BYTES: chunk.size})
        self._metrics.repair_copies.inc()
        self._metrics.repair_bytes.inc(chunk.size)
        log.info("chunk {chunk_id} copied to {node_id}", chunk_id=chunk.chunk_id, node_id=target)

    async def _write(self, chunk: ChunkRecord, target: str, parts: list[bytes]) -> None:
        client = self._pool.client(target)
        lock = self._pool.fence.quarantine
        await lock.acquire()
        try:
            if any(r.node_id == target and r.state is not ReplicaState.WRITING
                   for r in chunk.replicas):
                # a missing or corrupt copy: if the node's quarantine still names
                # the chunk, it goes first, or the reconciler would take the fresh
                # copy for the corrupt one
                await self._drop_quarantined(client, chunk.chunk_id)
            begun = await self._store.begin_replica(file_id=chunk.file_id, index=chunk.index,
                                                    node_id=target)
        finally:
            lock.release()
        if not begun:
            raise Conflict(f"chunk {chunk.chunk_id} changed on {target} meanwhile")
        try:
            await aio(client.put_chunk_stream(
                chunk.chunk_id, chunk.size, chunk.checksum_algorithm, chunk.checksum,
                _frames(parts)))
        except Exception as e:
            self._pool.put_failed(target, e)
            await self._forget_write(chunk, target)
            raise
        await self._store.set_replica_state(file_id=chunk.file_id, index=chunk.index,
                                            node_id=target, state=ReplicaState.STORED)

    async def _forget_write(self, chunk: ChunkRecord, target: str) -> None:
        """A copy that failed: remove what may have landed, then its ``writing`` row (best effort)."""
        try:
            if await self._store.release_replica(file_id=chunk.file_id, index=chunk.index,
                                                 node_id=target, keep_last=True):
                await aio(self._pool.client(target).delete_chunk(chunk.chunk_id))
                await self._store.drop_replica(file_id=chunk.file_id, index=chunk.index,
                                               node_id=target)
        except Exception as e:  # noqa: BLE001 - the reconciler settles the row later
            log.info("failed copy to {node_id} left for the reconciler: {error}",
                     node_id=target, error=describe(e))

    async def _read_verified(self, chunk: ChunkRecord, sources: Sequence[str]) -> list[bytes]:
        algorithm = self._algorithm_for(chunk.checksum_algorithm)
        errors: list[str] = []
        for source in sources:
            await self._throttle(chunk.size)
            try:
                stream = self._pool.client(source).get_chunk(chunk.chunk_id, verify=True)
                parts = await aio(_drain(stream))
                if not await self._cpu(_verify, algorithm, parts, chunk.checksum, chunk.size):
                    raise CorruptChunk(f"chunk {chunk.chunk_id} fails its checksum")
            except (ChunkNotFound, CorruptChunk) as e:
                errors.append(f"{source}: {e.message}")
                await self._source_bad(chunk, source, e)
                continue
            except S3NodeError as e:
                errors.append(f"{source}: {e.message}")
                continue
            return parts
        raise NotEnoughReplicas(f"no replica could be read ({'; '.join(errors)})")

    async def _source_bad(self, chunk: ChunkRecord, node_id: str, error: S3NodeError) -> None:
        state = ReplicaState.MISSING if isinstance(error, ChunkNotFound) else ReplicaState.CORRUPT
        log.error("chunk {chunk_id} on {node_id} is {state}, found by repair",
                  chunk_id=chunk.chunk_id, node_id=node_id, state=state.value)
        await self._store.set_replica_state(file_id=chunk.file_id, index=chunk.index,
                                            node_id=node_id, state=state)
        if isinstance(error, IntegrityError):
            await self._store.add_counters({CORRUPT_BY_READ: 1})

    async def _throttle(self, size: int) -> None:
        bucket = self._bucket
        if bucket is None:
            return
        while (delay := bucket.delay(self._seconds())) > 0:  # type: ignore[attr-defined]
            await deferLater(self._clock, delay)
        bucket.spend(size, self._seconds())  # type: ignore[attr-defined]

    async def _drop_quarantined(self, client: NodeClient, chunk_id: str) -> None:
        for entry_id in await aio(_quarantine_entries(client, chunk_id)):
            await aio(client.drop_quarantined(entry_id))

    async def _drop(self, chunk: ChunkRecord, replica: ReplicaRecord,
                    views: Mapping[str, NodeView]) -> None:
        """
        Drop a replica that is no longer wanted: its row first, deciding in the
        same transaction whether another row (a copy sharing the chunk) still
        names the chunk on that node; if none does, off the node too when it
        answers (a delete that fails leaves an orphan, which the reconciler
        removes).
        """
        view = views.get(replica.node_id)
        last = await self._store.release_replica(file_id=chunk.file_id, index=chunk.index,
                                                 node_id=replica.node_id)
        if (last and view is not None and view.up
                and replica.state is not ReplicaState.MISSING):
            client = self._pool.client(replica.node_id)
            if replica.state is ReplicaState.CORRUPT:
                # the quarantine's copy too: left there, it would mark a fresh copy
                # written to this node later corrupt (the reconciler's rule)
                await self._drop_quarantined(client, chunk.chunk_id)
            await aio(client.delete_chunk(chunk.chunk_id))
        await self._store.add_counters({REPLICAS_DROPPED: 1})
        self._metrics.repair_dropped.inc()


async def _quarantine_entries(client: NodeClient, chunk_id: str) -> list[str]:
    """(asyncio) The ids of ``client``'s quarantine entries of ``chunk_id`` (a node's quarantine is small)."""
    found, token = [], ""
    while True:
        page = await client.list_quarantined(1000, token)
        found += [e.entry_id for e in page.entries if e.chunk_id == chunk_id]
        if not page.next_page_token:
            return found
        token = page.next_page_token


def _actionable(plan: ChunkPlan) -> bool:
    """Whether a plan asks for something that can be done now."""
    return plan.reason is not None and bool(plan.copies or (plan.drops and plan.may_drop))


async def _frames(parts: list[bytes]) -> Any:
    for part in parts:
        yield part
