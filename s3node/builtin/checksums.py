"""The built-in checksum algorithms (``sha256``, ``blake2b``, ``crc32c``) as a plugin."""

from __future__ import annotations

from s3node.core.checksums import BUILTIN_ALGORITHMS, HashAlgorithm
from s3node.hookspecs import hookimpl


@hookimpl(trylast=True)
def s3node_checksum_algorithm(name: str) -> HashAlgorithm | None:
    """Provide the built-in algorithms; ``None`` for any other name."""
    return BUILTIN_ALGORITHMS.get(name)


@hookimpl(trylast=True)
def s3node_checksum_algorithm_names() -> list[str]:
    """List the built-in algorithms."""
    return sorted(BUILTIN_ALGORITHMS)
