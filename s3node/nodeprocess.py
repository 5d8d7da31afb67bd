"""
:class:`ChildProcessService`: one ``twistd`` child process, kept running while the service runs.

The standalone role runs each storage node (and each extra gateway worker) as
its own ``twistd -n s3node ...`` process, so that the node side of a transfer
runs on other cores than the gateway.  This service:

- spawns the child with the injected reactor's ``spawnProcess``, the same
  interpreter and a pipe on its standard input that the child watches
  (:mod:`s3node.parentwatch`): when this process dies, even by ``SIGKILL``,
  the child reads end of file and stops;
- forwards every line the child logs (JSON events, ``--logger
  s3node.logging.json_observer``) into this process's log, with the child's
  name as the event's ``log_system`` and ``child`` field, so one log holds
  every process;
- learns the child's port from the port file it writes once it listens
  (``--port-file``), checked as each of its events arrives; a first start
  that ends before the child listened is fatal (:meth:`when_listening` fails),
  because it would fail again (a locked data dir, a bad option);
- restarts the child when it exits while the service runs, after a delay
  that doubles from ``restart_delay`` up to ``max_restart_delay`` and falls
  back once a child ran for ``stable_after`` seconds; each restart is logged;
- on stop, sends ``SIGTERM`` and, after ``stop_timeout`` seconds, ``SIGKILL``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger, eventFromJSON
from twisted.python.failure import Failure

__all__ = ["ChildProcessService", "read_port_file", "twistd_argv", "write_port_file"]

log = Logger()

#: the most bytes of one unfinished output line kept (a longer line is forwarded in pieces)
MAX_LINE = 64 * 1024


#: what a child runs: twistd
_RUN_TWISTD = "from twisted.scripts.twistd import run; run()"
#: twistd in a process that never serves or dials TLS through Twisted: pyOpenSSL is
#: made unimportable first, so the reactor's TCP module does not load it (and
#: cryptography with it), about 13 MiB per process (docs/performance.md)
_RUN_TWISTD_WITHOUT_TLS = "import sys; sys.modules['OpenSSL'] = None; " + _RUN_TWISTD


def twistd_argv(plugin: str, *args: str, tls: bool = True) -> list[str]:
    """
    ``twistd -n PLUGIN ARGS`` with this interpreter on the asyncio reactor (named,
    since only a plugin called ``s3node`` installs it by itself), logging JSON
    events to standard output.

    :param tls: ``False`` for a child whose endpoints are all plain TCP (a
        standalone storage node: gRPC brings its own TLS): Twisted's TLS
        support (pyOpenSSL) is not loaded, and an ``ssl:`` endpoint would fail
    """
    return [sys.executable, "-c", _RUN_TWISTD if tls else _RUN_TWISTD_WITHOUT_TLS,
            "-n", "--pidfile=", "--reactor=asyncio", "--logger", "s3node.logging.json_observer",
            plugin, *args]


def write_port_file(path: Path, ports: dict[str, int]) -> None:
    """
    Write ``ports`` (``{"port": 50051, "metrics_port": 9464}``) to ``path`` as
    JSON, atomically: a reader sees no file or all of it.
    """
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ports) + "\n")
    os.replace(tmp, path)


def read_port_file(path: Path) -> dict[str, int] | None:
    """The ports in ``path`` (``"port"`` at least), or ``None`` while there are none."""
    try:
        ports = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(ports, dict) or not isinstance(ports.get("port"), int):
        return None
    return ports


def _status(reason: Failure) -> str:
    """How a child ended: ``exit code 0``, ``exit code 1``, ``signal 9``."""
    if reason.check(ProcessDone):
        return "exit code 0"
    value = reason.value
    if getattr(value, "signal", None) is not None:
        return f"signal {value.signal}"
    return f"exit code {getattr(value, 'exitCode', None)}"


class _ChildProtocol(ProcessProtocol):
    def __init__(self, owner: ChildProcessService) -> None:
        self._owner = owner
        self._partial = {1: b"", 2: b""}

    def childDataReceived(self, fd: int, data: bytes) -> None:
        buffered = self._partial.get(fd, b"") + data
        *lines, rest = buffered.split(b"\n")
        if len(rest) > MAX_LINE:
            lines.append(rest)
            rest = b""
        self._partial[fd] = rest
        for line in lines:
            self._owner._line(line.decode("utf-8", "replace"), fd)

    def processEnded(self, reason: Failure) -> None:
        for fd, rest in self._partial.items():
            if rest:
                self._owner._line(rest.decode("utf-8", "replace"), fd)
        self._owner._ended(self, reason)


class ChildProcessService(Service):
    """
    Keep ``argv`` running as a child process while the service runs.

    :param argv: the full command (see :func:`twistd_argv`)
    :param port_file: where the child writes its port once it listens
        (removed before each start); ``None``: the child listens on nothing
        this service needs to know
    :param env: the child's environment (this process's by default, without
        ``S3NODE_LOG_FILE``, so the child logs to its standard output)
    :param child_fds: extra file descriptors the child inherits (its fd: ours)
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str] | Callable[[], Sequence[str]],
        reactor: Any,
        *,
        port_file: Path | None = None,
        env: dict[str, str] | None = None,
        child_fds: dict[int, int] | None = None,
        stop_timeout: float = 20.0,
        restart_delay: float = 1.0,
        max_restart_delay: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.setName(name)
        #: the child's name (``node-1``, ``worker-2``): its log system
        self.label = name
        self._argv = argv
        self._reactor = reactor
        self.port_file = port_file
        if env is None:
            env = {k: v for k, v in os.environ.items() if k != "S3NODE_LOG_FILE"}
        self._env = {**env, "PYTHONUNBUFFERED": "1"}
        self._child_fds = dict(child_fds or {})
        self._stop_timeout = stop_timeout
        self._restart_delay = restart_delay
        self._max_restart_delay = max_restart_delay
        self._stable_after = stable_after
        #: the running child's ``IProcessTransport`` (``None`` between runs)
        self.process: Any = None
        #: the ports the child wrote in its port file, once it listened (its
        #: last run's while it is restarted)
        self.ports: dict[str, int] = {}
        #: how many times the child was started
        self.starts = 0
        self._started_at = 0.0
        self._delay = restart_delay
        self._restart_call: Any = None
        self._waiting: list[Deferred[int]] = []
        self._stopped: list[Deferred[None]] = []
        self._kill_call: Any = None
        self._listened = False
        self._pid: int | None = None

    @property
    def port(self) -> int | None:
        """The child's port (``"port"`` of its port file), once it first listened."""
        return self.ports.get("port")

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self.process.pid if self.process is not None else None

    def when_listening(self) -> Deferred[int]:
        """Fires with the child's port once it first listens (fails if its first run ends first)."""
        if self.port is not None:
            return succeed(self.port)
        d: Deferred[int] = Deferred()
        self._waiting.append(d)
        return d

    def startService(self) -> None:
        super().startService()
        self._spawn()

    def _spawn(self) -> None:
        self._restart_call = None
        self._listened = False
        if self.port_file is not None:
            self.port_file.unlink(missing_ok=True)
        argv = list(self._argv() if callable(self._argv) else self._argv)
        fds: dict[int, Any] = {0: "w", 1: "r", 2: "r", **self._child_fds}
        self.starts += 1
        self._started_at = self._reactor.seconds()
        self.process = self._reactor.spawnProcess(
            _ChildProtocol(self), argv[0], argv, env=self._env, childFDs=fds)
        self._pid = self.process.pid
        log.info("{child} started (pid {pid})", child=self.label, pid=self._pid)

    def _line(self, line: str, fd: int) -> None:
        event = None
        if line.startswith("{"):
            try:
                event = eventFromJSON(line)
            except (ValueError, TypeError):
                event = None
        if isinstance(event, dict) and "log_format" in event:
            event.pop("message", None)
            event.pop("level", None)
            event["log_system"] = self.label
            event["child"] = self.label
            observer: Any = log.observer
            observer(event)
        elif line.strip():
            log.info("{child}: {line}", child=self.label, line=line, log_system=self.label)
        if not self._listened and self.port_file is not None:
            ports = read_port_file(self.port_file)
            if ports is not None:
                self._listened = True
                self.ports = ports
                waiting, self._waiting = self._waiting, []
                for d in waiting:
                    d.callback(ports["port"])

    def _ended(self, protocol: _ChildProtocol, reason: Failure) -> None:
        pid = self._pid
        self.process = None
        if self._kill_call is not None and self._kill_call.active():
            self._kill_call.cancel()
        self._kill_call = None
        status = _status(reason)
        if not self.running:
            log.info("{child} (pid {pid}) stopped: {status}", child=self.label, pid=pid,
                     status=status)
            stopped, self._stopped = self._stopped, []
            for d in stopped:
                d.callback(None)
            return
        if not self.ports and self.port_file is not None:
            log.error("{child} (pid {pid}) ended before it listened: {status}",
                      child=self.label, pid=pid, status=status)
            waiting, self._waiting = self._waiting, []
            for w in waiting:
                w.errback(RuntimeError(f"{self.label} ended before it listened: {status}"))
            return
        if self._reactor.seconds() - self._started_at >= self._stable_after:
            self._delay = self._restart_delay
        delay, self._delay = self._delay, min(self._max_restart_delay, self._delay * 2)
        log.warn("{child} (pid {pid}) ended: {status}; restarting in {delay}s",  # noqa: G010
                 child=self.label, pid=pid, status=status, delay=delay)
        self._restart_call = self._reactor.callLater(delay, self._spawn)

    def stopService(self) -> Deferred[None]:
        """``SIGTERM`` the child, ``SIGKILL`` it after ``stop_timeout``; fires once it ended."""
        super().stopService()
        if self._restart_call is not None and self._restart_call.active():
            self._restart_call.cancel()
        self._restart_call = None
        if self.process is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._stopped.append(d)
        self._signal("TERM")
        self._kill_call = self._reactor.callLater(self._stop_timeout, self._kill)
        return d

    def _kill(self) -> None:
        self._kill_call = None
        log.warn("{child} (pid {pid}) still runs {timeout}s after SIGTERM: SIGKILL",  # noqa: G010
                 child=self.label, pid=self.pid, timeout=self._stop_timeout)
        self._signal("KILL")

    def _signal(self, name: str) -> None:
        if self.process is None:
            return
        try:
            self.process.signalProcess(name)
        except ProcessExitedAlready:
            pass
