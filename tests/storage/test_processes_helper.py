"""The shared twistd process helper (tests/support/processes.py) itself."""

from __future__ import annotations

import sys

import pytest
from support.auth import admin_key_file
from support.processes import STORAGE_READY, TwistdStartError, _argv, start_twistd, twistd_command


def test_argv_accepts_subcommand_or_full_command():
    """Arguments from the subcommand on, or a full command, become one twistd -n command line."""
    twistd = twistd_command()
    assert _argv(["s3node", "storage"]) == [*twistd, "-n", "--pidfile=", "s3node", "storage"]
    full = [sys.executable, "-m", "twisted", "-n", "--pidfile=", "s3node", "standalone", "-n", "3"]
    assert _argv(full, admin_key=False) == [
        *twistd, "-n", "--pidfile=", "s3node", "standalone", "-n", "3"]
    assert _argv(["--logfile=-", "s3node", "gateway"], admin_key=False)[-3:] == [
        "--logfile=-", "s3node", "gateway"]
    # a gateway or standalone gets the suite's admin key, right after its role
    with_key = _argv(["s3node", "gateway", "--db", "x"])
    assert with_key[-4:] == ["--admin-key-file", str(admin_key_file()), "--db", "x"]


def test_a_process_that_exits_fails_fast_with_its_output(tmp_path):
    """A twistd that exits before its ready line raises TwistdStartError quoting its output."""
    with pytest.raises(TwistdStartError, match="not HOST:PORT") as e:
        start_twistd(["s3node", "storage", "--listen", "nowhere"], tmp_path, STORAGE_READY, 30)
    assert "exited with" in str(e.value)
