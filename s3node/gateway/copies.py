"""
Copies of objects and of object ranges into multipart parts, in no protocol.

The file service's copy rules (``docs/s3.md``, "Copies share chunks"):

- **copy_object**: the copy is a new file whose chunk and replica rows name
  the source's chunks (``MetadataStore.copy_object``, one transaction that
  also names the destination key): no byte is read or written on any node.
  The source is read, checked by the caller's ``decide`` (its conditions and
  what the copy's headers are), and copied only if it is still the file the
  key named (a source replaced meanwhile is read again).
- **copy_part**: a range that starts and ends on chunk boundaries (the whole
  object always does) becomes a part sharing those chunks
  (``MetadataStore.copy_part``); a range that cuts a chunk is copied as bytes:
  read and verified from the nodes chunk by chunk, and stored as an uploaded
  part is (the simple way; memory stays at one chunk).

A chunk may thus be named by several files; a node's copy of it is deleted
only when the last row naming it there goes (``release_replica``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from s3node.core.ranges import ByteRange
from s3node.errors import FileNotFound, ObjectNotFound, ShuttingDown
from s3node.records import FileWithChunks, ObjectPut, ObjectRecord

if TYPE_CHECKING:
    from s3node.gateway.download import DownloadPipeline
    from s3node.gateway.files import FileService

__all__ = ["CopiedPart", "aligned_span", "copy_object", "copy_part"]

#: tries at copying a source while writers replace it
_ATTEMPTS = 3

#: what the caller makes of the source: the copy's content type and stored headers
Decide = Callable[[ObjectRecord], tuple[str, Sequence[tuple[str, str]]]]


@dataclass(frozen=True)
class CopiedPart:
    """An UploadPartCopy's outcome: the source, the part's ETag and whether bytes moved."""

    source: ObjectRecord
    etag: str
    shared: bool


def aligned_span(fwc: FileWithChunks, r: ByteRange | None) -> tuple[int, int] | None:
    """
    The chunks (first index, count) that make up ``r`` exactly, or ``None``
    when ``r`` starts or ends inside a chunk; ``r=None`` is every chunk.
    """
    if fwc.inline is not None:
        return None  # no chunk to share: an inline file's bytes are copied
    if r is None:
        return 0, len(fwc.chunks)
    first = count = None
    offset = 0
    for chunk in fwc.chunks:
        if offset == r.start:
            first = chunk.index
        offset += chunk.size
        if first is not None and offset == r.end + 1:
            count = chunk.index - first + 1
            break
        if offset > r.end:
            break
    return None if first is None or count is None else (first, count)


async def _open_source(files: FileService, source: tuple[str, str]
                       ) -> tuple[ObjectRecord, FileWithChunks]:
    return await files.open_object(*source)


async def copy_object(files: FileService, source: tuple[str, str], *, bucket: str, key: str,
                      filename: str, decide: Decide, if_match: str | None = None,
                      if_none_match: bool = False) -> tuple[ObjectRecord, ObjectPut]:
    """
    Copy the object ``source`` (bucket, key) to ``bucket``/``key`` by sharing
    its chunks; return the source and the outcome.  The key's previous
    object is swept right away.

    :raises NoSuchKey/BucketNotFound: the source or the destination bucket is missing.
    :raises PreconditionFailed: ``decide`` or the write's condition refused it.
    """
    for _ in range(_ATTEMPTS):
        obj, _fwc = await _open_source(files, source)
        content_type, headers = decide(obj)
        try:
            put = await files.metadata.copy_object(
                source=obj.file_id, bucket=bucket, key=key, etag=obj.etag, headers=headers,
                content_type=content_type, filename=filename, if_match=if_match,
                if_none_match=if_none_match)
        except FileNotFound:
            continue  # the source was replaced or deleted since it was read: look again
        if put.replaced is not None:
            files.sweep_soon(put.replaced)
        return obj, put
    raise ObjectNotFound(f"no key {source[1]!r} in bucket {source[0]} (it keeps changing)")


async def copy_part(files: FileService, source: tuple[str, str], *, upload_id: str,
                    part_number: int, filename: str, r: Callable[[int], ByteRange | None],
                    check: Callable[[ObjectRecord], object]) -> CopiedPart:
    """
    Copy the object ``source`` (or the range ``r(size)`` gives) as part
    ``part_number`` of an upload: by sharing chunks when the range lines up
    with them, else as bytes.  ``check`` raises to refuse the source.
    """
    for _ in range(_ATTEMPTS):
        obj, fwc = await _open_source(files, source)
        check(obj)
        wanted = r(obj.size)
        span = aligned_span(fwc, wanted)
        if span is None:
            if wanted is None:  # the whole of an inline object
                wanted = ByteRange(0, obj.size - 1)
            return CopiedPart(obj, await _copy_bytes(files, fwc, wanted, upload_id,
                                                     part_number, filename), shared=False)
        whole = span == (0, len(fwc.chunks))
        etag = obj.etag if whole and "-" not in obj.etag else _span_etag(obj, wanted)
        try:
            replaced = await files.metadata.copy_part(
                source=obj.file_id, first=span[0], count=span[1], upload_id=upload_id,
                part_number=part_number, etag=etag, filename=filename)
        except FileNotFound:
            continue
        if replaced is not None:
            files.sweep_soon(replaced)
        return CopiedPart(obj, etag, shared=True)
    raise ObjectNotFound(f"no key {source[1]!r} in bucket {source[0]} (it keeps changing)")


def _span_etag(obj: ObjectRecord, r: ByteRange | None) -> str:
    """An opaque part ETag for shared chunks whose MD5 no pass has computed."""
    span = "all" if r is None else f"{r.start}-{r.end}"
    return hashlib.md5(f"{obj.file_id} {obj.etag} {span}".encode()).hexdigest()


class _RangeSource:
    """A :class:`~s3node.gateway.upload.ByteSource` of a file's range, read verified from the nodes."""

    def __init__(self, downloads: DownloadPipeline, fwc: FileWithChunks, r: ByteRange,
                 filename: str) -> None:
        self._downloads = downloads
        self._fwc, self._r = fwc, r
        self._chunks = {c.index: c for c in fwc.chunks}
        self._slices = downloads.slices(fwc, r) if fwc.inline is None else []
        self._next = 0
        self._pending: list[bytes] = []
        #: what the chunk in ``_pending`` took from the budget for large reads
        self._taken = 0
        self._name = (filename, fwc.file.content_type)
        #: the range's length (see :class:`~s3node.gateway.upload.ByteSource`)
        self.size_hint: int | None = r.length
        self.md5 = hashlib.md5()
        self.stopped = False

    async def start(self) -> tuple[str, str]:
        if self._fwc.inline is not None:
            self._pending = [await self._downloads.inline_bytes(self._fwc, self._r)]
        return self._name

    async def read(self) -> bytes:
        while not self._pending:
            self.release()  # the chunk read last is all handed out
            if self.stopped:
                raise ShuttingDown("the gateway stopped the copy")
            if self._next == len(self._slices):
                return b""
            piece = self._slices[self._next]
            self._next += 1
            parts, self._taken = await self._downloads.fetch_held(self._chunks[piece.index], piece)
            self._pending = list(parts)
        data = self._pending.pop(0)
        self.md5.update(data)
        return data

    def stop(self) -> None:
        self.stopped = True

    def release(self) -> None:
        """Let go of the chunk read last (what it took from the budget for large reads)."""
        self._pending = []
        taken, self._taken = self._taken, 0
        self._downloads.give_back(taken)


async def _copy_bytes(files: FileService, fwc: FileWithChunks, r: ByteRange, upload_id: str,
                      part_number: int, filename: str) -> str:
    source = _RangeSource(files.downloads, fwc, r, filename)
    work = files.store_part(source, upload_id=upload_id, part_number=part_number,
                            etag=lambda: source.md5.hexdigest(), abort=source.stop)

    def released(result: object) -> object:  # however the copy ended, even after its request
        source.release()
        return result

    await work.addBoth(released)
    return source.md5.hexdigest()
