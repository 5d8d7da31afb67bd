"""
S3's XML: request documents parsed safely, response documents written exactly.

Requests (``CompleteMultipartUpload``, ``Delete``,
``CreateBucketConfiguration``) are parsed with :mod:`defusedxml`: no DTD, so
no entity expansion and no external entities, a cap on the body's size
(:class:`~s3node.s3.errors.MaxMessageLengthExceeded` above it), and a cap on
nesting depth and on the number of elements while parsing.  Every failure is
:class:`~s3node.s3.errors.MalformedXML`.  Text is kept exactly (object keys
may begin or end with spaces); only numbers and flags are trimmed.

Responses are written by :func:`render` from small trees of :data:`Node`
tuples, in the S3 namespace.  Text is escaped for XML 1.0: ``& < > "`` and
carriage returns (which a parser would otherwise turn into line feeds) as
references.  Characters XML 1.0 cannot carry at all (most control
characters) are written as numeric references, as S3 writes them; XML 1.0
parsers reject those, which is why clients list with ``encoding-type=url``
(:func:`url_encoded`, and the builders in :mod:`s3node.s3.responses`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from s3node.s3 import errors

__all__ = [
    "MAX_DELETE_OBJECTS",
    "MAX_DEPTH",
    "MAX_PARTS",
    "MAX_XML_BODY",
    "NAMESPACE",
    "CompletedPart",
    "DeleteRequest",
    "Node",
    "error_document",
    "parse_complete_multipart_upload",
    "parse_create_bucket",
    "parse_delete",
    "render",
    "timestamp",
    "url_encoded",
]

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
#: the largest request document accepted, in bytes
MAX_XML_BODY = 8 * 1024 * 1024
#: the deepest nesting accepted (S3's request documents nest three deep)
MAX_DEPTH = 8
#: the most objects one DeleteObjects request may name
MAX_DELETE_OBJECTS = 1000
#: the most parts, and the highest part number, of a multipart upload
MAX_PARTS = 10000

#: a response element: (name, text) or (name, children); a ``None`` child is left out.
#: A name may carry constant attributes after a space (``Grantee xsi:type="..."``).
Node = tuple[str, "str | Sequence[Node | None]"]

_XML10_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"})


# -- responses -----------------------------------------------------------------------------


def escape(text: str) -> str:
    """``text`` as XML character data (see the module notes)."""
    escaped = text.translate(_ESCAPES)
    return _XML10_INVALID.sub(lambda m: f"&#x{ord(m.group()):X};", escaped)


def _write(node: Node, out: list[str], xmlns: str = "") -> None:
    start, content = node
    name = start.split(" ", 1)[0]
    start = f'<{start} xmlns="{xmlns}">' if xmlns else f"<{start}>"
    if isinstance(content, str):
        out.append(f"{start}{escape(content)}</{name}>")
        return
    out.append(start)
    for child in content:
        if child is not None:
            _write(child, out)
    out.append(f"</{name}>")


def render(root: Node) -> bytes:
    """A response document: the XML declaration, then ``root`` in the S3 namespace."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _write(root, out, NAMESPACE)
    return "".join(out).encode("utf-8")


def timestamp(when: datetime) -> str:
    """A time as S3 writes it in XML: ISO 8601 in UTC with milliseconds (``...T17:50:30.000Z``)."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def url_encoded(text: str, encode: bool) -> str:
    """
    ``text`` as S3 writes a key under ``encoding-type=url``: percent-encoded
    UTF-8 with ``/`` and the unreserved characters kept, a space as ``%20``
    and ``+`` as ``%2B`` (clients decode with ``unquote_plus``, which reads both).
    """
    return quote(text.encode("utf-8", "surrogateescape"), safe="/") if encode else text


def error_document(error: errors.S3Error, resource: str, request_id: str) -> bytes:
    """The body of an error response: ``Code``, ``Message``, then S3's extra fields, ``Resource``, ``RequestId``."""
    children: list[Node | None] = [("Code", error.code), ("Message", error.message)]
    children += [(name, value) for name, value in error.fields]
    children += [("Resource", resource), ("RequestId", request_id)]
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _write(("Error", children), out)
    return "".join(out).encode("utf-8")


# -- requests ------------------------------------------------------------------------------


class _BoundedBuilder(TreeBuilder):
    """A tree builder that refuses documents nested too deep or with too many elements."""

    def __init__(self, max_elements: int) -> None:
        super().__init__()
        self._depth = 0
        self._left = max_elements

    def start(self, tag: Any, attrs: Any) -> Element:
        self._depth += 1
        self._left -= 1
        if self._depth > MAX_DEPTH or self._left < 0:
            raise errors.MalformedXML("The XML you provided nests too deep or is too long")
        return super().start(tag, attrs)

    def end(self, tag: Any) -> Element:
        self._depth -= 1
        return super().end(tag)


def _parse(body: bytes, root: str, max_elements: int, max_body: int) -> Element:
    if len(body) > max_body:
        raise errors.MaxMessageLengthExceeded()
    parser = DefusedXMLParser(
        target=_BoundedBuilder(max_elements),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(body)
        element: Element = parser.close()
    except (ParseError, DefusedXmlException, ValueError, LookupError) as e:
        # LookupError: an encoding declaration that names no codec
        raise errors.MalformedXML() from e
    if _local(element.tag) != root:
        raise errors.MalformedXML(f"The root element must be {root}")
    return element


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _one_text(element: Element, name: str, *, required: bool = True) -> str | None:
    found = _children(element, name)
    if len(found) > 1 or (required and not found):
        raise errors.MalformedXML(f"Expected exactly one {name}")
    return (found[0].text or "") if found else None


@dataclass(frozen=True)
class CompletedPart:
    """One part named in a CompleteMultipartUpload request."""

    number: int
    #: the ETag without its quotes
    etag: str
    #: checksums the client sent for this part, by S3 algorithm name (``CRC32``: base64)
    checksums: tuple[tuple[str, str], ...] = ()


_PART_CHECKSUMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def parse_complete_multipart_upload(
    body: bytes, max_body: int = MAX_XML_BODY
) -> list[CompletedPart]:
    """
    The parts of a ``<CompleteMultipartUpload>`` document, in the order given.

    :raises s3node.s3.errors.MalformedXML: not such a document, no parts, or a
        part number that is not a whole number.
    :raises s3node.s3.errors.InvalidArgument: a part number outside 1..10000.
    :raises s3node.s3.errors.InvalidPartOrder: part numbers not strictly ascending.
    """
    root = _parse(body, "CompleteMultipartUpload", 8 * (MAX_PARTS + 1), max_body)
    parts: list[CompletedPart] = []
    for element in _children(root, "Part"):
        number_text = (_one_text(element, "PartNumber") or "").strip()
        if not (number_text.isascii() and number_text.isdecimal()) or len(number_text) > 9:
            raise errors.MalformedXML(f"PartNumber {number_text[:20]!r} is not a number")
        number = int(number_text)
        if not 1 <= number <= MAX_PARTS:
            raise errors.InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive",
                fields=[("ArgumentName", "partNumber"), ("ArgumentValue", number_text)],
            )
        if parts and number <= parts[-1].number:
            raise errors.InvalidPartOrder()
        etag = (_one_text(element, "ETag") or "").strip().strip('"')
        checksums = tuple(
            (name, text.strip())
            for name in _PART_CHECKSUMS
            if (text := _one_text(element, f"Checksum{name}", required=False)) is not None
        )
        parts.append(CompletedPart(number=number, etag=etag, checksums=checksums))
    if not parts:
        raise errors.MalformedXML("CompleteMultipartUpload names no parts")
    return parts


@dataclass(frozen=True)
class DeleteRequest:
    """A DeleteObjects request: the keys (with version ids, if any) and quiet mode."""

    objects: tuple[tuple[str, str | None], ...]
    quiet: bool


def parse_delete(body: bytes, max_body: int = MAX_XML_BODY) -> DeleteRequest:
    """
    The objects of a ``<Delete>`` document and its ``<Quiet>`` flag.

    :raises s3node.s3.errors.MalformedXML: not such a document, no objects,
        more than 1000, an object without a key, or a ``Quiet`` that is not a
        boolean.
    """
    root = _parse(body, "Delete", 4 * (MAX_DELETE_OBJECTS + 2), max_body)
    objects = []
    for element in _children(root, "Object"):
        key = _one_text(element, "Key") or ""
        if not key:
            raise errors.MalformedXML("An Object has an empty Key")
        objects.append((key, _one_text(element, "VersionId", required=False)))
    if not objects or len(objects) > MAX_DELETE_OBJECTS:
        raise errors.MalformedXML(f"Delete must name 1 to {MAX_DELETE_OBJECTS} objects")
    quiet_text = (_one_text(root, "Quiet", required=False) or "false").strip().lower()
    if quiet_text not in ("true", "false"):
        raise errors.MalformedXML("Quiet must be true or false")
    return DeleteRequest(objects=tuple(objects), quiet=quiet_text == "true")


def parse_create_bucket(body: bytes, max_body: int = 64 * 1024) -> str | None:
    """
    The ``LocationConstraint`` of a CreateBucket body; ``None`` for an empty body or none given.

    :raises s3node.s3.errors.MalformedXML: a body that is not a
        ``<CreateBucketConfiguration>`` document.
    """
    if not body.strip():
        return None
    root = _parse(body, "CreateBucketConfiguration", 32, max_body)
    location = _one_text(root, "LocationConstraint", required=False)
    return location.strip() if location else None
