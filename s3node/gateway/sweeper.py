"""
The sweeper: removes the chunks of failed, deleted and abandoned uploads.

Every ``interval`` seconds (:meth:`Sweeper.service`, a child of the gateway's
service), while this gateway holds the background lease
(:mod:`s3node.gateway.lease`), one round:

1. claims stale uploads: ``pending``/``uploading`` files nobody touched for
   ``stale_after`` seconds move to ``failed`` in one conditional update, and
   only then are their chunks deleted (an upload that was merely slow keeps
   touching its file and is never claimed); and aborts the S3 multipart
   uploads begun more than ``upload_expiry`` seconds ago, whose parts' files
   move to ``deleting``;
2. takes up to :data:`BATCH` ``failed``/``deleting`` files that are due, and
   for each replica on a live node asks the node to delete the chunk and drops
   the replica row once the node confirms (one it never had counts as
   deleted); replicas on nodes that are down wait; a chunk that a copy shares
   (another replica row names it on that node, ``release_replica``) only loses
   this file's row and stays on the node;
3. removes a file whose replicas are all gone, and gives a file with replicas
   left a retry time that backs off from ``interval`` up to
   :data:`MAX_BACKOFF`, so files stuck on a dead node never block the others.

See ``docs/durability.md``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node._aio import aio
from s3node.errors import ChunkNotFound, FileNotFound, S3NodeError, UploadNotFound, describe
from s3node.gateway.lease import Lease
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.gateway.worker import LeasedWorker
from s3node.interfaces import MetadataStore
from s3node.records import ChunkRecord, FileWithChunks, ReplicaRecord

__all__ = ["BATCH", "MAX_BACKOFF", "Sweeper", "backoff"]

log = Logger()

#: files taken per sweep round (and stale uploads claimed per round)
BATCH = 100
#: chunk deletes in flight at once
PARALLEL = 8
#: seconds a node gets to answer a delete
DELETE_TIMEOUT = 10.0
#: the longest wait before a file with replicas left is tried again
MAX_BACKOFF = 3600.0


def backoff(attempts: int, interval: float) -> float:
    """Seconds before the next try of a file swept ``attempts`` times: doubling, capped."""
    return float(min(MAX_BACKOFF, interval * 2 ** min(attempts - 1, 30)))


class Sweeper(LeasedWorker):
    """Delete what failed, deleted and abandoned uploads left on the nodes."""

    name = "sweeper"

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        clock: IReactorTime,
        lease: Lease,
        *,
        interval: float,
        stale_after: float,
        upload_expiry: float | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        super().__init__(store, pool, clock, lease, interval=interval, metrics=metrics)
        self._stale_after = stale_after
        #: seconds before an unfinished S3 multipart upload is aborted; ``None``: never
        self._upload_expiry = upload_expiry
        self._limit = DeferredSemaphore(PARALLEL)
        #: files removed since start-up
        self.swept = 0

    async def run(self) -> int:
        """The periodic job: :meth:`sweep`."""
        return await self.sweep()

    async def sweep(self) -> int:
        """One round, if this gateway holds the lease; return how many files were removed."""
        if not await self._lease.hold():
            return 0
        self._metrics.sweeper_rounds.inc()
        now = self._now()
        try:
            claimed = await self._store.claim_stale_uploads(
                stale_before=now - timedelta(seconds=self._stale_after), limit=BATCH)
            if claimed:
                self._metrics.sweeper_claimed.inc(claimed)
                log.info("claimed {count} stale uploads", count=claimed)
            if self._upload_expiry is not None:
                await self._expire_uploads(now - timedelta(seconds=self._upload_expiry))
            files = await self._store.files_to_sweep(now=now, limit=BATCH)
        except S3NodeError as e:
            log.info("sweep skipped: {error}", error=e.message)
            return 0
        removed = 0
        for fwc in files:
            if await self.sweep_file(fwc):
                removed += 1
        return removed

    async def _expire_uploads(self, before: datetime) -> None:
        """Abort the multipart uploads begun before ``before`` (their parts are swept next)."""
        for upload_id in await self._store.expired_multipart(before=before, limit=BATCH):
            try:
                parts = await self._store.abort_multipart(upload_id)
            except UploadNotFound:
                continue  # completed or aborted meanwhile
            log.info("aborted multipart upload {upload_id} ({parts} parts): unfinished for "
                     "{seconds} s", upload_id=upload_id, parts=len(parts),
                     seconds=self._upload_expiry)

    async def sweep_file(self, fwc: FileWithChunks) -> bool:
        """
        Delete every replica of ``fwc``'s chunks that a live node holds, dropping
        each row as its node confirms, then remove the file; ``False`` (and a
        later retry) while replicas remain.
        """
        targets = [(chunk, replica) for chunk in fwc.chunks for replica in chunk.replicas]
        results = await gatherResults(
            [self._limit.run(self._delete_d, chunk, replica) for chunk, replica in targets],
            consumeErrors=True,
        )
        file_id = fwc.file.file_id
        left = results.count(False)
        try:
            if left:
                await self._defer(fwc, left)
                return False
            await self._store.finish_delete(file_id)
        except FileNotFound:
            return False  # another sweep (a DELETE's immediate one) finished it
        except S3NodeError as e:
            log.info("cannot finish sweeping {file_id}: {error}", file_id=file_id,
                     error=e.message)
            return False
        self.swept += 1
        self._metrics.sweeper_swept.inc()
        log.info("swept {file_id} ({status}, {chunks} chunks)", file_id=file_id,
                 status=fwc.file.status.value, chunks=len(fwc.chunks))
        return True

    async def _defer(self, fwc: FileWithChunks, left: int) -> None:
        attempts = fwc.sweep_attempts + 1
        self._metrics.sweeper_deferred.inc()
        delay = backoff(attempts, self._interval)
        log.info("sweep of {file_id} left {left} replicas; retry {attempts} in {delay} s",
                 file_id=fwc.file.file_id, left=left, attempts=attempts, delay=delay)
        await self._store.defer_sweep(
            fwc.file.file_id, until=self._now() + timedelta(seconds=delay), attempts=attempts)

    def _delete_d(self, chunk: ChunkRecord, replica: ReplicaRecord) -> Deferred[bool]:
        return Deferred.fromCoroutine(self._delete(chunk, replica))

    async def _delete(self, chunk: ChunkRecord, replica: ReplicaRecord) -> bool:
        """
        Delete one replica and drop its row; ``False`` when it has to wait.
        A chunk that copies share (another row names it on the node) stays on
        the node: only this file's row goes.
        """
        node_id = replica.node_id
        try:
            last = await self._store.release_replica(
                file_id=chunk.file_id, index=chunk.index, node_id=node_id, keep_last=True)
        except S3NodeError as e:
            log.debug("cannot release replica {chunk_id} on {node_id}: {error}",
                      chunk_id=chunk.chunk_id, node_id=node_id, error=e.message)
            return False
        if not last:
            return True  # shared (or already gone): the row went, the node keeps the chunk
        if not self._pool.is_live(node_id):
            return False
        try:
            await aio(self._pool.client(node_id).delete_chunk(
                chunk.chunk_id, timeout=DELETE_TIMEOUT))
        except ChunkNotFound:
            pass
        except Exception as e:  # noqa: BLE001 - any failure: keep it for the next sweep
            log.debug("cannot delete {chunk_id} from {node_id}: {error}",
                      chunk_id=chunk.chunk_id, node_id=node_id, error=describe(e))
            return False
        try:
            await self._store.drop_replica(file_id=chunk.file_id, index=chunk.index,
                                           node_id=node_id)
        except S3NodeError as e:
            log.debug("cannot drop replica {chunk_id} on {node_id}: {error}",
                      chunk_id=chunk.chunk_id, node_id=node_id, error=e.message)
            return False
        self._metrics.sweeper_replicas_deleted.inc()
        return True

    async def delete_now(self, file_id: uuid.UUID) -> None:
        """Sweep one file right away (after a DELETE), ignoring errors: the loop retries."""
        try:
            fwc = await self._store.get_file_with_chunks(file_id)
            await self.sweep_file(fwc)
        except S3NodeError as e:
            log.info("immediate sweep of {file_id} deferred: {error}", file_id=file_id,
                     error=e.message)
