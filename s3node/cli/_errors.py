"""
What can go wrong in the command-line client, and the exit code of each.

Every failure the client expects is a :class:`CliError`; the command group
turns one into a single line on stderr (``s3node: ...``) and its
:attr:`~CliError.exit_code`, in one place (:mod:`s3node.cli._app`).
"""

from __future__ import annotations

import enum
import json
from typing import Any

__all__ = [
    "ChecksumMismatch",
    "CliError",
    "ExitCode",
    "LocalFileError",
    "ServerError",
    "Unreachable",
]


class ExitCode(enum.IntEnum):
    """The exit codes of ``s3node`` (documented in ``docs/cli.md``)."""

    #: it worked
    OK = 0
    #: the server answered with an error (4xx or 5xx), or a local file could not be used
    FAILED = 1
    #: bad command line (click's own code for usage errors)
    USAGE = 2
    #: the server could not be reached, or the connection broke mid-transfer
    UNREACHABLE = 3
    #: the bytes do not match the file's checksum
    CHECKSUM_MISMATCH = 4


class CliError(Exception):
    """The root of the client's expected failures: a one-line message and an exit code."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerError(CliError):
    """The server answered with an error status; its JSON ``error`` and ``details`` are kept."""

    exit_code = ExitCode.FAILED

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error, self.details = _error_fields(body)
        where = f"HTTP {status} from {method} {path}"
        if self.error is not None:
            said = self.error if not self.details else f"{self.error}: {self.details}"
        else:
            said = _one_line(body.decode("utf-8", "replace")) or "(empty body)"
        super().__init__(f"{said} ({where})")


class Unreachable(CliError):
    """The server could not be reached, or the connection broke before the reply was complete."""

    exit_code = ExitCode.UNREACHABLE


class ChecksumMismatch(CliError):
    """Bytes received or sent do not have the checksum the server recorded."""

    exit_code = ExitCode.CHECKSUM_MISMATCH


class LocalFileError(CliError):
    """A local file could not be read or written."""

    exit_code = ExitCode.FAILED


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    """The ``error`` and ``details`` of an s3node JSON error body, or ``(None, None)``."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(document, dict) or not isinstance(document.get("error"), str):
        return None, None
    details = document.get("details")
    return _one_line(document["error"]), None if details is None else _one_line(str(details))


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` with its whitespace runs folded to single spaces, cut at ``limit`` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"
