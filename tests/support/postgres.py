"""
A throwaway PostgreSQL cluster for tests and benchmarks.

:class:`PostgresCluster` runs ``initdb`` and ``pg_ctl`` from the machine's
PostgreSQL server binaries (found on ``PATH``, then in
``/usr/lib/postgresql/*/bin``).  PostgreSQL refuses to run as root, so when
the tests run as root the cluster directory is handed to the ``postgres`` user
and both programs run as that user through ``runuser``.

The server listens on 127.0.0.1 only, on a free port, with ``fsync=off``; it
is stopped and its directory removed by :meth:`PostgresCluster.cleanup` (also
registered with :mod:`atexit`, so a crashed test run leaves nothing behind).

:func:`require_postgres` is what fixtures call: it skips the test with a
clear reason when no binaries exist, except under ``CI=true``, where it fails
the test instead so CI always exercises PostgreSQL.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from support.waiting import WaitTimeout, wait_until

__all__ = [
    "ALL_BACKENDS",
    "PostgresCluster",
    "PostgresUnavailable",
    "find_bindir",
    "require_postgres",
    "selected_backends",
]

#: the user PostgreSQL runs as when we are root
PG_USER = "postgres"


class PostgresUnavailable(Exception):
    """No PostgreSQL server binaries, or the cluster could not be started."""


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or ``None``."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    for initdb in reversed(candidates):
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists():
            return bindir
    return None


def require_postgres() -> Path:
    """
    Return the PostgreSQL binaries folder, or skip the calling test.

    Under ``CI=true`` a missing PostgreSQL fails the test instead: CI must
    never pass without exercising it.
    """
    import pytest

    bindir = find_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; install the 'postgresql' package"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return bindir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """
    One throwaway cluster: ``initdb`` into a fresh temp dir, then
    :meth:`start`.  Trust authentication for user ``postgres`` on
    127.0.0.1 only.
    """

    def __init__(self, bindir: Path | None = None, *, base_dir: str | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise PostgresUnavailable("no PostgreSQL server binaries found")
        self.bindir = found
        self._as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="s3node-pg-", dir=base_dir))
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self.logfile = self.root / "server.log"
        self.port = 0
        self.user = PG_USER
        self._cleaned = False
        atexit.register(self.cleanup)
        try:
            self.sockdir.mkdir()
            if self._as_root:
                pw = pwd.getpwnam(PG_USER)
                for path in (self.root, self.sockdir):
                    os.chown(path, pw.pw_uid, pw.pw_gid)
            self._run(
                "initdb",
                "-A",
                "trust",
                "--no-sync",
                "-U",
                PG_USER,
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
                str(self.datadir),
            )
        except BaseException:
            self.cleanup()
            raise

    # -- running the binaries -------------------------------------------

    def _argv(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bindir / program), *args]
        if self._as_root:
            argv = ["runuser", "-u", PG_USER, "--", *argv]
        return argv

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        proc = subprocess.run(
            self._argv(program, *args),
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )
        if proc.returncode != 0:
            raise PostgresUnavailable(
                f"{program} {' '.join(args)} exited {proc.returncode}:\n"
                f"{proc.stdout}\n{proc.stderr}\n{self._log_tail()}"
            )
        return proc.stdout

    def _log_tail(self) -> str:
        try:
            return "server log:\n" + self.logfile.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    # -- life cycle -------------------------------------------------------

    def start(self) -> None:
        """Start the server (on a new free port the first time, the same port after)."""
        attempts = 1 if self.port else 3
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = _free_port()
            opts = (
                f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-o",
                    opts,
                    "start",
                )
                return
            except PostgresUnavailable:
                if attempt == attempts - 1:
                    raise

    def stop(self) -> None:
        """Stop the server quickly (``-m fast``)."""
        self._run("pg_ctl", "-w", "-D", str(self.datadir), "-m", "fast", "stop")

    def postmaster_pid(self) -> int | None:
        """The server's process id, while it runs."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """
        Crash the server: SIGKILL the postmaster and its backends, and wait
        until they are gone.  :meth:`start` then runs crash recovery.
        """
        pid = self.postmaster_pid()
        if pid is None:
            return
        victims = [pid, *_children(pid)]
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            wait_until(
                lambda: not any(_alive(v) for v in victims),
                what=f"PostgreSQL processes {victims} to die",
                interval=0.02,
            )
        except WaitTimeout:
            raise PostgresUnavailable(f"PostgreSQL processes {victims} survived SIGKILL") from None
        # A killed postmaster stays a zombie until init reaps it, and the next
        # postmaster takes a zombie's pid in postmaster.pid for a live server.
        # Every process of the cluster is dead: the lock file is stale (and
        # removing it is right whether or not the zombies are reaped soon).
        try:
            wait_until(
                lambda: not any(_exists(v) for v in victims),
                what=f"the zombies {victims} to be reaped",
                timeout=2,
                interval=0.02,
            )
        except WaitTimeout:
            pass
        (self.datadir / "postmaster.pid").unlink(missing_ok=True)

    def cleanup(self) -> None:
        """Stop the server if it runs and remove every file of the cluster."""
        if self._cleaned:
            return
        self._cleaned = True
        try:
            if self.postmaster_pid() is not None:
                try:
                    self._run("pg_ctl", "-w", "-D", str(self.datadir), "-m", "immediate", "stop")
                except (PostgresUnavailable, subprocess.TimeoutExpired, OSError):
                    self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.cleanup)

    # -- databases ------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The ``postgresql://`` URL s3node takes for ``dbname``."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        """A blocking autocommit psycopg2 connection (for fixtures and checks)."""
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=dbname, connect_timeout=10
        )
        conn.autocommit = True
        return conn

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        finally:
            conn.close()
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting its sessions."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (PostgreSQL backends are children of the postmaster)."""
    kids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(Path(stat).parent.name))
    return kids


def _exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2 :].split()[0] != "Z"


#: the metadata backends the test suite knows (``memory`` is
#: :class:`s3node.metadata.memory.MemoryMetadataStore`, which has no SQL)
ALL_BACKENDS = ("sqlite", "postgresql", "memory")


def selected_backends() -> tuple[str, ...]:
    """
    The metadata backends to test: ``S3NODE_TEST_BACKENDS`` (``sqlite``,
    ``postgresql``, ``memory``, or several separated by commas or spaces);
    all of them when unset.
    """
    raw = os.environ.get("S3NODE_TEST_BACKENDS", "").replace(",", " ").split()
    if not raw:
        return ALL_BACKENDS
    unknown = sorted(set(raw) - set(ALL_BACKENDS))
    if unknown:
        raise ValueError(
            f"S3NODE_TEST_BACKENDS names unknown backends {unknown}; choose from {ALL_BACKENDS}"
        )
    return tuple(b for b in ALL_BACKENDS if b in raw)
