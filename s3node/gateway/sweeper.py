"""
The sweeper: removes the chunks of failed, deleted and abandoned uploads.

Every ``sweep_interval`` seconds (a :class:`~twisted.internet.task.LoopingCall`
on the injected clock) it moves ``pending``/``uploading`` files not updated
for ``stale_after`` seconds to ``failed`` (:meth:`claim_stale_uploads`), asks
the store for :meth:`files_to_sweep` — ``failed`` and ``deleting`` files —
deletes every replica of their chunks from the nodes, then removes the file's
records (:meth:`finish_delete`).  A file whose replicas can't all be reached
(a node is down) is left for the next sweep; a replica the node no longer has
counts as deleted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from s3node._aio import aio
from s3node.errors import ChunkNotFound, S3NodeError, describe
from s3node.gateway.nodes import NodePool
from s3node.interfaces import MetadataStore
from s3node.records import FileWithChunks, ReplicaState

__all__ = ["Sweeper"]

log = Logger()

#: files taken per sweep round
BATCH = 100
#: chunk deletes in flight at once
PARALLEL = 8
#: seconds a node gets to answer a delete
DELETE_TIMEOUT = 10.0


class Sweeper:
    """Delete what failed and deleted uploads left on the nodes."""

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        clock: IReactorTime,
        *,
        interval: float,
        stale_after: float,
    ) -> None:
        self._store = store
        self._pool = pool
        self._clock = clock
        self._interval = interval
        self._stale_after = stale_after
        self._loop: LoopingCall | None = None
        self._running: Deferred[int] | None = None
        self._limit = DeferredSemaphore(PARALLEL)
        #: files removed since start-up
        self.swept = 0

    def start(self) -> None:
        """Sweep every ``interval`` seconds, the first time one interval from now."""
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self._clock
        self._loop.start(self._interval, now=False).addErrback(
            lambda f: log.failure("the sweeper stopped", f)
        )

    def stop(self) -> Deferred[None] | None:
        """Stop sweeping; return a Deferred for the sweep under way, if any."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        return self._running.addBoth(lambda _: None) if self._running else None

    def _tick(self) -> Deferred[None]:
        if self._running is not None:
            return succeed(None)
        d = self._running = Deferred.fromCoroutine(self.sweep())

        def done(result: object) -> None:
            self._running = None
            if isinstance(result, Failure):
                log.failure("a sweep failed", result)

        return d.addBoth(done)

    async def sweep(self) -> int:
        """One round: sweep up to :data:`BATCH` files; return how many were removed."""
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)  # type: ignore[misc]
        try:
            # Claim stale uploads first (they become failed, so they stop), then sweep.
            await self._store.claim_stale_uploads(
                stale_before=now - timedelta(seconds=self._stale_after), limit=BATCH
            )
            files = await self._store.files_to_sweep(now=now, limit=BATCH)
        except S3NodeError as e:
            log.info("sweep skipped: {error}", error=e.message)
            return 0
        removed = 0
        for fwc in files:
            if await self.sweep_file(fwc):
                removed += 1
        return removed

    async def sweep_file(self, fwc: FileWithChunks) -> bool:
        """Delete every replica of ``fwc``'s chunks, then its records; ``False`` if some remain."""
        targets = [
            (chunk.chunk_id, replica.node_id)
            for chunk in fwc.chunks
            for replica in chunk.replicas
            if replica.state is not ReplicaState.MISSING
        ]
        results = await gatherResults(
            [self._limit.run(self._delete_d, c, n) for c, n in targets],
            consumeErrors=True,
        )
        file_id = fwc.file.file_id
        if not all(results):
            log.info("sweep of {file_id} incomplete; retrying later", file_id=file_id)
            return False
        try:
            await self._store.finish_delete(file_id)
        except S3NodeError as e:
            log.info("cannot finish sweeping {file_id}: {error}", file_id=file_id,
                     error=e.message)
            return False
        self.swept += 1
        log.info("swept {file_id} ({status}, {chunks} chunks)", file_id=file_id,
                 status=fwc.file.status.value, chunks=len(fwc.chunks))
        return True

    def _delete_d(self, chunk_id: str, node_id: str) -> Deferred[bool]:
        return Deferred.fromCoroutine(self._delete(chunk_id, node_id))

    async def _delete(self, chunk_id: str, node_id: str) -> bool:
        try:
            await aio(self._pool.client(node_id).delete_chunk(chunk_id, timeout=DELETE_TIMEOUT))
        except ChunkNotFound:
            return True
        except Exception as e:  # noqa: BLE001 - any failure: keep it for the next sweep
            log.debug("cannot delete {chunk_id} from {node_id}: {error}",
                      chunk_id=chunk_id, node_id=node_id, error=describe(e))
            return False
        return True

    async def delete_now(self, file_id: uuid.UUID) -> None:
        """Sweep one file right away (after a DELETE), ignoring errors: the loop retries."""
        try:
            fwc = await self._store.get_file_with_chunks(file_id)
            await self.sweep_file(fwc)
        except S3NodeError as e:
            log.info("immediate sweep of {file_id} deferred: {error}", file_id=file_id,
                     error=e.message)
