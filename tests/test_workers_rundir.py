"""
The run dir of a gateway's workers (:func:`s3node.workers.make_run_dir`): a
new gateway removes the ones left by gateways that are gone, and only those.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from s3node.workers import OWNER_FILE, RUN_DIR_PREFIX, make_run_dir, remove_stale_run_dirs


def gone_pid() -> int:
    """The pid of a process that ran and was reaped: nothing runs under it now."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def run_dir(base: Path, name: str, owner: str | None) -> Path:
    path = base / f"{RUN_DIR_PREFIX}{name}"
    path.mkdir()
    (path / "worker-2.json").write_text("{}")
    if owner is not None:
        (path / OWNER_FILE).write_text(owner)
    return path


def test_only_the_run_dirs_of_gone_owners_on_this_host_are_removed(tmp_path):
    host = socket.gethostname()
    gone = run_dir(tmp_path, "gone", f"{gone_pid()} {host}")
    running = run_dir(tmp_path, "running", f"{os.getpid()} {host}")
    elsewhere = run_dir(tmp_path, "elsewhere", f"{gone_pid()} not-{host}")
    being_made = run_dir(tmp_path, "new", None)
    garbled = run_dir(tmp_path, "garbled", "not a pid")
    a_file = tmp_path / f"{RUN_DIR_PREFIX}file"
    a_file.write_text(f"{gone_pid()} {host}")
    other = tmp_path / "other"
    other.mkdir()
    (other / OWNER_FILE).write_text(f"{gone_pid()} {host}")

    assert remove_stale_run_dirs(tmp_path) == [gone]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (running, elsewhere, being_made, garbled, a_file, other))


def test_a_new_run_dir_names_its_owner_and_clears_the_stale_ones(tmp_path):
    stale = run_dir(tmp_path, "stale", f"{gone_pid()} {socket.gethostname()}")
    made = make_run_dir(tmp_path)
    assert made.parent == tmp_path and made.name.startswith(RUN_DIR_PREFIX)
    assert (made / OWNER_FILE).read_text().split() == [str(os.getpid()), socket.gethostname()]
    assert not stale.exists()
    # the next gateway keeps this one: its owner runs
    again = make_run_dir(tmp_path)
    assert made.exists() and again.exists() and again != made
