"""
The reconciler: every chunk on a node is accounted for, every replica state is true.

Every ``interval`` seconds, while this gateway holds the background lease, it
walks each live node's inventory (``ListChunks``, ascending ids, a page at a
time) beside the replicas the metadata records on that node for the same id
range (:meth:`~s3node.interfaces.MetadataStore.node_replicas`), and:

- deletes a chunk no replica row on that node names, once the node's
  ``created`` time for it is older than ``grace`` seconds (an orphan: a put
  that landed after its upload was deleted or claimed, or whose failed lane
  could not clean up);
- marks ``missing`` a ``stored`` replica the node does not have, once
  ``StatChunk`` confirms it;
- settles the ``writing`` replicas of completed files (``stored`` if the node
  has the chunk, dropped if not) and turns a ``missing`` replica the node does
  list back into ``stored``;
- reads the node's quarantine (``ListQuarantined``) and marks those replicas
  ``corrupt``; a quarantine entry no replica row names any more is dropped.

See ``docs/durability.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node._aio import aio
from s3node.errors import ChunkNotFound, describe
from s3node.gateway.counters import CORRUPT_BY_SCRUB
from s3node.gateway.lease import Lease
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.gateway.worker import LeasedWorker
from s3node.interfaces import MetadataStore, NodeClient
from s3node.records import FileStatus, NodeReplica, ReplicaState

__all__ = ["PAGE", "ReconcileReport", "Reconciler"]

log = Logger()

#: chunk ids asked of a node (and replicas of the metadata) per page
PAGE = 1000
#: seconds a node gets to answer one call
CALL_TIMEOUT = 30.0


@dataclass
class ReconcileReport:
    """What one pass over one node found and did."""

    node_id: str
    chunks_seen: int = 0
    orphans_deleted: int = 0
    #: orphans younger than the grace period, left for a later pass
    orphans_young: int = 0
    marked_missing: int = 0
    settled_stored: int = 0
    settled_dropped: int = 0
    marked_corrupt: int = 0
    quarantine_dropped: int = 0
    errors: list[str] = field(default_factory=list)


class Reconciler(LeasedWorker):
    """Compare each node's chunks with the metadata, and act on the difference."""

    name = "reconciler"

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        clock: IReactorTime,
        lease: Lease,
        *,
        interval: float,
        grace: float,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        super().__init__(store, pool, clock, lease, interval=interval, metrics=metrics)
        self._grace = grace
        #: the reports of the last pass, by node
        self.last: dict[str, ReconcileReport] = {}
        #: when the pass over the current node began (for the fence)
        self._started = 0.0

    async def run(self) -> list[ReconcileReport]:
        """The periodic job: :meth:`reconcile`."""
        return await self.reconcile()

    async def reconcile(self) -> list[ReconcileReport]:
        """One pass over every live node, if this gateway holds the lease."""
        if not await self._lease.hold():
            return []
        reports = []
        for node in self._pool.nodes():
            if not self._pool.is_live(node.node_id):
                continue
            report = await self.reconcile_node(node.node_id)
            self.last[node.node_id] = report
            self._metrics.reconciled(report)
            reports.append(report)
            log.info(
                "reconciled {node_id}: {seen} chunks, {deleted} orphans deleted,"
                " {young} young orphans kept, {missing} missing, {corrupt} corrupt,"
                " {settled} writing settled",
                node_id=node.node_id, seen=report.chunks_seen, deleted=report.orphans_deleted,
                young=report.orphans_young, missing=report.marked_missing,
                corrupt=report.marked_corrupt,
                settled=report.settled_stored + report.settled_dropped,
            )
        return reports

    async def reconcile_node(self, node_id: str) -> ReconcileReport:
        """One pass over one node; errors end the pass for that node and are reported."""
        report = ReconcileReport(node_id)
        client = self._pool.client(node_id)
        fence = self._pool.fence
        self._started = self._seconds()
        try:
            # the quarantine first: a chunk the node moved there is corrupt, not missing
            await fence.quarantine.acquire()
            try:
                await self._quarantine(node_id, client, report)
            finally:
                fence.quarantine.release()
            await self._walk(node_id, client, report)
        except Exception as e:  # noqa: BLE001 - any failure: the next pass starts over
            report.errors.append(describe(e))
            log.info("reconciling {node_id} stopped: {error}", node_id=node_id,
                     error=describe(e))
        return report

    async def _walk(self, node_id: str, client: NodeClient, report: ReconcileReport) -> None:
        token, after = "", ""
        while True:
            page = await aio(client.list_chunks(PAGE, token, timeout=CALL_TIMEOUT))
            last_page = not page.next_page_token
            upto = None if last_page or not page.chunk_ids else page.chunk_ids[-1]
            rows = await self._replicas(node_id, after, upto)
            report.chunks_seen += len(page.chunk_ids)
            await self._compare(node_id, client, page.chunk_ids, rows, report)
            if last_page:
                return
            token, after = page.next_page_token, page.chunk_ids[-1]

    async def _replicas(self, node_id: str, after: str, upto: str | None) -> list[NodeReplica]:
        """Every replica row on ``node_id`` in the id range, a page at a time."""
        rows: list[NodeReplica] = []
        limit = PAGE
        while True:
            batch = list(await self._store.node_replicas(
                node_id=node_id, after=after, upto=upto, limit=limit))
            if len(batch) < limit:
                return rows + batch
            # A full page may end inside the rows of one chunk id (several files
            # can share a chunk): keep whole ids only and start the next page there.
            last = batch[-1].chunk_id
            whole = [row for row in batch if row.chunk_id != last]
            if not whole:  # one id has a page of rows or more: ask for more at once
                limit *= 2
                continue
            rows.extend(whole)
            after = whole[-1].chunk_id

    async def _compare(
        self,
        node_id: str,
        client: NodeClient,
        on_node: Sequence[str],
        rows: Sequence[NodeReplica],
        report: ReconcileReport,
    ) -> None:
        have = set(on_node)
        named = {row.chunk_id for row in rows}
        for chunk_id in on_node:
            if chunk_id not in named:
                await self._orphan(node_id, client, chunk_id, report)
        for row in rows:
            present = row.chunk_id in have
            if self._pool.fence.busy(row.chunk_id, self._started):
                continue  # repair is copying it, or did since this pass began: next pass
            if row.state is ReplicaState.WRITING:
                if row.file_status is FileStatus.COMPLETED:
                    await self._settle(node_id, row, present, report)
            elif row.state is ReplicaState.STORED and not present:
                if not await self._exists(client, row.chunk_id):
                    await self._set(node_id, row, ReplicaState.MISSING)
                    report.marked_missing += 1
            elif row.state is ReplicaState.MISSING and present:
                await self._set(node_id, row, ReplicaState.STORED)
                report.settled_stored += 1

    async def _orphan(
        self, node_id: str, client: NodeClient, chunk_id: str, report: ReconcileReport
    ) -> None:
        try:
            info = await aio(client.stat_chunk(chunk_id, timeout=CALL_TIMEOUT))
        except ChunkNotFound:
            return  # deleted meanwhile (by the sweeper)
        age = self._now() - info.created
        if age < timedelta(seconds=self._grace):
            report.orphans_young += 1
            return
        await aio(client.delete_chunk(chunk_id, timeout=CALL_TIMEOUT))
        report.orphans_deleted += 1
        log.info("deleted orphan chunk {chunk_id} from {node_id}", chunk_id=chunk_id,
                 node_id=node_id)

    async def _settle(
        self, node_id: str, row: NodeReplica, present: bool, report: ReconcileReport
    ) -> None:
        """A ``writing`` replica of a completed file: its lane ended without an answer."""
        if present:
            await self._set(node_id, row, ReplicaState.STORED)
            report.settled_stored += 1
        else:
            await self._store.drop_replica(file_id=row.file_id, index=row.index,
                                           node_id=node_id)
            report.settled_dropped += 1

    async def _exists(self, client: NodeClient, chunk_id: str) -> bool:
        try:
            await aio(client.stat_chunk(chunk_id, timeout=CALL_TIMEOUT))
        except ChunkNotFound:
            return False
        return True

    async def _set(self, node_id: str, row: NodeReplica, state: ReplicaState) -> None:
        await self._store.set_replica_state(
            file_id=row.file_id, index=row.index, node_id=node_id, state=state)

    async def _quarantine(self, node_id: str, client: NodeClient, report: ReconcileReport) -> None:
        token = ""
        while True:
            page = await aio(client.list_quarantined(PAGE, token, timeout=CALL_TIMEOUT))
            for entry in page.entries:
                changed = await self._store.set_replica_state_by_chunk(
                    chunk_id=entry.chunk_id, node_id=node_id, state=ReplicaState.CORRUPT)
                if changed:
                    report.marked_corrupt += 1
                    await self._store.add_counters({CORRUPT_BY_SCRUB: changed})
                    log.warn(  # noqa: G010 - twisted.logger.Logger spells it warn
                        "chunk {chunk_id} on {node_id} is corrupt ({reason})",
                             chunk_id=entry.chunk_id, node_id=node_id, reason=entry.reason)
                elif not await self._named(node_id, entry.chunk_id):
                    await aio(client.drop_quarantined(entry.entry_id, timeout=CALL_TIMEOUT))
                    report.quarantine_dropped += 1
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def _named(self, node_id: str, chunk_id: str) -> bool:
        """Whether a replica row on ``node_id`` still names ``chunk_id``."""
        # every id sorts after its own prefix: the range holds chunk_id and ids below it
        rows = await self._store.node_replicas(
            node_id=node_id, after=chunk_id[:-1], upto=chunk_id, limit=PAGE)
        return any(row.chunk_id == chunk_id for row in rows)
