"""
Chunk ids: the names storage nodes keep chunks under.

A chunk id is 32 to 64 lowercase ASCII hexadecimal characters and nothing
else, so it is safe to use as a file name (no separators, no dots, no NUL, no
look-alike unicode digits).  Every edge that receives a chunk id from outside
passes it through :func:`validate_chunk_id` before touching a disk or a
database.
"""

from __future__ import annotations

import re
import secrets

from s3node.errors import InvalidChunkId

__all__ = [
    "CHUNK_ID_MAX_LENGTH",
    "CHUNK_ID_MIN_LENGTH",
    "CHUNK_ID_PATTERN",
    "new_chunk_id",
    "validate_chunk_id",
]

#: the shortest valid chunk id (128 bits as hex)
CHUNK_ID_MIN_LENGTH = 32
#: the longest valid chunk id (256 bits as hex, e.g. a SHA-256 content address)
CHUNK_ID_MAX_LENGTH = 64
#: the syntax of a chunk id, for documentation and other languages
CHUNK_ID_PATTERN = r"^[0-9a-f]{32,64}$"

# fullmatch, not match: ``$`` alone would accept a trailing newline.  The class
# [0-9a-f] is literal ASCII, so unicode digits such as "٣" never match.
_CHUNK_ID_RE = re.compile(r"[0-9a-f]{32,64}")

#: how much of a rejected value an error message quotes
_SHOWN = 40


def _describe(value: object) -> str:
    """A short, safe description of ``value`` for an error message."""
    if isinstance(value, str):
        if len(value) > _SHOWN:
            return f"{value[:_SHOWN]!r}... ({len(value)} characters)"
        return repr(value)
    return f"a {type(value).__name__}"


def validate_chunk_id(text: object) -> str:
    """
    Return ``text`` if it is a valid chunk id.

    :param text: the candidate, usually straight from a request
    :raises s3node.errors.InvalidChunkId: when ``text`` is not a ``str`` of 32
        to 64 lowercase ASCII hex digits; the message quotes at most the first
        40 characters of the value, via :func:`repr`, so control characters
        cannot reach a log line raw.
    """
    if isinstance(text, str) and _CHUNK_ID_RE.fullmatch(text) is not None:
        return text
    raise InvalidChunkId(
        f"invalid chunk id {_describe(text)}: expected {CHUNK_ID_MIN_LENGTH} to "
        f"{CHUNK_ID_MAX_LENGTH} lowercase hexadecimal characters"
    )


def new_chunk_id() -> str:
    """A fresh random chunk id: 32 lowercase hex characters (128 random bits)."""
    return secrets.token_hex(CHUNK_ID_MIN_LENGTH // 2)
