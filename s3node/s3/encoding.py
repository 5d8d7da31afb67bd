"""
S3's percent-encoding rules, shared by signing, routing and listing.

AWS Signature Version 4 ("Create a canonical request", the ``UriEncode``
function) encodes every byte except the unreserved characters
``A-Z a-z 0-9 - . _ ~`` as ``%XY`` with upper-case hex, and keeps ``/`` in
paths.  S3 encodes an object key once (it does not double-encode as other
services do).  Query strings are decoded the way HTML forms and S3's own
clients write them: ``+`` is a space.

Decoding keeps every byte: text comes back as ``str`` with any bytes that
are not UTF-8 held as surrogates (``surrogateescape``), so re-encoding a
decoded value gives back exactly the bytes that were sent.  Callers that
need real UTF-8 (object keys, bucket names) check with :func:`is_utf8`.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

__all__ = ["QueryParam", "decode", "is_utf8", "parse_query", "uri_encode", "wire_bytes"]

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ENCODED = [chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256)]
_ENCODED_KEEPING_SLASH = list(_ENCODED)
_ENCODED_KEEPING_SLASH[ord("/")] = "/"

#: one query parameter: its decoded name, and its decoded value or ``None``
#: when the parameter had no ``=`` at all (``?uploads``)
QueryParam = tuple[str, "str | None"]


def uri_encode(text: str | bytes, *, keep_slash: bool = False) -> str:
    """
    ``text`` (UTF-8, surrogate-escaped bytes allowed) in the SigV4 ``UriEncode`` form.

    :param keep_slash: leave ``/`` as it is, as in a canonical URI path.
    """
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    table = _ENCODED_KEEPING_SLASH if keep_slash else _ENCODED
    return "".join([table[b] for b in data])


def decode(raw: str, *, plus_is_space: bool = False) -> str:
    """
    Percent-decode ``raw``, keeping bytes that are not UTF-8 as surrogates.

    A ``%`` not followed by two hex digits stays as it is (as browsers and
    :mod:`urllib` treat it).

    :param plus_is_space: decode ``+`` as a space (query strings).
    """
    if plus_is_space:
        raw = raw.replace("+", " ")
    data = unquote_to_bytes(raw.encode("utf-8", "surrogateescape"))
    return data.decode("utf-8", "surrogateescape")


def is_utf8(text: str) -> bool:
    """Whether ``text`` came from valid UTF-8 (it holds no escaped bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_query(raw_query: str) -> tuple[QueryParam, ...]:
    """
    The parameters of a raw query string (without the ``?``), in order.

    Empty pieces (``a=1&&b=2``) are skipped; names and values are decoded
    with ``+`` as a space; a parameter without ``=`` has the value ``None``.
    """
    params: list[QueryParam] = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, eq, value = piece.partition("=")
        params.append(
            (decode(name, plus_is_space=True), decode(value, plus_is_space=True) if eq else None)
        )
    return tuple(params)


def wire_bytes(text: str) -> bytes:
    """
    The bytes behind header text: the gateway reads header bytes as Latin-1
    (every byte one character), so Latin-1 gives back exactly what was sent;
    text that never came off the wire (a character past U+00FF) is UTF-8.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")
