"""
The seams pluggy plugins fill: checksum algorithms and placement strategies
(see :mod:`s3node.hookspecs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from s3node.records import (
    PlacementNode,
)


@runtime_checkable
class Checksum(Protocol):
    """A streaming hasher shaped like :mod:`hashlib` objects."""

    #: the algorithm's registered name, stored beside every digest
    name: str

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        """Feed more bytes (any bytes-like object, as docs/plugins.md says)."""

    def digest(self) -> bytes:
        """The digest of everything fed so far."""

    def hexdigest(self) -> str:
        """:meth:`digest` as lowercase hex."""

    def copy(self) -> Checksum:
        """An independent hasher in the same state."""


class ChecksumAlgorithm(Protocol):
    """A named factory of :class:`Checksum` objects."""

    name: str

    def __call__(self) -> Checksum:
        """A new, empty hasher."""


class PlacementStrategy(Protocol):
    """Chooses which storage nodes hold a chunk."""

    name: str

    def preference_list(self, key: str, nodes: Sequence[PlacementNode]) -> list[str]:
        """
        Order the ids of ``nodes`` for the chunk ``key``.

        The first R ids are the replica homes, the rest are handoffs in the
        order they should be tried.  The result is a deterministic function of
        ``key`` and the ids, weights and zones of ``nodes``.
        """
