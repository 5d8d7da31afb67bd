"""
:class:`Fence`: how the gateway's lease-holding background workers keep out
of each other's way.
"""

from __future__ import annotations

from twisted.internet.defer import DeferredLock

__all__ = ["Fence"]


class Fence:
    """
    What the lease-holding workers tell each other so that they don't undo
    each other's work (they run in the same gateway, interleaved).

    Repair writes fresh copies that the reconciler must not judge by what it
    saw before they landed: a chunk being copied, or copied since a
    reconciler pass over a node began, is left for that node's next pass.
    And the reconciler's reading of a node's quarantine and repair's clearing
    of it before a fresh copy are serialised by :attr:`quarantine`.
    """

    #: entries kept this many seconds after the last copy (a pass takes less)
    KEEP = 3600.0

    def __init__(self) -> None:
        self.quarantine = DeferredLock()
        self._copying: dict[str, int] = {}
        self._copied: dict[str, float] = {}

    def copying(self, chunk_id: str, now: float) -> None:
        """A copy of ``chunk_id`` begins."""
        self._copying[chunk_id] = self._copying.get(chunk_id, 0) + 1
        self._copied[chunk_id] = now

    def copied(self, chunk_id: str, now: float) -> None:
        """A copy of ``chunk_id`` ended (landed or not)."""
        left = self._copying.get(chunk_id, 1) - 1
        if left:
            self._copying[chunk_id] = left
        else:
            self._copying.pop(chunk_id, None)
        self._copied[chunk_id] = now
        if len(self._copied) > 10_000:
            self._copied = {k: t for k, t in self._copied.items() if now - t < self.KEEP}

    def busy(self, chunk_id: str, since: float) -> bool:
        """Whether ``chunk_id`` is being copied, or was since ``since``."""
        return chunk_id in self._copying or self._copied.get(chunk_id, -1.0) >= since

