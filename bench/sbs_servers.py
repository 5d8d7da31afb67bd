"""
The servers the side-by-side benchmark compares, each started and stopped whole.

- :class:`SwiftServer`: OpenStack Swift from ``peers/swift/`` (``setup.sh`` once
  into a temp dir on free ports, ``start.sh``/``stop.sh`` per run, a token from
  tempauth and a container); its processes are memcached and the
  account/container/object/proxy servers with their forked workers.
- :class:`S3nodeServer`: ``twistd -n s3node standalone`` (fsync on, scrubbing
  off, no S3 listener), a fresh data dir per start; its processes are the
  ``twistd`` and every child it starts.  Its requests carry the admin key
  standalone saves in its data dir on its first start (HTTP Basic).

``start()`` returns the :class:`~sbs_client.Target` to talk to and the root
PIDs whose trees are the server; ``stop()`` may be called any number of times
and also after a failed start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_auth import data_dir_auth
from sbs_client import Connection, HttpError, Target
from sbs_system import ProcessTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from support.processes import start_twistd

__all__ = ["S3nodeServer", "SwiftServer", "free_port"]

READY = r"s3node gateway listening on (?P<host>[\d.]+):(?P<port>\d+)"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _snapshot(roots: list[int]) -> list[tuple[int, str]]:
    """Every process of these trees with its start time (to never kill a reused PID)."""
    return [(pid, start) for pid in ProcessTree(roots).pids()
            if (start := _start_time(pid)) is not None]


def _start_time(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()[19]


def _kill_left(snapshot: list[tuple[int, str]]) -> None:
    """SIGKILL what is left of a snapshot (after a stop that did not finish)."""
    for pid, start in reversed(snapshot):
        if _start_time(pid) == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class SwiftServer:
    """A one-replica, fsync-on Swift on free loopback ports under ``base``."""

    name = "swift"

    def __init__(self, base: Path, scripts: Path) -> None:
        self.scripts = scripts
        self.dir = Path(tempfile.mkdtemp(prefix="swift-", dir=base))
        self.env = dict(os.environ)
        ports = {"SWIFT_PROXY_PORT", "SWIFT_OBJECT_PORT", "SWIFT_CONTAINER_PORT",
                 "SWIFT_ACCOUNT_PORT", "SWIFT_MEMCACHE_PORT"}
        self.env.update({name: str(free_port()) for name in ports})
        self.env["SWIFT_REPLICAS"] = "1"
        self.port = int(self.env["SWIFT_PROXY_PORT"])
        self.pids: list[int] = []
        self._run("setup.sh", timeout=900)

    def _run(self, script: str, timeout: float = 120) -> str:
        done = subprocess.run([str(self.scripts / script), str(self.dir)], env=self.env,
                              check=False, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"swift {script} failed ({done.returncode}):\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done.stdout

    def start(self, headers: tuple[tuple[str, str], ...] = ()) -> tuple[Target, list[int]]:
        out = self._run("start.sh")
        last = [line for line in out.splitlines() if "proxy=" in line][-1]
        self.pids = [int(kv.split("=")[1]) for kv in last.split()]
        conn = Connection(Target("swift", "127.0.0.1", self.port))
        try:
            conn.send_head("GET", "/auth/v1.0", [("X-Auth-User", "test:tester"),
                                                 ("X-Auth-Key", "testing")])
            status, got, _ = conn.read_head()
            conn.read_body(got)
            if status // 100 != 2:
                raise HttpError(f"swift auth: {status}")
            account = "/" + got["x-storage-url"].split("/", 3)[3]
            token = (("X-Auth-Token", got["x-auth-token"]),)
            target = Target("swift", "127.0.0.1", self.port, f"{account}/bench", token + headers)
            bucket = Connection(target)
            bucket.send_head("PUT", f"{account}/bench", [("Content-Length", "0")])
            status, got, _ = bucket.read_head()
            bucket.read_body(got)
            bucket.close()
            if status not in (201, 202):
                raise HttpError(f"swift container PUT: {status}")
        finally:
            conn.close()
        return target, self.pids

    def stop(self) -> None:
        """Stop the servers and empty the device (the next start is a fresh cluster)."""
        pids = self.pids or [int(f.read_text()) for f in (self.dir / "run").glob("*.pid")
                             if f.read_text().strip().isdigit()]
        if pids:
            left = _snapshot(pids)
            try:
                self._run("stop.sh")
            finally:
                _kill_left(left)
                self.pids = []
        for device in (self.dir / "srv").glob("d*"):
            shutil.rmtree(device, ignore_errors=True)
            device.mkdir()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class S3nodeServer:
    """
    ``twistd -n s3node standalone`` with ``replicas`` replicas, fresh for every start.

    ``source`` is the checkout whose code runs (default: this one); the
    server's name is ``s3node-rN``, with ``@label`` for another checkout.
    """

    def __init__(self, base: Path, replicas: int, extra_args: list[str],
                 source: Path | None = None, label: str = "") -> None:
        self.base = base
        self.replicas = replicas
        self.extra_args = extra_args
        self.source = (source or ROOT).resolve()  # PYTHONPATH: the servers run elsewhere
        self.name = f"s3node-r{replicas}" + (f"@{label}" if label else "")
        self.proc = None
        self.work: Path | None = None

    def start(self, headers: tuple[tuple[str, str], ...] = ()) -> tuple[Target, list[int]]:
        self.work = Path(tempfile.mkdtemp(prefix=f"s3node-r{self.replicas}-", dir=self.base))
        args = ["s3node", "standalone", "--data-dir", str(self.work / "data"),
                "--replicas", str(self.replicas), "--listen", "tcp:0:interface=127.0.0.1",
                "--s3-listen", "none", "--scrub-rate", "0", "--max-file-size", "20GiB",
                *self.extra_args]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.source),
                                                          env.get("PYTHONPATH")]))
        # no --admin-key-file: another checkout may predate it; standalone's own key instead
        self.proc = start_twistd(args, cwd=self.work, ready_pattern=READY, timeout=120, env=env,
                                 admin_key=False)
        auth = data_dir_auth(self.work / "data")
        if auth is not None and not any(k.lower() == "authorization" for k, _ in headers):
            headers = (("Authorization", auth), *headers)
        return Target("s3node", "127.0.0.1", self.proc.port, "", headers), [self.proc.pid]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            left = _snapshot([proc.pid])
            try:
                proc.stop(60)
            finally:
                _kill_left(left)
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def close(self) -> None:
        self.stop()
