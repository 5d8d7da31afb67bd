"""
The listing walk every metadata store shares: ListObjects' and
ListMultipartUploads' pages over a backend's indexed range query.

Pure code, no I/O: a backend passes ``fetch``, its range query on the
``(bucket, key)`` index (objects) or ``(bucket, key, id)`` index (uploads),
and the walk decides the bounds.  A page costs one query, plus one per common
prefix that ends a batch, whatever the depth: keyset pagination, no offset.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from s3node.metadata._objects import check_key, check_listing, successor
from s3node.records import MultipartUpload, ObjectPage, ObjectRecord, UploadPage

__all__ = [
    "Bound",
    "check_upload_listing",
    "in_range",
    "list_page",
    "list_upload_page",
    "new_upload_id",
    "range_sql",
]


@dataclass(frozen=True)
class Bound:
    """
    Where a range query starts: keys above ``key`` (or equal, when
    ``inclusive``); with a ``tail``, also the entries of ``key`` itself whose
    id is above it (entries ordered by key, then id).
    """

    key: str
    inclusive: bool = False
    tail: str | None = None


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


T = TypeVar("T", bound=_Keyed)

#: ``fetch(lower, upper, n)``: up to ``n`` entries of one bucket from ``lower``
#: (all when ``None``) with keys below ``upper`` (no bound when ``None``), in order
Fetch = Callable[[Bound | None, str | None, int], Awaitable[Sequence[T]]]


def new_upload_id(micros: int) -> str:
    """
    A new multipart upload id: 32 hex digits, the creation time's microseconds
    (14 digits) then 72 random bits, so ids of one key sort oldest first.
    """
    return f"{micros:014x}"[-14:] + secrets.token_hex(9)


def check_upload_listing(bucket: object, prefix: object, delimiter: object, after: object,
                         after_upload: object, limit: object) -> None:
    """The arguments of an upload listing (``after_upload``: any key-like text, compared as is)."""
    check_listing(bucket, prefix, delimiter, after, limit)
    if after_upload is not None:
        check_key(after_upload, "listing's upload id marker")


def _group(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into, or ``None``."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[:at + len(delimiter)]


def _start(prefix: str, delimiter: str, after: str | None,
           tail: str | None) -> tuple[Bound | None, bool]:
    """The first query's bound, and whether nothing can follow ``after`` at all."""
    if after and after >= prefix:
        group = _group(after, prefix, delimiter) if after.startswith(prefix) else None
        if group is None:
            return Bound(after, tail=tail), False
        lower = successor(group)
        return (None, True) if lower is None else (Bound(lower, inclusive=True), False)
    return (Bound(prefix, inclusive=True) if prefix else None), False


async def _walk(fetch: Fetch[T], tail_of: Callable[[T], str | None], *, prefix: str,
                delimiter: str, after: str | None, after_tail: str | None, limit: int
                ) -> tuple[list[T], list[str], bool, T | str | None]:
    """
    Up to ``limit`` entries and common prefixes after ``after`` (and, for the
    entries of ``after`` itself, after ``after_tail``), whether more follow,
    and the last one.  Each query asks for what the page still needs plus
    one; a common prefix that swallows the rest of a batch is skipped with one
    seek past it (its :func:`successor`), never by reading its keys.
    """
    upper = successor(prefix) if prefix else None
    lower, done = _start(prefix, delimiter, after, after_tail)
    entries: list[T] = []
    prefixes: list[str] = []
    last: T | str | None = None
    if done:
        return entries, prefixes, False, last
    while True:
        want = limit - len(entries) - len(prefixes) + 1
        batch = await fetch(lower, upper, want)
        skip_to: str | None = None
        for record in batch:
            if skip_to is not None and record.key.startswith(skip_to):
                continue
            group = _group(record.key, prefix, delimiter)
            if len(entries) + len(prefixes) == limit:
                return entries, prefixes, True, last
            if group is None:
                entries.append(record)
                last = record
                skip_to = None
            else:
                prefixes.append(group)
                last = skip_to = group
        if len(batch) < want:
            return entries, prefixes, False, last
        if skip_to is not None:
            following = successor(skip_to)
            if following is None:
                return entries, prefixes, False, last
            lower = Bound(following, inclusive=True)
        else:
            lower = Bound(batch[-1].key, tail=tail_of(batch[-1]))


async def list_page(fetch: Fetch[ObjectRecord], *, prefix: str, delimiter: str,
                    after: str | None, limit: int) -> ObjectPage:
    """One page of a bucket's objects (``after``: a key or common prefix listed before)."""
    objects, prefixes, more, last = await _walk(
        fetch, lambda _: None, prefix=prefix, delimiter=delimiter, after=after,
        after_tail=None, limit=limit)
    return ObjectPage(tuple(objects), tuple(prefixes), more,
                      last if last is None or isinstance(last, str) else last.key)


async def list_upload_page(fetch: Fetch[MultipartUpload], *, prefix: str, delimiter: str,
                           after: str | None, after_upload: str | None,
                           limit: int) -> UploadPage:
    """
    One page of a bucket's uploads, by key then id: after the key ``after``
    (every upload of it), or, given ``after_upload``, after that upload of it.
    """
    uploads, prefixes, more, last = await _walk(
        fetch, lambda u: u.upload_id, prefix=prefix, delimiter=delimiter, after=after,
        after_tail=after_upload, limit=limit)
    if last is None or isinstance(last, str):
        return UploadPage(tuple(uploads), tuple(prefixes), more, last, None)
    return UploadPage(tuple(uploads), tuple(prefixes), more, last.key, last.upload_id)


def range_sql(lower: Bound | None, upper: str | None, *, mark: str,
              tail_column: str | None = None, column: str = "key"
              ) -> tuple[list[str], list[object]]:
    """
    The SQL conditions (and their arguments, ``mark`` the placeholder) of a
    range query from ``lower`` to ``upper`` on ``column`` (then ``tail_column``).
    """
    clauses: list[str] = []
    args: list[object] = []
    if lower is not None:
        if lower.tail is not None and tail_column is not None:
            clauses.append(f"({column}, {tail_column}) > ({mark}, {mark})")
            args += [lower.key, lower.tail]
        else:
            clauses.append(f"{column} {'>=' if lower.inclusive else '>'} {mark}")
            args.append(lower.key)
    if upper is not None:
        clauses.append(f"{column} < {mark}")
        args.append(upper)
    return clauses, args


def in_range(key: str, tail: str, lower: Bound | None, upper: str | None) -> bool:
    """Whether an entry lies in the range :func:`range_sql` selects (for the memory store)."""
    if upper is not None and key >= upper:
        return False
    if lower is None:
        return True
    if lower.tail is not None:
        return (key, tail) > (lower.key, lower.tail)
    return key >= lower.key if lower.inclusive else key > lower.key
