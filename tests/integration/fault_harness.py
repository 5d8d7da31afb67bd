"""
The deployments of the fault-injection scenario (``test_fault_scenario.py``):
real processes that the scenario kills, stops and starts again.

:class:`FaultDeployment` owns everything it starts, in a temp dir of its own:

- ``cluster``: a throwaway PostgreSQL cluster, 4 ``twistd s3node-faults
  storage`` processes (``n1``..``n4``) and 2 ``twistd s3node gateway``
  processes sharing the database;
- ``standalone``: one ``twistd s3node-faults standalone`` process (SQLite, 3
  nodes inside it).

``s3node-faults`` is s3node with the scenario's fault hooks
(``faulthooks/s3node_fault_hooks.py``).  Every process is a :class:`Role` that
can be stopped, killed and started again on the same port with the same data.
The scenario reads the metadata database directly for its assertions
(:meth:`FaultDeployment.rows`), and every node's chunk files from disk.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.nodeauth import write_secret
from support.processes import TwistdProcess, start_twistd
from support.waiting import poll_until

from s3node.config import NodeAuth

__all__ = ["SETTINGS", "FaultDeployment", "Role", "start_deployment"]

HOOKS = Path(__file__).parent / "faulthooks"
GATEWAY_READY = r"s3node gateway listening on (?P<host>[\d.]+):(?P<port>\d+)"
STORAGE_READY = r"s3node storage (?P<node_id>\S+) listening on (?P<host>[\d.]+):(?P<port>\d+)"
START_TIMEOUT = 60.0

#: gateway options: small chunks and short intervals, so that every claim,
#: sweep and reconcile pass happens within the scenario
SETTINGS = {
    "chunk-size": "1MiB",
    "replicas": "2",
    "health-interval": "1",
    "sweep-interval": "1",
    # longer than a live upload ever goes without a byte here: its puts (1 MiB on
    # loopback) and the scenario's brief holds of an upload at a byte (node kill)
    "stale-after": "8",
    "reconcile-interval": "3",
    # correctness does not depend on it (docs/durability.md); small, so orphans go soon
    "orphan-grace": "1",
    "write-timeout": "3",
    # repair replaces the corrupted replica within the scenario (no node is down
    # for --repair-after, 15 minutes, so nothing else is copied around)
    "repair-interval": "1",
}
STALE_AFTER = float(SETTINGS["stale-after"])
WRITE_TIMEOUT = float(SETTINGS["write-timeout"])
REPLICAS = int(SETTINGS["replicas"])
#: storage node options: a silent put stream (its gateway stopped or killed) ends soon
NODE_SETTINGS = ("--put-idle-timeout", "5", "--no-fsync")


def _options(settings: dict[str, str]) -> list[str]:
    return [a for k, v in settings.items() for a in (f"--{k}", v)]


@dataclass
class Role:
    """One process of a deployment, which may be killed and started again."""

    name: str
    #: the twistd arguments for a port (0: any free port, the first time)
    argv: Callable[[int], list[str]]
    ready: str
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    #: every process this role ran, the current one last
    runs: list[TwistdProcess] = field(default_factory=list)

    @property
    def proc(self) -> TwistdProcess:
        return self.runs[-1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it (blocking), on the port it had before if it ran already."""
        proc = start_twistd(self.argv(self.port), self.cwd, self.ready, START_TIMEOUT,
                            env=self.env)
        self.runs.append(proc)
        self.port = proc.port

    def running(self) -> bool:
        return bool(self.runs) and self.proc.returncode is None

    def kill(self) -> None:
        """SIGKILL it and wait until it is gone."""
        self.proc.kill()

    def signal(self, signum: int) -> None:
        self.proc.signal(signum)

    def stopped(self) -> bool:
        """Whether the process is stopped (``SIGSTOP``), from ``/proc``."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rfind(")") + 2:].split()[0] in ("T", "t")

    def lines(self) -> list[str]:
        """Every line every run of this role printed, in order."""
        return [line for run in self.runs for line in run.output().splitlines()]

    def close(self) -> None:
        """Stop it for good, even if it is stopped (``SIGSTOP``) right now."""
        if self.running():
            self.proc.signal(signal.SIGCONT)
            self.proc.stop(timeout=10)


class FaultDeployment:
    """A deployment the scenario may break in every way it knows."""

    def __init__(self, kind: str, base: Path, *, settings: dict[str, str] | None = None,
                 node_settings: Sequence[str] = NODE_SETTINGS,
                 standalone_settings: Sequence[str] = (), plugin: str = "s3node-faults",
                 db_name: str = "s3node_faults") -> None:
        self.kind = kind
        self.base = base
        #: the gateway (and standalone) options
        self.settings = dict(SETTINGS if settings is None else settings)
        #: the storage node options, and standalone's options beyond the gateway's
        self.node_settings = tuple(node_settings)
        self.standalone_settings = tuple(standalone_settings)
        #: the twistd plugin the storage and standalone processes run
        self.plugin = plugin
        self.gateways: list[Role] = []
        #: storage node processes by node id (cluster only)
        self.nodes: dict[str, Role] = {}
        #: node id → data dir
        self.data_dirs: dict[str, Path] = {}
        #: role name → the folder of its fault triggers ($S3NODE_FAULT_DIR)
        self.fault_dirs: dict[str, Path] = {}
        self.postgres: Any = None
        self.db_name = db_name
        self.db_url = ""
        self.sqlite_path: Path | None = None
        #: the cluster's secret (standalone makes its own in its data dir)
        self.secret_file = self.base / "cluster-secret"

    # -- processes ---------------------------------------------------------

    def _hooked_env(self, name: str) -> dict[str, str]:
        folder = self.base / "faults" / name
        folder.mkdir(parents=True)
        self.fault_dirs[name] = folder
        path = os.pathsep.join(p for p in (str(HOOKS), os.environ.get("PYTHONPATH")) if p)
        return {"PYTHONPATH": path, "S3NODE_FAULT_DIR": str(folder)}

    def roles(self) -> list[Role]:
        return [*self.nodes.values(), *self.gateways]

    def start_cluster(self, node_count: int = 4, gateway_count: int = 2) -> None:
        from support.postgres import PostgresCluster, require_postgres

        # in the system's temp dir: as root it runs as the postgres user, who
        # cannot enter our (0700) base dir
        self.postgres = PostgresCluster(require_postgres())
        self.postgres.start()
        db = self.db_url = self.postgres.create_database(self.db_name)
        write_secret(self.secret_file)
        secret = ("--cluster-secret-file", str(self.secret_file))
        for i in range(1, node_count + 1):
            self.nodes[f"n{i}"] = self.storage_role(f"n{i}")
        _parallel(role.start for role in self.nodes.values())
        node_args = [a for n, r in self.nodes.items() for a in ("--node", f"{n}=127.0.0.1:{r.port}")]
        for i in range(gateway_count):
            def argv(port: int) -> list[str]:
                return ["s3node", "gateway", "--listen", f"tcp:{port}:interface=127.0.0.1",
                        "--db", db, *_options(self.settings), *secret, *node_args]

            self.gateways.append(Role(f"g{i + 1}", argv, GATEWAY_READY, self.base))
        _parallel(role.start for role in self.gateways)

    def storage_role(self, node_id: str) -> Role:
        """A storage process ``node_id`` with a data dir of its own (not started)."""
        data_dir = self.data_dirs[node_id] = self.base / node_id

        def argv(port: int) -> list[str]:
            return ["--reactor=asyncio", self.plugin, "storage",
                    "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir),
                    "--node-id", node_id, "--cluster-secret-file", str(self.secret_file),
                    *self.node_settings]

        return Role(node_id, argv, STORAGE_READY, self.base, self._hooked_env(node_id))

    def start_standalone(self, node_count: int = 3) -> None:
        data_dir = self.base / "data"
        self.sqlite_path = data_dir / "metadata.sqlite3"
        self.secret_file = data_dir / "cluster-secret"
        self.data_dirs = {f"node-{i}": data_dir / f"node-{i}" for i in range(1, node_count + 1)}

        def argv(port: int) -> list[str]:
            return ["--reactor=asyncio", self.plugin, "standalone",
                    "--data-dir", str(data_dir), "--nodes", str(node_count),
                    "--listen", f"tcp:{port}:interface=127.0.0.1", "--no-fsync",
                    "--s3-listen", "none",
                    *_options(self.settings), *self.standalone_settings]

        role = Role("standalone", argv, GATEWAY_READY, self.base, self._hooked_env("standalone"))
        self.gateways.append(role)
        role.start()

    def close(self) -> None:
        """Stop every process, the database, and remove every file (idempotent)."""
        try:
            _parallel(role.close for role in self.roles())
        finally:
            try:
                if self.postgres is not None:
                    self.postgres.cleanup()
            finally:
                shutil.rmtree(self.base, ignore_errors=True)

    def node_auth(self) -> NodeAuth:
        """What a client needs to call this deployment's storage nodes (its cluster secret)."""
        from s3node.nodeauth import read_secret_file

        return NodeAuth(secrets=read_secret_file(self.secret_file))

    def node_address(self, node_id: str) -> str:
        """``127.0.0.1:PORT`` where ``node_id`` listens now."""
        if node_id in self.nodes:
            return f"127.0.0.1:{self.nodes[node_id].port}"
        found = re.findall(rf"s3node storage {re.escape(node_id)} listening on (\S+)",
                           self.gateways[0].proc.output())
        return found[-1]

    def log_tails(self, lines: int = 60) -> str:
        """The last lines of every process's output (for a failure report)."""
        out = []
        for role in self.roles():
            out.append(f"----- {role.name} ({len(role.runs)} runs) -----")
            out.extend(role.lines()[-lines:])
        return "\n".join(out)

    def save_logs(self) -> None:
        """Keep every process's whole output in ``$S3NODE_FAULT_LOGS``, if it is set."""
        folder = os.environ.get("S3NODE_FAULT_LOGS")
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        for role in self.roles():
            Path(folder, f"{self.kind}-{role.name}.log").write_text("\n".join(role.lines()))

    # -- what is on disk ---------------------------------------------------

    def chunk_inventory(self) -> dict[str, set[str]]:
        """Node id → the ids of the chunk data files in its data dir."""
        return {
            node: {p.name for p in (d / "chunks").glob("*/*/*") if not p.name.endswith(".meta")}
            for node, d in self.data_dirs.items()
        }

    def tmp_leftovers(self) -> dict[str, list[str]]:
        """Node id → files left in its ``tmp/`` (puts in progress)."""
        return {node: sorted(p.name for p in (d / "tmp").glob("*"))
                for node, d in self.data_dirs.items() if (d / "tmp").exists()}

    def chunk_path(self, node_id: str, chunk_id: str) -> Path:
        (path,) = (self.data_dirs[node_id] / "chunks").glob(f"*/*/{chunk_id}")
        return path

    # -- the metadata database, read directly (blocking: call it on a thread) --

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one read-only query; ``%s`` placeholders."""
        if self.postgres is not None:
            conn = self.postgres.connect(self.db_name)
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                    return [tuple(_plain(v) for v in row) for row in cur.fetchall()]
            finally:
                conn.close()
        assert self.sqlite_path is not None
        conn = sqlite3.connect(self.sqlite_path, timeout=10)
        try:
            return [tuple(_plain(v) for v in row)
                    for row in conn.execute(sql.replace("%s", "?"), params).fetchall()]
        finally:
            conn.close()


def _plain(value: Any) -> Any:
    """Database values as the scenario compares them (uuids as text, digests as hex)."""
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if value is not None and type(value).__name__ == "UUID":
        return str(value)
    return value


def _parallel(calls: Any) -> None:
    """Run the blocking ``calls`` on threads at once; re-raise the first error."""
    calls = list(calls)
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def start_deployment(kind: str) -> FaultDeployment:
    """Start a deployment of ``kind`` (``cluster`` or ``standalone``) in a new temp dir."""
    base = Path(tempfile.mkdtemp(prefix=f"s3node-faults-{kind}-"))
    deployment = FaultDeployment(kind, base)
    try:
        if kind == "cluster":
            deployment.start_cluster()
        else:
            deployment.start_standalone()
    except BaseException:
        deployment.close()
        raise
    return deployment


async def wait_for_line(roles: Sequence[Role], pattern: str, *, after: dict[str, int] | None = None,
                        count: int = 1, timeout: float = 30.0, what: str = "") -> list[re.Match[str]]:
    """
    Wait until ``count`` lines (of any of ``roles``, from line ``after[name]``
    on) match ``pattern``; return their matches.
    """
    regex = re.compile(pattern)

    def found() -> list[re.Match[str]] | None:
        matches = []
        for role in roles:
            start = (after or {}).get(role.name, 0)
            matches.extend(m for line in role.lines()[start:] if (m := regex.search(line)))
        return matches if len(matches) >= count else None

    result: list[re.Match[str]] = await poll_until(found, what=what or f"{count} × {pattern!r}",
                                                   timeout=timeout, interval=0.1)
    return result


def line_marks(roles: Sequence[Role]) -> dict[str, int]:
    """How many lines each role printed so far (an ``after`` for :func:`wait_for_line`)."""
    return {role.name: len(role.lines()) for role in roles}
