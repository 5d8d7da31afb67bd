"""
Hostile HTTP/1.1 requests and what a gateway must answer to each: shared by
the in-process channel tests (tests/gateway) and the real-process framing
tests (tests/integration).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["REFUSALS", "Refusal", "Response", "parse_response"]


@dataclass(frozen=True)
class Refusal:
    """A request the gateway must refuse with ``status``/``code`` and close."""

    name: str
    request: bytes
    status: int
    code: str


def _get(headers: bytes = b"Host: x\r\n", target: bytes = b"/health") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + headers + b"\r\n"


def _post(framing: bytes) -> bytes:
    return b"POST /files HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n0\r\n\r\n"


REFUSALS = [
    Refusal("request line over 8 KiB", _get(target=b"/files?x=" + b"a" * 9000), 414,
            "uri_too_long"),
    Refusal("header line that never ends", b"GET /health HTTP/1.1\r\nX-A: " + b"a" * 20000,
            431, "headers_too_large"),
    Refusal("headers over 16 KiB", _get(b"Host: x\r\n" + b"X-A: " + b"a" * 8200 + b"\r\n"
                                        + b"X-B: " + b"b" * 8200 + b"\r\n"), 431,
            "headers_too_large"),
    Refusal("101 header fields", _get(b"Host: x\r\n" + b"".join(
        b"X-%d: 1\r\n" % i for i in range(100))), 431, "headers_too_large"),
    Refusal("Content-Length with Transfer-Encoding",
            _post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400, "bad_request"),
    Refusal("two Content-Lengths", _post(b"Content-Length: 5\r\nContent-Length: 5\r\n"), 400,
            "bad_request"),
    Refusal("an unknown transfer coding", _post(b"Transfer-Encoding: gzip\r\n"), 501,
            "not_implemented"),
    Refusal("a malformed Content-Length", _post(b"Content-Length: 5x\r\n"), 400, "bad_request"),
    Refusal("a lowercase method", b"get /health HTTP/1.1\r\nHost: x\r\n\r\n", 501,
            "not_implemented"),
    Refusal("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n", 400, "bad_request"),
    Refusal("two Host headers", _get(b"Host: x\r\nHost: y\r\n"), 400, "bad_request"),
    Refusal("a malformed request line", b"GET /health\r\nHost: x\r\n\r\n", 400, "bad_request"),
    Refusal("a header without a colon", _get(b"Host: x\r\nNoColon\r\n"), 400, "bad_request"),
    Refusal("a NUL in a header value", _get(b"Host: x\r\nX-A: a\x00b\r\n"), 400, "bad_request"),
]


@dataclass(frozen=True)
class Response:
    """One HTTP response parsed from raw bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, str]:
        """The body as JSON."""
        value: dict[str, str] = json.loads(self.body)
        return value


def parse_response(raw: bytes) -> tuple[Response, bytes]:
    """The first response in ``raw`` (sized or chunked) and the bytes after it."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            body, rest = body + rest[:size], rest[size + 2:]
            if size == 0:
                return Response(status, headers, body), rest
    length = int(headers.get("content-length", len(rest)))
    return Response(status, headers, rest[:length]), rest[length:]
