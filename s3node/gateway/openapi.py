"""
The OpenAPI 3 document the gateway serves at ``/openapi.json`` (see docs/http-api.md).

It is exact, because fuzzers and client generators trust it: every status an
operation can answer is listed (the protocol layer's 400/408/414/431 on
every operation), downloads are any media type (the uploaded one), the
cursor is opaque, and uploads link to the operations on the new file (for
stateful tests).  ``tests/integration/test_fuzz_openapi.py`` fuzzes a real
gateway against it.
"""

from __future__ import annotations

from typing import Any

from s3node.gateway.openapi_admin import admin_paths, admin_schemas
from s3node.gateway.openapi_keys import key_paths, key_schemas, secure
from s3node.gateway.openapi_parts import json_response, ref
from s3node.records import MAX_PAGE_SIZE

__all__ = ["FILE_ID_PATTERN", "openapi_document"]


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return json_response(description, ref(schema))


_ERROR_TEXT = {
    400: "malformed request (at the protocol layer too: request line, headers, framing)",
    404: "unknown file (or it is being deleted)",
    408: "the request headers did not arrive within --header-timeout",
    409: "file not completed, or the upload was aborted (deleted or claimed)",
    413: "file too large",
    414: "request line over 8 KiB",
    416: "range not satisfiable",
    500: "the file is damaged: a chunk has no stored replica left (docs/operations.md)",
    431: "request head over 16 KiB or more than 100 header fields",
    503: "too few storage nodes, the database does not answer, or too many "
         "transfers at once (overloaded, with Retry-After)",
}
#: what the protocol layer can answer to any request (s3node/gateway/http.py)
_PROTOCOL = (400, 408, 414, 431)


def _errors(*codes: int) -> dict[str, Any]:
    """JSON error responses for ``codes`` and for every protocol-layer refusal."""
    return {str(c): _json_response(_ERROR_TEXT[c], "Error")
            for c in sorted(set(codes) | set(_PROTOCOL))}


#: a file id, in the one form the gateway accepts (any other spelling is 400)
FILE_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

_FILE_ID = {"name": "file_id", "in": "path", "required": True,
            "description": "lowercase, dashed (canonical) UUID; other spellings are 400",
            "schema": {"type": "string", "format": "uuid", "pattern": FILE_ID_PATTERN}}

_FILE = {
    "type": "object",
    "properties": {
        "file_id": {"type": "string", "format": "uuid"},
        "filename": {"type": "string"},
        "size": {"type": ["integer", "null"]},
        "content_type": {"type": "string"},
        "checksum": {"type": ["string", "null"], "description": "lowercase hex digest"},
        "checksum_algorithm": {"type": "string", "example": "sha256"},
        "status": {"type": "string",
                   "enum": ["pending", "uploading", "completed", "failed", "deleting"]},
        "created_at": {"type": "string", "format": "date-time"},
        "damaged": {"type": "boolean",
                    "description": "a chunk has no stored replica left (docs/operations.md)"},
    },
}

_DOWNLOAD_HEADERS = {
    name: {"schema": {"type": "string"}}
    for name in ("Content-Length", "Content-Type", "Content-Disposition", "ETag",
                 "Accept-Ranges", "Content-Range", "X-Content-Type-Options")
}

_RANGE = {
    "name": "Range", "in": "header", "required": False,
    "description": "one range: bytes=a-b, bytes=a- or bytes=-n.  A malformed or "
                   "multi-range header is ignored (200, the whole file); on an empty file "
                   "a suffix range bytes=-n is answered 200 with the empty file, any "
                   "other range 416",
    "schema": {"type": "string", "example": "bytes=0-99"},
}

#: the uploaded bytes, with the Content-Type they were uploaded with
_BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


def _download(method: str) -> dict[str, Any]:
    body = {"content": _BYTES} if method == "get" else {}
    return {
        "operationId": f"{method}File",
        "summary": "download (ranges allowed)" if method == "get" else "the download's headers",
        "parameters": [_FILE_ID, _RANGE],
        "responses": {
            "200": {"description": "the file's bytes, Content-Type as uploaded",
                    "headers": _DOWNLOAD_HEADERS, **body},
            "206": {"description": "the requested range", "headers": _DOWNLOAD_HEADERS, **body},
            **_errors(400, 404, 409, 416, 500, 503),
        },
    }


def _listing_parameters() -> list[dict[str, Any]]:
    numbered = "numbered pages; cannot be combined with limit/cursor (400)"
    by_cursor = "cursor pages; cannot be combined with page/per_page (400)"
    integers = [
        {"name": n, "in": "query", "required": False, "description": d,
         "schema": {"type": "integer", "minimum": 1, "maximum": m}}
        for n, m, d in (("page", 10**9, numbered), ("per_page", MAX_PAGE_SIZE, numbered),
                        ("limit", MAX_PAGE_SIZE, by_cursor))
    ]
    return integers + [
        {"name": "status", "in": "query", "required": False,
         "schema": _FILE["properties"]["status"]},  # type: ignore[index]
        {"name": "cursor", "in": "query", "required": False,
         "description": "opaque: the next_cursor of the previous page, unchanged (empty: the "
                        "first page); anything else is 400.  " + by_cursor,
         "schema": {"type": "string"}},
    ]


_UPLOAD_LINKS = {
    "GetFile": {"operationId": "getFile",
                "parameters": {"file_id": "$response.body#/file_id"}},
    "GetFileMetadata": {"operationId": "getFileMetadata",
                        "parameters": {"file_id": "$response.body#/file_id"}},
    "DeleteFile": {"operationId": "deleteFile",
                   "parameters": {"file_id": "$response.body#/file_id"}},
}


def openapi_document() -> dict[str, Any]:
    """The API description, as a JSON-ready dict."""
    return secure({
        "openapi": "3.1.0",
        "info": {"title": "s3node gateway", "version": "1"},
        "paths": {
            "/files": {
                "post": {
                    "operationId": "uploadFile",
                    "summary": "upload a file (multipart/form-data, part 'file' with a filename)",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["file"], "properties": {
                            "file": {"type": "string", "format": "binary"}}}}}},
                    "responses": {"201": {**_json_response("stored", "UploadedFile"),
                                          "links": _UPLOAD_LINKS},
                                  **_errors(400, 404, 409, 413, 503)},
                },
                "get": {
                    "operationId": "listFiles",
                    "summary": "list files, newest first (unknown parameters are ignored)",
                    "parameters": _listing_parameters(),
                    "responses": {"200": _json_response("a page of files", "FilePage"),
                                  **_errors(400, 503)},
                },
            },
            "/files/{file_id}": {
                "get": _download("get"),
                "head": _download("head"),
                "delete": {"operationId": "deleteFile", "summary": "delete",
                           "parameters": [_FILE_ID],
                           "responses": {"204": {"description": "deleted"},
                                         **_errors(400, 404, 503)}},
            },
            "/files/{file_id}/metadata": {
                "get": {"operationId": "getFileMetadata",
                        "summary": "the file's record and chunk map", "parameters": [_FILE_ID],
                        "responses": {"200": _json_response("metadata", "FileMetadata"),
                                      **_errors(400, 404, 503)}},
            },
            "/health": {"get": {"operationId": "health", "summary": "database and node health",
                                "responses": {
                                    "200": _json_response("healthy", "Health"),
                                    "503": _json_response("unhealthy", "Health"),
                                    **_errors()}}},
            **admin_paths(_errors()),
            **key_paths(_errors()),
            "/metrics": {"get": {
                "operationId": "metrics", "summary": "Prometheus metrics (docs/metrics.md)",
                "responses": {"200": {"description": "Prometheus text, or OpenMetrics on request",
                                      "content": {"text/plain": {"schema": {"type": "string"}},
                                                  "application/openmetrics-text": {
                                                      "schema": {"type": "string"}}}},
                              **_errors()}}},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "this document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {
                    "application/json": {"schema": {"type": "object"}}}},
                              **_errors()}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "details"], "properties": {
                "error": {"type": "string"}, "details": {"type": "string"}}},
            "File": _FILE,
            "UploadedFile": {"allOf": [ref("File"), {"type": "object", "properties": {
                "chunk_count": {"type": "integer"}}}]},
            "FileMetadata": {"allOf": [ref("File"), {"type": "object", "properties": {
                "inline": {"type": "boolean", "description":
                           "kept in the metadata store, with no chunks (a small object)"},
                "chunks": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "size": {"type": "integer"},
                    "checksum": {"type": "string"},
                    "checksum_algorithm": {"type": "string"},
                    "nodes": {"type": "array", "items": {"type": "string"}},
                    "replicas": {"type": "array", "items": {
                        "type": "object", "required": ["node_id", "state"], "properties": {
                            "node_id": {"type": "string"},
                            "state": {"type": "string", "enum": [
                                "writing", "stored", "missing", "corrupt"]}}}}}}}}}]},
            "FilePage": {"type": "object", "properties": {
                "files": {"type": "array", "items": ref("File")},
                "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "total": {"type": "integer"}, "total_pages": {"type": "integer"},
                "limit": {"type": "integer"}, "next_cursor": {"type": ["string", "null"]}}},
            "Health": {"type": "object", "required": ["status", "database", "nodes"],
                       "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "database": {"type": "string", "enum": ["ok", "unavailable"]},
                "replicas": {"type": "integer"}, "live_nodes": {"type": "integer"},
                "nodes": {"type": "array", "items": ref("Node")},
                "durability": {"anyOf": [{"type": "null"}, {"allOf": [
                    ref("Durability"), {"type": "object", "properties": {
                        "counted_at": {"type": "number"}}}]}]}}},
            **admin_schemas(),
            **key_schemas(),
        }},
    })
