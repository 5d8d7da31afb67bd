"""
HTTP helpers for the end-to-end tests: multipart bodies streamed from files,
hashing downloads, raw sockets for what treq won't send.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import treq
from twisted.internet.defer import Deferred
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

BOUNDARY = "e2eBoundary7MA4YWxkTrZu0gW"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"
MiB = 1024 * 1024


def envelope(filename: str = "f.bin", content_type: str = "application/octet-stream",
             raw_filename: bytes | None = None) -> tuple[bytes, bytes]:
    """The multipart head and tail around a 'file' part."""
    name = raw_filename if raw_filename is not None else (
        filename.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8"))
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"")
    head_b = head.encode() + name + f'"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
    return head_b, f"\r\n--{BOUNDARY}--\r\n".encode()


def form(data: bytes, **kw: Any) -> bytes:
    head, tail = envelope(**kw)
    return head + data + tail


async def post_bytes(url: str, data: bytes, **kw: Any) -> tuple[int, dict[str, Any]]:
    """Upload ``data`` in memory; return the status and JSON reply."""
    r = await treq.post(url + "/files", data=form(data, **kw),
                        headers={"content-type": CTYPE})
    return r.code, json.loads(await r.content())


def write_body_file(path: Path, size: int, seed: int = 1, **kw: Any) -> str:
    """Write a multipart body carrying ``size`` pseudo-random bytes; return their sha256."""
    head, tail = envelope(**kw)
    h = hashlib.sha256()
    block = hashlib.sha512(str(seed).encode()).digest() * (MiB // 64)
    with path.open("wb") as f:
        f.write(head)
        left, i = size, 0
        while left:
            piece = block[: min(left, MiB)]
            piece = bytes([i % 256]) + piece[1:] if piece else piece
            f.write(piece)
            h.update(piece)
            left -= len(piece)
            i += 1
        f.write(tail)
    return h.hexdigest()


async def post_file(url: str, path: Path, *,
                    progress: Callable[[int], None] | None = None) -> tuple[int, dict[str, Any]]:
    """
    Upload a multipart body file, streamed.

    :param progress: called with the bytes sent so far after each MiB the
        connection takes (to act at a point of the upload, not at a time)
    """
    with path.open("rb") as f:
        if progress is not None:
            producer: Any = _ReportingProducer(f, os.path.getsize(path), progress)
        else:
            producer = FileBodyProducer(f, readSize=MiB)
        r = await treq.post(url + "/files", data=producer,
                            headers={"content-type": CTYPE})
        return r.code, json.loads(await r.content())


@implementer(IBodyProducer)
class _ReportingProducer:
    """An IBodyProducer writing 1 MiB whenever the connection takes more, reporting each."""

    def __init__(self, f: Any, length: int, progress: Callable[[int], None]) -> None:
        self._f = f
        self.length = length
        self._progress = progress
        self._stopped = False
        self._resumed: Deferred[None] | None = None

    def startProducing(self, consumer: Any) -> Deferred[None]:
        return Deferred.fromCoroutine(self._run(consumer))

    async def _run(self, consumer: Any) -> None:
        sent = 0
        while not self._stopped:
            if self._resumed is not None:
                await self._resumed
                continue
            data = self._f.read(MiB)
            if not data:
                return
            consumer.write(data)  # pauses us while the connection's buffer is full
            sent += len(data)
            self._progress(sent)

    def stopProducing(self) -> None:
        self._stopped = True
        self.resumeProducing()

    def pauseProducing(self) -> None:
        if self._resumed is None:
            self._resumed = Deferred()

    def resumeProducing(self) -> None:
        resumed, self._resumed = self._resumed, None
        if resumed is not None:
            resumed.callback(None)


async def get_hash(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, int]:
    """Download streaming; return status, sha256 of the body and its length."""
    r = await treq.get(url, headers=headers, unbuffered=True)
    h = hashlib.sha256()
    n = [0]

    def take(data: bytes) -> None:
        h.update(data)
        n[0] += len(data)

    await treq.collect(r, take)
    return r.code, h.hexdigest(), n[0]


async def get_json(url: str) -> tuple[int, Any]:
    r = await treq.get(url)
    return r.code, json.loads(await r.content())
