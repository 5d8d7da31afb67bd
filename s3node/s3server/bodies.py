"""
S3 request bodies as byte sources, every claim about them verified as they stream.

:class:`S3Body` reads a request's :class:`~s3node.gateway.streaming.BodyStream`,
decodes ``aws-chunked`` bodies (:class:`s3node.s3.chunked.ChunkedDecoder`,
each chunk's signature checked as it completes) and feeds every payload
byte to one :class:`s3node.s3.checksums.PayloadCheck` on the CPU thread
pool, in order and one read behind (the pipeline chunks and hashes a read
while the previous one is still being digested): the MD5 of the ETag, the
signed ``x-amz-content-sha256``, a ``Content-MD5``, and the requested
``x-amz-checksum-*``.  It returns ``b""`` (the end) only once the decoder
has closed and every claim holds, so the pipeline completes the object only
then; a claim that fails raises, and the object never becomes visible.
Memory holds two reads of the body at most.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping

from s3node._aio import CpuRunner, OneBehind
from s3node.gateway.streaming import BodyStream
from s3node.s3 import errors
from s3node.s3.checksums import (
    PayloadCheck,
    PayloadDigests,
    b64,
    parse_checksum,
    parse_content_md5,
    requested_checksum,
)
from s3node.s3.chunked import STREAMING_MARKERS, ChunkedDecoder, decoded_content_length
from s3node.s3.sigv4 import Credentials

__all__ = ["S3Body", "declared_length", "read_small_body"]

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def declared_length(headers: Mapping[str, str], credentials: Credentials) -> int:
    """
    The payload's size as the request declares it: ``x-amz-decoded-content-length``
    for ``aws-chunked`` bodies, else ``Content-Length``.

    :raises s3node.s3.errors.MissingContentLength: neither is there.
    """
    if credentials.payload_hash in STREAMING_MARKERS:
        return decoded_content_length(headers)
    value = headers.get("content-length")
    if value is None or not (value.isascii() and value.isdecimal()) or len(value) > 19:
        raise errors.MissingContentLength()
    return int(value)


class S3Body:
    """
    One request body as a :class:`~s3node.gateway.upload.ByteSource`.

    :param name: what :meth:`start` answers: the file's name and content type.
    :param max_size: the largest payload accepted (``EntityTooLarge`` above).
    """

    def __init__(self, body: BodyStream, credentials: Credentials,
                 headers: Mapping[str, str], cpu: CpuRunner, *,
                 name: tuple[str, str], max_size: int) -> None:
        self._body = body
        self._name = name
        self.length = declared_length(headers, credentials)
        #: the payload's declared length (see :class:`~s3node.gateway.upload.ByteSource`)
        self.size_hint: int | None = self.length
        if self.length > max_size:
            raise errors.EntityTooLarge(fields=[("ProposedSize", str(self.length)),
                                                ("MaxSizeAllowed", str(max_size))])
        mode = credentials.payload_hash
        self._decoder = (ChunkedDecoder(credentials, self.length)
                         if mode in STREAMING_MARKERS else None)
        md5 = headers.get("content-md5")
        self._checksum = requested_checksum(headers)
        self._check = PayloadCheck(
            sha256_hex=mode if _HEX_SHA256.fullmatch(mode) else None,
            content_md5=parse_content_md5(md5) if md5 is not None else None,
            checksum=self._checksum,
        )
        self._received = 0
        #: the :meth:`PayloadCheck.update` calls, one read behind at most
        self._hashing = OneBehind(cpu)
        #: payload pieces decoded and not yet handed out
        self._pieces: deque[bytes | memoryview] = deque()
        #: what the body turned out to be, once :meth:`read` returned ``b""``
        self.digests: PayloadDigests | None = None

    async def start(self) -> tuple[str, str]:
        return self._name

    async def read(self) -> bytes | memoryview:
        """
        The next payload bytes; ``b""`` once the body is complete and verified.

        One piece at a time, as the decoder cut it from what the socket
        delivered (views of those buffers, never joined: see
        :meth:`~s3node.gateway.streaming.BodyStream.read`).
        """
        while True:
            if self._pieces:
                data = self._pieces.popleft()
            else:
                raw = await self._body.read()
                if not raw:
                    await self._finish()
                    return b""
                if self._decoder is None:
                    data = raw
                else:
                    self._pieces.extend(self._decoder.feed(raw))
                    continue
            if not data:
                continue
            self._received += len(data)
            if self._received > self.length:
                raise errors.InvalidRequest("The body is longer than its Content-Length")
            # The payload digests run one read behind, in order, while the
            # pipeline chunks and hashes this read: at most two reads are held.
            await self._hashing.submit(self._check.update, data, size=len(data))
            return data

    async def _finish(self) -> None:
        trailer = None
        if self._decoder is not None:
            trailers = self._decoder.close()
            if self._checksum is not None and self._checksum[1] is None:
                algorithm = self._checksum[0]
                value = trailers.get(algorithm.header)
                trailer = parse_checksum(algorithm, value) if value is not None else None
        elif self._received != self.length:
            raise errors.IncompleteBody()
        await self._hashing.drain()
        self.digests = self._check.finish(trailer)  # every byte is hashed: quick

    def stored_checksum(self) -> tuple[str, str] | None:
        """The verified ``x-amz-checksum-*`` header and its value, if one was asked for."""
        if self.digests is None or self.digests.checksum is None:
            return None
        algorithm, digest = self.digests.checksum
        return algorithm.header, b64(digest)


async def read_small_body(body: BodyStream, credentials: Credentials,
                          headers: Mapping[str, str], cpu: CpuRunner, *,
                          limit: int) -> bytes:
    """
    A small request body (an XML document) read whole, its claims verified;
    ``MaxMessageLengthExceeded`` past ``limit`` bytes.
    """
    if credentials.payload_hash not in STREAMING_MARKERS and "content-length" not in headers:
        headers = {**headers, "content-length": "0"}  # no body
    try:
        source = S3Body(body, credentials, headers, cpu, name=("", ""), max_size=limit)
    except errors.EntityTooLarge:
        raise errors.MaxMessageLengthExceeded() from None
    parts: list[bytes | memoryview] = []
    while data := await source.read():
        parts.append(data)
    return b"".join(parts)
