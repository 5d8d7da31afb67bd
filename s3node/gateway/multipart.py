"""
Incremental ``multipart/form-data`` parsing over :mod:`python_multipart`.

:class:`MultipartReader` is sans-I/O: :meth:`~MultipartReader.feed` takes body
bytes as they arrive and returns the events they complete, in order.  Part data
is never accumulated here; header blocks are bounded.

python_multipart reports what it skips through :mod:`logging` at warning
level, once per odd byte sequence: left alone, one hostile body writes
hundreds of lines to standard error (which twistd logs as errors).  Every
parser here logs to :data:`QUIET`, a logger that keeps nothing; what matters
reaches the client as :class:`~s3node.errors.MalformedMultipart`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from s3node.errors import MalformedMultipart

__all__ = ["MultipartReader", "PartData", "PartEnd", "PartStart"]

#: the largest header block accepted for one part (a longer filename is cut
#: to :data:`s3node.gateway.headers.MAX_FILENAME` characters when stored)
MAX_PART_HEADERS = 16 * 1024
#: the most header lines one part may have
MAX_PART_HEADER_COUNT = 16

#: where the parsers' own complaints go: nowhere (see the module docstring)
QUIET = logging.getLogger("s3node.gateway.multipart.parser")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
QUIET.setLevel(logging.CRITICAL + 1)  # not even a record is made


@dataclass(frozen=True)
class PartStart:
    """A part's headers are complete."""

    #: the form field name (``name`` of Content-Disposition)
    name: str
    #: ``None`` when the part has no ``filename`` parameter
    filename: str | None
    #: the part's Content-Type header, or ``None``
    content_type: str | None


@dataclass(frozen=True)
class PartData:
    """Some bytes of the current part's body."""

    data: bytes


@dataclass(frozen=True)
class PartEnd:
    """The current part is complete."""


Event = PartStart | PartData | PartEnd


def boundary_from(content_type: bytes | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type, or :class:`MalformedMultipart`."""
    kind, params = parse_options_header(content_type or b"")
    if kind != b"multipart/form-data":
        raise MalformedMultipart("the body must be multipart/form-data with a 'file' part")
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise MalformedMultipart("multipart/form-data needs a boundary of 1 to 200 characters")
    return boundary


def _text(value: bytes) -> str:
    # Browsers and curl send UTF-8 in form-data headers (RFC 7578 section 4.2).
    return value.decode("utf-8", errors="replace")


class MultipartReader:
    """Parse one multipart/form-data body incrementally."""

    def __init__(self, content_type: bytes | None) -> None:
        self._events: list[Event] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = b""
        self._value = b""
        self._header_bytes = 0
        #: True once the closing boundary was seen
        self.ended = False
        self._parser = MultipartParser(
            boundary_from(content_type),
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
            max_header_count=MAX_PART_HEADER_COUNT,
            max_header_size=MAX_PART_HEADERS,
        )
        self._parser.logger = QUIET

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``; return the events it completes."""
        if self.ended:
            return []  # the epilogue after the closing boundary is ignored
        try:
            self._parser.write(data)
        except MultipartParseError as e:
            raise MalformedMultipart(f"malformed multipart body: {e}") from None
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """The body ended: raise :class:`MalformedMultipart` unless the closing boundary was seen."""
        if not self.ended:
            raise MalformedMultipart("the multipart body ended before its closing boundary")

    def _grow(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_PART_HEADERS:
            raise MultipartParseError(f"a part's headers exceed {MAX_PART_HEADERS} bytes")

    def _part_begin(self) -> None:
        self._headers = []
        self._header_bytes = 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers.append((self._field.strip().lower(), self._value.strip()))
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        headers = dict(self._headers)
        disposition, params = parse_options_header(headers.get(b"content-disposition", b""))
        if disposition != b"form-data":
            raise MultipartParseError("a part without Content-Disposition: form-data")
        filename = params.get(b"filename")
        ctype = headers.get(b"content-type")
        self._events.append(
            PartStart(
                name=_text(params.get(b"name", b"")),
                filename=None if filename is None else _text(filename),
                content_type=None if ctype is None else _text(ctype),
            )
        )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(PartData(data[start:end]))

    def _part_end(self) -> None:
        self._events.append(PartEnd())

    def _end(self) -> None:
        self.ended = True
