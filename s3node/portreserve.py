"""
Holding a process's fixed TCP ports while its children pick free ones.

Standalone starts its storage nodes first, each on free loopback ports (its
gRPC port on a first start, its bulk and metrics ports on every start: port
0), and its gateway listens on its fixed ports (``--listen``,
``--s3-listen``, ``--metrics-listen``) only once every node does.  A port the
kernel hands a node in between can be one of those: after a restart on the
same ports, the gateway's old port is free again, and once a node had taken
it the gateway could not listen.  So standalone binds those ports first
(:class:`PortReservation`: bound, not listening, so a connection is refused
as before) and lets them go just before the gateway listens.  The kernel
never hands out a port that a socket is bound to (port 0 skips it), whatever
options either socket sets.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator

from twisted.application.service import Service
from twisted.logger import Logger

__all__ = ["PortReservation", "fixed_tcp_ports"]

log = Logger()

#: endpoint kinds that listen on a TCP port given as their first argument
_TCP_KINDS = {"tcp": socket.AF_INET, "tcp6": socket.AF_INET6, "ssl": socket.AF_INET}


def _fields(description: str) -> list[str]:
    """``description`` split at its unescaped colons, backslash escapes removed."""
    fields, current, escaped = [], [], False
    for ch in description:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    fields.append("".join(current))
    return fields


def fixed_tcp_ports(descriptions: Iterable[str | None]) -> Iterator[tuple[int, str, int]]:
    """
    The (address family, interface, port) of every Twisted server endpoint
    description among ``descriptions`` that listens on a given TCP port
    (``tcp:8080:interface=127.0.0.1``, ``ssl:8443:...``, ``tcp6:...``, a
    bare ``8080``); ports 0, other kinds and ``None`` are skipped.
    """
    for description in descriptions:
        if not description:
            continue
        fields = _fields(description)
        if fields[0].isdigit():
            fields = ["tcp", *fields]
        family = _TCP_KINDS.get(fields[0].lower())
        if family is None or len(fields) < 2:
            continue
        options = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        port = options.get("port", fields[1])
        if not port.isdigit() or int(port) == 0:
            continue
        default = "::" if family == socket.AF_INET6 else "0.0.0.0"
        yield family, options.get("interface", default), int(port)


class PortReservation(Service):
    """
    Binds ``ports`` (from :func:`fixed_tcp_ports`) when started, without
    listening, until :meth:`release` (or the service stops).  A port that
    cannot be bound (another process has it) is left alone: whoever listens
    on it later reports the error.
    """

    def __init__(self, ports: Iterable[tuple[int, str, int]]) -> None:
        self.ports = tuple(ports)
        self._held: list[socket.socket] = []

    def startService(self) -> None:
        super().startService()
        for family, host, port in self.ports:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                # as the listener will: its old connections in TIME_WAIT don't stop the bind
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
            except OSError as e:
                sock.close()
                log.info("cannot hold port {port} on {host} while the nodes start: {error}",
                         port=port, host=host, error=e)
                continue
            self._held.append(sock)

    @property
    def held(self) -> int:
        """How many ports are held."""
        return len(self._held)

    def release(self) -> None:
        """Let the ports go (idempotent): their listener binds them next."""
        held, self._held = self._held, []
        for sock in held:
            sock.close()

    def stopService(self) -> None:
        self.release()
        super().stopService()
