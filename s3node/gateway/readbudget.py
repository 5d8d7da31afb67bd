"""
The memory that reads of large chunks may hold at once, gateway-wide.

A download holds each chunk it reads whole until it is verified and sent
(docs/gateway.md, "Memory per transfer"), so ``--max-downloads`` bounds a
gateway's download memory only while every chunk is of the usual size.  A
file uploaded with large chunks (docs/gateway.md, "Large chunks for large
objects") would hold four times as much per read.  So a read of a chunk
larger than the usual chunk size first takes its bytes from a
:class:`ByteBudget` shared by every download and copy of the gateway, and
gives them back once the chunk has been written out; reads past the budget
wait their turn, first come first served.  Chunks of the usual size never
wait.
"""

from __future__ import annotations

from collections import deque

from twisted.internet.defer import CancelledError, Deferred, succeed

__all__ = ["LARGE_READS", "ByteBudget", "large_read_budget"]

#: large chunks held by reads at once, gateway-wide
LARGE_READS = 4


class ByteBudget:
    """
    At most ``total`` bytes taken at once; a :meth:`take` past it waits until
    enough is given back, in the order the takes came.  A take of more than
    ``total`` takes all of it (it waits until nothing else is taken).
    """

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError(f"a byte budget needs at least 1 byte, not {total!r}")
        self.total = total
        #: bytes taken and not given back
        self.taken = 0
        self._waiting: deque[tuple[int, Deferred[None]]] = deque()

    @property
    def waiting(self) -> int:
        """How many takes wait."""
        return len(self._waiting)

    def take(self, size: int) -> Deferred[None]:
        """
        Fires once ``size`` bytes (at most ``total``) are taken; cancelling it
        while it waits takes nothing.
        """
        size = min(size, self.total)
        if not self._waiting and self.taken + size <= self.total:
            self.taken += size
            return succeed(None)
        d: Deferred[None] = Deferred(self._cancel)
        self._waiting.append((size, d))
        return d

    def give(self, size: int) -> None:
        """Give back ``size`` bytes taken with :meth:`take` (the same ``size``)."""
        self.taken -= min(size, self.total)
        self._admit()

    def _cancel(self, d: Deferred[None]) -> None:
        self._waiting = deque(w for w in self._waiting if w[1] is not d)
        d.errback(CancelledError())
        self._admit()  # the head may have been the one in the way

    def _admit(self) -> None:
        while self._waiting and self.taken + self._waiting[0][0] <= self.total:
            size, d = self._waiting.popleft()
            self.taken += size
            d.callback(None)


def large_read_budget(chunk_size: int, large_chunk_size: int) -> ByteBudget:
    """The budget for :data:`LARGE_READS` chunks of the larger of the two sizes."""
    return ByteBudget(LARGE_READS * max(chunk_size, large_chunk_size))
