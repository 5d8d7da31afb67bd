"""
The aws CLI's high-level commands against both deployments (a standalone
process on SQLite and a cluster on PostgreSQL): ``s3 cp`` of a 100 MiB file
(which the CLI sends as a multipart upload) up and back byte-exact, ``s3 ls``;
``s3 sync`` of a small tree (and a second sync that uploads nothing), a sync
between two prefixes (server-side CopyObject), the tree synced back, and
``s3 rm --recursive``.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

MiB = 1024 * 1024


def aws(deployment: Any, home: Path, *args: str) -> str:
    """Run the aws CLI with the deployment's key; its standard output."""
    exe = shutil.which("aws")
    assert exe is not None, "the aws CLI is needed (.ci/run installs it)"
    key_id, secret = deployment.s3_key
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run([exe, "--endpoint-url", deployment.s3_url, *args], env=env,
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
def test_aws_s3_cp_of_100_mib_goes_multipart_and_comes_back_byte_exact(
        deployment: Any, tmp_path: Path) -> None:
    """``s3 cp`` up (multipart: the CLI splits at 8 MiB), ``s3 ls`` lists it, and back."""
    bucket = f"cp-{uuid.uuid4().hex[:12]}"
    source = tmp_path / "big.bin"
    with source.open("wb") as f:
        for _ in range(100):
            f.write(os.urandom(MiB))
    aws(deployment, tmp_path, "s3", "mb", f"s3://{bucket}")
    aws(deployment, tmp_path, "s3", "cp", str(source), f"s3://{bucket}/big.bin")
    head = json.loads(aws(deployment, tmp_path, "s3api", "head-object", "--bucket", bucket,
                          "--key", "big.bin"))
    assert head["ContentLength"] == 100 * MiB
    assert head["ETag"].strip('"').endswith("-13"), head["ETag"]  # 13 parts of 8 MiB
    listing = aws(deployment, tmp_path, "s3", "ls", f"s3://{bucket}/")
    assert listing.split()[2:] == [str(100 * MiB), "big.bin"], listing
    back = tmp_path / "back.bin"
    aws(deployment, tmp_path, "s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert filecmp.cmp(source, back, shallow=False)
    aws(deployment, tmp_path, "s3", "rb", "--force", f"s3://{bucket}")


@pytest.mark.integration
def test_aws_s3_sync_copy_and_recursive_rm(deployment: Any, tmp_path: Path) -> None:
    """A tree syncs up, a second sync uploads nothing, prefixes sync by CopyObject, back down
    byte-exact, and rm --recursive empties a prefix."""
    bucket = f"sync-{uuid.uuid4().hex[:12]}"
    tree = tmp_path / "tree"
    tree.mkdir()
    names = make_tree(tree)
    aws(deployment, tmp_path, "s3", "mb", f"s3://{bucket}")
    out = aws(deployment, tmp_path, "s3", "sync", str(tree), f"s3://{bucket}/up")
    assert sorted(line.split(" to ")[-1] for line in out.splitlines()
                  if line.startswith("upload:")) == [f"s3://{bucket}/up/{n}" for n in names]
    again = aws(deployment, tmp_path, "s3", "sync", str(tree), f"s3://{bucket}/up")
    assert "upload:" not in again
    copied = aws(deployment, tmp_path, "s3", "sync", f"s3://{bucket}/up", f"s3://{bucket}/cp")
    assert sum(line.startswith("copy:") for line in copied.splitlines()) == len(names)
    back = tmp_path / "back"
    aws(deployment, tmp_path, "s3", "sync", f"s3://{bucket}/cp", str(back))
    for name in names:
        assert filecmp.cmp(tree / name, back / name, shallow=False), name
    listing = aws(deployment, tmp_path, "s3", "ls", "--recursive", f"s3://{bucket}/")
    assert len(listing.splitlines()) == 2 * len(names)
    removed = aws(deployment, tmp_path, "s3", "rm", "--recursive", f"s3://{bucket}/up")
    assert sum(line.startswith("delete:") for line in removed.splitlines()) == len(names)
    listing = aws(deployment, tmp_path, "s3", "ls", "--recursive", f"s3://{bucket}/")
    # each line: date, time, size, key (which may hold spaces)
    assert sorted(line.split(None, 3)[3] for line in listing.splitlines()) == [
        f"cp/{n}" for n in names]
