"""
The side-by-side benchmark's HTTP client: one wire client for s3node and Swift.

A blocking HTTP/1.1 client over a raw socket with large buffers, so that the
client is never what limits a run: bodies are sent from one pre-built 1 MiB
pattern block (no per-byte work in Python) and read with ``recv_into`` into a
reused buffer.  What differs between the servers is only the request each
operation makes, described by a :class:`Target` (a picklable value, so that
worker processes can be handed one):

- ``swift``: ``PUT``/``GET /v1/AUTH_x/container/name`` with ``X-Auth-Token``;
- ``s3node``: ``POST /files`` with a multipart envelope around the body, and
  ``GET /files/{file_id}``.

``Target.headers`` are sent with every request: the hook for credentials
(Swift's token; s3node's ``Authorization``, its admin key in HTTP Basic).  Every body byte of a ``PUT`` is checked by the server's own digest
(``ETag`` MD5 for Swift, the reply's SHA-256 for s3node) against the digest of
the pattern stream, computed beforehand; a ``GET`` checks its length and
compares sampled blocks (every :data:`VERIFY_EVERY`-th MiB) with the pattern.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import time
from dataclasses import dataclass, field

__all__ = [
    "BLOCK",
    "Connection",
    "HttpError",
    "Target",
    "get_object",
    "parse_header",
    "pattern_digest",
    "put_object",
]

MiB = 1024 * 1024
#: the body of every object: this block repeated (seeded, so every process has the same)
BLOCK = random.Random(8).randbytes(MiB)
_DOUBLE = BLOCK + BLOCK
#: a GET compares one received piece in this many MiB with the pattern
VERIFY_EVERY = 32
BOUNDARY = "sbsBoundary7f3a9c"


class HttpError(RuntimeError):
    """A response that was not what the operation expects."""


@dataclass(frozen=True)
class Target:
    """Where and how to store objects: a server and its flavour of API."""

    kind: str  # "swift" or "s3node"
    host: str
    port: int
    #: Swift: the account's path (``/v1/AUTH_test``) and container; s3node: unused
    prefix: str = ""
    #: sent with every request (auth token, Authorization...)
    headers: tuple[tuple[str, str], ...] = field(default=())


def parse_header(line: str) -> tuple[str, str]:
    """``"Name: value"`` as ``("Name", "value")``; ``ValueError`` without a name and colon."""
    name, colon, value = line.partition(":")
    if not colon or not name.strip() or name != name.strip():
        raise ValueError(f"not a header line: {line!r}")
    return name, value.strip()


def pattern_digest(size: int, algorithm: str) -> str:
    """The hex digest of the first ``size`` bytes of the pattern stream."""
    h = hashlib.new(algorithm)
    full, rest = divmod(size, MiB)
    for _ in range(full):
        h.update(BLOCK)
    h.update(BLOCK[:rest])
    return h.hexdigest()


class Connection:
    """One keep-alive HTTP/1.1 connection with a reusable receive buffer."""

    def __init__(self, target: Target, timeout: float = 600.0) -> None:
        self.target = target
        self.sock = socket.create_connection((target.host, target.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray(4 * MiB)
        self._view = memoryview(self._buf)
        self._pending = b""  # bytes read past the head

    def close(self) -> None:
        self.sock.close()

    def send_head(self, method: str, path: str, headers: list[tuple[str, str]]) -> None:
        t = self.target
        lines = [f"{method} {path} HTTP/1.1", f"Host: {t.host}:{t.port}"]
        lines += [f"{k}: {v}" for k, v in (*t.headers, *headers)]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_pattern(self, size: int) -> None:
        """Send ``size`` bytes of the pattern stream."""
        block = memoryview(BLOCK)
        full, rest = divmod(size, MiB)
        for _ in range(full):
            self.sock.sendall(block)
        if rest:
            self.sock.sendall(block[:rest])

    def read_head(self) -> tuple[int, dict[str, str], float]:
        """Read a response head; return status, lower-cased headers and its arrival time."""
        data = self._pending
        first: float | None = time.perf_counter() if data else None
        while b"\r\n\r\n" not in data:
            piece = self.sock.recv(65536)
            if not piece:
                raise HttpError("connection closed before the response head")
            if first is None:
                first = time.perf_counter()
            data += piece
            if len(data) > 65536:
                raise HttpError("response head too large")
        head, _, self._pending = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        assert first is not None
        return status, headers, first

    def _recv_into(self, limit: int) -> memoryview:
        """The next body bytes (at most ``limit``), from what is pending or the socket."""
        if self._pending:
            n = min(limit, len(self._pending))
            self._buf[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return self._view[:n]
        n = self.sock.recv_into(self._view[: min(limit, len(self._buf))])
        if not n:
            raise HttpError("connection closed mid-body")
        return self._view[:n]

    def read_body(self, headers: dict[str, str], *, verify: bool = False) -> tuple[int, bytes]:
        """
        Read the body; return its length and, when short (< 1 MiB), its bytes.

        With ``verify`` the body must be the pattern stream (sampled check).
        """
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(headers.get("content-length", "0"))
        keep = bytearray() if length < MiB else None
        pos = 0
        while pos < length:
            piece = self._recv_into(min(MiB, length - pos))
            n = len(piece)
            if keep is not None:
                keep += piece
            if verify and (pos // MiB) % VERIFY_EVERY == 0:
                offset = pos % MiB
                if piece.tobytes() != _DOUBLE[offset : offset + n]:
                    raise HttpError(f"wrong bytes at offset {pos}")
            pos += n
        return length, bytes(keep or b"")

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._pending:
            piece = self.sock.recv(65536)
            if not piece:
                raise HttpError("connection closed mid-chunked body")
            self._pending += piece
        line, _, self._pending = self._pending.partition(b"\r\n")
        return line

    def _read_chunked(self) -> tuple[int, bytes]:
        out = bytearray()
        while True:
            size = int(self._read_line().split(b";")[0], 16)
            while len(self._pending) < size + 2:
                piece = self.sock.recv(MiB)
                if not piece:
                    raise HttpError("connection closed mid-chunk")
                self._pending += piece
            out += self._pending[:size]
            self._pending = self._pending[size + 2 :]
            if size == 0:
                return len(out), bytes(out)


def _envelope(name: str) -> tuple[bytes, bytes]:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def _send_put(conn: Connection, name: str, size: int) -> None:
    t = conn.target
    if t.kind == "swift":
        conn.send_head("PUT", f"{t.prefix}/{name}", [("Content-Length", str(size))])
        conn.send_pattern(size)
        return
    head, tail = _envelope(name)
    conn.send_head("POST", "/files", [
        ("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"),
        ("Content-Length", str(len(head) + size + len(tail)))])
    conn.sock.sendall(head)
    conn.send_pattern(size)
    conn.sock.sendall(tail)


def put_object(conn: Connection, name: str, size: int, digests: dict[str, str]) -> dict:
    """
    Store ``size`` pattern bytes as ``name``; return seconds, TTFB and the object's reference.

    ``digests`` maps ``md5``/``sha256`` to the pattern's digest for ``size``.
    """
    t = conn.target
    start = time.perf_counter()
    try:
        _send_put(conn, name, size)
    except (BrokenPipeError, ConnectionResetError) as e:
        # The server answered early and closed: say what it answered.
        try:
            status, headers, _ = conn.read_head()
            _, body = conn.read_body(headers)
        except (OSError, HttpError):
            raise HttpError(f"{t.kind} PUT {name}: connection lost mid-body ({e})") from None
        raise HttpError(f"{t.kind} PUT {name}: {status} {body[:300]!r} mid-body") from None
    status, headers, first = conn.read_head()
    _, body = conn.read_body(headers)
    end = time.perf_counter()
    if status != 201:
        raise HttpError(f"{t.kind} PUT {name}: {status} {body[:300]!r}")
    if t.kind == "swift":
        ref, digest, want = name, headers.get("etag", "").strip('"'), digests["md5"]
    else:
        reply = json.loads(body)
        ref, digest, want = reply["file_id"], reply["checksum"], digests["sha256"]
    if digest != want:
        raise HttpError(f"{t.kind} PUT {name}: server digest {digest}, sent {want}")
    return {"seconds": end - start, "ttfb": first - start, "ref": ref}


def get_object(conn: Connection, ref: str, size: int) -> dict:
    """Read object ``ref`` (``size`` pattern bytes); return seconds and TTFB."""
    t = conn.target
    path = f"{t.prefix}/{ref}" if t.kind == "swift" else f"/files/{ref}"
    start = time.perf_counter()
    conn.send_head("GET", path, [])
    status, headers, first = conn.read_head()
    if status != 200:
        _, body = conn.read_body(headers)
        raise HttpError(f"{t.kind} GET {ref}: {status} {body[:300]!r}")
    length, _ = conn.read_body(headers, verify=True)
    end = time.perf_counter()
    if length != size:
        raise HttpError(f"{t.kind} GET {ref}: {length} bytes, expected {size}")
    return {"seconds": end - start, "ttfb": first - start}
