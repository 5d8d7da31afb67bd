"""
The metadata store: files, chunks, replicas and storage nodes.

:func:`open_metadata_store` picks the backend from the ``--db`` URL:
:class:`~s3node.metadata.sqlite.SQLiteMetadataStore` or
:class:`~s3node.metadata.postgres.PostgresMetadataStore`, both implementing
:class:`s3node.interfaces.MetadataStore`.  Importing this package stays
cheap (no Twisted, no database driver) because :mod:`s3node.interfaces`
imports :mod:`s3node.metadata.model` through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3node.interfaces import MetadataStore

__all__ = ["open_metadata_store"]


def open_metadata_store(url: str, *, reactor: Any, **options: Any) -> MetadataStore:
    """See :func:`s3node.metadata.factory.open_metadata_store`."""
    from s3node.metadata.factory import open_metadata_store as _open

    return _open(url, reactor=reactor, **options)
