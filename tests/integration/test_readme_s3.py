"""
The README's S3 section works as written: the aws CLI (installed by ``.ci/run``)
against a real standalone process, with the access key standalone created on
its first start: a 100 MiB file up (multipart) and back byte-exact, a listing,
the presigned URL it prints fetched with curl, a recursive delete.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from support.processes import start_twistd

README = Path(__file__).resolve().parents[2] / "README.md"
GATEWAY_READY = r"s3node gateway listening on 127\.0\.0\.1:(?P<port>\d+)"
S3_READY = r"s3node s3 listening on 127\.0\.0\.1:(?P<port>\d+)"


def _s3_block() -> str:
    section = README.read_text(encoding="utf-8").split("## Use it with S3 tools", 1)[1]
    section = section.split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return str(block)


def test_readme_s3_section_runs_with_the_aws_cli(tmp_path: Path) -> None:
    """Every aws line of the README's S3 section does what it says, and curl gets the presign."""
    aws = shutil.which("aws")
    assert aws is not None, "the aws CLI is needed (.ci/run installs it)"
    assert shutil.which("curl") is not None, "curl is needed"
    block = _s3_block()
    assert "http://127.0.0.1:9000" in block and "s3node-data/s3-credentials" in block
    (tmp_path / "hello.txt").write_text("hello, s3node\n")
    with start_twistd(
        ["s3node", "standalone", "--listen", "tcp:0:interface=127.0.0.1",
         "--s3-listen", "tcp:0:interface=127.0.0.1", "--no-fsync"],
        cwd=tmp_path, ready_pattern=GATEWAY_READY, timeout=60, admin_key=False,
    ) as proc:
        s3_port = proc.wait_for(S3_READY, timeout=60).group("port")
        assert "admin access key created" in proc.output()
        script = block.replace("127.0.0.1:9000", f"127.0.0.1:{s3_port}")
        # the presign line prints a URL: fetch it with curl, as its comment says
        script = script.replace(
            "s3 presign s3://demo/hello.txt", "s3 presign s3://demo/hello.txt > url.txt")
        lines = script.splitlines()
        at = next(i for i, line in enumerate(lines) if "s3 presign" in line)
        lines.insert(at + 1, 'curl -sf "$(cat url.txt)" -o presigned.txt')
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = str(tmp_path)  # no ~/.aws of the machine's user
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
                                cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=180, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "make_bucket: demo" in result.stdout
    assert (tmp_path / "big-copy.bin").stat().st_size == 100 * 1024 * 1024  # and cmp agreed
    assert (tmp_path / "presigned.txt").read_text() == "hello, s3node\n"
    assert re.search(r"\d+ hello\.txt", result.stdout)  # the s3 ls line
    assert re.search(r"104857600 big\.bin", result.stdout)
    assert "delete: s3://demo/hello.txt" in result.stdout
    assert "delete: s3://demo/big.bin" in result.stdout
