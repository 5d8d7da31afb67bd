"""
End-to-end deployments: real ``twistd`` processes on loopback ports.

``cluster`` (session): a throwaway PostgreSQL cluster of its own (the DB
restart test stops and starts it), six ``twistd -n s3node storage`` processes
and one ``twistd -n s3node gateway`` with 1 MiB chunks and 2 replicas, all
with one cluster secret (``--cluster-secret-file``).
``standalone`` (session): one ``twistd -n s3node standalone`` process with
SQLite and three nodes.  ``deployment`` is parametrized over both, so every
contract test runs against each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.nodeauth import write_secret
from support.processes import start_twistd

CHUNK = "1MiB"
TIMEOUT = 60.0
STORAGE_READY = r"s3node storage (?P<node_id>\S+) listening on (?P<host>[\d.]+):(?P<port>\d+)"
GATEWAY_READY = r"s3node gateway listening on (?P<host>[\d.]+):(?P<port>\d+)"
S3_READY = r"s3node s3 listening on (?P<host>[\d.]+):(?P<port>\d+)"


@dataclass
class Deployment:
    """A running s3node for the tests to talk to."""

    kind: str
    url: str
    #: node id → that node's data dir
    data_dirs: dict[str, Path]
    gateway: Any
    nodes: dict[str, Any] = field(default_factory=dict)
    postgres: Any = None
    #: the S3 endpoint and an access key (id, secret) valid on it
    s3_url: str = ""
    s3_key: tuple[str, str] = ("", "")

    def kill_node(self, node_id: str) -> None:
        """SIGKILL one storage node process (cluster only)."""
        self.nodes[node_id].kill()

    def chunk_files(self) -> set[Path]:
        """Every chunk data file on every node."""
        return {
            p for d in self.data_dirs.values() for p in (d / "chunks").glob("*/*/*")
            if not p.name.endswith(".meta")
        }


def _twistd(*args: str) -> list[str]:
    return ["s3node", *args]


def _s3_url(proc: Any) -> str:
    """The S3 endpoint a gateway logged (before its HTTP listener's ready line)."""
    match = proc.wait_for(S3_READY, timeout=TIMEOUT)
    return f"http://127.0.0.1:{match.group('port')}"


def _key_from(text: str) -> tuple[str, str]:
    """The access key of an AWS shared credentials profile."""
    fields = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)
    return fields["aws_access_key_id"].strip(), fields["aws_secret_access_key"].strip()


def _create_key(db: str) -> tuple[str, str]:
    """A new admin key, made by ``s3node-keys create --admin`` in the cluster's database."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "s3node.s3server.keyadmin", "--db", db, "create",
         "--admin", "--description", "e2e"],
        capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return _key_from(result.stdout)


@pytest.fixture(scope="session")
def admin_key_in() -> Callable[[str], tuple[str, str]]:
    """Makes a new admin key in a database (its DSN): ``(access key id, secret)``."""
    return _create_key


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """PostgreSQL + 6 storage nodes + a gateway, each a real process."""
    from support.postgres import PostgresCluster, require_postgres

    base = tmp_path_factory.mktemp("cluster")
    pg = PostgresCluster(require_postgres())
    processes: list[Any] = []
    try:
        pg.start()
        db = pg.create_database("s3node_e2e")
        secret = ("--cluster-secret-file", str(write_secret(base / "cluster-secret")))
        nodes, dirs = {}, {}
        for i in range(1, 7):
            node_id = f"n{i}"
            data_dir = base / node_id
            proc = start_twistd(
                _twistd("storage", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
                        "--node-id", node_id, "--no-fsync", *secret),
                cwd=base, ready_pattern=STORAGE_READY, timeout=TIMEOUT,
            )
            processes.append(proc)
            nodes[node_id], dirs[node_id] = proc, data_dir
        node_args = [a for n, p in nodes.items() for a in ("--node", f"{n}=127.0.0.1:{p.port}")]
        gateway = start_twistd(
            _twistd("gateway", "--listen", "tcp:0:interface=127.0.0.1", "--db", db,
                    "--chunk-size", CHUNK, "--replicas", "2", "--health-interval", "1",
                    "--sweep-interval", "2", "--s3-listen", "tcp:0:interface=127.0.0.1",
                    *secret, *node_args),
            cwd=base, ready_pattern=GATEWAY_READY, timeout=TIMEOUT,
        )
        processes.append(gateway)
        yield Deployment("cluster", f"http://127.0.0.1:{gateway.port}", dirs, gateway,
                         nodes, pg, s3_url=_s3_url(gateway), s3_key=_create_key(db))
    finally:
        for proc in reversed(processes):
            proc.stop()
        pg.cleanup()


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """``twistd -n s3node standalone`` with SQLite and 3 nodes."""
    base = tmp_path_factory.mktemp("standalone")
    data_dir = base / "data"
    proc = start_twistd(
        _twistd("standalone", "--data-dir", str(data_dir), "--nodes", "3",
                "--listen", "tcp:0:interface=127.0.0.1", "--chunk-size", CHUNK,
                "--replicas", "2", "--health-interval", "1", "--sweep-interval", "2",
                "--s3-listen", "tcp:0:interface=127.0.0.1", "--no-fsync"),
        cwd=base, ready_pattern=GATEWAY_READY, timeout=TIMEOUT,
    )
    try:
        dirs = {f"node-{i}": data_dir / f"node-{i}" for i in range(1, 4)}
        key = _key_from((data_dir / "s3-credentials").read_text())
        yield Deployment("standalone", f"http://127.0.0.1:{proc.port}", dirs, proc,
                         s3_url=_s3_url(proc), s3_key=key)
    finally:
        proc.stop()


@pytest.fixture(params=["cluster", "standalone"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """Each contract test runs against the PostgreSQL cluster and against standalone."""
    return request.getfixturevalue(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here as integration (they start real processes), and those
    that run against the cluster as postgresql (its metadata lives there)."""
    for item in items:
        if "integration" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.integration)
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if "cluster" in getattr(item, "fixturenames", ()) or params.get("deployment") == "cluster":
            item.add_marker(pytest.mark.postgresql)

