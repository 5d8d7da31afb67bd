"""
Running the installed ``s3node`` console script in tests.

:func:`run_s3node` runs it as a plain subprocess (stdout and stderr piped, so
neither is a terminal); :func:`run_s3node_in_pty` gives it a pseudo-terminal
as stderr, the way a person's shell does; :func:`run_s3node_measured` also
reports the process's peak RSS.  :func:`write_pattern` makes test files from
a seeded pattern, a block at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import random
import subprocess
import sys
import termios
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.auth import ADMIN_ID, ADMIN_SECRET

__all__ = [
    "GATEWAY_READY",
    "MiB",
    "Result",
    "run_s3node",
    "run_s3node_in_pty",
    "run_s3node_measured",
    "s3node_script",
    "sha256_of",
    "standalone_args",
    "write_pattern",
]

MiB = 1024 * 1024
#: what the gateway logs once it listens; group ``port`` is the real port
GATEWAY_READY = r"s3node gateway listening on 127\.0\.0\.1:(?P<port>\d+)"
#: a bound for one CLI run, far beyond what a healthy one takes
RUN_TIMEOUT = 120.0


def standalone_args(data_dir: Path, *extra: str) -> list[str]:
    """``twistd`` arguments for a standalone gateway on a free port: 1 MiB chunks, 2
    replicas, no fsync."""
    return ["s3node", "standalone", "--data-dir", str(data_dir),
            "--listen", "tcp:0:interface=127.0.0.1", "--chunk-size", "1MiB",
            "--replicas", "2", "--s3-listen", "none", "--no-fsync", *extra]


def s3node_script() -> Path:
    """The ``s3node`` console script installed beside this interpreter (by tox)."""
    script = Path(sys.executable).with_name("s3node")
    assert script.exists(), f"no s3node console script beside {sys.executable}: install the package"
    return script


@dataclass(frozen=True)
class Result:
    """How a run of ``s3node`` ended and what it printed."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as one JSON document."""
        return json.loads(self.stdout)


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """This environment without any S3NODE_* variable but the suite's admin key
    (``S3NODE_ACCESS_KEY``, ``S3NODE_SECRET_KEY``), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3NODE_")}
    env.update({"S3NODE_ACCESS_KEY": ADMIN_ID, "S3NODE_SECRET_KEY": ADMIN_SECRET})
    env.update(extra or {})
    return env


def _argv(args: tuple[str, ...], url: str | None) -> list[str]:
    return [str(s3node_script()), *(["--url", url] if url else []), *args]


def run_s3node(
    *args: str,
    url: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run ``s3node [--url URL] ARGS...`` to its end, nothing attached to a terminal."""
    done = subprocess.run(
        _argv(args, url), cwd=cwd, env=_env(env), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_s3node_in_pty(
    *args: str, url: str | None = None, cwd: Path | None = None, columns: int = 100
) -> tuple[Result, str]:
    """
    Run ``s3node`` with a pseudo-terminal (``columns`` wide) as its stderr.

    :returns: the result (its ``stderr`` empty) and everything written to the terminal
    """
    controller, terminal = pty.openpty()
    termios.tcsetwinsize(terminal, (24, columns))
    screen = bytearray()

    def read() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the last holder of the terminal closed it
                return
            if not data:
                return
            screen.extend(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with subprocess.Popen(
            _argv(args, url), cwd=cwd, env=_env(None), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=terminal,
        ) as proc:
            os.close(terminal)
            terminal = -1
            stdout, _ = proc.communicate(timeout=RUN_TIMEOUT)
        reader.join(RUN_TIMEOUT)
        assert not reader.is_alive(), "the terminal was not closed after the run"
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    return Result(proc.returncode, stdout.decode(), ""), screen.decode("utf-8", "replace")


_MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[2:], capture_output=True, timeout=float(sys.argv[1]))
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": done.returncode, "stdout": done.stdout.decode(),
                  "stderr": done.stderr.decode(), "peak_kib": peak}))
"""


def run_s3node_measured(*args: str, url: str, cwd: Path) -> tuple[Result, int]:
    """
    Run ``s3node`` from a fresh interpreter whose only child it is, so that
    ``getrusage(RUSAGE_CHILDREN)`` there is its own peak RSS.

    :returns: the result and the peak RSS in KiB
    """
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(RUN_TIMEOUT), *_argv(args, url)],
        cwd=cwd, env=_env(None), capture_output=True, text=True, timeout=RUN_TIMEOUT + 30,
        check=True,
    )
    report = json.loads(done.stdout)
    return Result(report["code"], report["stdout"], report["stderr"]), report["peak_kib"]


def write_pattern(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` seeded pseudo-random bytes to ``path`` a MiB at a time; their sha256."""
    rng = random.Random(seed)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = rng.randbytes(min(left, MiB))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()
