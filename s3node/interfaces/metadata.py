"""
The metadata store's seam: :class:`MetadataStore`, made of one protocol per
concept (files, nodes, durability, the S3 namespace, access keys), and its
own life cycle.
"""

from __future__ import annotations

from typing import Protocol

from s3node.interfaces.metadata_durability import DurabilityMetadata
from s3node.interfaces.metadata_files import FileMetadata
from s3node.interfaces.metadata_keys import KeyMetadata
from s3node.interfaces.metadata_nodes import NodeMetadata
from s3node.interfaces.metadata_objects import ObjectMetadata


class MetadataStore(
    FileMetadata, NodeMetadata, DurabilityMetadata, ObjectMetadata, KeyMetadata, Protocol
):
    """
    Where files, chunks, replicas and storage nodes are recorded.

    Every method is a coroutine function.  A database that does not answer
    raises :class:`s3node.errors.MetadataUnavailable`; an unknown file raises
    :class:`s3node.errors.FileNotFound`.
    """

    async def migrate(self) -> int:
        """Apply the pending migrations; return the schema version reached."""

    async def ping(self) -> None:
        """Return when the database answers a trivial query."""

    async def close(self) -> None:
        """Release connections and threads."""
