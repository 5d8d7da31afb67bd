"""
The ``aws-chunked`` content encoding, decoded incrementally in flat memory.

A client that does not know its payload's SHA-256 up front (or wants a
trailing checksum) sends ``Content-Encoding: aws-chunked``, the decoded size
in ``x-amz-decoded-content-length``, and one of three markers as its
``x-amz-content-sha256``:

``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``
    ``<hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n`` repeated, ending with a
    zero-size chunk.  Each chunk's signature signs
    ``AWS4-HMAC-SHA256-PAYLOAD\\n<time>\\n<scope>\\n<previous signature>\\n
    <sha256 of "">\\n<sha256 of the chunk>``, so the chain starts at the
    request's own (seed) signature and no chunk can be changed, dropped or
    reordered.
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``
    The same, then trailing headers (``x-amz-checksum-crc32:...\\r\\n``) and
    ``x-amz-trailer-signature:<sig>\\r\\n``, which signs
    ``AWS4-HMAC-SHA256-TRAILER\\n<time>\\n<scope>\\n<previous signature>\\n
    <sha256 of the trailers as "name:value\\n" lines>``.
``STREAMING-UNSIGNED-PAYLOAD-TRAILER``
    ``<hex size>\\r\\n<data>\\r\\n`` chunks, a zero-size chunk, unsigned trailers.

:class:`ChunkedDecoder` is a push parser: :meth:`~ChunkedDecoder.feed` takes
whatever bytes arrived and returns the payload pieces in them (views of the
input, never copied, and never a whole chunk held back);
:meth:`~ChunkedDecoder.close` checks that the body ended where it should
and returns the trailers.  It buffers at most one line (:data:`MAX_LINE`
bytes) and at most :data:`MAX_TRAILERS` trailers, however hostile the input.

A chunk's signature can only be checked once the chunk is complete, so the
pieces of a chunk are returned before its check: a mismatch raises from the
:meth:`~ChunkedDecoder.feed` that completes the chunk.  The caller must not
make an upload visible before :meth:`~ChunkedDecoder.close` returns.
Written from the S3 pages "Signature Calculations for the Authorization
Header: Transferring Payload in Multiple Chunks" and "Signature calculations
for trailing headers".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from s3node.s3 import errors
from s3node.s3.canonical import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    sign,
)
from s3node.s3.sigv4 import Credentials

__all__ = [
    "MAX_LINE",
    "MAX_TRAILERS",
    "STREAMING_MARKERS",
    "ChunkedDecoder",
    "chunk_string_to_sign",
    "decoded_content_length",
    "trailer_string_to_sign",
]

#: the longest chunk-size or trailer line accepted, without its CRLF
MAX_LINE = 4096
#: the most trailing headers accepted (the trailer signature not counted)
MAX_TRAILERS = 16
#: the payload markers that mean an ``aws-chunked`` body
STREAMING_MARKERS = frozenset(
    {STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SIGNED_SIZE = re.compile(rb"([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})")
_UNSIGNED_SIZE = re.compile(rb"([0-9a-fA-F]{1,16})(?:;[^\r\n]*)?")
_TRAILER = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*?)[ \t]*")
_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_HEX64 = re.compile(r"[0-9a-f]{64}")

_SIZE, _DATA, _DATA_END, _END, _TRAILERS, _DONE = range(6)


def chunk_string_to_sign(credentials: Credentials, previous: str, chunk_sha256: str) -> str:
    """The string a chunk's signature signs, chained to the ``previous`` signature."""
    return "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            credentials.timestamp,
            str(credentials.scope),
            previous,
            _EMPTY_SHA256,
            chunk_sha256,
        ]
    )


def trailer_string_to_sign(
    credentials: Credentials, previous: str, trailers: Mapping[str, str]
) -> str:
    """The string the trailer signature signs: the trailers as ``name:value\\n`` lines, hashed."""
    canonical = "".join(f"{name}:{value}\n" for name, value in trailers.items())
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            credentials.timestamp,
            str(credentials.scope),
            previous,
            digest,
        ]
    )


def decoded_content_length(headers: Mapping[str, str]) -> int:
    """
    The payload size an ``aws-chunked`` request declares in ``x-amz-decoded-content-length``.

    :raises s3node.s3.errors.MissingContentLength: it is absent.
    :raises s3node.s3.errors.InvalidArgument: it is not a whole number.
    """
    value = headers.get("x-amz-decoded-content-length")
    if value is None:
        raise errors.MissingContentLength(
            "aws-chunked requests must carry x-amz-decoded-content-length"
        )
    if not (value.isascii() and value.isdecimal()) or len(value) > 19:
        raise errors.InvalidArgument(f"x-amz-decoded-content-length {value[:40]!r} is not valid")
    return int(value)


class ChunkedDecoder:
    """
    Decode one ``aws-chunked`` body, verifying its signatures as it streams.

    :param credentials: from :func:`s3node.s3.sigv4.verify`; its
        ``payload_hash`` (one of :data:`STREAMING_MARKERS`) selects the form,
        and its signing key, time, scope and signature seed the chain.
    :param decoded_length: from :func:`decoded_content_length`.
    """

    def __init__(self, credentials: Credentials, decoded_length: int) -> None:
        mode = credentials.payload_hash
        if mode not in STREAMING_MARKERS:
            raise ValueError(f"{mode!r} is not an aws-chunked payload marker")
        self._credentials = credentials
        self._signed = mode != STREAMING_UNSIGNED_TRAILER
        self._has_trailers = mode != STREAMING_SIGNED
        self._expected = decoded_length
        self._previous = credentials.signature
        self._state = _SIZE
        self._line = bytearray()
        self._remaining = 0
        self._chunk_signature = ""
        self._hasher = hashlib.sha256()
        self._received = 0
        self._trailers: dict[str, str] = {}
        self._trailer_signature: str | None = None

    @property
    def received(self) -> int:
        """Payload bytes decoded so far."""
        return self._received

    def feed(self, data: bytes) -> list[bytes | memoryview]:
        """
        Decode the next bytes of the body.

        :returns: the payload pieces these bytes hold, in order (maybe none):
            ``data`` itself when it is all payload, else read-only views of
            it (no copy; a view keeps ``data`` alive while it is held).
        :raises s3node.s3.errors.InvalidChunkedEncoding: a framing error.
        :raises s3node.s3.errors.SignatureDoesNotMatch: a chunk or the
            trailers fail their signature.
        """
        pieces: list[bytes | memoryview] = []
        pos, end = 0, len(data)
        view: memoryview | None = None
        while pos < end:
            if self._state == _DONE:
                raise errors.InvalidChunkedEncoding("Data follows the end of the aws-chunked body")
            if self._state == _DATA:
                take = min(self._remaining, end - pos)
                if take == end:
                    piece: bytes | memoryview = data
                else:
                    if view is None:
                        view = memoryview(data).toreadonly()
                    piece = view[pos : pos + take]
                pos += take
                self._remaining -= take
                self._received += take
                if self._received > self._expected:
                    raise errors.InvalidChunkedEncoding(
                        "The chunks hold more data than x-amz-decoded-content-length"
                    )
                if self._signed:
                    self._hasher.update(piece)
                pieces.append(piece)
                if self._remaining == 0:
                    self._chunk_done()
                continue
            room = MAX_LINE + 2 - len(self._line)  # the line, its CR and its LF
            newline = data.find(b"\n", pos, pos + room)
            if newline < 0:
                if end - pos >= room:
                    raise errors.InvalidChunkedEncoding("A chunk line is too long")
                self._line += data[pos:]
                break
            self._line += data[pos:newline]
            pos = newline + 1
            if not self._line.endswith(b"\r"):
                raise errors.InvalidChunkedEncoding("A chunk line does not end with CRLF")
            line = bytes(self._line[:-1])
            self._line.clear()
            self._handle_line(line)
        return pieces

    def close(self) -> dict[str, str]:
        """
        Check that the body is complete.

        :returns: the trailing headers (lowercase names), without the trailer signature.
        :raises s3node.s3.errors.IncompleteBody: the body ended early, or
            holds less than x-amz-decoded-content-length.
        """
        if self._state != _DONE:
            raise errors.IncompleteBody("The aws-chunked body ended before its final chunk")
        if self._received != self._expected:
            raise errors.IncompleteBody(
                f"The chunks hold {self._received} bytes;"
                f" x-amz-decoded-content-length says {self._expected}"
            )
        return dict(self._trailers)

    def _handle_line(self, line: bytes) -> None:
        if self._state == _SIZE:
            self._size_line(line)
        elif self._state in (_DATA_END, _END):
            if line:
                raise errors.InvalidChunkedEncoding("A chunk's data is longer than its size")
            self._state = _SIZE if self._state == _DATA_END else _DONE
        else:
            self._trailer_line(line)

    def _size_line(self, line: bytes) -> None:
        match = (_SIGNED_SIZE if self._signed else _UNSIGNED_SIZE).fullmatch(line)
        if match is None:
            raise errors.InvalidChunkedEncoding(f"Malformed chunk header {line[:80]!r}")
        size = int(match.group(1), 16)
        if self._signed:
            self._chunk_signature = match.group(2).decode("ascii")
            self._hasher = hashlib.sha256()
        if size:
            self._remaining = size
            self._state = _DATA
            return
        self._chunk_done()
        self._state = _TRAILERS if self._has_trailers else _END

    def _chunk_done(self) -> None:
        """A chunk's data is all here: check its signature and move the chain on."""
        self._state = _DATA_END
        if not self._signed:
            return
        string_to_sign = chunk_string_to_sign(
            self._credentials, self._previous, self._hasher.hexdigest()
        )
        self._previous = self._check(string_to_sign, self._chunk_signature)

    def _check(self, string_to_sign: str, provided: str) -> str:
        expected = sign(self._credentials.signing_key, string_to_sign)
        if not _HEX64.fullmatch(provided) or not hmac.compare_digest(expected, provided):
            raise errors.SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the signature you provided",
                fields=[("StringToSign", string_to_sign), ("SignatureProvided", provided)],
            )
        return provided

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            if self._signed:
                if self._trailer_signature is None:
                    raise errors.InvalidChunkedEncoding("The trailer signature is missing")
                string_to_sign = trailer_string_to_sign(
                    self._credentials, self._previous, self._trailers
                )
                self._check(string_to_sign, self._trailer_signature)
            self._state = _DONE
            return
        match = _TRAILER.fullmatch(line)
        if match is None:
            raise errors.InvalidChunkedEncoding(f"Malformed trailing header {line[:80]!r}")
        name = match.group(1).decode("ascii").lower()
        value = match.group(2).decode("latin-1")
        if self._trailer_signature is not None:
            raise errors.InvalidChunkedEncoding("A trailing header follows the trailer signature")
        if name == _TRAILER_SIGNATURE and self._signed:
            self._trailer_signature = value
        elif name in self._trailers or len(self._trailers) >= MAX_TRAILERS:
            raise errors.InvalidChunkedEncoding(f"Repeated or too many trailing headers ({name})")
        else:
            self._trailers[name] = value
