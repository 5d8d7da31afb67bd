"""
:class:`s3node.nodeprocess.ChildProcessService` against a fake reactor: when a
child is restarted and how long it waits, how it is stopped, how its port and
its log lines reach the parent.  (Real processes: tests/integration/test_standalone_processes.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.logger import LogLevel, eventAsJSON, globalLogPublisher
from twisted.python.failure import Failure

from s3node.nodeprocess import ChildProcessService, read_port_file, write_port_file


class FakeProcess:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.signals: list[str] = []

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class FakeReactor(Clock):
    """A clock that records the processes it is asked to spawn."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[Any, list[str], dict[int, Any], FakeProcess]] = []

    def spawnProcess(self, protocol: Any, executable: str, args: list[str], env: Any = None,
                     childFDs: dict[int, Any] | None = None) -> FakeProcess:
        process = FakeProcess(100 + len(self.spawned))
        self.spawned.append((protocol, args, dict(childFDs or {}), process))
        protocol.makeConnection(process)
        return process


def exited(reactor: FakeReactor, code: int = 1) -> None:
    protocol = reactor.spawned[-1][0]
    protocol.processEnded(Failure(ProcessTerminated(exitCode=code)))


def listened(reactor: FakeReactor, port_file: Path, port: int) -> None:
    write_port_file(port_file, {"port": port, "metrics_port": port + 1})
    protocol = reactor.spawned[-1][0]
    event = {"log_format": "listening on {port}", "port": port, "log_level": LogLevel.info,
             "log_namespace": "s3node.storage.service", "log_time": 1.0}
    protocol.childDataReceived(1, (eventAsJSON(event) + "\n").encode())


@pytest.fixture
def events() -> Any:
    seen: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(seen.append)
    yield seen
    globalLogPublisher.removeObserver(seen.append)


def test_a_child_that_dies_is_restarted_with_a_doubling_delay(tmp_path: Path) -> None:
    """
    After its first listen, each death of the child starts it again after 1,
    2, 4... seconds (at most ``max_restart_delay``), with the command of that
    moment; a run that lasted ``stable_after`` brings the delay back to 1 s.
    """
    reactor = FakeReactor()
    port_file = tmp_path / "ports.json"
    runs = []

    def argv() -> list[str]:
        runs.append(len(runs))
        return ["python", "child", str(len(runs))]

    child = ChildProcessService("node-1", argv, reactor, port_file=port_file, restart_delay=1,
                                max_restart_delay=4, stable_after=60)
    child.startService()
    listening = child.when_listening()
    listened(reactor, port_file, 5000)
    assert listening.result == 5000 and child.ports == {"port": 5000, "metrics_port": 5001}
    assert reactor.spawned[0][2] == {0: "w", 1: "r", 2: "r"}
    for delay in (1, 2, 4, 4):
        exited(reactor)
        assert len(reactor.spawned) == child.starts and child.process is None
        reactor.advance(delay - 0.01)
        assert child.process is None
        reactor.advance(0.01)
        assert child.process is not None
    assert [args[-1] for _, args, _, _ in reactor.spawned] == ["1", "2", "3", "4", "5"]
    reactor.advance(60)
    exited(reactor)
    reactor.advance(1)
    assert child.starts == 6


def test_a_first_run_that_ends_before_listening_fails_and_is_not_restarted(
    tmp_path: Path,
) -> None:
    """A child that never listened (a bad option, a locked data dir) fails ``when_listening``."""
    reactor = FakeReactor()
    child = ChildProcessService("node-1", ["python", "x"], reactor,
                                port_file=tmp_path / "ports.json")
    child.startService()
    d = child.when_listening()
    failures: list[Failure] = []
    d.addErrback(failures.append)
    exited(reactor, code=2)
    assert "node-1 ended before it listened" in str(failures[0].value)
    reactor.advance(100)
    assert child.starts == 1


def test_stopping_sends_sigterm_then_sigkill_after_the_timeout(tmp_path: Path) -> None:
    """``stopService`` sends TERM, KILL after ``stop_timeout``, and fires once the child ended;
    a pending restart is cancelled."""
    reactor = FakeReactor()
    port_file = tmp_path / "ports.json"
    child = ChildProcessService("worker-2", ["python", "x"], reactor, port_file=port_file,
                                stop_timeout=20)
    child.startService()
    listened(reactor, port_file, 7000)
    process = reactor.spawned[-1][3]
    stopped = child.stopService()
    assert process.signals == ["TERM"] and not stopped.called
    reactor.advance(20)
    assert process.signals == ["TERM", "KILL"]
    reactor.spawned[-1][0].processEnded(Failure(ProcessDone(0)))
    assert stopped.called
    reactor.advance(100)
    assert child.starts == 1


def test_the_childs_events_join_the_parents_log_under_its_name(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """A JSON event line becomes an event of the parent's log with ``log_system`` and ``child``
    naming the child; any other line (a traceback) is logged as text; the port file is read."""
    reactor = FakeReactor()
    port_file = tmp_path / "ports.json"
    child = ChildProcessService("node-3", ["python", "x"], reactor, port_file=port_file)
    child.startService()
    listened(reactor, port_file, 6000)
    protocol = reactor.spawned[-1][0]
    protocol.childDataReceived(2, b"Traceback (most recent")
    protocol.childDataReceived(2, b" call last):\n")
    forwarded = [e for e in events if e.get("log_namespace") == "s3node.storage.service"]
    assert forwarded[0]["log_format"] == "listening on {port}" and forwarded[0]["port"] == 6000
    assert forwarded[0]["log_system"] == forwarded[0]["child"] == "node-3"
    text = [e for e in events if e.get("line") == "Traceback (most recent call last):"]
    assert text and text[0]["log_system"] == "node-3"
    assert read_port_file(port_file) == {"port": 6000, "metrics_port": 6001}
    port_file.write_text(json.dumps({"no": 1}))
    assert read_port_file(port_file) is None
