"""
What an upload is given: its bytes (:class:`ByteSource`), what completes it
(:data:`Completer`) and the settings every upload shares
(:class:`UploadSettings`), and the bounds on an upload's memory
(:data:`IN_FLIGHT`, :data:`PIPELINING_BUDGET`, :data:`LARGE_UPLOADS`); the
pipeline that uses them is :mod:`s3node.gateway.upload`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["IN_FLIGHT", "LARGE_UPLOADS", "PIPELINING_BUDGET", "ByteSource", "Completer",
           "UploadSettings"]

T = TypeVar("T")

#: chunks holding memory at once, per upload: being filled past ``SMALL`` or being written
#: (three since 2026-12-01: one filling while two are written, docs/performance.md)
IN_FLIGHT = 3
#: bytes of chunk buffers out in the gateway past which an upload no longer fills a chunk
#: while another of its own is being written (each still has one): 8 concurrent uploads
#: of 8 MiB chunks hold 64 MiB instead of 192 (docs/performance.md)
PIPELINING_BUDGET = 64 * 1024 * 1024
#: uploads at once that get :attr:`UploadSettings.large_chunk_size` chunks; the
#: ones that start while this many run get the usual chunk size
#: (docs/gateway.md, "Large chunks for large objects")
LARGE_UPLOADS = 2


class ByteSource(Protocol):
    """The bytes of one object, read as they arrive, and what to name it."""

    #: the object's size as its request declares it, or an upper bound of it (a
    #: form upload's whole body); ``None`` when the request does not say
    size_hint: int | None

    async def start(self) -> tuple[str, str]:
        """
        The object's filename and content type, cleaned (the REST adapter
        reads its body up to the ``file`` part's headers to know them).
        Called once, before :meth:`read`.
        """

    async def read(self) -> bytes | memoryview:
        """
        The next bytes; ``b""`` once the source is complete and valid (a
        source that turns out malformed or cut short raises instead, and the
        upload fails).  The pipeline copies them into their chunk at once
        and keeps no reference to them.
        """


#: makes a file whose chunks all have their replicas complete (``complete_file``,
#: or ``complete_object``, which also names it), called with the keywords
#: ``file_id``, ``size``, ``checksum``, ``replicas`` and ``stored``, and
#: ``inline`` for a file kept inline (only for uploads stored with ``inline=True``)
Completer = Callable[..., Awaitable[T]]


@dataclass(frozen=True)
class UploadSettings:
    """What every upload needs to know."""

    chunk_size: int
    replicas: int
    max_file_size: int
    #: seconds between ``touch_file`` calls while body bytes arrive; a quarter
    #: of the gateway's ``stale_after``, so a slow upload is never taken as stale
    touch_interval: float
    #: an object of 1 to this many bytes, stored whole (not a part), is kept in
    #: its file's metadata row instead of a chunk (0: never; docs/durability.md)
    inline_max_size: int = 0
    #: the chunk size of an upload whose source declares at least
    #: ``large_object_size`` bytes, while fewer than ``LARGE_UPLOADS`` such
    #: uploads run (0: never; docs/gateway.md, "Large chunks for large objects")
    large_chunk_size: int = 0
    large_object_size: int = 0
