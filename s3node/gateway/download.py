"""
The download pipeline: replicas → verified chunks → the client, with backpressure.

Each chunk a response covers is read whole from one replica and verified
against its recorded digest (off the reactor thread) *before* any of its bytes
are sent.  A replica that is unreachable, missing the chunk or corrupt is
skipped for the next one, so a client never receives a byte that failed
verification, and failover never has to "unsend" anything.  A range that
starts or ends inside a chunk still reads and verifies that whole chunk (at
most two chunks more than the range itself).  While chunk *n* is written to
the client, chunk *n+1* is fetched, and once *n* is all handed to the
connection, *n+2* too (:data:`READ_AHEAD` reads in flight while at most
:data:`DEEP_UP_TO` downloads run: a chunk usually comes from a node's disk,
and a lone client that reads faster than one node read would otherwise wait
on each); writing pauses whenever the client's
connection does (an :class:`~twisted.internet.interfaces.IPushProducer` on
the request), and each 1 MiB part of *n* is let go of once the connection
has sent it, so memory stays at about two chunks per download (one and a
half on average: the chunk being written shrinks as it goes).  Only when no
replica can serve a chunk does the response stop: the connection is aborted,
since its headers are already out.

A chunk larger than the gateway's usual chunk size (a large object's:
docs/gateway.md, "Large chunks for large objects") is read only once its
bytes are taken from the gateway's :class:`~s3node.gateway.readbudget.ByteBudget`,
and they are given back once it has been written out, so such reads hold at
most that budget, whatever the number of downloads.

A client that stops reading would otherwise hold those two chunks for good
(twisted.web's idle timeout is off while a response is produced): when its
connection stays paused for ``write_timeout`` seconds of the injected clock,
without taking a byte, the download aborts the connection, cancels its node
reads and lets go of its chunks.  The response ends only once the connection
has taken its last bytes, so the timeout covers those too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from s3node._aio import CpuRunner, aio, run_cpu
from s3node.core.checksums import digest_matches
from s3node.core.chunking import DEFAULT_CHUNK_SIZE
from s3node.core.ranges import ByteRange, ChunkSlice, slices_for_range
from s3node.errors import (
    ChunkNotFound,
    CorruptChunk,
    FileDamaged,
    NotEnoughReplicas,
    S3NodeError,
    describe,
)
from s3node.gateway.counters import CORRUPT_BY_READ
from s3node.gateway.lanes import transfer_timeout
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.gateway.readbudget import ByteBudget
from s3node.interfaces import ChecksumAlgorithm, MetadataStore
from s3node.records import ChunkRecord, FileWithChunks, ReplicaState
from s3node.storage.wire import SMALL_CHUNK

__all__ = ["DownloadPipeline"]

log = Logger()

#: chunk reads a download keeps in flight once it has handed a chunk to the connection,
#: while at most :data:`DEEP_UP_TO` downloads run (one when more do: they overlap each
#: other's reads, and each in-flight read holds buffers)
READ_AHEAD = 2
#: how many downloads at once may each keep :data:`READ_AHEAD` reads in flight
DEEP_UP_TO = 2

T = TypeVar("T")


@implementer(IPushProducer)
class _Flow:
    """
    Follows the client connection's pause/resume; :meth:`writable` waits for room.

    A pause that lasts ``write_timeout`` seconds calls ``on_stall`` and stops
    the flow: :meth:`writable` and :meth:`watch` then raise
    :class:`CancelledError`, and the awaited work is cancelled.
    """

    def __init__(self, clock: IReactorTime, write_timeout: float,
                 on_stall: Callable[[], None]) -> None:
        self._clock = clock
        self._write_timeout = write_timeout
        self._on_stall = on_stall
        #: the IDelayedCall that ends a pause of write_timeout seconds
        self._stall: Any = None
        self._paused = False
        self._stopped = False
        self._waiter: Deferred[None] | None = None
        self._watched: Deferred[Any] | None = None

    def pauseProducing(self) -> None:
        self._paused = True
        if self._stall is None and not self._stopped:
            self._stall = self._clock.callLater(
                self._write_timeout, self._stalled)  # type: ignore[arg-type]

    def resumeProducing(self) -> None:
        self._paused = False
        self._disarm()
        self._wake()

    def stopProducing(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._disarm()
        self._wake()
        watched, self._watched = self._watched, None
        if watched is not None:
            watched.cancel()

    def _stalled(self) -> None:
        self._stall = None
        self._on_stall()
        self.stopProducing()

    def _disarm(self) -> None:
        stall, self._stall = self._stall, None
        if stall is not None and stall.active():
            stall.cancel()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.callback(None)

    async def writable(self) -> None:
        while self._paused and not self._stopped:
            self._waiter = Deferred()
            await self._waiter
        if self._stopped:
            raise CancelledError("the client went away")

    async def watch(self, d: Deferred[T]) -> T:
        """
        ``await d``, unless the flow stops first: then ``d`` is cancelled and,
        however it ends (an asyncio cancellation, say), this raises
        :class:`CancelledError`.
        """
        if self._stopped:
            d.cancel()
            raise CancelledError("the client went away")
        self._watched = d
        try:
            return await d
        except BaseException:
            if self._stopped:
                raise CancelledError("the client went away") from None
            raise
        finally:
            self._watched = None

    def close(self) -> None:
        """The response is over: no stall timer outlives it."""
        self._stopped = True
        self._disarm()


class DownloadPipeline:
    """Stream files, or ranges of them, to HTTP responses."""

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        algorithm_for: Callable[[str], ChecksumAlgorithm],
        cpu: CpuRunner,
        *,
        clock: IReactorTime,
        write_timeout: float,
        metrics: GatewayMetrics | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        large_reads: ByteBudget | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._algorithm_for = algorithm_for
        self._cpu = cpu
        self._clock = clock
        #: seconds the client may accept nothing before its connection is aborted
        self._write_timeout = write_timeout
        self._metrics = metrics if metrics is not None else GatewayMetrics()
        #: downloads streaming now
        self._streams = 0
        self._chunk_size = chunk_size
        #: reads of chunks over ``chunk_size`` take their bytes from it first (``None``: no cap)
        self.large_reads = large_reads

    async def inline_bytes(self, fwc: FileWithChunks, r: ByteRange | None) -> bytes:
        """
        The bytes of ``r`` (all when ``None``) of a file kept inline, once its
        whole content matches the file's digest.

        :raises FileDamaged: the metadata row's bytes fail verification (there
            is no other copy to turn to).
        """
        data, record = fwc.inline, fwc.file
        assert data is not None
        algorithm = self._algorithm_for(record.checksum_algorithm)
        if record.checksum is None or not await run_cpu(
                self._cpu, len(data), _verify, algorithm, (data,), record.checksum,
                record.size):
            log.error("the inline bytes of {file_id} fail verification",
                      file_id=record.file_id)
            raise FileDamaged(f"the bytes of file {record.file_id} fail verification")
        return data if r is None else data[r.start:r.end + 1]

    def slices(self, fwc: FileWithChunks, r: ByteRange | None) -> list[ChunkSlice]:
        """The chunk slices a response covers (all of every chunk when ``r`` is ``None``)."""
        if r is None:
            return [ChunkSlice(c.index, 0, c.size) for c in fwc.chunks if c.size]
        return slices_for_range(r, [c.size for c in fwc.chunks])

    async def stream(self, request: Any, fwc: FileWithChunks, r: ByteRange | None) -> None:
        """Write the bytes of ``r`` (or the whole file) to ``request``, verified."""
        with self._metrics.transfer("download"):
            await self._stream(request, fwc, r)

    async def _stream(self, request: Any, fwc: FileWithChunks, r: ByteRange | None) -> None:
        if fwc.inline is not None:
            request.write(await self.inline_bytes(fwc, r))  # at most MAX_INLINE_SIZE
            return
        slices = self.slices(fwc, r)
        if not slices:
            return
        chunks = {c.index: c for c in fwc.chunks}

        def stalled() -> None:
            log.info("download of {file_id} aborted: its client accepted no data "
                     "for {seconds} s", file_id=fwc.file.file_id, seconds=self._write_timeout)
            transport = getattr(request.channel, "transport", None)
            if transport is not None:
                transport.abortConnection()

        flow = _Flow(self._clock, self._write_timeout, stalled)
        request.registerProducer(flow, True)
        ahead: deque[Deferred[tuple[list[bytes], int]]] = deque()
        upcoming = iter(slices)

        def fetch_ahead(most: int) -> None:
            while len(ahead) < most:
                piece = next(upcoming, None)
                if piece is None:
                    return
                ahead.append(Deferred.fromCoroutine(self.fetch_held(chunks[piece.index], piece)))

        self._streams += 1
        try:
            fetch_ahead(1)  # the first chunk alone: its bytes are the first to send
            while ahead:
                parts, taken = await flow.watch(ahead[0])
                ahead.popleft()
                try:
                    fetch_ahead(1)  # the next chunk while this one is written
                    # Taken from the end, each part is let go of as soon as the
                    # connection has sent it, not when the whole chunk has been.
                    parts.reverse()
                    while parts:
                        await flow.writable()
                        request.write(parts.pop())
                finally:
                    self.give_back(taken)
                # This chunk is the connection's now: room for one more read.
                fetch_ahead(READ_AHEAD if self._streams <= DEEP_UP_TO else 1)
            # The last bytes count too: wait until the connection takes them (or
            # the stall timeout gives up on it) before the response ends.
            await flow.writable()
        finally:
            self._streams -= 1
            flow.close()
            for pending in ahead:
                pending.addCallback(lambda held: self.give_back(held[1]))
                pending.addErrback(lambda f: None)
                pending.cancel()
            if request.channel is not None:  # None once the connection is gone
                request.unregisterProducer()

    def _replica_order(self, chunk: ChunkRecord) -> list[str]:
        """
        The nodes to read ``chunk`` from: ``stored`` replicas first, then
        ``writing`` ones (a put whose reply was lost may have landed), live
        nodes first within each; ``missing`` and ``corrupt`` replicas never.
        """
        rank = {ReplicaState.STORED: 0, ReplicaState.WRITING: 1}
        readable = [r for r in chunk.replicas if r.state in rank]
        readable.sort(key=lambda r: (rank[r.state], not self._pool.is_live(r.node_id)))
        return [r.node_id for r in readable]

    async def _mark(self, chunk: ChunkRecord, node_id: str, state: ReplicaState) -> None:
        """Record what a read found out about a replica (best effort)."""
        try:
            await self._store.set_replica_state(
                file_id=chunk.file_id, index=chunk.index, node_id=node_id, state=state)
            if state is ReplicaState.CORRUPT:
                await self._store.add_counters({CORRUPT_BY_READ: 1})
        except S3NodeError as e:
            log.info("cannot mark chunk {chunk_id} {state} on {node_id}: {error}",
                     chunk_id=chunk.chunk_id, state=state.value, node_id=node_id,
                     error=e.message)

    async def fetch_held(self, chunk: ChunkRecord,
                         piece: ChunkSlice) -> tuple[list[bytes], int]:
        """
        :meth:`fetch`, once a large chunk's bytes are taken from the budget
        for large reads; with the bytes taken (0 for a chunk of the usual
        size), which the caller gives back (:meth:`give_back`) once it has
        let go of the parts.
        """
        taken = 0
        if self.large_reads is not None and chunk.size > self._chunk_size:
            await self.large_reads.take(chunk.size)
            taken = chunk.size
        try:
            return await self.fetch(chunk, piece), taken
        except BaseException:
            self.give_back(taken)
            raise

    def give_back(self, taken: int) -> None:
        """Give back what :meth:`fetch_held` took."""
        if taken and self.large_reads is not None:
            self.large_reads.give(taken)

    async def fetch(self, chunk: ChunkRecord, piece: ChunkSlice) -> list[bytes]:
        """The verified bytes of ``piece`` of ``chunk``, from the first replica that serves them."""
        algorithm = self._algorithm_for(chunk.checksum_algorithm)
        errors: list[str] = []
        for node_id in self._replica_order(chunk):
            try:
                parts = await self._read(node_id, chunk)
                ok = await run_cpu(self._cpu, chunk.size, _verify, algorithm, parts,
                                   chunk.checksum, chunk.size)
            except CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure: try the next replica
                message = describe(e)
                errors.append(f"{node_id}: {message}")
                log.error("chunk {chunk_id} unreadable on {node_id}: {error}",
                          chunk_id=chunk.chunk_id, node_id=node_id, error=message)
                if isinstance(e, ChunkNotFound):
                    await self._mark(chunk, node_id, ReplicaState.MISSING)
                elif isinstance(e, CorruptChunk):
                    await self._mark(chunk, node_id, ReplicaState.CORRUPT)
                continue
            if not ok:
                errors.append(f"{node_id}: checksum mismatch")
                log.error("chunk {chunk_id} on {node_id} fails verification; trying another",
                          chunk_id=chunk.chunk_id, node_id=node_id)
                await self._mark(chunk, node_id, ReplicaState.CORRUPT)
                await self._have_checked(node_id, chunk)
                continue
            return _cut(parts, piece.offset, piece.length)
        raise NotEnoughReplicas(
            f"chunk {chunk.index} could not be read from any replica ({'; '.join(errors)})"
        )

    async def _read(self, node_id: str, chunk: ChunkRecord) -> list[bytes]:
        # One asyncio task drains the whole stream: bridging every message to
        # Twisted separately left reference cycles (end-of-stream exceptions
        # with their frames) that held read buffers until the cyclic GC ran.
        # The gateway verifies what it reads, so the node does not hash it too.
        with self._metrics.chunk_get_timer(node_id, chunk.size):
            client, timeout = self._pool.client(node_id), transfer_timeout(chunk.size)
            if chunk.size <= SMALL_CHUNK:  # one call, not a stream (GetSmallChunk)
                return [await aio(client.get_small_chunk(
                    chunk.chunk_id, reader_verifies=True, timeout=timeout))]
            # a node on this host writes the chunk into a memfd (docs/grpc.md)
            local = await aio(client.get_chunk_local(chunk.chunk_id, chunk.size, timeout=timeout))
            if local is not None:
                return local
            stream = client.get_chunk(chunk.chunk_id, reader_verifies=True, timeout=timeout)
            return await aio(_drain(stream))

    async def _have_checked(self, node_id: str, chunk: ChunkRecord) -> None:
        """
        Have the node verify a chunk that failed the gateway's check (best
        effort): it reads it again, hashing it, and quarantines it on a
        mismatch, which the reconciler then sees like any rot the node finds.
        """
        try:
            stream = self._pool.client(node_id).get_chunk(
                chunk.chunk_id, verify=True, timeout=transfer_timeout(chunk.size))
            await aio(_drain(stream, keep=False))
        except CorruptChunk:
            log.info("chunk {chunk_id} quarantined on {node_id}",
                     chunk_id=chunk.chunk_id, node_id=node_id)
        except Exception as e:  # noqa: BLE001 - the scrubber will find it otherwise
            log.info("chunk {chunk_id} not checked on {node_id}: {error}",
                     chunk_id=chunk.chunk_id, node_id=node_id, error=describe(e))


async def _drain(stream: Any, *, keep: bool = True) -> list[bytes]:
    """
    (asyncio) Every piece of a chunk stream (none when not ``keep``: read to
    its end and dropped); abandon the call on error or cancellation.
    """
    parts: list[bytes] = []
    try:
        async for part in stream:
            if part and keep:
                parts.append(part)
    except BaseException:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
        raise
    return parts


def _verify(algorithm: ChecksumAlgorithm, parts: Sequence[bytes], digest: str, size: int) -> bool:
    if sum(len(p) for p in parts) != size:
        return False
    h = algorithm()
    for p in parts:
        h.update(p)
    return digest_matches(digest, h.hexdigest())


def _cut(parts: list[bytes], offset: int, length: int) -> list[bytes]:
    """The bytes ``offset`` to ``offset + length`` of the concatenation of ``parts``."""
    if offset == 0 and length == sum(len(p) for p in parts):
        return parts
    out: list[bytes] = []
    pos = 0
    stop = offset + length
    for p in parts:
        end = pos + len(p)
        if end > offset and pos < stop:
            out.append(p[max(offset - pos, 0):min(stop, end) - pos])
        pos = end
    return out

