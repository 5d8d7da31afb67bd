"""
The upload pipeline: a byte source → chunker → replicas → metadata.

The pipeline knows no protocol: it reads an object's bytes from a
:class:`ByteSource` (the REST adapter's multipart ``file`` part,
:mod:`s3node.gateway.formupload`; later an S3 body) as they arrive; every
completed chunk is hashed off the reactor thread and written to its replica
nodes while the next chunk arrives.  At most :data:`IN_FLIGHT` chunks hold
memory of their own at once, from the moment a chunk being collected passes
:data:`s3node.core.chunking.SMALL` until its replicas are written: one being
filled while the others are written, or all of them being written.  While
that many are, the source is not read, so the client is paused (see
:mod:`s3node.gateway.streaming`).  Memory is bounded by
``chunk_size * IN_FLIGHT`` plus ``SMALL`` and the stream's buffer, whatever
the file size, and a short upload reaches the same bound as a long one (one
chunk filling while the ones before are written is the steady state).

Chunks are collected in buffers the pipeline reuses (:attr:`UploadPipeline.chunk_buffers`):
a chunk's buffer goes back once its replicas are written and the file's
digest has taken it in, and the next chunk, of this upload or another under
way, is collected in it without the page faults of fresh memory.  When the
last upload ends, the buffers waiting for reuse are freed.

Each upload's own state, while its body streams in, is a
:class:`~s3node.gateway.fileupload.FileUpload`.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime

from s3node._aio import CpuRunner
from s3node.core.chunking import ChunkBuffers
from s3node.errors import FileNotFound, UploadAborted
from s3node.gateway.fileupload import FileUpload
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.gateway.uploadsettings import (
    IN_FLIGHT,
    LARGE_UPLOADS,
    PIPELINING_BUDGET,
    ByteSource,
    Completer,
    UploadSettings,
)
from s3node.interfaces import ChecksumAlgorithm, MetadataStore, PlacementStrategy

__all__ = ["IN_FLIGHT", "LARGE_UPLOADS", "PIPELINING_BUDGET", "ByteSource", "Completer",
           "UploadPipeline", "UploadSettings"]

T = TypeVar("T")


class UploadPipeline:
    """Store uploads: one :meth:`upload` call per request."""

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        placement: PlacementStrategy,
        checksum: ChecksumAlgorithm,
        cpu: CpuRunner,
        settings: UploadSettings,
        clock: IReactorTime,
        *,
        metrics: GatewayMetrics | None = None,
        chunk_checksum: ChecksumAlgorithm | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._placement = placement
        self._checksum = checksum
        #: each chunk's digest (what nodes and downloads verify); the file's is ``checksum``
        self._chunk_checksum = chunk_checksum if chunk_checksum is not None else checksum
        self._cpu = cpu
        self.settings = settings
        self._clock = clock
        self.metrics = metrics if metrics is not None else GatewayMetrics()
        #: best-effort deletes of what failed puts may have left (see :meth:`wait_cleanups`)
        self._cleanups: set[Deferred[None]] = set()
        #: the buffers uploads collect their chunks in; as many wait for reuse as one
        #: upload holds at once, while any upload runs (freed when the last one ends)
        self.chunk_buffers = ChunkBuffers(keep=IN_FLIGHT, shared=True)
        #: uploads under way
        self.active = 0
        #: uploads under way with large chunks (at most :data:`LARGE_UPLOADS`)
        self.large_active = 0
        #: see :data:`PIPELINING_BUDGET`
        self.pipelining_budget = PIPELINING_BUDGET

    def pipelines(self) -> bool:
        """Whether an upload may fill a chunk while it writes another (within the budget)."""
        return self.chunk_buffers.out_bytes < self.pipelining_budget

    def chunk_size_for(self, size_hint: int | None) -> int:
        """
        The chunk size of an upload whose source declares ``size_hint``
        bytes: the large one from ``large_object_size`` on (and past one
        usual chunk: an upload's first chunk has the usual size), while fewer
        than :data:`LARGE_UPLOADS` uploads have it; else the usual one.
        """
        s = self.settings
        if (s.large_chunk_size > s.chunk_size and size_hint is not None
                and size_hint >= s.large_object_size and size_hint > s.chunk_size
                and self.large_active < LARGE_UPLOADS):
            return s.large_chunk_size
        return s.chunk_size

    async def store(self, source: ByteSource, complete: Completer[T], *,
                    inline: bool = False) -> tuple[T, int]:
        """
        Store the bytes ``source`` yields as a new file, named as it says.

        With ``inline`` (a whole object, not a part of one), a file of at most
        :attr:`UploadSettings.inline_max_size` bytes gets no chunk: its bytes
        go to ``complete`` as ``inline``, which keeps them in the file's
        metadata row in the completing transaction; no node is involved.

        The file record is created (``uploading``) with its first chunk's, in
        one metadata write, before any of the file's bytes leaves for a node;
        once the source ended and every chunk has its replicas, ``complete``
        completes it in the metadata (marking every replica the upload wrote
        ``stored`` in the same transaction), and when anything goes wrong the
        file is marked failed.  An upload thus makes one metadata write per
        chunk (the first's with the file's row) and one to complete.

        The file's chunks are of the usual size, or of the large one when
        ``source`` declares a large object (:meth:`chunk_size_for`), all but
        its first, which keeps the usual size.

        :returns: what ``complete`` returned, and the file's chunk count.
        """
        self.active += 1
        chunk_size = self.chunk_size_for(source.size_hint)
        large = int(chunk_size != self.settings.chunk_size)
        self.large_active += large
        try:
            with self.metrics.transfer("upload"):
                return await self._store_file(source, complete, inline, chunk_size)
        finally:
            self.active -= 1
            self.large_active -= large
            if not self.active:
                # between uploads (and under downloads) no chunk buffer stays resident
                self.chunk_buffers.clear()

    async def _store_file(self, source: ByteSource, complete: Completer[T],
                          inline: bool, chunk_size: int) -> tuple[T, int]:
        filename, content_type = await source.start()
        state = FileUpload(self, self.settings.inline_max_size if inline else 0, chunk_size)
        try:
            await state.begin(filename, content_type)
            while data := await source.read():
                await state.feed(data)
                await state.keep_alive()
            await state.end()
            return await state.complete(complete), state.chunk_count
        except FileNotFound as e:
            await state.abort(e)
            if state.record is None:
                raise
            # the file existed when the upload began: it was deleted and swept since
            raise UploadAborted(f"file {state.record.file_id} was deleted") from None
        except BaseException as e:
            await state.abort(e)
            raise

    def cleanup(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, tracked until it ends."""
        d = Deferred.fromCoroutine(work)
        self._cleanups.add(d)
        d.addBoth(lambda _: self._cleanups.discard(d))

    async def wait_cleanups(self) -> None:
        """Wait for the background cleanups under way (at shutdown)."""
        if self._cleanups:
            await DeferredList(list(self._cleanups), consumeErrors=True)
