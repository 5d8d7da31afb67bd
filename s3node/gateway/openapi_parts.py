"""
The pieces every part of the OpenAPI document builds with: schema
references, JSON responses, and the protocol layer's responses added to
every operation of a group of paths.
"""

from __future__ import annotations

from typing import Any

__all__ = ["error", "json_response", "ref", "with_protocol"]


def ref(name: str) -> dict[str, str]:
    """A reference to the schema ``name`` under ``components/schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A response whose JSON body follows ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    """A JSON error response (the ``Error`` schema)."""
    return json_response(description, ref("Error"))


def with_protocol(paths: dict[str, Any], protocol: dict[str, Any]) -> dict[str, Any]:
    """``paths``, with the responses in ``protocol`` added to every operation's."""
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"] = {**protocol, **operation["responses"]}
    return paths
