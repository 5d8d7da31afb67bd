"""
Quarantine entries: how they are named, listed a page at a time and dropped,
the same way in every chunk store.

A store quarantines a chunk that fails verification instead of deleting it
(``docs/storage-node.md``).  Each quarantining makes one entry, named
``<chunk id>.<nanoseconds since the epoch>`` (a chunk id can be quarantined
more than once: broken, stored again, broken again).  Clients list the
entries (``ListQuarantined``) to learn of rot the node found by itself, and
drop an entry (``DropQuarantined``) once they have dealt with it.

:class:`QuarantineStore` is what the disk, memory and remote stores offer on
top of :class:`s3node.interfaces.ChunkStore`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from s3node.errors import InvalidRequest
from s3node.interfaces import ChunkStore
from s3node.storage.types import QuarantinePage

__all__ = [
    "QuarantineStore",
    "check_entry_id",
    "entry_id",
    "entry_time",
    "is_entry_id",
    "page_ids",
]

_ENTRY_ID = re.compile(r"^(?P<chunk_id>[0-9a-f]{32,64})\.(?P<ns>[0-9]{1,20})$")


class QuarantineStore(ChunkStore, Protocol):
    """A :class:`s3node.interfaces.ChunkStore` that reports its quarantined chunks."""

    async def list_quarantined(self, *, after: str = "", limit: int = 0) -> QuarantinePage:
        """
        Up to ``limit`` (0: the default) quarantine entries whose id is greater
        than ``after``, ascending by entry id.
        """

    async def drop_quarantined(self, entry_id: str) -> bool:
        """Remove a quarantine entry for good; ``False`` when there was none."""


def entry_id(chunk_id: str, ns: int) -> str:
    """The id of the entry made by quarantining ``chunk_id`` at ``ns`` (epoch nanoseconds)."""
    return f"{chunk_id}.{ns}"


def is_entry_id(name: str) -> bool:
    """Whether ``name`` is a well-formed entry id."""
    return _ENTRY_ID.match(name) is not None


def check_entry_id(text: object) -> tuple[str, int]:
    """
    Check a quarantine entry id.

    :return: the chunk id and the epoch nanoseconds it names.
    :raises s3node.errors.InvalidRequest: when it is not ``<chunk id>.<digits>``.
    """
    m = _ENTRY_ID.match(text) if isinstance(text, str) else None
    if m is None:
        shown = repr(text[:100]) if isinstance(text, str) else f"a {type(text).__name__}"
        raise InvalidRequest(f"invalid quarantine entry id {shown}: expected <chunk id>.<digits>")
    return m.group("chunk_id"), int(m.group("ns"))


def entry_time(ns: int) -> datetime:
    """When an entry was made, from its epoch nanoseconds (UTC, to the microsecond)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)


def page_ids(entry_ids: Iterable[str], after: str, limit: int) -> tuple[list[str], str]:
    """
    The entry ids (given in any order) greater than ``after``, ascending, at
    most ``limit`` of them, and the token of the next page (``""``: none).
    """
    ordered = sorted(i for i in entry_ids if i > after)
    page = ordered[:limit]
    return page, page[-1] if len(ordered) > limit else ""
