"""The README's quick start works exactly as written, against a real standalone process."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.processes import start_twistd

README = Path(__file__).resolve().parents[2] / "README.md"
GATEWAY_READY = r"s3node gateway listening on 127\.0\.0\.1:(?P<port>\d+)"


def _quick_start_blocks() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the quick start uses curl")
def test_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The run command starts standalone on 8080 and every curl line of the quick start
    does what its comment says, with the admin key standalone saved on its first start
    (run here on a free port instead of 8080)."""
    run, session = _quick_start_blocks()[:2]  # the third, the s3node command: tests/cli
    assert run.strip().endswith("twistd -n s3node standalone")
    assert "127.0.0.1:8080" in session
    with start_twistd(
        ["s3node", "standalone", "--listen", "tcp:0:interface=127.0.0.1",
         "--s3-listen", "tcp:0:interface=127.0.0.1", "--no-fsync"],
        cwd=tmp_path, ready_pattern=GATEWAY_READY, timeout=60, admin_key=False,
    ) as gateway:
        script = session.replace("127.0.0.1:8080", f"127.0.0.1:{gateway.port}")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"status": "completed"' in out
    assert '"filename": "hello.txt"' in out
    assert "helloHTTP/1.1 200 OK" in out  # the 0-4 byte range, then the HEAD

    assert re.search(r"(?i)content-length: 14\r?\n", out)
    assert '"status": "ok"' in out
    assert re.search(r"[}\n]204\n", out)
    assert '"error": "file_not_found"' in out
    assert re.search(r"\n401\n", out)  # the request without the key
    assert (tmp_path / "hello-copy.txt").read_bytes() == b"hello, s3node\n"
    assert sorted(p.name for p in (tmp_path / "s3node-data").iterdir() if p.is_dir()) == [
        "node-1", "node-2", "node-3",
    ]
