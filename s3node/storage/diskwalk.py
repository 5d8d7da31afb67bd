"""
Taking a data dir (folders and lock), walking its ``chunks/`` tree
(counting, listing in id order) and emptying ``tmp/``.  Blocking: runs at
start-up or on the store's executor.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from s3node.errors import ConfigurationError
from s3node.storage.diskfiles import Layout

__all__ = ["clean_tmp", "list_ids", "lock_data_dir", "scan"]


def lock_data_dir(layout: Layout) -> int:
    """
    Create the data dir's folders and ``flock`` its lock file.

    :return: the lock file's descriptor (closing it unlocks the data dir).
    :raises s3node.errors.ConfigurationError: when another process uses the
        data dir or it cannot be created.
    """
    try:
        for d in (layout.root, layout.chunks, layout.tmp, layout.quarantine):
            d.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise ConfigurationError(f"cannot use data dir {layout.root}: {e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigurationError(f"data dir {layout.root} is in use by another storage node") from None
    return fd


def scan(layout: Layout, is_chunk_id: Callable[[str], bool]) -> tuple[int, int]:
    """
    Count the stored chunks and their bytes; remove sidecars left without data.

    :return: ``(chunk_count, used_bytes)``.
    """
    count = used = 0
    for folder in _leaf_dirs(layout.chunks):
        with os.scandir(folder) as entries:
            names = {e.name: e for e in entries if e.is_file(follow_symlinks=False)}
        for name, entry in names.items():
            if name.endswith(".meta"):
                if name[: -len(".meta")] not in names:
                    os.unlink(entry.path)
            elif is_chunk_id(name):
                count += 1
                used += entry.stat(follow_symlinks=False).st_size
    return count, used


def _leaf_dirs(chunks: Path, after: str = "") -> Iterator[Path]:
    """The ``chunks/ab/cd`` folders in ascending order, from ``after``'s folder on."""
    for level1 in _sorted_subdirs(chunks):
        if level1 < after[:2]:
            continue
        for level2 in _sorted_subdirs(chunks / level1):
            if level1 + level2 < after[:4]:
                continue
            yield chunks / level1 / level2


def _sorted_subdirs(path: Path) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def list_ids(
    layout: Layout, after: str, limit: int, is_chunk_id: Callable[[str], bool]
) -> tuple[list[str], bool]:
    """
    Up to ``limit`` stored chunk ids greater than ``after``, ascending.

    :return: the ids and whether more follow.
    """
    found: list[str] = []
    for folder in _leaf_dirs(layout.chunks, after):
        with os.scandir(folder) as entries:
            ids = sorted(
                e.name for e in entries if e.name > after and is_chunk_id(e.name) and e.is_file()
            )
        for chunk_id in ids:
            if len(found) == limit:
                return found, True
            found.append(chunk_id)
    return found, False


def clean_tmp(layout: Layout) -> int:
    """Remove every leftover in ``tmp/``; return how many files went."""
    removed = 0
    with os.scandir(layout.tmp) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                continue
            os.unlink(entry.path)
            removed += 1
    return removed
