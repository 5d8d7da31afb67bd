"""
A stand-in gateway for what a real one won't do on demand: serve wrong bytes,
cut a download short, answer a route the server under test lacks, and show
exactly what the client sent.

:class:`FakeGateway` is a :class:`http.server.ThreadingHTTPServer` on
127.0.0.1 in a thread, with canned replies per method and path, recording
every request it receives.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = ["FakeGateway", "Recorded", "Reply"]


@dataclass(frozen=True)
class Reply:
    """A canned reply."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: announce this ``Content-Length`` instead of the body's, then close (a cut download)
    declared_length: int | None = None

    @classmethod
    def json(cls, status: int, document: Any) -> Reply:
        """A JSON reply."""
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


@dataclass(frozen=True)
class Recorded:
    """A request as the fake received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class FakeGateway:
    """Canned replies by ``(method, path)``; anything else is a JSON ``404 not_found``."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], Reply] = {}
        self.requests: list[Recorded] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                fake.requests.append(
                    Recorded(self.command, parts.path, parts.query, dict(self.headers), body)
                )
                reply = fake.replies.get((self.command, parts.path)) or Reply.json(
                    404, {"error": "not_found", "details": f"no route {parts.path}"}
                )
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                declared = reply.declared_length
                self.send_header("Content-Length", str(len(reply.body) if declared is None
                                                       else declared))
                if declared is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_DELETE = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
