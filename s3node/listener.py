"""
:class:`ListenerService`: listen on a Twisted server endpoint while the service runs.

The role's services (the gateway's HTTP listener, a storage node's metrics
listener) add one as a child once what it serves is ready; it
starts listening when it starts, and stops listening (open connections go on)
when it stops, before its siblings.  :attr:`ListenerService.listening` fires
with the listening port, so the role can log where it listens.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed

__all__ = ["ListenerService", "describe_address"]


def describe_address(address: Any) -> str:
    """``host:port`` of a listening port's address, or a UNIX socket path."""
    if hasattr(address, "port"):
        return f"{address.host}:{address.port}"
    return str(getattr(address, "name", address))


class ListenerService(Service):
    """Listen with ``factory`` on ``endpoint`` from start to stop."""

    def __init__(self, name: str, endpoint: Any, factory: Any) -> None:
        """``endpoint`` provides :class:`~twisted.internet.interfaces.IStreamServerEndpoint`."""
        self.setName(name)
        self._endpoint = endpoint
        self._factory = factory
        #: the :class:`~twisted.internet.interfaces.IListeningPort`, while listening
        self.port: Any = None
        #: fires with the listening port once it listens (or with why it can't)
        self.listening: Deferred[Any] = Deferred()

    def startService(self) -> None:
        super().startService()
        d = self._endpoint.listen(self._factory)
        d.addCallback(self._listened)
        d.addErrback(self.listening.errback)

    def _listened(self, port: Any) -> None:
        self.port = port
        self.listening.callback(port)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        return maybeDeferred(port.stopListening)
