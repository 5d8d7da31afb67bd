"""
The parallel writes of one chunk to its replica nodes, with hand-offs.

An upload (:mod:`s3node.gateway.upload`) records a chunk with its first R
nodes as ``writing`` replicas, then runs one lane per replica: each puts the
chunk on its node and, when that fails, hands off to the next node of the
chunk's preference list (recorded ``writing`` first).  The node that took
the chunk is added to the upload's ``stored`` list: the transaction that
completes the file sets those replicas ``stored`` (one transaction for the
whole file, not one per chunk and replica).  A failed put's node is asked,
in the background, to delete what it may have kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.logger import Logger

from s3node._aio import aio
from s3node.errors import NotEnoughReplicas, describe
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.interfaces import MetadataStore
from s3node.records import ChunkRecord, ReplicaState

__all__ = ["FORGET_TIMEOUT", "Lanes", "place", "run_all", "transfer_timeout"]

log = Logger()

T = TypeVar("T")

#: seconds a node gets to delete what a failed put may have left
FORGET_TIMEOUT = 5.0


def transfer_timeout(size: int) -> float:
    """Seconds a node gets to take or return ``size`` bytes: 30 s plus 1 s per MB."""
    return 30.0 + size / 1_000_000


class Lanes:
    """
    The R parallel writes of one chunk: each lane puts the chunk on its node
    and, when that fails, hands off to the next node of the shared preference
    list, recording each replica ``writing`` before its first byte, and adds
    the node that took it to ``stored`` (for the completing transaction).
    """

    def __init__(
        self,
        record: ChunkRecord,
        chunk: bytes | memoryview,
        *,
        transfer_crc32c: str | None = None,
        store: MetadataStore,
        pool: NodePool,
        metrics: GatewayMetrics,
        cleanup: Callable[[Coroutine[Any, Any, None]], None],
        handoffs: Iterator[str],
        stored: list[tuple[int, str]],
    ) -> None:
        self._store = store
        self._pool = pool
        self._metrics = metrics
        #: runs a best-effort delete in the background (the upload pipeline tracks it)
        self._cleanup = cleanup
        self._file_id: uuid.UUID = record.file_id
        self._algorithm = record.checksum_algorithm
        self._index = record.index
        self._chunk_id = record.chunk_id
        self._digest = record.checksum
        self._chunk = chunk
        #: the chunk's CRC-32C, computed with its digest, for the nodes' check
        self._transfer_crc32c = transfer_crc32c
        self._handoffs = handoffs
        #: (index, node) of each replica written, marked ``stored`` when the file completes
        self._stored = stored

    async def run(self, node_id: str | None) -> str | None:
        """Store the chunk on ``node_id`` or a handoff; the node that took it, or ``None``."""
        while node_id is not None:
            try:
                with self._metrics.chunk_put_timer(node_id, len(self._chunk)):
                    await aio(self._pool.client(node_id).put_chunk(
                        self._chunk_id, self._chunk, algorithm=self._algorithm,
                        digest=self._digest, transfer_crc32c=self._transfer_crc32c,
                        timeout=transfer_timeout(len(self._chunk))))
            except Exception as e:  # noqa: BLE001 - any failure of the put: hand off
                self._failed(node_id, e)
                node_id = await self._hand_off()
                continue
            self._stored.append((self._index, node_id))
            return node_id
        return None

    def _failed(self, node_id: str, error: Exception) -> None:
        message = describe(error)
        log.error("chunk {index} of {file_id} not stored on {node_id}: {error}",
                  index=self._index, file_id=self._file_id, node_id=node_id, error=message)
        self._pool.put_failed(node_id, error)
        self._cleanup(self._forget(node_id))

    async def _hand_off(self) -> str | None:
        node_id = next(self._handoffs, None)
        if node_id is not None:
            await self._store.set_replica_state(
                file_id=self._file_id, index=self._index, node_id=node_id,
                state=ReplicaState.WRITING)
        return node_id

    async def _forget(self, node_id: str) -> None:
        """
        Best effort: delete what the failed put may have left on ``node_id``,
        then drop its replica row; when the node does not answer, the row
        stays ``writing`` for the reconciler.
        """
        try:
            await aio(self._pool.client(node_id).delete_chunk(
                self._chunk_id, timeout=FORGET_TIMEOUT))
            await self._store.drop_replica(
                file_id=self._file_id, index=self._index, node_id=node_id)
        except Exception as e:  # noqa: BLE001 - the reconciler settles what is left
            log.info("chunk {chunk_id} left on {node_id} for the reconciler: {error}",
                     chunk_id=self._chunk_id, node_id=node_id, error=describe(e))


async def place(
    record: ChunkRecord,
    order: list[str],
    chunk: bytes | memoryview,
    transfer_crc32c: str | None,
    *,
    replicas: int,
    store: MetadataStore,
    pool: NodePool,
    metrics: GatewayMetrics,
    cleanup: Callable[[Coroutine[Any, Any, None]], None],
    stored: list[tuple[int, str]],
) -> None:
    """
    Write the recorded chunk to the first ``replicas`` nodes of ``order``,
    handing off past failures to the rest (see :class:`Lanes`).

    :raises NotEnoughReplicas: when fewer than ``replicas`` nodes took it.
    """
    lanes = Lanes(record, chunk, transfer_crc32c=transfer_crc32c, store=store, pool=pool,
                  metrics=metrics, cleanup=cleanup, handoffs=iter(order[replicas:]),
                  stored=stored)
    results = await run_all([lanes.run(node_id) for node_id in order[:replicas]])
    reached = sum(1 for n in results if n)
    if reached < replicas:
        raise NotEnoughReplicas(
            f"chunk {record.index} reached {reached} of {replicas} storage nodes")


async def run_all(work: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``work`` concurrently; every result, or the first error itself (not a FirstError)."""
    try:
        return await gatherResults([Deferred.fromCoroutine(w) for w in work], consumeErrors=True)
    except FirstError as e:
        e.subFailure.raiseException()
        raise  # unreachable: raiseException always raises
