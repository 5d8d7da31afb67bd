"""
The key management part of the OpenAPI document (``/keys``, admin only; see
docs/security.md), and the security scheme: HTTP Basic with an access key
and its secret on every operation but ``/health`` and ``/openapi.json``.
:mod:`s3node.gateway.openapi` merges it in.
"""

from __future__ import annotations

from typing import Any

from s3node.gateway.keyroutes import KEY_ID_PATTERN
from s3node.gateway.openapi_parts import error, json_response, ref, with_protocol
from s3node.records import GRANT_SCOPE_PATTERN

__all__ = ["PUBLIC_PATHS", "key_paths", "key_schemas", "secure"]

#: the paths anyone may call, without credentials
PUBLIC_PATHS = ("/health", "/openapi.json")


_KEY_ID = {"name": "key_id", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": KEY_ID_PATTERN}}
_UNAVAILABLE = error("the database does not answer")
_MALFORMED_ID = error("malformed key id")
_NO_KEY = error("no such key")
_IN_USE = error("a key cannot disable, delete or demote itself")


def key_paths(protocol: dict[str, Any]) -> dict[str, Any]:
    """The ``/keys`` paths; ``protocol``: the responses any request may get."""
    return with_protocol(_paths(), protocol)


def _paths() -> dict[str, Any]:
    role = {"required": True, "content": {"application/json": {"schema": ref("KeyRole")}}}
    return {
        "/keys": {
            "get": {"operationId": "listKeys", "summary": "every access key, without secrets",
                    "responses": {"200": json_response("the keys", {"type": "object", "properties": {
                        "keys": {"type": "array", "items": ref("Key")}}}),
                        "503": _UNAVAILABLE}},
            "post": {
                "operationId": "createKey",
                "summary": "create an access key; its secret is in this answer only",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": ref("NewKey")}}},
                "responses": {"201": json_response("created", ref("CreatedKey")),
                              "400": error("malformed body or grants"),
                              "503": _UNAVAILABLE},
            },
        },
        "/keys/{key_id}": {
            "get": {"operationId": "getKey", "summary": "one key, without its secret",
                    "parameters": [_KEY_ID],
                    "responses": {"200": json_response("the key", ref("Key")), "400": _MALFORMED_ID,
                                  "404": _NO_KEY, "503": _UNAVAILABLE}},
            "delete": {"operationId": "deleteKey", "summary": "delete a key for good",
                       "parameters": [_KEY_ID],
                       "responses": {"204": {"description": "deleted"}, "400": _MALFORMED_ID,
                                     "404": _NO_KEY, "409": _IN_USE, "503": _UNAVAILABLE}},
        },
        "/keys/{key_id}/grants": {
            "put": {"operationId": "setKeyGrants",
                    "summary": "replace what a key may do (admin, grants)",
                    "parameters": [_KEY_ID], "requestBody": role,
                    "responses": {"200": json_response("the key now", ref("Key")),
                                  "400": error("malformed key id, body or grants"),
                                  "404": _NO_KEY, "409": _IN_USE, "503": _UNAVAILABLE}},
        },
        **{f"/keys/{{key_id}}/{action}": {"post": {
            "operationId": f"{action}Key", "summary": f"{action} a key (again: no change)",
            "parameters": [_KEY_ID],
            "responses": {"200": json_response("the key now", ref("Key")), "400": _MALFORMED_ID,
                          "404": _NO_KEY, **({"409": _IN_USE} if action == "disable" else {}),
                          "503": _UNAVAILABLE}}} for action in ("disable", "enable")},
    }


def key_schemas() -> dict[str, Any]:
    """The schemas :func:`key_paths` refers to."""
    grant = {"type": "object", "required": ["scope"], "additionalProperties": False,
             "description": "read and/or write (at least one) in a scope: '*' (every bucket),"
                            " '/files' or a bucket; a scope once per key",
             "properties": {"scope": {"type": "string", "pattern": GRANT_SCOPE_PATTERN},
                            "read": {"type": "boolean"}, "write": {"type": "boolean"}}}
    role = {"admin": {"type": "boolean"},
            "grants": {"type": "array", "maxItems": 100, "items": ref("Grant")}}
    key = {"type": "object",
           "required": ["access_key_id", "created_at", "enabled", "admin", "grants"],
           "properties": {
               "access_key_id": {"type": "string"}, "description": {"type": "string"},
               "created_at": {"type": "string", "format": "date-time"},
               "enabled": {"type": "boolean"},
               "disabled_at": {"type": ["string", "null"], "format": "date-time"},
               **role}}
    return {
        "Grant": grant,
        "KeyRole": {"type": "object", "additionalProperties": False, "properties": role},
        "NewKey": {"type": "object", "additionalProperties": False, "properties": {
            "description": {"type": "string", "maxLength": 200}, **role}},
        "Key": key,
        "CreatedKey": {"allOf": [ref("Key"), {"type": "object", "required": ["secret"],
                                               "properties": {"secret": {"type": "string"}}}]},
    }


def secure(document: dict[str, Any]) -> dict[str, Any]:
    """
    ``document`` with the Basic security scheme on every operation but
    :data:`PUBLIC_PATHS`, which answer ``401`` without valid credentials
    and ``403`` to a key without the permission.
    """
    document["components"]["securitySchemes"] = {
        "basic": {"type": "http", "scheme": "basic",
                  "description": "an access key and its secret"}}
    document["security"] = [{"basic": []}]
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path in PUBLIC_PATHS:
                operation["security"] = []
                continue
            operation["responses"].update({
                "401": error("no credentials, or unknown, disabled or wrong ones"
                              " (WWW-Authenticate says how)"),
                "403": error("the key may not do this")})
    return document
