"""
Logs as one JSON object per event, for log shippers: ``twistd --logger s3node.logging.json_observer``.

twistd's ``--logger`` takes the fully qualified name of a callable that
returns the process's log observer; :func:`json_observer` returns one that
writes each event to standard output (or to ``S3NODE_LOG_FILE``, when set)
as Twisted's own JSON form (:func:`twisted.logger.eventAsJSON`: the format
string, every named field such as ``request_id``, ``node_id`` or
``file_id``, ``log_time``, a failure's traceback) on one line, plus two plain
keys for people and shippers: ``message`` (the formatted text) and ``level``
(``debug``, ``info``, ``warn``, ``error``, ``critical``).  A field whose value
JSON has no type for and that is a plain value (a file's or upload's
:class:`uuid.UUID`, a path) is written as its text, where Twisted's form
would write ``{"unpersistable": true}`` and lose it.  Any role::

    twistd -n --logger s3node.logging.json_observer s3node standalone

Each line loads back into an event with :func:`twisted.logger.eventFromJSON`.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import PurePath
from typing import IO, Any

from twisted.logger import FileLogObserver, ILogObserver, eventAsJSON, formatEvent

__all__ = ["event_line", "json_observer"]

#: field values written as their text (JSON has no type for them)
_AS_TEXT = (uuid.UUID, PurePath)


def event_line(event: dict[str, Any]) -> str:
    """One event as a line of JSON (with ``message`` and ``level`` added)."""
    level = event.get("log_level")
    extra = {"message": formatEvent(event), "level": getattr(level, "name", None)}
    texts = {k: str(v) for k, v in event.items() if isinstance(v, _AS_TEXT)}
    return eventAsJSON({**event, **texts, **extra}) + "\n"


def json_observer(out: IO[str] | None = None) -> ILogObserver:
    """
    An observer writing :func:`event_line` of each event to ``out``: by
    default standard output as it is now (before twistd redirects it into the
    log), or the file ``S3NODE_LOG_FILE`` names, appended to.
    """
    if out is None:
        path = os.environ.get("S3NODE_LOG_FILE")
        out = open(path, "a", encoding="utf-8") if path else sys.stdout  # noqa: SIM115
    observer: ILogObserver = FileLogObserver(out, event_line)  # type: ignore[assignment]
    return observer
