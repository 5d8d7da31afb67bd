"""
rclone (installed by ``.ci/run`` from the distribution's package) against the S3
API of both deployments: copy a tree up, check it with hashes, list it as JSON,
copy it back, purge it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def rclone(deployment: Any, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run rclone with a remote ``s3n:`` configured from the environment only."""
    rclone_path = shutil.which("rclone")
    assert rclone_path is not None, "rclone is needed (.ci/run installs it)"
    access, secret = deployment.s3_key
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
    env.update({
        "HOME": str(home),
        "RCLONE_CONFIG": str(home / "rclone.conf"),
        "RCLONE_CONFIG_S3N_TYPE": "s3",
        "RCLONE_CONFIG_S3N_PROVIDER": "Other",
        "RCLONE_CONFIG_S3N_ACCESS_KEY_ID": access,
        "RCLONE_CONFIG_S3N_SECRET_ACCESS_KEY": secret,
        "RCLONE_CONFIG_S3N_ENDPOINT": deployment.s3_url,
        "RCLONE_CONFIG_S3N_REGION": "us-east-1",
    })
    return subprocess.run([rclone_path, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_rclone_copies_checks_lists_and_purges_a_tree(deployment: Any, tmp_path: Path) -> None:
    """rclone copy, check (sizes and MD5s), lsjson, copy back and purge all work."""
    src = tmp_path / "src"
    files = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(3 * MiB + 5),
             "dir/sub/c d.txt": "ünïcode name\n".encode(), "empty": b""}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    bucket = f"rclone-{uuid.uuid4().hex[:12]}"
    remote = f"s3n:{bucket}/tree"
    for args in (("mkdir", f"s3n:{bucket}"), ("copy", str(src), remote),
                 ("check", str(src), remote)):
        result = rclone(deployment, tmp_path, *args)
        assert result.returncode == 0, (args, result.stdout + result.stderr)
    listing = rclone(deployment, tmp_path, "lsjson", "--recursive", "--files-only", remote)
    assert listing.returncode == 0, listing.stderr
    entries = {e["Path"]: e["Size"] for e in json.loads(listing.stdout)}
    assert entries == {name: len(data) for name, data in files.items()}
    back = tmp_path / "back"
    result = rclone(deployment, tmp_path, "copy", remote, str(back))
    assert result.returncode == 0, result.stderr
    for name, data in files.items():
        assert (back / name).read_bytes() == data
    (src / "a.txt").write_bytes(b"changed\n")
    changed = rclone(deployment, tmp_path, "check", str(src), remote)
    assert changed.returncode != 0 and "a.txt" in changed.stderr
    result = rclone(deployment, tmp_path, "purge", f"s3n:{bucket}")
    assert result.returncode == 0, result.stderr
    gone = rclone(deployment, tmp_path, "lsjson", f"s3n:{bucket}")
    assert gone.returncode != 0  # the bucket itself is gone
