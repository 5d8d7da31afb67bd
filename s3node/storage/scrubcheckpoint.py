"""
The scrubber's record of a pass (:class:`ScrubPass`), and its checkpoint file.

The checkpoint is ``DATA_DIR/scrub.json``, one JSON object::

    {"format": 1, "started": 1764403200.0, "finished": null,
     "last_chunk_id": "3fa9...", "chunks_verified": 1200, "bytes_verified": 9876543,
     "corrupt_found": 1, "vanished": 0, "errors": 0}

``started`` and ``finished`` are seconds on the node's clock (the reactor's:
seconds since the epoch); ``finished`` is ``null`` while the pass is under way,
and ``last_chunk_id`` is then where it resumes (after that id).  It is written
to ``scrub.json.tmp``, fsynced and renamed over ``scrub.json``, and the folder
fsynced, so a crash leaves either the old checkpoint or the new one.

:func:`save` and :func:`load` block: the scrubber runs them on the store's
executor.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from s3node.core.ids import validate_chunk_id
from s3node.errors import InvalidChunkId
from s3node.storage.diskfiles import fsync_dir

__all__ = ["CHECKPOINT_NAME", "FORMAT_VERSION", "CheckpointUnreadable", "ScrubPass", "load", "save"]

#: the checkpoint's file name in the data dir
CHECKPOINT_NAME = "scrub.json"
#: the checkpoint format this code writes and reads
FORMAT_VERSION = 1


class CheckpointUnreadable(Exception):
    """The checkpoint file is not one this code wrote."""


@dataclass
class ScrubPass:
    """
    One full pass of the scrubber over a node's chunks, and its counters.

    The counters only grow during a pass; a resumed pass carries on with the
    counts its checkpoint saved.
    """

    #: when the pass started (seconds on the scrubber's clock)
    started: float
    #: when it ended; ``None`` while it is under way
    finished: float | None = None
    #: the last chunk id dealt with (verified, found corrupt, gone or failed): the
    #: pass resumes after it
    last_chunk_id: str = ""
    #: chunks read whole whose digest matched their sidecar
    chunks_verified: int = 0
    #: bytes read and hashed (those of corrupt chunks and of a chunk under way too)
    bytes_verified: int = 0
    #: chunks that failed verification, which the store quarantined
    corrupt_found: int = 0
    #: chunks listed but deleted before the scrubber opened them
    vanished: int = 0
    #: chunks that could not be checked for another reason (logged with the chunk id)
    errors: int = 0

    def encode(self) -> bytes:
        """The checkpoint file's content."""
        return json.dumps({"format": FORMAT_VERSION, **asdict(self)}, sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ScrubPass:
        """
        Parse a checkpoint file's content.

        :raises CheckpointUnreadable: when it is not a checkpoint of this format.
        """
        try:
            doc = json.loads(raw)
            if doc.pop("format") != FORMAT_VERSION:
                raise ValueError(f"format {doc.get('format')!r}")
            progress = cls(**{f.name: doc[f.name] for f in fields(cls)})
            _check(progress)
        except (ValueError, KeyError, TypeError, AttributeError, InvalidChunkId) as e:
            raise CheckpointUnreadable(f"not a scrub checkpoint: {e}") from None
        return progress


def _check(progress: ScrubPass) -> None:
    if not isinstance(progress.started, int | float):
        raise TypeError("started is not a number")
    if progress.finished is not None and not isinstance(progress.finished, int | float):
        raise TypeError("finished is not a number")
    if progress.last_chunk_id:
        validate_chunk_id(progress.last_chunk_id)
    for name in ("chunks_verified", "bytes_verified", "corrupt_found", "vanished", "errors"):
        value = getattr(progress, name)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} is not a count")


def load(path: Path) -> ScrubPass | None:
    """
    The pass a checkpoint file records; ``None`` when there is no file.

    :raises CheckpointUnreadable: when the file is not a checkpoint of this format.
    :raises OSError: when it cannot be read.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return ScrubPass.decode(raw)


def save(path: Path, content: bytes, *, fsync: bool) -> None:
    """Replace the checkpoint file with ``content`` atomically (temp file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)
