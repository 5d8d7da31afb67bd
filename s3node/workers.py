"""
Gateway worker processes sharing the gateway's listening sockets (``--workers N``).

With ``--workers 1`` (the default) a gateway is one process, as it always was.
With ``N`` above 1, the gateway process (worker 1) listens as usual and then
:func:`worker_services` builds ``N - 1`` children, each a ``twistd -n s3node
gateway`` (:class:`~s3node.nodeprocess.ChildProcessService`: restarted when it
dies, stopped with its parent, gone when the parent is gone) that inherits the
``--listen`` and ``--s3-listen`` sockets as file descriptors 3 and 4 and adopts
them (``reactor.adoptStreamPort``); the kernel hands each new connection to
one of the processes accepting on the socket.  Each worker has its own
metadata connections, node clients and thread pool; the background workers
(sweeper, reconciler, repair) run where the metadata store's lease says, as
they do across separate gateways.

Metrics: each child serves its own registry on a loopback port (its port
file names it); the parent's page relays theirs, every sample labelled
``worker="K"`` (the parent's own ``worker="1"``), and a child's ``/metrics``
serves that page (fetched from the parent's loopback metrics listener), so a
scrape sees every worker whichever process answers it.

The workers write their port files to a run dir in the temp folder
(:func:`make_run_dir`), which the gateway removes when it stops.  A gateway
killed outright (SIGKILL, a power cut) cannot: the next gateway started with
that temp folder removes the run dirs whose owner, named in the dir, is no
longer running on this host.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from s3node.config import GatewayConfig
from s3node.metricsrelay import MetricsRelay, Source
from s3node.nodeprocess import ChildProcessService, twistd_argv

__all__ = [
    "LISTEN_FD", "S3_LISTEN_FD", "adopted_endpoint", "gateway_args", "make_run_dir",
    "page_from", "remove_stale_run_dirs", "worker_services",
]

#: the file descriptors a worker finds the ``--listen`` and ``--s3-listen`` sockets on
LISTEN_FD = 3
S3_LISTEN_FD = 4

#: config fields a worker's command line leaves out (the parent's own business)
_NOT_PASSED = {"listen", "s3_listen", "nodes", "workers", "twistd_plugin", "node_auth",
               "admin_key_file"}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def gateway_args(config: GatewayConfig) -> list[str]:
    """
    ``s3node gateway`` options that parse back into ``config`` (its listeners
    aside: a worker adopts its parent's sockets).
    """
    args: list[str] = []
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name in _NOT_PASSED or value is None or value is False:
            continue
        if value is True:
            args.append(_option(f.name))
        else:
            args += [_option(f.name), str(value)]
    for node in config.nodes:
        args += ["--node", f"{node.node_id}={node.address}"]
    return args + list(config.node_auth.child_args)


def adopted_endpoint(reactor: Any, fd: int) -> Any:
    """A server endpoint on the inherited listening socket ``fd``."""
    from twisted.internet.endpoints import AdoptedStreamServerEndpoint

    probe = socket.socket(fileno=fd)
    try:
        family = probe.family
    finally:
        probe.detach()
    return AdoptedStreamServerEndpoint(reactor, fd, family)


#: how a run dir's name begins, in the temp folder
RUN_DIR_PREFIX = "s3node-workers-"
#: the file in a run dir that names its owner: ``PID HOSTNAME``
OWNER_FILE = "owner"


def make_run_dir(base: Path | None = None) -> Path:
    """
    A new run dir for a gateway's workers' port files in ``base`` (the temp
    folder), naming this process as its owner, once the run dirs there whose
    owners are gone have been removed (:func:`remove_stale_run_dirs`).
    Blocking, and quick: call it while the gateway starts.
    """
    base = Path(base or tempfile.gettempdir())
    remove_stale_run_dirs(base)
    path = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX, dir=base))
    (path / OWNER_FILE).write_text(f"{os.getpid()} {socket.gethostname()}\n")
    return path


def remove_stale_run_dirs(base: Path) -> list[Path]:
    """
    Remove the run dirs in ``base`` left by gateways that are gone, and return
    them.  A dir is left alone unless it is this user's, its owner file names
    this host and its process does not run: a dir without an owner file (being
    made, or an older gateway's) or another host's (a shared temp folder) is
    not this gateway's to judge.
    """
    removed = []
    for path in sorted(base.glob(RUN_DIR_PREFIX + "*")):
        try:
            if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
            pid, host = (path / OWNER_FILE).read_text().split()
            if host != socket.gethostname() or _running(int(pid)):
                continue
        except (OSError, ValueError):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        pass
    return True


def worker_services(config: GatewayConfig, reactor: Any, *, http_fd: int, s3_fd: int | None,
                    run_dir: Path, parent_metrics: str,
                    stop_timeout: float) -> tuple[list[ChildProcessService], MetricsRelay]:
    """
    Workers 2 to ``config.workers`` of a gateway listening on ``http_fd`` (and
    ``s3_fd``), and the relay of their metrics.

    :param run_dir: where each worker writes its port file
    :param parent_metrics: the URL of the parent's full metrics page
    """
    from twisted.web.client import Agent

    fds = {LISTEN_FD: http_fd}
    if s3_fd is not None:
        fds[S3_LISTEN_FD] = s3_fd
    workers = []
    for k in range(2, config.workers + 1):
        port_file = run_dir / f"worker-{k}.json"
        child = replace(
            config, workers=1, exit_with_parent=True,
            listen_fd=LISTEN_FD, s3_listen_fd=S3_LISTEN_FD if s3_fd is not None else None,
            holder_id=f"{config.holder_id}-{k}" if config.holder_id else None,
            metrics_listen="tcp:0:interface=127.0.0.1", metrics_from=parent_metrics,
            port_file=port_file,
        )
        argv = twistd_argv(config.twistd_plugin, "gateway", *gateway_args(child))
        workers.append(ChildProcessService(f"worker-{k}", argv, reactor, port_file=port_file,
                                           child_fds=fds, stop_timeout=stop_timeout))

    def pages() -> list[Source]:
        return [(w.label, f"http://127.0.0.1:{w.ports['metrics_port']}/metrics",
                 {"worker": w.label.removeprefix("worker-")})
                for w in workers if "metrics_port" in w.ports]

    return workers, MetricsRelay(pages, Agent(reactor), reactor)


def page_from(url: str, reactor: Any, timeout: float = 10.0) -> Any:
    """A :attr:`ProcessMetrics.delegate <s3node.metrics.ProcessMetrics.delegate>` serving ``url``'s page."""
    from twisted.internet.defer import Deferred
    from twisted.web.client import Agent, readBody
    from twisted.web.http_headers import Headers

    agent = Agent(reactor)

    async def page(accept: str | None) -> tuple[bytes, str]:
        headers = Headers({b"accept": [accept.encode("latin-1")]} if accept else {})
        asked: Deferred[Any] = agent.request(b"GET", url.encode("ascii"), headers)
        response = await asked.addTimeout(timeout, reactor)
        body: bytes = await readBody(response).addTimeout(timeout, reactor)
        (content_type,) = response.headers.getRawHeaders(b"content-type") or [b"text/plain"]
        return body, content_type.decode("latin-1")

    return page
