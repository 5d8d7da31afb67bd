"""
One upload while its body streams in: the chunker, the chunks' and the
file's digests, the slots that bound its memory, and its chunks' writes
(:class:`FileUpload`); :class:`~s3node.gateway.upload.UploadPipeline` makes
one per upload and owns what uploads share.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    DeferredSemaphore,
    gatherResults,
)
from twisted.logger import Logger

from s3node._aio import OneBehind, run_cpu
from s3node._malloc import give_back, give_back_now
from s3node.core.checksums import CRC32C, update_with_crc32c
from s3node.core.chunking import Chunker
from s3node.core.ids import new_chunk_id
from s3node.errors import (
    ClientDisconnected,
    InvalidRequest,
    NotEnoughReplicas,
    S3NodeError,
    TooLarge,
    UploadAborted,
    describe,
)
from s3node.gateway.lanes import place
from s3node.gateway.uploadsettings import IN_FLIGHT, Completer
from s3node.records import ChunkRecord, FileRecord, ReplicaRecord, ReplicaState

if TYPE_CHECKING:
    from s3node.gateway.upload import UploadPipeline

__all__ = ["FileUpload"]

log = Logger()

T = TypeVar("T")


class FileUpload:
    """The state of one upload while its body streams in."""

    def __init__(self, pipeline: UploadPipeline, inline_max_size: int, chunk_size: int) -> None:
        self.p = pipeline
        #: the most bytes this upload may keep inline (0: none)
        self._inline_max_size = inline_max_size
        #: the whole file's bytes, when it is kept inline (see :meth:`end`)
        self._inline: bytes | None = None
        #: the file's row, once created with its first chunk (an empty file: at its end)
        self.record: FileRecord | None = None
        #: the file's id, chosen here: its first chunk's record names it before the file exists
        self.file_id = uuid.uuid4()
        self._naming: dict[str, str] = {}
        #: (index, node) of every replica written, marked stored when the file completes
        self._stored: list[tuple[int, str]] = []
        #: the file's chunk size (recorded in its row; its first chunk may be smaller)
        self._chunk_size = chunk_size
        usual = pipeline.settings.chunk_size
        # a file of large chunks starts with one of the usual size, which its
        # downloads read and verify before their first byte goes out
        self._chunker = Chunker(chunk_size, pipeline.chunk_buffers,
                                first_size=usual if chunk_size > usual else None)
        self._hasher = pipeline._checksum()
        self._size = 0
        self._index = 0
        self._slots = DeferredSemaphore(IN_FLIGHT)
        #: whether the chunk being collected already holds one of ``_slots``
        self._collecting_slot = False
        self._writes: list[Deferred[None]] = []
        self._error: BaseException | None = None
        #: the whole-file digest's updates, one chunk behind at most
        self._file_hashing = OneBehind(pipeline._cpu)
        self._next_touch = 0.0

    async def begin(self, filename: str, content_type: str) -> None:
        """Take the file's name; its record is created with its first chunk's."""
        self._naming = {"filename": filename, "content_type": content_type}

    async def _create(self, first_chunk: ChunkRecord | None) -> None:
        """Create the file record, ``uploading``, with ``first_chunk`` (one transaction)."""
        self.record = await self.p._store.create_file(
            **self._naming,
            checksum_algorithm=self._hasher.name,
            chunk_size=self._chunk_size,
            file_id=self.file_id,
            first_chunk=first_chunk,
        )
        self._next_touch = self.p._clock.seconds() + self.p.settings.touch_interval  # type: ignore[misc]
        log.info("upload {file_id} started", file_id=self.file_id)

    async def feed(self, data: bytes | memoryview) -> None:
        """Take the next bytes of the file: chunk them and write full chunks."""
        self._size += len(data)
        if self._size > self.p.settings.max_file_size:
            raise TooLarge(f"the file exceeds {self.p.settings.max_file_size} bytes")
        while len(data) > (room := self._chunker.room):  # one chunk boundary per piece
            view = memoryview(data)
            await self._feed_piece(view[:room])
            data = view[room:]
        await self._feed_piece(data)

    async def _feed_piece(self, data: bytes | memoryview) -> None:
        """Feed the chunker bytes that complete at most one chunk."""
        if not self._collecting_slot and self._chunker.takes_buffer(len(data)):
            # the chunk's slot is taken before its buffer is: no more than
            # IN_FLIGHT chunks' memory at once, filling or being written
            await self._take_slot()
            self._collecting_slot = True
            if self._index == 0:
                give_back_now()  # a large upload starts on a heap without the last one's holes
        for chunk in self._chunker.feed(data):
            await self._submit(chunk)

    async def end(self) -> None:
        """The source ended: write the last, short chunk, or keep a small file inline."""
        last = self._chunker.finish()
        if not last:
            return
        if self._index == 0 and len(last) <= self._inline_max_size:
            # the whole file, and small: its bytes go to the metadata with its completion
            # (no chunk was hashed yet: the file's digest is this one update, and quick)
            self._inline = bytes(last)
            self._hasher.update(self._inline)
            self.p.chunk_buffers.give(last)
            if self._collecting_slot:
                self._collecting_slot = False
                self._slots.release()
            return
        await self._submit(last)

    async def keep_alive(self) -> None:
        """
        Move the file's ``updated_at`` while body bytes arrive, at most once
        per ``touch_interval``, so only a stalled upload goes stale; raises
        :class:`~s3node.errors.UploadAborted` once the file was deleted or
        claimed, which stops the upload.
        """
        if self.record is None or self.p._clock.seconds() < self._next_touch:  # type: ignore[misc]
            return
        self._next_touch = self.p._clock.seconds() + self.p.settings.touch_interval  # type: ignore[misc]
        await self.p._store.touch_file(self.record.file_id)

    async def _submit(self, chunk: bytes | memoryview) -> None:
        """
        Hash ``chunk`` (and the running file digest), then write it in the
        background; the first chunk is recorded, with the file, before this
        returns.  Its replicas are marked stored when the file completes.
        """
        self._raise_if_failed()
        digest, transfer = await self._hash(chunk)
        index, self._index = self._index, self._index + 1
        if self._collecting_slot:
            self._collecting_slot = False  # taken when its buffer was
        else:
            await self._take_slot()
        self._raise_if_failed()
        try:
            record, order = self._plan(index, chunk, digest)
            recorded = self.record is None
            if recorded:  # the first chunk: recorded with the file's own row
                await self._create(first_chunk=record)
        except BaseException:
            self._done_when_read(chunk, None)
            raise
        d = Deferred.fromCoroutine(self._write(record, order, chunk, transfer,
                                               recorded=recorded))
        self._writes.append(d)
        self._done_when_read(chunk, d)

    async def _hash(self, chunk: bytes | memoryview) -> tuple[str, str | None]:
        """
        Feed ``chunk`` to the file's digest and return its own: one pass for
        the first chunk when both use one algorithm (the file's digest so far
        is the chunk's), else two at once, the file's kept in order.  With the
        chunk's digest comes its CRC-32C, computed in the same job from the
        same bytes, which its nodes check what they receive against instead of
        hashing it again (docs/grpc.md); ``None`` when chunks are CRC-32C.
        """
        size, algorithm = len(chunk), self.p._chunk_checksum
        crc = algorithm.name != CRC32C.name
        if self._index == 0 and algorithm.name == self._hasher.name:
            transfer = await run_cpu(self.p._cpu, size, update_with_crc32c, self._hasher, chunk, crc)
            return _final_digest(self._hasher.copy()), transfer
        await self._file_hashing.submit(self._hasher.update, chunk, size=size)
        hasher = algorithm()
        transfer = await run_cpu(self.p._cpu, size, update_with_crc32c, hasher, chunk, crc)
        return _final_digest(hasher), transfer

    async def _take_slot(self) -> None:
        """
        Take a slot for the next chunk; past the gateway's pipelining budget,
        wait for this upload's other chunks to be written first.
        """
        await self._slots.acquire()
        while self._slots.tokens < IN_FLIGHT - 1 and not self.p.pipelines():
            # Another chunk of this upload is out: wait until one of them is done
            # (take the free slots at once and one more, which comes back with it).
            waits = self._slots.tokens + 1
            for _ in range(waits):
                await self._slots.acquire()
            for _ in range(waits):
                self._slots.release()

    def _done_when_read(self, chunk: bytes | memoryview, write: Deferred[None] | None) -> None:
        """Call :meth:`_done_with` once ``write`` ended and the file's digest has taken ``chunk`` in."""
        reads = [d for d in (write, self._file_hashing.running) if d is not None]
        DeferredList(reads).addBoth(lambda _: self._done_with(chunk))

    def _done_with(self, chunk: bytes | memoryview) -> None:
        """Nothing reads ``chunk`` any more: its buffer, then its slot, go back."""
        self.p.chunk_buffers.give(chunk)
        self._slots.release()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    async def _write(self, record: ChunkRecord, order: list[str], chunk: bytes | memoryview,
                     transfer: str | None, *, recorded: bool) -> None:
        try:
            if not recorded:
                # The replica rows exist, as ``writing``, before any byte leaves: a
                # chunk file on a node always has a row naming it (docs/durability.md).
                await self.p._store.record_chunk(record)
            await place(record, order, chunk, transfer, replicas=self.p.settings.replicas,
                        store=self.p._store, pool=self.p._pool, metrics=self.p.metrics,
                        cleanup=self.p.cleanup, stored=self._stored)
        except BaseException as e:  # noqa: BLE001 - kept, re-raised by the upload
            if self._error is None:
                self._error = e
        # the heap's holes from this chunk's socket reads and frames go back (s3node/_malloc.py)
        give_back(len(chunk))

    def _plan(self, index: int, chunk: bytes | memoryview,
              digest: str) -> tuple[ChunkRecord, list[str]]:
        """The chunk's record (its first replicas ``writing``) and its nodes in preference order."""
        replicas = self.p.settings.replicas
        chunk_id = new_chunk_id()
        live = self.p._pool.live_nodes(min_free=len(chunk))
        if len(live) < replicas:
            raise NotEnoughReplicas(
                f"only {len(live)} storage nodes answer with room for the chunk;"
                f" {replicas} replicas are needed"
            )
        order = self.p._placement.preference_list(chunk_id, live)
        record = ChunkRecord(
            file_id=self.file_id, index=index, chunk_id=chunk_id, size=len(chunk),
            checksum_algorithm=self.p._chunk_checksum.name, checksum=digest,
            replicas=tuple(ReplicaRecord(n, ReplicaState.WRITING) for n in order[:replicas]),
        )
        return record, order

    async def complete(self, finish: Completer[T]) -> T:
        await gatherResults(self._writes, consumeErrors=True)
        self._raise_if_failed()
        await self._file_hashing.drain()
        checksum = _final_digest(self._hasher)  # the bytes are hashed: quick
        if self.record is None:  # no chunk: an empty file, or one kept inline
            await self._create(first_chunk=None)
        extra = {} if self._inline is None else {"inline": self._inline}
        result = await finish(
            file_id=self.file_id, size=self._size, checksum=checksum,
            replicas=self.p.settings.replicas, stored=tuple(self._stored), **extra,
        )
        if self._inline is not None:
            self.p.metrics.kept_inline(self._size)
        log.info("upload {file_id} completed: {size} bytes in {chunks} chunks",
                 file_id=self.file_id, size=self._size, chunks=self._index)
        return result

    @property
    def chunk_count(self) -> int:
        return self._index

    async def abort(self, error: BaseException) -> None:
        """Wait for writes under way, then mark the file failed (best effort)."""
        if self.record is None:
            return
        file_id: uuid.UUID = self.record.file_id
        if self._writes:
            await gatherResults(self._writes, consumeErrors=True)
        await self._file_hashing.drain()
        if _client_caused(error):  # a client's doing, not the gateway's: no error
            log.info("upload {file_id} failed: {error}", file_id=file_id,
                     error=describe(error))
        else:
            log.error("upload {file_id} failed: {error}", file_id=file_id,
                      error=describe(error))
        try:
            if not await self.p._store.fail_file(file_id):
                log.info("upload {file_id} was already ended (deleted, claimed or completed)",
                         file_id=file_id)
        except S3NodeError as e:
            log.error("cannot mark {file_id} failed ({error}); the sweeper will find it stale",
                     file_id=file_id, error=e.message)


def _client_caused(error: BaseException) -> bool:
    """Whether an upload ended by the client's doing (too large, malformed, cut short, gone)."""
    return isinstance(error, (InvalidRequest, TooLarge, ClientDisconnected, CancelledError,
                              UploadAborted))


def _final_digest(hasher: Any) -> str:
    return str(hasher.hexdigest())
