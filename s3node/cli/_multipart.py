"""
A ``multipart/form-data`` upload body, streamed from a file.

:class:`FileForm` is one part named ``file`` (what ``POST /files`` reads).
Its length is known before the first byte is sent (the envelope plus the
file's size), so the request carries a ``Content-Length`` and the gateway can
refuse a body that is too large before reading any of it.  :meth:`FileForm.blocks`
reads the file a block at a time and hashes what it reads, so memory stays
flat whatever the file's size.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from s3node.cli._errors import LocalFileError

__all__ = ["BLOCK_SIZE", "FileForm", "quote_filename"]

#: how much of the file is read, hashed and sent at a time
BLOCK_SIZE = 256 * 1024


def quote_filename(name: str) -> str:
    """
    ``name`` as a quoted-string for a ``Content-Disposition`` parameter.

    UTF-8 goes as it is (RFC 7578 section 4.2); ``"`` and ``\\`` are
    backslash-escaped and line breaks, which would end the header, are dropped.
    """
    cleaned = name.replace("\r", "").replace("\n", "")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FileForm:
    """
    The body of one upload: a single part named ``file``, read from an open file.

    :param source: the file, open for binary reading at its start
    :param size: how many bytes it holds (the body must send exactly these)
    :param filename: the name the server records
    :param content_type: the part's ``Content-Type``
    """

    def __init__(
        self,
        source: BinaryIO,
        size: int,
        filename: str,
        content_type: str,
        *,
        boundary: str | None = None,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        self.source = source
        self.size = size
        self.boundary = boundary or f"s3node-{uuid.uuid4().hex}"
        self.block_size = block_size
        self._head = (
            f"--{self.boundary}\r\n"
            f"Content-Disposition: form-data; name=\"file\"; filename={quote_filename(filename)}\r\n"
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        #: the SHA-256 of the file bytes sent so far (complete once :meth:`blocks` ends)
        self.sha256 = hashlib.sha256()

    @classmethod
    def open(cls, path: Path, content_type: str, *, boundary: str | None = None) -> FileForm:
        """A form for the file at ``path``, named after its last component (close it after)."""
        try:
            source = path.open("rb")
            size = os.fstat(source.fileno()).st_size
        except OSError as e:
            raise LocalFileError(f"cannot read {path}: {e.strerror or e}") from e
        return cls(source, size, path.name, content_type, boundary=boundary)

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int:
        """The body's exact length in bytes."""
        return len(self._head) + self.size + len(self._tail)

    def blocks(self, on_bytes: Callable[[int], object] = lambda n: None) -> Iterator[bytes]:
        """
        Yield the body, reading the file a block at a time.

        :param on_bytes: called with the number of file bytes in each block
            as it is handed over to be sent
        :raises LocalFileError: when the file cannot be read, or its size changed
        """
        yield self._head
        left = self.size
        while left > 0:
            try:
                block = self.source.read(min(self.block_size, left))
            except OSError as e:
                raise LocalFileError(f"cannot read {self._name()}: {e.strerror or e}") from e
            if not block:
                raise LocalFileError(f"{self._name()} shrank while it was being sent")
            left -= len(block)
            self.sha256.update(block)
            on_bytes(len(block))
            yield block
        yield self._tail

    def close(self) -> None:
        """Close the source file."""
        self.source.close()

    def _name(self) -> str:
        return str(getattr(self.source, "name", "the file"))
