"""
The seams of s3node, as :class:`typing.Protocol` classes. Each seam has
several implementations that pass one contract test suite: chunk stores
(disk, memory; the suite also runs through gRPC against a real node),
metadata stores (SQLite, PostgreSQL, memory), placement strategies and
checksum algorithms (pluggy plugins, see :mod:`s3node.hookspecs`), and the
gateway's client of a storage node (:class:`NodeClient`: the gRPC
:class:`~s3node.storage.client.StorageClient`, and the tests' fake). The
package has a module per seam (:mod:`.hooks`, :mod:`.storage`,
:mod:`.metadata` with one module per part of the metadata store); every
protocol is importable from here. Dependencies point one way: at run time
this package imports nothing from s3node but :mod:`s3node.records`; the
storage value types it names are imported for type checking only.
"""

from s3node.interfaces.hooks import Checksum, ChecksumAlgorithm, PlacementStrategy
from s3node.interfaces.metadata import MetadataStore
from s3node.interfaces.metadata_durability import DurabilityMetadata
from s3node.interfaces.metadata_files import FileMetadata
from s3node.interfaces.metadata_keys import KeyMetadata
from s3node.interfaces.metadata_nodes import NodeMetadata
from s3node.interfaces.metadata_objects import ObjectMetadata
from s3node.interfaces.storage import ChunkReader, ChunkStore, NodeClient

__all__ = [
    "Checksum",
    "ChecksumAlgorithm",
    "ChunkReader",
    "ChunkStore",
    "DurabilityMetadata",
    "FileMetadata",
    "KeyMetadata",
    "MetadataStore",
    "NodeClient",
    "NodeMetadata",
    "ObjectMetadata",
    "PlacementStrategy",
]
