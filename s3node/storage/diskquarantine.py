"""
A data dir's ``quarantine/`` folder: counting, listing and dropping entries.
Blocking: runs on the store's executor.

:func:`s3node.storage.diskfiles.quarantine` makes an entry: the data file
``quarantine/<entry id>``, its sidecar ``<entry id>.meta`` (when it had one)
and ``<entry id>.reason``, a line of text.  An entry exists when its data file
does; see :mod:`s3node.storage.quarantine` for entry ids and paging.
"""

from __future__ import annotations

import os

from s3node.storage.diskfiles import Layout, fsync_dir
from s3node.storage.quarantine import check_entry_id, entry_time, is_entry_id, page_ids
from s3node.storage.types import QuarantineEntry, QuarantinePage

__all__ = ["count", "drop", "list_page"]

_SIDE_FILES = (".meta", ".reason")


def _entry_ids(layout: Layout) -> list[str]:
    try:
        with os.scandir(layout.quarantine) as entries:
            return [e.name for e in entries if is_entry_id(e.name) and e.is_file()]
    except FileNotFoundError:
        return []


def count(layout: Layout) -> int:
    """How many entries the quarantine holds."""
    return len(_entry_ids(layout))


def _read(layout: Layout, entry_id: str) -> QuarantineEntry | None:
    chunk_id, ns = check_entry_id(entry_id)
    try:
        size = os.stat(layout.quarantine / entry_id).st_size
    except FileNotFoundError:  # dropped meanwhile
        return None
    try:
        raw = (layout.quarantine / f"{entry_id}.reason").read_text("utf-8", errors="replace")
    except FileNotFoundError:
        raw = ""
    return QuarantineEntry(entry_id, chunk_id, raw.strip(), entry_time(ns), size)


def list_page(layout: Layout, after: str, limit: int) -> QuarantinePage:
    """Up to ``limit`` entries with ids greater than ``after``, ascending."""
    ids, token = page_ids(_entry_ids(layout), after, limit)
    entries = tuple(e for e in (_read(layout, i) for i in ids) if e is not None)
    return QuarantinePage(entries, token)


def drop(layout: Layout, entry_id: str, *, fsync: bool) -> bool:
    """
    Remove an entry (data file first, then its sidecar and reason).

    The caller holds the lock of the entry's chunk id, so a quarantine still
    moving the sidecar of this very entry has finished.

    :return: whether there was such an entry.
    """
    data = layout.quarantine / entry_id
    try:
        data.unlink()
    except FileNotFoundError:
        dropped = False
    else:
        dropped = True
    for suffix in _SIDE_FILES:
        (layout.quarantine / f"{entry_id}{suffix}").unlink(missing_ok=True)
    if fsync and dropped:
        fsync_dir(layout.quarantine)
    return dropped
