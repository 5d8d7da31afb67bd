"""The OpenAPI 3 document the gateway serves at ``/openapi.json`` (see docs/http-api.md)."""

from __future__ import annotations

from typing import Any

from s3node.gateway.openapi_admin import admin_paths, admin_schemas
from s3node.records import MAX_PAGE_SIZE

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "malformed request", 404: "unknown file", 409: "file not completed",
            500: "the file is damaged: a chunk has no readable replica left",
            413: "file too large", 416: "range not satisfiable",
            503: "too few storage nodes, the database does not answer, or too many "
                 "transfers at once (overloaded, with Retry-After)"}
    return {str(c): _json_response(text[c], "Error") for c in codes}


_FILE_ID = {"name": "file_id", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}

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
                    "description": "a chunk has no readable replica left (docs/operations.md)"},
    },
}

_DOWNLOAD_HEADERS = {
    name: {"schema": {"type": "string"}}
    for name in ("Content-Length", "Content-Type", "Content-Disposition", "ETag",
                 "Accept-Ranges", "Content-Range")
}


def openapi_document() -> dict[str, Any]:
    """The API description, as a JSON-ready dict."""
    download = {
        "parameters": [_FILE_ID, {"name": "Range", "in": "header", "required": False,
                                  "schema": {"type": "string", "example": "bytes=0-99"}}],
        "responses": {
            "200": {"description": "the file's bytes", "headers": _DOWNLOAD_HEADERS,
                    "content": {"application/octet-stream": {}}},
            "206": {"description": "the requested range", "headers": _DOWNLOAD_HEADERS},
            **_errors(400, 404, 409, 416, 500, 503),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "s3node gateway", "version": "1"},
        "paths": {
            "/files": {
                "post": {
                    "summary": "upload a file (multipart/form-data, part 'file')",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["file"], "properties": {
                            "file": {"type": "string", "format": "binary"}}}}}},
                    "responses": {"201": _json_response("stored", "UploadedFile"),
                                  **_errors(400, 409, 413, 503)},
                },
                "get": {
                    "summary": "list files, newest first",
                    "parameters": [
                        {"name": n, "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": m}}
                        for n, m in (("page", 10**9), ("per_page", MAX_PAGE_SIZE),
                                     ("limit", MAX_PAGE_SIZE))
                    ] + [
                        {"name": "status", "in": "query", "required": False,
                         "schema": _FILE["properties"]["status"]},  # type: ignore[index]
                        {"name": "cursor", "in": "query", "required": False,
                         "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _json_response("a page of files", "FilePage"),
                                  **_errors(400, 503)},
                },
            },
            "/files/{file_id}": {
                "get": {"summary": "download (ranges allowed)", **download},
                "head": {"summary": "the download's headers", **download},
                "delete": {"summary": "delete", "parameters": [_FILE_ID],
                           "responses": {"204": {"description": "deleted"},
                                         **_errors(400, 404, 503)}},
            },
            "/files/{file_id}/metadata": {
                "get": {"summary": "the file's record and chunk map", "parameters": [_FILE_ID],
                        "responses": {"200": _json_response("metadata", "FileMetadata"),
                                      **_errors(400, 404, 503)}},
            },
            "/health": {"get": {"summary": "database and node health", "responses": {
                "200": _json_response("healthy", "Health"),
                "503": _json_response("unhealthy", "Health")}}},
            **admin_paths(),
            "/metrics": {"get": {"summary": "Prometheus metrics (docs/metrics.md)",
                                 "responses": {"200": {"description": "Prometheus text"}}}},
            "/openapi.json": {"get": {"summary": "this document",
                                      "responses": {"200": {"description": "OpenAPI 3"}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "details"], "properties": {
                "error": {"type": "string"}, "details": {"type": "string"}}},
            "File": _FILE,
            "UploadedFile": {"allOf": [_ref("File"), {"type": "object", "properties": {
                "chunk_count": {"type": "integer"}}}]},
            "FileMetadata": {"allOf": [_ref("File"), {"type": "object", "properties": {
                "chunks": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "size": {"type": "integer"},
                    "checksum": {"type": "string"},
                    "nodes": {"type": "array", "items": {"type": "string"}},
                    "replicas": {"type": "array", "items": {
                        "type": "object", "required": ["node_id", "state"], "properties": {
                            "node_id": {"type": "string"},
                            "state": {"type": "string", "enum": [
                                "writing", "stored", "missing", "corrupt"]}}}}}}}}}]},
            "FilePage": {"type": "object", "properties": {
                "files": {"type": "array", "items": _ref("File")},
                "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "total": {"type": "integer"}, "total_pages": {"type": "integer"},
                "limit": {"type": "integer"}, "next_cursor": {"type": ["string", "null"]}}},
            "Health": {"type": "object", "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "database": {"type": "string", "enum": ["ok", "unavailable"]},
                "replicas": {"type": "integer"}, "live_nodes": {"type": "integer"},
                "nodes": {"type": "array", "items": _ref("Node")},
                "durability": {"anyOf": [{"type": "null"}, {"allOf": [
                    _ref("Durability"), {"type": "object", "properties": {
                        "counted_at": {"type": "number"}}}]}]}}},
            **admin_schemas(),
        }},
    }
