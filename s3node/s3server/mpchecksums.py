"""
Checksums of multipart uploads: the algorithm and type an upload is created
with, each part's verified ``x-amz-checksum-*`` (kept with the part), and the
object's checksum made from them at completion without reading a byte:

- ``COMPOSITE`` (the default, but for CRC64NVME): ``base64(hash(part digests))-N``;
- ``FULL_OBJECT`` (CRCs only; the only type for CRC64NVME): the CRC of the
  whole object, combined from the parts' CRCs and sizes.

The upload keeps its algorithm and type among its stored headers
(``x-amz-checksum-algorithm``, ``x-amz-checksum-type``); the object gets the
checksum header instead, whose ``-N`` suffix tells a HEAD or GET the type.
An ``x-amz-checksum-*`` header on CompleteMultipartUpload claims the whole
object's checksum (not the XML body's): it must be the one made here.
"""

from __future__ import annotations

from collections.abc import Sequence

from s3node.records import MultipartUpload, PartRecord
from s3node.s3 import errors
from s3node.s3.checksums import (
    ALGORITHMS,
    CRC64NVME,
    ChecksumAlgorithm,
    composite_checksum,
    full_object_checksum,
    parse_checksum,
    requested_checksum,
)
from s3node.s3.xml import CompletedPart

__all__ = ["MARKERS", "ObjectChecksum", "check_claimed", "check_part", "claimed_checksums",
           "object_checksum", "upload_checksum"]

ALGORITHM, TYPE = "x-amz-checksum-algorithm", "x-amz-checksum-type"
#: the stored headers of an upload that the object does not keep
MARKERS = (ALGORITHM, TYPE)


def upload_checksum(headers: dict[str, str]) -> list[tuple[str, str]]:
    """The algorithm and type a CreateMultipartUpload asks for, as headers (none: ``[]``)."""
    name = headers.get(ALGORITHM)
    kind = headers.get(TYPE)
    if name is None:
        if kind is not None:
            raise errors.InvalidRequest(
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header.")
        return []
    algorithm = ALGORITHMS.get(name.strip().upper())
    if algorithm is None:
        raise errors.InvalidRequest(f"Checksum algorithm {name[:20]} is not supported",
                                    fields=[("ArgumentName", ALGORITHM)])
    default = "FULL_OBJECT" if algorithm is CRC64NVME else "COMPOSITE"
    kind = (kind or default).strip().upper()
    if kind not in ("COMPOSITE", "FULL_OBJECT") or (
            kind == "FULL_OBJECT" and algorithm.combine is None) or (
            kind == "COMPOSITE" and algorithm is CRC64NVME):
        raise errors.InvalidRequest(
            f"The {kind[:20]} checksum type cannot be used with the {algorithm.name} "
            "checksum algorithm.")
    return [(ALGORITHM, algorithm.name), (TYPE, kind)]


def _wanted(upload: MultipartUpload) -> tuple[ChecksumAlgorithm, str] | None:
    stored = dict(upload.headers)
    if ALGORITHM not in stored:
        return None
    return ALGORITHMS[stored[ALGORITHM]], stored.get(TYPE, "COMPOSITE")


def check_part(upload: MultipartUpload, headers: dict[str, str]) -> None:
    """An UploadPart of an upload created with an algorithm must carry that checksum."""
    wanted = _wanted(upload)
    if wanted is None:
        return
    asked = requested_checksum(headers)
    if asked is None or asked[0] is not wanted[0]:
        actual = "null" if asked is None else asked[0].name.lower()
        raise errors.InvalidRequest(
            f"Checksum Type mismatch occurred, expected checksum Type: "
            f"{wanted[0].name.lower()}, actual checksum Type: {actual}")


class ObjectChecksum:
    """What a completion makes of the parts' checksums."""

    def __init__(self, headers: Sequence[tuple[str, str]], checksums: Sequence[tuple[str, str]],
                 kind: str | None) -> None:
        #: the object's stored headers
        self.headers = list(headers)
        #: (S3 algorithm name, value) for the response
        self.checksums = list(checksums)
        self.kind = kind


def object_checksum(upload: MultipartUpload, parts: Sequence[PartRecord],
                    listed: Sequence[CompletedPart]) -> ObjectChecksum:
    """
    The object's headers and checksum from the listed parts (``parts``: the
    upload's, by number).  Without an algorithm, or when a listed part has
    no checksum of it (a part copied from a range), the object has none.
    A checksum the request gives for a part must be the one it was uploaded
    with (``InvalidPart``).
    """
    kept = [h for h in upload.headers if h[0] not in MARKERS]
    wanted = _wanted(upload)
    if wanted is None:
        return ObjectChecksum(kept, [], None)
    algorithm, kind = wanted
    by_number = {p.number: p for p in parts}
    found: list[tuple[bytes, int]] = []
    for entry in listed:
        part = by_number.get(entry.number)
        if part is None:
            return ObjectChecksum(kept, [], None)  # completion answers InvalidPart
        given = dict(entry.checksums).get(algorithm.name)
        have = part.checksum[1] if part.checksum and part.checksum[0] == algorithm.header \
            else None
        if given is not None and given != have:
            raise errors.InvalidPart(
                f"The {algorithm.name} checksum of part {entry.number} is not the one "
                "it was uploaded with.", fields=[("PartNumber", str(entry.number))])
        if have is None:
            return ObjectChecksum(kept, [], None)
        found.append((parse_checksum(algorithm, have), part.size))
    if kind == "FULL_OBJECT":
        value = full_object_checksum(algorithm, found)
    else:
        value = composite_checksum(algorithm, [digest for digest, _ in found])
    return ObjectChecksum([*kept, (algorithm.header, value)], [(algorithm.name, value)], kind)


_HEADERS = {a.header: a for a in ALGORITHMS.values()}


def claimed_checksums(headers: dict[str, str]) -> dict[str, str]:
    """The ``x-amz-checksum-<algorithm>`` headers of a completion: claims about the object."""
    return {name: value for name, value in headers.items() if name in _HEADERS}


def check_claimed(checksum: ObjectChecksum, claimed: dict[str, str]) -> None:
    """
    Each checksum a completion claims must be the object's: ``BadDigest`` if
    it differs, ``InvalidRequest`` if the object gets no checksum of that
    algorithm (the upload has another one, none, or a part without one).
    """
    made = dict(checksum.checksums)
    for header, value in claimed.items():
        algorithm = _HEADERS[header]
        if algorithm.name not in made:
            raise errors.InvalidRequest(
                f"The object has no {algorithm.name} checksum to compare {header} with: "
                "the upload was not created with that algorithm, or a part has no checksum.")
        if value.strip() != made[algorithm.name]:
            raise errors.BadDigest(
                f"The {algorithm.name} you specified did not match the calculated checksum.")
