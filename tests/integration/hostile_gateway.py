"""
A ``twistd -n s3node standalone`` of its own for the hostile-input tests,
logging one JSON event per line (``s3node.logging.json_observer``) so the
tests can check each event's level.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from integration.conftest import GATEWAY_READY
from support.processes import TwistdProcess, start_twistd

__all__ = ["hostile_standalone", "log_events"]


@contextmanager
def hostile_standalone(base: Path, *extra: str) -> Iterator[tuple[TwistdProcess, str]]:
    """A standalone gateway (SQLite, 2 nodes, small limits) and its URL."""
    proc = start_twistd(
        ["--logger", "s3node.logging.json_observer", "s3node", "standalone",
         "--data-dir", str(base / "data"), "--nodes", "2", "--replicas", "2",
         "--listen", "tcp:0:interface=127.0.0.1", "--chunk-size", "64KiB",
         "--max-file-size", "1MiB", "--health-interval", "1", "--no-fsync",
         "--s3-listen", "tcp:0:interface=127.0.0.1", *extra],
        cwd=base, ready_pattern=GATEWAY_READY, timeout=60,
    )
    try:
        yield proc, f"http://127.0.0.1:{proc.port}"
    finally:
        proc.stop()


def log_events(proc: TwistdProcess) -> list[dict[str, Any]]:
    """Every event the process logged so far; a line that is not JSON is kept as
    ``{"level": "raw", "message": line}`` (nothing should print such lines)."""
    events = []
    for line in proc.output().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"level": "raw", "message": line})
    return events
