"""
Header values built from user input: Content-Disposition and Content-Type;
and the length headers of a whole or ranged response.

Nothing a client uploads can break a response header or mislead whoever
reads a filename: control and format characters (bidirectional overrides)
and directory parts are removed (:func:`clean_filename`, on the way in and
again on the way out), quotes and backslashes are escaped or replaced, and
non-ASCII filenames travel in RFC 6266 / RFC 8187 ``filename*=UTF-8''...``
form beside an ASCII fallback.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

from s3node.core.ranges import (
    ByteRange,
    content_range,
    parse_range_header,
    unsatisfied_content_range,
)
from s3node.errors import InvalidRange

__all__ = ["clean_content_type", "clean_filename", "content_disposition", "range_of"]

#: a filename longer than this (in characters) is cut
MAX_FILENAME = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*$"
)


#: Unicode categories removed from filenames: controls (Cc), format characters
#: (Cf: bidirectional overrides such as U+202E, zero-width spaces), line and
#: paragraph separators, surrogates, unassigned code points
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})
#: format characters that words need (Persian, emoji sequences): kept
_JOINERS = frozenset({"\u200c", "\u200d"})


def _safe_char(c: str) -> bool:
    return c in _JOINERS or unicodedata.category(c) not in _UNSAFE_CATEGORIES


def clean_filename(name: str | None) -> str:
    """
    The filename to store for an upload, neutralised: control and format
    characters (bidirectional overrides, zero-width characters; not the
    joiners U+200C/U+200D) are removed, only the last segment of a path-like
    name is kept (after the last ``/`` or ``\\``; ``.`` and ``..`` become
    empty), surrounding whitespace is stripped, and the result is cut to
    :data:`MAX_FILENAME` characters.  It is only ever shown back in headers
    and JSON, never used as a path.
    """
    if not name:
        return ""
    text = "".join(c for c in name if _safe_char(c))
    text = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if text in (".", ".."):
        return ""
    return text[:MAX_FILENAME]


def clean_content_type(value: str | None) -> str:
    """A well-formed media type from the upload, else ``application/octet-stream``."""
    if value is None:
        return DEFAULT_CONTENT_TYPE
    value = value.strip()
    if len(value) > 255 or not _MEDIA_TYPE.match(value):
        return DEFAULT_CONTENT_TYPE
    return value


def _ascii_fallback(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = _CONTROL.sub("", folded).replace("\\", "_").replace('"', "_")
    return folded.strip() or "download"


def content_disposition(filename: str) -> str:
    """
    ``attachment`` with ``filename="..."`` (ASCII, quotes and backslashes
    replaced) and, when the name is not plain ASCII, ``filename*=UTF-8''...``.
    """
    name = clean_filename(filename) or "download"
    fallback = _ascii_fallback(name)
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += "; filename*=UTF-8''" + quote(name, safe="!#$&+-.^_`|~")
    return header


def range_of(request: Any, header: str | None, size: int) -> ByteRange | None:
    """
    The byte range a ``Range`` header asks of ``size`` bytes (``None``: all of
    them), with the response's status and length headers set to match: ``206``
    and ``Content-Range`` for a range, ``Content-Length`` either way.

    :raises InvalidRange: the range cannot be satisfied (``Content-Range:
        bytes */size`` is set for the 416).
    """
    try:
        r = parse_range_header(header, size)
    except InvalidRange:
        request.setHeader(b"content-range", unsatisfied_content_range(size).encode())
        raise
    if r is None:
        request.setHeader(b"content-length", str(size).encode())
    else:
        request.setResponseCode(206)
        request.setHeader(b"content-range", content_range(r, size).encode())
        request.setHeader(b"content-length", str(r.length).encode())
    return r
