"""
Real ``twistd`` processes for integration tests and benchmarks.

:func:`start_twistd` starts ``twistd -n --pidfile= <args>`` (``-n``: stay in
the foreground and log to stdout), reads its merged stdout/stderr on a thread,
waits (bounded) for a line matching ``ready_pattern`` and returns a
:class:`TwistdProcess`.  Works from plain pytest fixtures; no reactor needed::

    node = start_twistd(
        ["s3node", "storage", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "n1")],
        cwd=tmp_path,
        ready_pattern=r"s3node storage \\S+ listening on [\\d.]+:(?P<port>\\d+)",
    )
    try:
        ... node.port ...
    finally:
        node.stop()

Every process still running when the interpreter exits is killed.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from support.waiting import WaitTimeout, wait_until

__all__ = [
    "CLEAN_STOP",
    "STORAGE_READY",
    "TwistdProcess",
    "TwistdStartError",
    "start_storage_node",
    "start_twistd",
    "twistd_command",
]

#: what a storage node logs once it accepts calls; group ``port`` is the real port
STORAGE_READY = r"s3node storage (?P<node_id>\S+) listening on (?P<host>\S+):(?P<port>\d+)"

#: the exit status of a twistd that shut down cleanly on SIGTERM
CLEAN_STOP = -signal.SIGTERM

_RUNNING: weakref.WeakSet[TwistdProcess] = weakref.WeakSet()


class TwistdStartError(RuntimeError):
    """The process exited, or did not log its ready line in time."""


def twistd_command() -> list[str]:
    """The command that runs twistd with this interpreter."""
    script = Path(sys.executable).with_name("twistd")
    if script.exists():
        return [str(script)]
    found = shutil.which("twistd")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return [found]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


class TwistdProcess:
    """A running ``twistd -n`` child process and everything it printed."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        #: the match of the ready pattern (set by :func:`start_twistd`)
        self.match: re.Match[str] | None = None
        self._reader = threading.Thread(target=self._read, name=f"twistd-{self.pid}", daemon=True)
        self._reader.start()
        _RUNNING.add(self)

    def _read(self) -> None:
        assert self._popen.stdout is not None
        for raw in self._popen.stdout:
            with self._changed:
                self._lines.append(raw.decode("utf-8", "replace"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        """The process id."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status, ``None`` while it runs (negative: killed by that signal)."""
        return self._popen.poll()

    @property
    def port(self) -> int:
        """The port read from the ready line (group ``port``, else the first group)."""
        if self.match is None:
            raise RuntimeError("no ready line matched yet")
        groups = self.match.re.groupindex
        return int(self.match.group("port") if "port" in groups else self.match.group(1))

    def output(self) -> str:
        """Everything the process printed so far."""
        with self._changed:
            return "".join(self._lines)

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float, start: int = 0
    ) -> re.Match[str]:
        """
        Wait until an output line (from line number ``start`` on) matches ``pattern``.

        :raises TwistdStartError: when the process exits first or ``timeout``
            seconds pass; the message includes the output.
        """
        regex = re.compile(pattern)
        checked = start

        def matched() -> re.Match[str] | None:
            nonlocal checked
            for line in self._lines[checked:]:
                m = regex.search(line)
                if m is not None:
                    return m
            checked = max(checked, len(self._lines))
            if self._popen.poll() is not None and not self._reader.is_alive():
                raise TwistdStartError(self._failure(f"exited with {self._popen.poll()}", regex))
            return None

        try:
            return wait_until(
                matched,
                what=f"{regex.pattern!r}",
                timeout=timeout,
                interval=0.2,
                condition=self._changed,
            )
        except WaitTimeout:
            with self._changed:
                raise TwistdStartError(self._failure(f"timed out ({timeout}s)", regex)) from None

    def _failure(self, why: str, regex: re.Pattern[str]) -> str:
        return (
            f"{' '.join(self.argv)}: {why} waiting for {regex.pattern!r}; "
            f"output:\n{''.join(self._lines)}"
        )

    def line_count(self) -> int:
        """How many lines were printed so far (a ``start`` for :meth:`wait_for`)."""
        with self._changed:
            return len(self._lines)

    def status(self, field: str = "VmHWM") -> int:
        """A ``/proc/PID/status`` memory field in KiB (``VmHWM``: peak RSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def signal(self, signum: int) -> None:
        """Send ``signum`` if the process still runs."""
        if self._popen.poll() is None:
            self._popen.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        """
        SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return the exit status.

        twistd re-raises the signal that stopped it, so a clean SIGTERM stop
        returns ``-15`` (:data:`CLEAN_STOP`), a SIGKILL after the timeout ``-9``.
        """
        self.signal(signal.SIGTERM)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait(10)
        return self._finish()

    def kill(self) -> int:
        """SIGKILL at once; return the exit status."""
        if self._popen.poll() is None:
            self._popen.kill()
        self._popen.wait(10)
        return self._finish()

    def _finish(self) -> int:
        self._reader.join(5)
        _RUNNING.discard(self)
        code = self._popen.returncode
        assert code is not None
        return code

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<TwistdProcess pid={self.pid} {' '.join(self.argv[-6:])!r}>"


#: the roles that serve the REST API (and so get the suite's admin key)
_GATEWAY_ROLES = ("gateway", "standalone")


def _with_admin_key(rest: list[str]) -> list[str]:
    """``rest`` with ``--admin-key-file`` (the suite's admin key) after a gateway role of
    the ``s3node`` plugin (or a test plugin named ``s3node-...``)."""
    if any(a.startswith("--admin-key-file") for a in rest):
        return rest
    for at, arg in enumerate(rest[:-1]):
        if arg.startswith("s3node") and rest[at + 1] in _GATEWAY_ROLES:
            from support.auth import admin_key_file

            return [*rest[: at + 2], "--admin-key-file", str(admin_key_file()), *rest[at + 2:]]
    return rest


def _argv(args: Sequence[str], admin_key: bool = True) -> list[str]:
    """
    The full command for ``args``.

    ``args`` normally starts at twistd's options or the subcommand
    (``["s3node", "storage", ...]``); a full command is accepted too: a
    leading ``twistd`` path, or ``python -m twisted`` (which would run
    ``twist``, not ``twistd``), is replaced by :func:`twistd_command`.  ``-n``
    and ``--pidfile=`` are added unless the twistd options already hold them;
    a gateway or standalone gets the suite's admin key (``--admin-key-file``)
    unless ``admin_key`` is false.
    """
    rest = list(args)
    if len(rest) >= 3 and rest[1:3] == ["-m", "twisted"]:
        rest = rest[3:]
    elif rest and Path(rest[0]).name == "twistd":
        rest = rest[1:]
    elif rest[:2] == [sys.executable, "-c"]:
        rest = rest[3:]
    own = rest[: rest.index("s3node")] if "s3node" in rest else rest
    prefix = []
    if not any(a in ("-n", "--nodaemon") for a in own):
        prefix.append("-n")
    if not any(a.startswith("--pidfile") for a in own):
        prefix.append("--pidfile=")
    if admin_key:
        rest = _with_admin_key(rest)
    return [*twistd_command(), *prefix, *rest]


def start_twistd(
    args: Sequence[str],
    cwd: Path | str,
    ready_pattern: str | re.Pattern[str],
    timeout: float = 30.0,
    *,
    env: Mapping[str, str] | None = None,
    admin_key: bool = True,
) -> TwistdProcess:
    """
    Start ``twistd -n --pidfile= *args`` in ``cwd`` and wait for ``ready_pattern``.

    :param args: what follows ``twistd``, e.g. ``["s3node", "storage", ...]`` (a
        full command is accepted too, see :func:`_argv`)
    :param env: extra environment variables (added to this process's environment)
    :param admin_key: give a gateway or standalone the suite's admin key
        (:mod:`support.auth`), as ``--admin-key-file``
    :raises TwistdStartError: when it exits or stays silent for ``timeout``
        seconds (it is killed then).
    """
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = TwistdProcess(_argv(args, admin_key), Path(cwd), environment)
    try:
        proc.match = proc.wait_for(ready_pattern, timeout)
    except BaseException:
        proc.kill()
        raise
    return proc


def start_storage_node(
    data_dir: Path,
    *extra: str,
    cwd: Path | None = None,
    timeout: float = 30.0,
    fsync: bool = False,
) -> TwistdProcess:
    """A ``twistd s3node storage`` process on a free loopback port; ``.port`` is its port."""
    args = ["s3node", "storage", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *extra]
    if not fsync:
        args.append("--no-fsync")
    return start_twistd(args, cwd or data_dir.parent, STORAGE_READY, timeout)


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_RUNNING):
        try:
            proc.kill()
        except Exception:  # noqa: BLE001, S110 (best effort at exit)
            pass
