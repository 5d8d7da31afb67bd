"""The README's quick start with the ``s3node`` command runs as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from support.auth import admin_key_file

README = Path(__file__).resolve().parents[2] / "README.md"


def _cli_block() -> str:
    section = README.read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    [block] = [b for b in blocks if "s3node put" in b]
    return block


def test_quick_start_cli_block_runs_as_written(standalone_url: str, tmp_path: Path) -> None:
    """Every line of the README's s3node block succeeds against standalone (reached through
    S3NODE_URL, as the block has no --url): the upload, list, stat, verified download,
    health, nodes and delete."""
    block = _cli_block()
    assert "--url" not in block
    (tmp_path / "hello.txt").write_text("hello, s3node\n")
    # where standalone saves its first key: here the shared standalone's (the suite's) key
    (tmp_path / "s3node-data").mkdir()
    shutil.copy(admin_key_file(), tmp_path / "s3node-data" / "s3-credentials")
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3NODE_")}
    env["S3NODE_URL"] = standalone_url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "hello.txt" in out
    # 14 bytes: kept inline (docs/durability.md), so no chunk line
    assert re.search(r"^chunks +none: kept inline in the metadata store$", out, re.MULTILINE)
    assert "hello-copy.txt: 14 bytes, sha256 verified" in out
    assert re.search(r"^status +ok$", out, re.MULTILINE)
    assert re.search(r"^deleted [0-9a-f-]{36}$", out, re.MULTILINE)
    assert (tmp_path / "hello-copy.txt").read_text() == "hello, s3node\n"
    assert re.search(r"^secret +\S{40}$", out, re.MULTILINE)  # the new key, shown once
    assert re.search(r"^S3N\w{17} +yes +rw:photos ", out, re.MULTILINE)
