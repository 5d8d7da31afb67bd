"""
The ListMultipartUploads document as boto3 reads it: pages that end in a
common prefix, the next markers, and URL-encoded keys and prefixes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from support.s3 import stub_client

from s3node.s3 import responses
from s3node.s3.responses import Owner

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
OWNER = Owner("owner-id", "owner")


def test_upload_listings_with_common_prefixes_reach_boto3() -> None:
    """A ListMultipartUploads page ending in a common prefix gives boto3 that prefix as the
    next key marker and no upload id marker; keys, prefixes and markers are URL-encoded."""
    captured: list[dict[str, list[str]]] = []

    def respond(request):
        params = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
        captured.append(params)
        encoding = params["encoding-type"][0] if "encoding-type" in params else None
        if "key-marker" not in params:
            body = responses.list_multipart_uploads(
                "bucket", [responses.UploadEntry("a b", "u1", WHEN)], OWNER,
                common_prefixes=["d ü/"], delimiter="/", next_key_marker="d ü/",
                is_truncated=True, max_uploads=2, encoding_type=encoding)
        else:
            body = responses.list_multipart_uploads(
                "bucket", [responses.UploadEntry("z", "u9", WHEN)], OWNER,
                key_marker=params["key-marker"][0], delimiter="/", max_uploads=2,
                next_key_marker="ignored", next_upload_id_marker="ignored")
        return 200, {}, body

    client = stub_client(respond)
    first = client.list_multipart_uploads(Bucket="bucket", Delimiter="/", MaxUploads=2,
                                          EncodingType="url")
    assert [u["Key"] for u in first["Uploads"]] == ["a%20b"]
    assert [c["Prefix"] for c in first["CommonPrefixes"]] == ["d%20%C3%BC/"]
    assert first["NextKeyMarker"] == "d%20%C3%BC/" and "NextUploadIdMarker" not in first
    assert first["IsTruncated"] and first["Delimiter"] == "/"
    pages = list(client.get_paginator("list_multipart_uploads").paginate(
        Bucket="bucket", Delimiter="/", PaginationConfig={"PageSize": 2}))
    assert [u["UploadId"] for p in pages for u in p.get("Uploads", [])] == ["u1", "u9"]
    assert captured[-1]["key-marker"] == ["d ü/"] and "upload-id-marker" not in captured[-1]
    assert "NextKeyMarker" not in pages[-1]  # not truncated: no next markers
    by_default = responses.list_multipart_uploads(
        "b", [responses.UploadEntry("k", "u2", WHEN)], OWNER, is_truncated=True)
    assert b"<NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>" in (
        by_default)
