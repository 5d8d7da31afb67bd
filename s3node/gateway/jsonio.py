"""JSON request bodies and responses of the REST routes."""

from __future__ import annotations

import json
from typing import Any

from s3node.errors import InvalidRequest
from s3node.gateway.auth import check_signed_body

__all__ = ["MAX_JSON_BODY", "json_body", "json_response"]


def json_response(request: Any, value: Any, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(value).encode("utf-8") + b"\n"


#: the largest JSON request body (``POST /nodes``)
MAX_JSON_BODY = 64 * 1024


async def json_body(request: Any) -> dict[str, Any]:
    """A request's JSON object body, read from its stream (at most :data:`MAX_JSON_BODY` bytes)."""
    parts: list[bytes] = []
    seen = 0
    while data := await request.body.read():
        seen += len(data)
        if seen > MAX_JSON_BODY:
            raise InvalidRequest(f"the body is over {MAX_JSON_BODY} bytes")
        parts.append(data)
    data = b"".join(parts)
    check_signed_body(request, data)
    try:
        body = json.loads(data)
    except ValueError as e:
        raise InvalidRequest(f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body
