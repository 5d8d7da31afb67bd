"""
The file service: what every front end does with files, in no protocol.

The REST routes (:mod:`s3node.gateway.app`) and the S3 routes are thin
adapters over one :class:`FileService`: they turn a request into a call here
and the result (or the :mod:`s3node.errors` exception) into their protocol's
response.  The business rules live here, once:

- **store**: a :class:`~s3node.gateway.upload.ByteSource` becomes a completed
  file through the upload pipeline; the service tracks every store under way,
  with the adapter's way to abort it, so a stopping gateway can give them a
  grace period and then end them (each still records its outcome);
- **open**: only a ``completed`` file can be read, and not while it is
  ``damaged``; a file being deleted does not exist; the caller then streams
  the whole file or a range;
- **describe**: a file's record and chunks, whatever its status, unless it is
  being deleted;
- **delete**: the file moves to ``deleting`` in the metadata (the decision,
  atomic), then its chunks are swept right away in the background (the
  sweeper's loop retries what that leaves);
- **list**: numbered pages and keyset pages.

The S3 namespace sits on the same files (``docs/s3.md``): a bucket's key
names one completed file at a time.  **store_object** stores like *store*,
then completes the file and names it in one metadata transaction (the file the
key named before is deleted and swept); **open_object** reads the file a key
names; **delete_object** unnames the key and deletes its file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node.core.ranges import ByteRange
from s3node.errors import (
    FileDamaged,
    FileNotFound,
    FileNotReady,
    ObjectNotFound,
    S3NodeError,
)
from s3node.gateway.download import DownloadPipeline
from s3node.gateway.sweeper import Sweeper
from s3node.gateway.upload import ByteSource, UploadPipeline
from s3node.interfaces import MetadataStore
from s3node.metadata import check_condition
from s3node.records import (
    BucketRecord,
    FileCursorPage,
    FilePage,
    FileRecord,
    FileStatus,
    FileWithChunks,
    MultipartUpload,
    ObjectPage,
    ObjectPut,
    ObjectRecord,
    PartRecord,
    PartSpan,
    UploadPage,
)

__all__ = ["FileService", "ObjectMeta", "StoredFile", "StoredObject"]

#: what names an object once its bytes are in: its unquoted ETag and stored headers
ObjectMeta = Callable[[], tuple[str, Sequence[tuple[str, str]]]]
#: tries at reading the file a key names while writers replace it
_OPEN_ATTEMPTS = 3

log = Logger()


@dataclass(frozen=True)
class StoredFile:
    """The outcome of a store: the completed record and how many chunks it has."""

    record: FileRecord
    chunk_count: int


@dataclass(frozen=True)
class StoredObject:
    """The outcome of a store_object: the object (and what it replaced), and its chunk count."""

    put: ObjectPut
    chunk_count: int


class FileService:
    """Store, open, describe, delete and list files, whatever the protocol."""

    def __init__(
        self,
        store: MetadataStore,
        uploads: UploadPipeline,
        downloads: DownloadPipeline,
        sweeper: Sweeper,
        clock: IReactorTime,
    ) -> None:
        self.metadata = store
        self.uploads = uploads
        self.downloads = downloads
        self.sweeper = sweeper
        self._clock = clock
        #: stores under way, each with the callable that aborts its transfer
        self._in_flight: dict[Deferred[Any], Callable[[], object]] = {}
        #: the immediate sweeps that deletes started
        self._background: set[Deferred[None]] = set()

    @property
    def max_file_size(self) -> int:
        """The largest file a store accepts, in bytes."""
        return self.uploads.settings.max_file_size

    # -- store -----------------------------------------------------------

    def store(self, source: ByteSource, *, abort: Callable[[], object]) -> Deferred[StoredFile]:
        """
        Store what ``source`` yields as a new file.

        The work runs to its end even if the caller stops waiting (a client
        that disconnects): it still records its chunks and fails the file.
        ``abort`` ends the transfer (closes the client's connection, so that
        ``source`` fails); the service calls it when a stop's grace period runs
        out.
        """
        work = Deferred.fromCoroutine(self._store(source))
        self._in_flight[work] = abort
        work.addBoth(self._store_ended, work)
        return work

    async def _store(self, source: ByteSource) -> StoredFile:
        record, chunk_count = await self.uploads.store(source, self.metadata.complete_file,
                                                      inline=True)
        return StoredFile(record, chunk_count)

    def _store_ended(self, result: Any, work: Deferred[Any]) -> Any:
        self._in_flight.pop(work, None)
        return result

    def store_object(self, source: ByteSource, *, bucket: str, key: str, meta: ObjectMeta,
                     abort: Callable[[], object], if_match: str | None = None,
                     if_none_match: bool = False) -> Deferred[StoredObject]:
        """
        Store what ``source`` yields as the object ``bucket``/``key``: the file
        completes and the key names it in one transaction, once the source
        ended and every chunk has its replicas; ``meta`` gives the ETag and
        headers then (a source learns them while it streams).  The file the
        key named before is swept right away.  Runs on like :meth:`store`.
        A conditional write (``if_match``: an ETag the key must name;
        ``if_none_match``: the key must name nothing) is checked before the
        first byte is read, and decided in the completing transaction.

        :raises BucketNotFound: the bucket does not exist (or was deleted
            meanwhile: the file is then failed and swept).
        :raises PreconditionFailed: the condition does not hold.
        """
        conditions = {"if_match": if_match, "if_none_match": if_none_match}
        work = Deferred.fromCoroutine(
            self._store_object(source, bucket, key, meta, conditions))
        self._in_flight[work] = abort
        work.addBoth(self._store_ended, work)
        return work

    async def _store_object(self, source: ByteSource, bucket: str, key: str,
                            meta: ObjectMeta, conditions: dict[str, Any]) -> StoredObject:
        await self.metadata.get_bucket(bucket)  # before a byte is read
        if conditions["if_match"] is not None or conditions["if_none_match"]:
            try:
                current: str | None = (await self.metadata.get_object(bucket, key)).etag
            except ObjectNotFound:
                current = None
            check_condition(current, conditions["if_match"], conditions["if_none_match"])

        async def complete(**file: Any) -> ObjectPut:
            etag, headers = meta()
            put = await self.metadata.complete_object(
                **file, bucket=bucket, key=key, etag=etag, headers=headers, **conditions)
            if put.replaced is not None:
                self.sweep_soon(put.replaced)
            return put

        put, chunk_count = await self.uploads.store(source, complete, inline=True)
        return StoredObject(put, chunk_count)

    # -- multipart -------------------------------------------------------

    async def create_multipart(self, bucket: str, key: str, *, content_type: str,
                               headers: Sequence[tuple[str, str]]) -> MultipartUpload:
        """Begin a multipart upload (:class:`BucketNotFound` without the bucket)."""
        return await self.metadata.create_multipart(bucket, key, content_type=content_type,
                                                    headers=headers)

    async def get_multipart(self, upload_id: str) -> MultipartUpload:
        """A multipart upload under way (:class:`UploadNotFound` otherwise)."""
        return await self.metadata.get_multipart(upload_id)

    def store_part(self, source: ByteSource, *, upload_id: str, part_number: int,
                   etag: Callable[[], str], abort: Callable[[], object],
                   checksum: Callable[[], tuple[str, str] | None] = lambda: None
                   ) -> Deferred[int]:
        """
        Store what ``source`` yields as part ``part_number`` of an upload (its
        own file, completed and recorded as the part in one transaction; a part
        uploaded before under that number is deleted); ``etag`` gives the
        part's MD5 once the source ended, ``checksum`` its verified
        ``x-amz-checksum-*`` header and value, if any.  Runs on like :meth:`store`; fires
        with the part's chunk count.
        """
        work = Deferred.fromCoroutine(
            self._store_part(source, upload_id, part_number, etag, checksum))
        self._in_flight[work] = abort
        work.addBoth(self._store_ended, work)
        return work

    async def _store_part(self, source: ByteSource, upload_id: str, part_number: int,
                          etag: Callable[[], str],
                          checksum: Callable[[], tuple[str, str] | None]) -> int:
        await self.metadata.get_multipart(upload_id)  # before a byte is read

        async def complete(**file: Any) -> None:
            replaced = await self.metadata.complete_part(
                **file, upload_id=upload_id, part_number=part_number, etag=etag(),
                part_checksum=checksum())
            if replaced is not None:
                self.sweep_soon(replaced)

        _, chunk_count = await self.uploads.store(source, complete)
        return chunk_count

    async def list_parts(self, upload_id: str, *, after: int, limit: int) -> Sequence[PartRecord]:
        """Up to ``limit`` parts of an upload numbered above ``after``."""
        return await self.metadata.list_parts(upload_id, after=after, limit=limit)

    async def list_multipart(self, bucket: str, *, prefix: str, delimiter: str,
                             after: str | None, after_upload: str | None,
                             limit: int) -> UploadPage:
        """Up to ``limit`` uploads under way in a bucket (or common prefixes), by key and id."""
        return await self.metadata.list_multipart(bucket, prefix=prefix, delimiter=delimiter,
                                                  after=after, after_upload=after_upload,
                                                  limit=limit)

    async def object_part(self, file_id: uuid.UUID,
                          part_number: int) -> tuple[int, PartSpan | None]:
        """How many parts a multipart object's file has, and where one of them lies."""
        return await self.metadata.object_part(file_id, part_number)

    async def complete_multipart(self, upload_id: str, parts: Sequence[tuple[int, str]], *,
                                 min_part_size: int, if_match: str | None = None,
                                 if_none_match: bool = False,
                                 headers: Sequence[tuple[str, str]] | None = None) -> ObjectPut:
        """
        Make the object of an upload from its listed parts (their chunks, not
        copied); the object the key named before is swept right away, and the
        parts not listed by the sweeper's next round.  ``headers``: the
        object's stored headers, when not the upload's.
        """
        put = await self.metadata.complete_multipart(
            upload_id, parts, min_part_size=min_part_size, if_match=if_match,
            if_none_match=if_none_match, headers=headers)
        if put.replaced is not None:
            self.sweep_soon(put.replaced)
        return put

    async def abort_multipart(self, upload_id: str) -> None:
        """End an upload without an object; its parts are swept right away."""
        for file_id in await self.metadata.abort_multipart(upload_id):
            self.sweep_soon(file_id)

    # -- read ------------------------------------------------------------

    async def describe(self, file_id: uuid.UUID) -> FileWithChunks:
        """
        A file with its chunks, in any status but ``deleting``.

        :raises FileNotFound: no such file, or it is being deleted.
        """
        fwc = await self.metadata.get_file_with_chunks(file_id)
        if fwc.file.status is FileStatus.DELETING:
            raise FileNotFound(f"no file {file_id}")
        return fwc

    async def open(self, file_id: uuid.UUID) -> FileWithChunks:
        """
        A file that can be read: ``completed``, with its chunks.

        :raises FileNotFound: no such file, or it is being deleted.
        :raises FileNotReady: its upload has not completed (or failed).
        :raises FileDamaged: a chunk has no readable replica left.
        """
        fwc = await self.describe(file_id)
        record = fwc.file
        if record.status is not FileStatus.COMPLETED or record.size is None:
            raise FileNotReady(f"file {file_id} is {record.status.value}, not completed")
        if record.damaged:
            raise FileDamaged(
                f"file {file_id} has a chunk with no readable replica left (see GET /cluster)")
        return fwc

    async def stream(self, request: Any, fwc: FileWithChunks, r: ByteRange | None) -> None:
        """
        Write the verified bytes of ``r`` (the whole file when ``None``) of an
        opened file to ``request`` (a twisted.web request, whose connection
        paces the transfer).
        """
        await self.downloads.stream(request, fwc, r)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord:
        """
        The object a key names (its record; no chunks).

        :raises BucketNotFound: no such bucket.
        :raises ObjectNotFound: no such key.
        """
        return await self.metadata.get_object(bucket, key)

    async def open_object(self, bucket: str, key: str) -> tuple[ObjectRecord, FileWithChunks]:
        """
        The object a key names, with its file's chunks.

        :raises BucketNotFound: no such bucket.
        :raises ObjectNotFound: no such key (or writers kept replacing it).
        """
        for _ in range(_OPEN_ATTEMPTS):
            obj = await self.metadata.get_object(bucket, key)
            try:
                fwc = await self.open(obj.file_id)
            except (FileNotFound, FileNotReady):
                continue  # replaced (or deleted) between the two reads: look again
            return obj, fwc
        raise ObjectNotFound(f"no key {key!r} in bucket {bucket} (it keeps changing)")

    # -- buckets ---------------------------------------------------------

    async def create_bucket(self, name: str) -> BucketRecord:
        """A new, empty bucket (:class:`BucketExists` if the name is taken)."""
        return await self.metadata.create_bucket(name)

    async def get_bucket(self, name: str) -> BucketRecord:
        """One bucket (:class:`BucketNotFound` if none has that name)."""
        return await self.metadata.get_bucket(name)

    async def list_buckets(self) -> Sequence[BucketRecord]:
        """Every bucket, by name."""
        return await self.metadata.list_buckets()

    async def delete_bucket(self, name: str) -> None:
        """
        Remove a bucket (:class:`BucketNotEmpty` while it names objects); its
        multipart uploads under way end with it, their parts swept right away.
        """
        for file_id in await self.metadata.delete_bucket(name):
            self.sweep_soon(file_id)

    async def list_objects(self, bucket: str, *, prefix: str, delimiter: str,
                           after: str | None, limit: int) -> ObjectPage:
        """A page of a bucket's keys in byte order (see ``MetadataStore.list_objects``)."""
        return await self.metadata.list_objects(bucket, prefix=prefix, delimiter=delimiter,
                                                after=after, limit=limit)

    async def delete_object(self, bucket: str, key: str) -> bool:
        """
        Unname ``key`` and delete its file (swept in the background); ``False``
        when the key named nothing.

        :raises BucketNotFound: no such bucket.
        """
        file_id = await self.metadata.delete_object(bucket, key)
        if file_id is None:
            return False
        self.sweep_soon(file_id)
        return True

    # -- list ------------------------------------------------------------

    async def list_page(self, *, page: int, per_page: int,
                        status: FileStatus | None) -> FilePage:
        """A numbered page of files, newest first."""
        return await self.metadata.list_files(page=page, per_page=per_page, status=status)

    async def list_after(self, *, cursor: str | None, limit: int,
                         status: FileStatus | None) -> FileCursorPage:
        """A keyset page of files, newest first."""
        return await self.metadata.list_files_after(cursor=cursor, limit=limit, status=status)

    # -- delete ----------------------------------------------------------

    async def delete(self, file_id: uuid.UUID) -> FileRecord:
        """
        Delete a file: it moves to ``deleting`` at once (it is gone for
        readers), and its chunks are swept in the background.

        :raises FileNotFound: no such file, or it is already being deleted.
        """
        record = await self.metadata.start_delete(file_id)
        self.sweep_soon(file_id)
        return record

    def sweep_soon(self, file_id: uuid.UUID) -> None:
        """Sweep a ``deleting`` file's chunks now, in the background, tracked until done."""
        d = Deferred.fromCoroutine(self.sweeper.delete_now(file_id))
        self._background.add(d)
        d.addBoth(lambda _: self._background.discard(d))

    async def wait_background(self) -> None:
        """Wait for the immediate sweeps that deletes started."""
        for d in list(self._background):
            try:
                await d
            except S3NodeError:
                pass

    # -- stop ------------------------------------------------------------

    async def close(self, *, grace: float) -> None:
        """
        Stores under way get ``grace`` seconds to end, then are aborted (each
        records its outcome while the store still answers); then the
        background sweeps and the pipeline's cleanups end.  The metadata store
        is the caller's to close, after this.
        """
        if self._in_flight:
            log.info("waiting up to {grace} s for {count} uploads under way",
                     grace=grace, count=len(self._in_flight))
            clock: Any = self._clock
            cutoff = clock.callLater(grace, self._abort_stores)
            await DeferredList(list(self._in_flight), consumeErrors=True)
            if cutoff.active():
                cutoff.cancel()
        await self.wait_background()
        await self.uploads.wait_cleanups()

    def _abort_stores(self) -> None:
        for abort in list(self._in_flight.values()):
            abort()
