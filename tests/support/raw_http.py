"""
A raw HTTP client connection, for what treq won't send (a body cut short, an
``Expect: 100-continue`` whose body may never follow) and for watching bytes
arrive.

Klein installs the default reactor when it is imported, so the reactor is
imported here only inside functions.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from support.waiting import DEFAULT_TIMEOUT, within

__all__ = ["RawClient", "connect_raw"]


class RawClient(Protocol):
    """Collects what the server sends; fires :attr:`closed` when the connection ends."""

    def __init__(self) -> None:
        self.received = b""
        self.closed: Deferred[None] = Deferred()
        self._waiters: list[tuple[bytes, Deferred[None]]] = []

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        for marker, d in list(self._waiters):
            if marker in self.received:
                self._waiters.remove((marker, d))
                d.callback(None)

    def connectionLost(self, reason: Failure) -> None:
        self.closed.callback(None)

    async def wait_for(self, marker: bytes, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until ``marker`` is among the bytes received."""
        if marker in self.received:
            return
        d: Deferred[None] = Deferred()
        self._waiters.append((marker, d))
        await within(d, what=f"{marker!r} from the server", timeout=timeout)


async def connect_raw(url: str) -> RawClient:
    """A :class:`RawClient` connected to the ``http://127.0.0.1:PORT`` server ``url`` names."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    port = int(url.rsplit(":", 1)[1])
    proto = RawClient()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), proto)
    return proto
