"""
The clients of the fault-injection scenario: uploads that stop at a chosen
byte until the scenario lets them go on, downloads that stop reading, raw
connections that vanish mid-body.

Every connection is new (no pooled keep-alive connection survives a gateway
restart to fail a later request), and every outcome is recorded, never raised:
a refused connection or a reset is an :class:`Outcome` with ``code`` ``None``.

Klein installs the default reactor when it is imported, so the reactor is
imported here only inside functions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration.e2e_client import CTYPE, MiB, envelope, write_body_file
from support.auth import ADMIN_ID, ADMIN_SECRET, AUTH
from support.waiting import within
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

__all__ = ["Body", "GatedBody", "GatedDownload", "Http", "Outcome", "RawConnection",
           "make_body", "raw_connect"]

#: seconds any one request may take before the scenario calls it a hang
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Body:
    """A multipart upload body on disk: the file part carries ``size`` bytes."""

    path: Path
    filename: str
    size: int
    sha256: str
    #: bytes of multipart envelope before the file's first byte
    head: int

    @property
    def length(self) -> int:
        return self.path.stat().st_size

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        with self.path.open("rb") as f:
            f.seek(start)
            return f.read((end if end is not None else self.length) - start)


def make_body(folder: Path, filename: str, size: int) -> Body:
    """Write the body of an upload of ``size`` pseudo-random bytes named ``filename``."""
    path = folder / f"{filename}.body"
    seed = int.from_bytes(hashlib.sha256(filename.encode()).digest()[:4], "big")
    digest = write_body_file(path, size, seed=seed, filename=filename)
    return Body(path, filename, size, digest, len(envelope(filename=filename)[0]))


@dataclass
class Outcome:
    """What an upload's client saw: a status and JSON reply, or a connection error."""

    code: int | None
    reply: Any = None
    error: str | None = None

    def __str__(self) -> str:
        if self.code is None:
            return f"no reply ({self.error})"
        error = self.reply.get("error") if isinstance(self.reply, dict) else None
        return f"{self.code}" + (f" {error}" if error else "")

    def short(self) -> str:
        """The status and error code, or the kind of connection failure."""
        if self.code is None:
            return f"no reply ({(self.error or '').split(':')[0]})"
        return str(self)


@implementer(IBodyProducer)
class GatedBody:
    """
    A request body read from a file, 1 MiB at a time as the connection takes
    it; with ``hold_at`` it stops once that many bytes are written, fires
    :attr:`reached`, and goes on only after :meth:`release`.
    """

    def __init__(self, path: Path, hold_at: int | None = None) -> None:
        self._f = path.open("rb")
        self.length = path.stat().st_size
        self.sent = 0
        self._hold_at = hold_at
        #: fires with the bytes sent when the body stops at ``hold_at``
        self.reached: Deferred[int] = Deferred()
        self._gate: Deferred[None] | None = Deferred() if hold_at is not None else None
        self._resumed: Deferred[None] | None = None
        self._stopped = False

    def startProducing(self, consumer: Any) -> Deferred[None]:
        finished: Deferred[None] = Deferred()

        def done(result: Any) -> None:
            if self._stopped:  # IBodyProducer: never fire once stopProducing was called
                return
            if isinstance(result, Failure):
                finished.errback(result)
            else:
                finished.callback(None)

        Deferred.fromCoroutine(self._run(consumer)).addBoth(done)
        return finished

    async def _run(self, consumer: Any) -> None:
        try:
            while not self._stopped:
                if self._resumed is not None:
                    await self._resumed
                    continue
                if self._hold_at is not None and self.sent >= self._hold_at and self._gate:
                    if not self.reached.called:
                        self.reached.callback(self.sent)
                    await self._gate
                    self._gate = None
                    continue
                step = MiB
                if self._hold_at is not None and self.sent < self._hold_at:
                    step = min(step, self._hold_at - self.sent)
                data = self._f.read(step)
                if not data:
                    return
                consumer.write(data)  # pauses us while the connection's buffer is full
                self.sent += len(data)
        finally:
            self._f.close()
            if self._hold_at is not None and not self.reached.called:
                self.reached.errback(Failure(ConnectionError(
                    f"the body ended after {self.sent} bytes, before it reached {self._hold_at}")))

    def release(self) -> None:
        """Let a held body go on."""
        gate, self._gate = self._gate, None
        if gate is not None and not gate.called:
            gate.callback(None)

    def stopProducing(self) -> None:
        self._stopped = True
        self.release()
        self.resumeProducing()

    def pauseProducing(self) -> None:
        if self._resumed is None:
            self._resumed = Deferred()

    def resumeProducing(self) -> None:
        resumed, self._resumed = self._resumed, None
        if resumed is not None:
            resumed.callback(None)


class _Hashing(Protocol):
    """Receives a response body: hashes and counts it; may stop reading at a byte count."""

    def __init__(self, hold_at: int | None) -> None:
        self.sha = hashlib.sha256()
        self.count = 0
        self._hold_at = hold_at
        self.reached: Deferred[int] = Deferred()
        self.done: Deferred[str | None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.sha.update(data)
        self.count += len(data)
        if self._hold_at is not None and self.count >= self._hold_at and not self.reached.called:
            self.transport.pauseProducing()
            self.reached.callback(self.count)

    def connectionLost(self, reason: Failure) -> None:
        from twisted.web.client import ResponseDone

        if not self.reached.called:
            self.reached.callback(self.count)
        self.done.callback(None if reason.check(ResponseDone) else str(reason.value))


@dataclass
class GatedDownload:
    """A download under way (see :meth:`Http.download`)."""

    code: int
    body: _Hashing

    def release(self) -> None:
        """Read on, after stopping at ``hold_at``."""
        self.body.transport.resumeProducing()

    async def finish(self) -> tuple[str, int, str | None]:
        """Wait for the end: sha256 hex, length, and the error that ended it early, if any."""
        error = await within(self.body.done, what="the download to end", timeout=REQUEST_TIMEOUT)
        return self.body.sha.hexdigest(), self.body.count, error


class Http:
    """An HTTP client that opens a new connection for every request."""

    def __init__(self) -> None:
        from treq.client import HTTPClient
        from twisted.internet import reactor
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=False)
        self._client = HTTPClient(Agent(reactor, pool=pool, connectTimeout=10))

    async def _request(self, method: str, url: str, **kw: Any) -> Any:
        kw.setdefault("auth", (ADMIN_ID, ADMIN_SECRET))  # the suite's admin key
        return await within(self._client.request(method, url, **kw),
                            what=f"{method} {url}", timeout=REQUEST_TIMEOUT)

    async def upload(self, base: str, body: GatedBody) -> Outcome:
        """POST ``body`` to ``base``/files; what the client saw."""
        try:
            r = await self._request("POST", f"{base}/files", data=body,
                                    headers={"content-type": CTYPE})
            text = await within(r.content(), what="the upload's reply", timeout=REQUEST_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - a failed connection is an outcome here
            return Outcome(None, error=f"{type(e).__name__}: {e}")
        try:
            return Outcome(r.code, json.loads(text))
        except ValueError:
            return Outcome(r.code, text.decode("utf-8", "replace"))

    async def get_json(self, url: str) -> tuple[int, Any]:
        r = await self._request("GET", url)
        text = await within(r.content(), what=f"GET {url}", timeout=REQUEST_TIMEOUT)
        return r.code, json.loads(text) if text else None

    async def delete(self, url: str) -> int:
        r = await self._request("DELETE", url)
        await r.content()
        return int(r.code)

    async def download(self, url: str, hold_at: int | None = None) -> GatedDownload:
        """Start a GET of ``url``; with ``hold_at``, reading stops after that many bytes."""
        r = await self._request("GET", url, unbuffered=True)
        body = _Hashing(hold_at)
        r.original.deliverBody(body)
        return GatedDownload(r.code, body)


class RawConnection(Protocol):
    """
    A raw client connection: sends what it is told, keeps the reply's first
    64 KiB, counts the rest; fires :attr:`closed` when the connection ends.
    """

    def __init__(self) -> None:
        self.head = b""
        self.count = 0
        self.closed: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        if len(self.head) < 65536:
            self.head += data[: 65536 - len(self.head)]
        self.count += len(data)

    def connectionLost(self, reason: Failure) -> None:
        self.closed.callback(None)

    @property
    def status(self) -> int | None:
        """The reply's status code, once its first line arrived."""
        if not self.head.startswith(b"HTTP/1.1 ") or len(self.head) < 12:
            return None
        return int(self.head[9:12])

    @property
    def body_count(self) -> int:
        """Bytes received after the reply's headers."""
        end = self.head.find(b"\r\n\r\n")
        return self.count - (end + 4) if end >= 0 else 0

    def declared_length(self) -> int:
        for line in self.head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                return int(value)
        raise AssertionError(f"no Content-Length in {self.head[:300]!r}")


async def raw_connect(base: str) -> RawConnection:
    """A :class:`RawConnection` to the ``http://127.0.0.1:PORT`` server ``base`` names."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    port = int(base.rsplit(":", 1)[1])
    proto = RawConnection()
    await within(connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), proto),
                 what=f"a connection to {base}")
    return proto


def upload_head(body: Body) -> bytes:
    """The request line and headers of a raw upload of ``body``."""
    return (f"POST /files HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH}Content-Type: {CTYPE}\r\n"
            f"Content-Length: {body.length}\r\n\r\n").encode()
