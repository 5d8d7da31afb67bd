"""
The aws CLI's high-level commands against a real standalone process: ``s3
sync`` of a small tree (and a second sync that uploads nothing), a sync
between two prefixes (server-side CopyObject), the tree synced back, and
``s3 rm --recursive``.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

MiB = 1024 * 1024


def aws(standalone: Any, home: Path, *args: str) -> str:
    """Run the aws CLI with the deployment's key; its standard output."""
    exe = shutil.which("aws")
    assert exe is not None, "the aws CLI is needed (.ci/run installs it)"
    key_id, secret = standalone.s3_key
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run([exe, "--endpoint-url", standalone.s3_url, *args], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def make_tree(root: Path) -> list[str]:
    files = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(3 * MiB + 7),
             "dir/sub/c d.txt": b"spaces and \xc3\xa4\n", "dir/sub/empty": b"",
             "z/deep/er/e.json": b"{}"}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return sorted(files)


@pytest.mark.integration
def test_aws_s3_sync_copy_and_recursive_rm(standalone: Any, tmp_path: Path) -> None:
    """A tree syncs up, a second sync uploads nothing, prefixes sync by CopyObject, back down
    byte-exact, and rm --recursive empties a prefix."""
    bucket = f"sync-{uuid.uuid4().hex[:12]}"
    tree = tmp_path / "tree"
    tree.mkdir()
    names = make_tree(tree)
    aws(standalone, tmp_path, "s3", "mb", f"s3://{bucket}")
    out = aws(standalone, tmp_path, "s3", "sync", str(tree), f"s3://{bucket}/up")
    assert sorted(line.split(" to ")[-1] for line in out.splitlines()
                  if line.startswith("upload:")) == [f"s3://{bucket}/up/{n}" for n in names]
    again = aws(standalone, tmp_path, "s3", "sync", str(tree), f"s3://{bucket}/up")
    assert "upload:" not in again
    copied = aws(standalone, tmp_path, "s3", "sync", f"s3://{bucket}/up", f"s3://{bucket}/cp")
    assert sum(line.startswith("copy:") for line in copied.splitlines()) == len(names)
    back = tmp_path / "back"
    aws(standalone, tmp_path, "s3", "sync", f"s3://{bucket}/cp", str(back))
    for name in names:
        assert filecmp.cmp(tree / name, back / name, shallow=False), name
    listing = aws(standalone, tmp_path, "s3", "ls", "--recursive", f"s3://{bucket}/")
    assert len(listing.splitlines()) == 2 * len(names)
    removed = aws(standalone, tmp_path, "s3", "rm", "--recursive", f"s3://{bucket}/up")
    assert sum(line.startswith("delete:") for line in removed.splitlines()) == len(names)
    listing = aws(standalone, tmp_path, "s3", "ls", "--recursive", f"s3://{bucket}/")
    # each line: date, time, size, key (which may hold spaces)
    assert sorted(line.split(None, 3)[3] for line in listing.splitlines()) == [
        f"cp/{n}" for n in names]
