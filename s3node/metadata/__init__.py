"""
The metadata store: files, chunks, replicas and storage nodes.

:func:`open_metadata_store` picks the backend from the ``--db`` URL:
:class:`~s3node.metadata.sqlite.SQLiteMetadataStore`,
:class:`~s3node.metadata.postgres.PostgresMetadataStore` or
:class:`~s3node.metadata.memory.MemoryMetadataStore` (in memory; the test
fake of the layers above), all implementing
:class:`s3node.interfaces.MetadataStore` and passing one contract suite.
The records they read and write live in :mod:`s3node.records`, below every
layer.  :func:`check_condition` is the rule of conditional writes that the
stores decide in their transactions, for callers that check it early too.
"""

from s3node.metadata._objects import check_condition
from s3node.metadata.factory import open_metadata_store

__all__ = ["check_condition", "open_metadata_store"]
