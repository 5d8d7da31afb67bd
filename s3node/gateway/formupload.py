"""
The REST upload body: the ``file`` part of a ``multipart/form-data`` request
as a :class:`~s3node.gateway.upload.ByteSource`.

This is the REST adapter's half of an upload: the multipart parsing that
``POST /files`` needs and no other front end does.  :meth:`FormFileSource.start`
reads the body until the ``file`` part's headers are in (its filename and
content type name the file); :meth:`FormFileSource.read` then yields the
part's bytes and, once the part ends, reads the rest of the body to its
closing boundary before it returns ``b""``, so a malformed envelope fails the
upload before the file completes.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.logger import Logger

from s3node.errors import MissingFilename, MissingFilePart, TooLarge
from s3node.gateway.headers import clean_content_type, clean_filename
from s3node.gateway.multipart import Event, MultipartReader, PartData, PartEnd, PartStart
from s3node.gateway.streaming import BodyStream

__all__ = ["ENVELOPE", "FILE_FIELD", "FormFileSource", "body_length", "check_declared_length"]

log = Logger()

#: multipart envelope (boundaries, part headers, small fields) allowed beyond max_file_size
ENVELOPE = 64 * 1024
#: the field that carries the file
FILE_FIELD = "file"


def body_length(request: Any) -> int | None:
    """A request's declared ``Content-Length``; ``None`` without one (a chunked body)."""
    length = request.getHeader(b"content-length")
    return int(length) if length and length.isdigit() else None


def check_declared_length(length: int | None, max_file_size: int) -> None:
    """Refuse a declared Content-Length that can't fit the limit (before the body is read)."""
    if length is not None and length > max_file_size + ENVELOPE:
        raise TooLarge(
            f"the request body ({length} bytes) exceeds the limit of "
            f"{max_file_size} bytes per file"
        )


class FormFileSource:
    """The ``file`` part of one multipart request body, read as it arrives."""

    def __init__(self, body: BodyStream, content_type: bytes | None, *,
                 max_file_size: int, body_length: int | None = None) -> None:
        self._body = body
        #: the request body's declared length: the file is a little shorter
        self.size_hint = body_length
        self._reader = MultipartReader(content_type)
        self._max_file_size = max_file_size
        self._limit = max_file_size + ENVELOPE
        #: events parsed but not yet taken
        self._pending: deque[Event] = deque()
        #: the file part has started, and has not ended
        self._in_file = False

    async def _events(self) -> bool:
        """Parse the next body bytes into ``_pending``; ``False`` at the end of the body."""
        data = await self._body.read()
        if not data:
            self._reader.close()
            return False
        if self._body.received > self._limit:
            raise TooLarge(f"the request body exceeds {self._max_file_size} bytes")
        self._pending.extend(self._reader.feed(data))
        return True

    async def start(self) -> tuple[str, str]:
        """
        Read up to the ``file`` part's headers; its cleaned filename and content type.

        :raises MissingFilePart: the body ended without a ``file`` part.
        """
        while True:
            while self._pending:
                event = self._pending.popleft()
                if isinstance(event, PartStart) and event.name == FILE_FIELD:
                    self._in_file = True
                    return _filename_of(event), clean_content_type(event.content_type)
            if not await self._events():
                raise MissingFilePart("the multipart body has no part named 'file'")

    async def read(self) -> bytes:
        """The file part's next bytes; ``b""`` once the whole body has been read and is valid."""
        while True:
            if self._in_file:
                data = self._take_file_data()
                if data:
                    return data
            else:
                self._pending.clear()  # parts after the file are ignored
            if not await self._events():
                return b""

    def _take_file_data(self) -> bytes:
        """The file bytes among the pending events (``b""`` if none), up to the part's end."""
        out: list[bytes] = []
        while self._pending:
            event = self._pending.popleft()
            if isinstance(event, PartData):
                out.append(event.data)
            elif isinstance(event, PartEnd):
                self._in_file = False
                self._pending.clear()
                break
        return out[0] if len(out) == 1 else b"".join(out)


def _filename_of(part: PartStart) -> str:
    """The cleaned filename of the ``file`` part, or :class:`MissingFilename`."""
    if part.filename is None:
        raise MissingFilename(
            "the 'file' part has no filename parameter: send the file as a file"
            " (curl -F file=@PATH, or a filename in its Content-Disposition)")
    filename = clean_filename(part.filename)
    if not filename:
        raise MissingFilename(
            f"the filename {part.filename[:100]!r} is empty once control characters"
            " and directory parts are removed")
    return filename
