"""
Moving one file each way, streamed and verified.

:func:`upload` streams a local file as a multipart form and checks the
server's checksum against the SHA-256 computed while sending.
:func:`download` streams a file into a temporary file beside the target,
hashing as it writes, and renames it into place only when the digest matches
the checksum in the file's metadata; on a mismatch the temporary file is
removed and :class:`ChecksumMismatch` raised.  Neither holds more than a block
of the file in memory.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from s3node.cli._client import Client
from s3node.cli._errors import ChecksumMismatch, CliError, LocalFileError
from s3node.cli._multipart import FileForm
from s3node.cli._progress import Progress
from s3node.core.checksums import BUILTIN_ALGORITHMS, HashAlgorithm, digest_matches

__all__ = ["Fetched", "download", "upload"]


def upload(client: Client, path: Path, content_type: str, progress: Progress) -> dict[str, Any]:
    """
    Upload the file at ``path``; the server's record of it.

    :raises ChecksumMismatch: when the server recorded another SHA-256 or size
        than what was sent (the file stays on the server; the message names it)
    """
    form = FileForm.open(path, content_type)
    try:
        with progress.transfer(path.name, form.size) as advance:
            record = client.upload(form, advance)
    finally:
        form.close()
    sent = form.sha256.hexdigest()
    if record.get("size") != form.size or (
        record.get("checksum_algorithm") == "sha256"
        and not digest_matches(record.get("checksum"), sent)
    ):
        raise ChecksumMismatch(
            f"{path}: the server stored file {record.get('file_id')} with size "
            f"{record.get('size')} and {record.get('checksum_algorithm')} "
            f"{record.get('checksum')}, but sent were {form.size} bytes with sha256 {sent}"
        )
    return record


@dataclass(frozen=True)
class Fetched:
    """A verified download."""

    file_id: str
    #: where the bytes went (``-``: stdout)
    path: str
    size: int
    checksum_algorithm: str
    checksum: str

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document of ``s3node get``."""
        return {
            "file_id": self.file_id,
            "path": self.path,
            "size": self.size,
            "checksum_algorithm": self.checksum_algorithm,
            "checksum": self.checksum,
            "verified": True,
        }


def algorithm_of(metadata: dict[str, Any]) -> HashAlgorithm:
    """The checksum algorithm a file's metadata names, if this client knows it."""
    name = metadata.get("checksum_algorithm")
    if not isinstance(name, str) or name not in BUILTIN_ALGORITHMS:
        raise CliError(
            f"file {metadata.get('file_id')} has a {name} checksum, which this client "
            f"cannot verify (it knows {', '.join(sorted(BUILTIN_ALGORITHMS))})"
        )
    return BUILTIN_ALGORITHMS[name]


def download(
    client: Client, metadata: dict[str, Any], target: Path | None, progress: Progress
) -> Fetched:
    """
    Download the file ``metadata`` describes to ``target`` (``None``: stdout).

    :param metadata: the file's ``/files/{id}/metadata`` document
    :raises ChecksumMismatch: when the bytes received do not have the recorded
        checksum; nothing is left at ``target`` then (on stdout the bytes are
        out already)
    """
    file_id = str(metadata["file_id"])
    algorithm = algorithm_of(metadata)
    label = str(metadata.get("filename") or file_id) if target is None else target.name
    expected = metadata.get("checksum")
    if target is None:
        digest, size = _receive(client, file_id, sys.stdout.buffer, algorithm, progress, label)
        _verify(file_id, algorithm, expected, digest, "written to stdout")
        return Fetched(file_id, "-", size, algorithm.name, digest)
    partial = _partial_file(target)
    try:
        try:
            with partial:
                digest, size = _receive(client, file_id, partial, algorithm, progress, label)
                partial.flush()
                os.fsync(partial.fileno())
            _verify(file_id, algorithm, expected, digest, f"{target} was not written")
            os.replace(partial.name, target)
        except OSError as e:
            raise LocalFileError(f"cannot write {target}: {e.strerror or e}") from e
    except BaseException:
        Path(partial.name).unlink(missing_ok=True)
        raise
    return Fetched(file_id, str(target), size, algorithm.name, digest)


def _partial_file(target: Path) -> Any:
    """A new temporary file beside ``target``, with the mode a new file there would get."""
    try:
        partial = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by download)
            dir=target.parent, prefix=f".{target.name}.", suffix=".s3node-part", delete=False
        )
    except OSError as e:
        raise LocalFileError(f"cannot write {target}: {e.strerror or e}") from e
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial.name, 0o666 & ~umask)
    return partial


def _receive(
    client: Client,
    file_id: str,
    out: BinaryIO,
    algorithm: HashAlgorithm,
    progress: Progress,
    label: str,
) -> tuple[str, int]:
    """Stream the file's bytes into ``out``; their hex digest and count."""
    hasher = algorithm()
    received = 0
    with (
        client.download(file_id) as response,
        progress.transfer(label, response.size) as advance,
    ):
        for block in response.blocks():
            hasher.update(block)
            try:
                out.write(block)
            except OSError as e:
                raise LocalFileError(f"cannot write: {e.strerror or e}") from e
            received += len(block)
            advance(len(block))
    return str(hasher.hexdigest()), received


def _verify(file_id: str, algorithm: HashAlgorithm, expected: Any, actual: str, then: str) -> None:
    if not digest_matches(expected, actual):
        raise ChecksumMismatch(
            f"file {file_id}: the bytes received have {algorithm.name} {actual}, "
            f"not the recorded {expected}; {then}"
        )
