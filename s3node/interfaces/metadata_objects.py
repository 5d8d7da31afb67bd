"""
The metadata store's seam, part ObjectMetadata: the S3 namespace: buckets,
objects, copies and multipart uploads (docs/s3.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from s3node.records import (
    BucketRecord,
    MultipartUpload,
    ObjectPage,
    ObjectPut,
    ObjectRecord,
    PartRecord,
    PartSpan,
    UploadPage,
)


class ObjectMetadata(Protocol):
    """
    The S3 namespace's metadata.

    Part of :class:`s3node.interfaces.metadata.MetadataStore`; see there for
    the errors every method may raise.
    """

    async def create_bucket(self, name: str) -> BucketRecord:
        """
        Create an empty bucket.

        :raises s3node.errors.BucketExists: a bucket has that name.
        """

    async def get_bucket(self, name: str) -> BucketRecord:
        """
        One bucket.

        :raises s3node.errors.BucketNotFound: no bucket has that name.
        """

    async def list_buckets(self) -> Sequence[BucketRecord]:
        """Every bucket, by name in byte order."""

    async def delete_bucket(self, name: str) -> Sequence[uuid.UUID]:
        """
        Remove a bucket that names no object, in one transaction with the
        emptiness check.  Multipart uploads under way in it are aborted in the
        same transaction (as S3 does): their parts' files move to deleting.

        :returns: the files of those parts, for the sweeper.
        :raises s3node.errors.BucketNotFound: no bucket has that name.
        :raises s3node.errors.BucketNotEmpty: it still names an object.
        """

    async def complete_object(
        self,
        *,
        file_id: uuid.UUID,
        size: int,
        checksum: str,
        replicas: int,
        bucket: str,
        key: str,
        etag: str,
        headers: Sequence[tuple[str, str]] = (),
        if_match: str | None = None,
        if_none_match: bool = False,
        stored: Sequence[tuple[int, str]] = (),
        inline: bytes | None = None,
    ) -> ObjectPut:
        """
        In one transaction: complete the file as :meth:`complete_file` does
        (``stored`` and ``inline`` included: an inline object's bytes are
        then read back with ``get_file_with_chunks``), and make ``bucket``/``key`` name it.  The file
        the key named before, if any, moves to ``deleting`` (the sweeper
        removes its chunks) and is returned as ``replaced``: readers see the old object or the new one,
        never neither.  A conditional write is decided in the same
        transaction: ``if_none_match`` only while the key names nothing,
        ``if_match`` only while it names an object with that ETag.

        :raises s3node.errors.BucketNotFound: the bucket does not exist
            (deleted meanwhile); nothing changes, the file stays ``uploading``.
        :raises s3node.errors.PreconditionFailed: the condition does not
            hold; nothing changes.
        :raises s3node.errors.InvalidRequest: ``inline`` given for a file
            with chunks, or not ``size`` bytes long; nothing changes.
        """

    async def get_object(self, bucket: str, key: str) -> ObjectRecord:
        """
        The object ``key`` names in ``bucket``.

        :raises s3node.errors.BucketNotFound: no such bucket.
        :raises s3node.errors.ObjectNotFound: the bucket has no such key.
        """

    async def delete_object(self, bucket: str, key: str) -> uuid.UUID | None:
        """
        Unname ``key`` and move its file to ``deleting``, in one transaction;
        return the file's id, or ``None`` when the key named nothing.

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str | None = None,
        limit: int,
    ) -> ObjectPage:
        """
        Up to ``limit`` entries of ``bucket`` in byte order of their keys:
        objects whose key starts with ``prefix`` and is greater than
        ``after``; with a ``delimiter``, keys that hold it after the prefix
        roll up into one common prefix each (prefix + ... + delimiter).
        ``after`` equal to (or inside) a common prefix skips that whole
        prefix.  Every query seeks the ``(bucket, key)`` index, so a deep
        page costs what the first does.

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def create_multipart(self, bucket: str, key: str, *, content_type: str,
                               headers: Sequence[tuple[str, str]] = ()) -> MultipartUpload:
        """
        Begin a multipart upload of ``bucket``/``key`` with a new random id.

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def get_multipart(self, upload_id: str) -> MultipartUpload:
        """
        A multipart upload under way.

        :raises s3node.errors.UploadNotFound: none has that id (any more).
        """

    async def copy_object(
        self,
        *,
        source: uuid.UUID,
        bucket: str,
        key: str,
        etag: str,
        headers: Sequence[tuple[str, str]],
        content_type: str,
        filename: str,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectPut:
        """
        In one transaction: make a new completed file whose chunk and replica
        rows are those of ``source`` (a ``completed`` file; its chunks are
        shared, no byte moves) and name it ``bucket``/``key`` as
        :meth:`complete_object` does.  The inline content of an inline
        ``source`` is copied into the new file's row.

        :raises s3node.errors.FileNotFound: ``source`` is no longer completed
            (deleted or replaced meanwhile).
        :raises s3node.errors.BucketNotFound: no such bucket.
        :raises s3node.errors.PreconditionFailed: the write's condition fails.
        """

    async def copy_part(
        self,
        *,
        source: uuid.UUID,
        first: int,
        count: int,
        upload_id: str,
        part_number: int,
        etag: str,
        filename: str,
    ) -> uuid.UUID | None:
        """
        In one transaction: make a new completed file of chunks ``first`` to
        ``first + count - 1`` of ``source`` (shared, re-indexed from 0) and
        record it as part ``part_number`` of an upload, as
        :meth:`complete_part` does (the part it replaces is returned).

        :raises s3node.errors.FileNotFound: ``source`` is no longer completed.
        :raises s3node.errors.UploadNotFound: no such upload.
        :raises s3node.errors.InvalidRequest: the chunks are not in ``source``,
            or ``source`` is inline (an inline object's bytes are copied, not
            shared); nothing changes.
        """

    async def complete_part(
        self,
        *,
        file_id: uuid.UUID,
        size: int,
        checksum: str,
        replicas: int,
        upload_id: str,
        part_number: int,
        etag: str,
        part_checksum: tuple[str, str] | None = None,
        stored: Sequence[tuple[int, str]] = (),
    ) -> uuid.UUID | None:
        """
        In one transaction: complete a part's file as :meth:`complete_file`
        does (``stored`` included) and record it as part ``part_number``; a
        part uploaded before under that number moves to ``deleting``, and its
        file id is returned.

        :raises s3node.errors.UploadNotFound: the upload was completed or
            aborted meanwhile; nothing changes.
        """

    async def list_parts(self, upload_id: str, *, after: int = 0,
                         limit: int) -> Sequence[PartRecord]:
        """
        Up to ``limit`` parts numbered above ``after``, in number order.

        :raises s3node.errors.UploadNotFound: no such upload.
        """

    async def list_multipart(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                             after: str | None = None, after_upload: str | None = None,
                             limit: int) -> UploadPage:
        """
        Up to ``limit`` entries of the uploads under way in ``bucket`` whose key
        starts with ``prefix``, by key then upload id (ids begin with their
        creation time, so a key's uploads come oldest first): uploads of keys
        above ``after`` (and, given ``after_upload``, the uploads of ``after``
        itself whose id is above it); with a ``delimiter``, keys that hold it
        after the prefix roll up into one common prefix each, and ``after``
        equal to (or inside) one skips it, as :meth:`list_objects` does.  Every
        query seeks the ``(bucket, key, id)`` index (keyset pagination).

        :raises s3node.errors.BucketNotFound: no such bucket.
        """

    async def object_part(self, file_id: uuid.UUID,
                          part_number: int) -> tuple[int, PartSpan | None]:
        """
        How many parts the multipart object held by ``file_id`` was completed
        from, and where part ``part_number`` (the number it was uploaded
        under) lies in it, or ``None`` when it has no such part.  A file that
        no multipart completion made (or one completed before schema version
        7) has no parts: ``(0, None)``.  A copy that shares a multipart
        object's chunks has its parts.
        """

    async def complete_multipart(
        self,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        min_part_size: int,
        if_match: str | None = None,
        if_none_match: bool = False,
        headers: Sequence[tuple[str, str]] | None = None,
    ) -> ObjectPut:
        """
        In one transaction: check ``parts`` (``(number, etag)`` in ascending
        order) against the uploaded ones, make one new completed file whose
        chunks are the listed parts' chunks in order (the chunk and replica
        rows move; no byte is copied, and chunks may differ in size), name the
        upload's key with it (the object before moves to ``deleting``), move
        the parts uploaded but not listed to ``deleting``, and end the upload.
        The ETag is ``md5(part md5s)-N``; the file's checksum is the SHA-256
        of the parts' digests in order, under the algorithm ``ALG-parts``.
        The object's stored headers are ``headers``, or the upload's when ``None``.

        :raises s3node.errors.UploadNotFound: no such upload.
        :raises s3node.errors.InvalidPart: a listed part was not uploaded, or
            has another ETag.
        :raises s3node.errors.PartTooSmall: a part but the last is smaller
            than ``min_part_size``.
        :raises s3node.errors.PreconditionFailed: a conditional completion
            whose condition does not hold.
        """

    async def abort_multipart(self, upload_id: str) -> Sequence[uuid.UUID]:
        """
        End an upload without an object: its parts' files move to
        ``deleting``; return their ids.

        :raises s3node.errors.UploadNotFound: no such upload.
        """

    async def expired_multipart(self, *, before: datetime, limit: int) -> Sequence[str]:
        """The ids of up to ``limit`` uploads begun before ``before``, oldest first."""
