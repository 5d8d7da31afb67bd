"""
Streaming S3 requests for tests: a signed ``aws-chunked`` PutObject body
(``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) generated as it is sent, and a
GetObject read to its end, neither ever holding more than one chunk.

The request's headers are signed by botocore's ``SigV4Auth`` (which signs the
streaming marker as given); each chunk's
signature chains from the request's (the "seed") per AWS's "Signature
Calculations for the Authorization Header: Transferring Payload in Multiple
Chunks": it signs ``AWS4-HMAC-SHA256-PAYLOAD``, the time, the scope, the
previous signature, the hash of the empty string and the chunk's SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["encoded_length", "get_streamed", "put_signed_chunked"]

_EMPTY = hashlib.sha256(b"").hexdigest()


def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def encoded_length(size: int, chunk: int) -> int:
    """The bytes of the aws-chunked encoding of ``size`` payload bytes in ``chunk``-byte chunks."""
    sizes = [chunk] * (size // chunk) + ([size % chunk] if size % chunk else []) + [0]
    # each: hex size, ";chunk-signature=", 64 hex digits, CRLF, data, CRLF
    return sum(len(f"{n:x}") + 17 + 64 + 2 + n + 2 for n in sizes)


def _frames(chunks: Iterator[bytes], key: bytes, stamp: str, scope: str,
            seed: str) -> Iterator[bytes]:
    previous = seed
    for data in [*_tail(chunks)]:
        string = (f"AWS4-HMAC-SHA256-PAYLOAD\n{stamp}\n{scope}\n{previous}\n{_EMPTY}\n"
                  f"{hashlib.sha256(data).hexdigest()}")
        previous = hmac.new(key, string.encode(), hashlib.sha256).hexdigest()
        yield f"{len(data):x};chunk-signature={previous}\r\n".encode()
        yield data
        yield b"\r\n"


def _tail(chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield from chunks
    yield b""


def put_signed_chunked(url: str, access: str, secret: str, size: int, chunk: int,
                       make: Callable[[int, int], bytes], *, region: str = "us-east-1",
                       timeout: float = 600) -> tuple[int, bytes]:
    """
    PUT ``size`` bytes to ``url`` as a signed aws-chunked body of ``chunk``-byte
    chunks, ``make(offset, length)`` giving each chunk's bytes as it is sent;
    the answer's status and body.
    """
    request = AWSRequest(method="PUT", url=url, headers={
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(size),
        "Content-Length": str(encoded_length(size, chunk)),
    })
    SigV4Auth(Credentials(access, secret), "s3", region).add_auth(request)
    stamp = request.headers["X-Amz-Date"]
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    chunks = (make(offset, min(chunk, size - offset)) for offset in range(0, size, chunk))
    body = _frames(chunks, _signing_key(secret, stamp[:8], region), stamp, scope, seed)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("PUT", parts.path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def get_streamed(url: str, headers: dict[str, str], *, timeout: float = 600,
                 consume: Callable[[bytes], object] = lambda data: None) -> tuple[int, int]:
    """GET ``url`` and read the body in 1 MiB pieces (each given to ``consume``): status, bytes."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                     headers=headers)
        reply = conn.getresponse()
        total = 0
        while data := reply.read(1 << 20):
            consume(data)
            total += len(data)
        return reply.status, total
    finally:
        conn.close()
