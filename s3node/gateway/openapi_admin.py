"""
The admin part of the OpenAPI document: the node set (``/nodes``) and the
cluster's durability view and movement plan (``/cluster``); see
docs/operations.md.  :mod:`s3node.gateway.openapi` merges it in.
"""

from __future__ import annotations

from typing import Any

__all__ = ["admin_paths", "admin_schemas"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, _ref("Error"))


_NODE_ID = {"name": "node_id", "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 63}}
_FLAG = {"type": "string", "enum": ["true", "false"]}
_UNAVAILABLE = _error("the database does not answer")


def admin_paths() -> dict[str, Any]:
    """The ``/nodes`` and ``/cluster`` paths."""
    return {
        "/nodes": {
            "get": {"summary": "every storage node with its health and admin state",
                    "responses": {"200": _json("nodes", {"type": "object", "properties": {
                        "nodes": {"type": "array", "items": _ref("Node")}}}),
                        "503": _UNAVAILABLE}},
            "post": {
                "summary": "add a storage node (?dry_run=true: only say what would move)",
                "parameters": [{"name": "dry_run", "in": "query", "required": False,
                                "schema": _FLAG}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("NewNode")}}},
                "responses": {
                    "201": _json("added", _ref("NodeDetail")),
                    "200": _json("the dry run's plan; nothing changed", {
                        "type": "object", "properties": {
                            "dry_run": {"type": "boolean"}, "node": _ref("Node"),
                            "plan": _ref("MovementPlan")}}),
                    "400": _error("malformed body"),
                    "409": _error("a node with that id is registered"),
                    "503": _UNAVAILABLE},
            },
        },
        "/nodes/{node_id}": {
            "get": {"summary": "one node: what it holds and how its drain goes",
                    "parameters": [_NODE_ID],
                    "responses": {"200": _json("the node", _ref("NodeDetail")),
                                  "404": _error("no such node"), "503": _UNAVAILABLE}},
            "delete": {
                "summary": ("forget a node: once drained, or ?lost=true for a node lost for"
                            " good (its replicas become repair work)"),
                "parameters": [_NODE_ID, {"name": "lost", "in": "query", "required": False,
                                          "schema": _FLAG}],
                "responses": {
                    "200": _json("forgotten", {"type": "object", "properties": {
                        "node_id": {"type": "string"}, "lost": {"type": "boolean"},
                        "replicas_dropped": {"type": "integer"}}}),
                    "400": _error("malformed flag"),
                    "404": _error("no such node"),
                    "409": _error("not drained (and not declared lost)"),
                    "503": _UNAVAILABLE},
            },
        },
        "/nodes/{node_id}/drain": {
            "post": {"summary": "drain a node: no new chunks; its replicas are copied elsewhere",
                     "parameters": [_NODE_ID],
                     "responses": {"200": _json("draining", _ref("NodeDetail")),
                                   "404": _error("no such node"), "503": _UNAVAILABLE}},
        },
        "/cluster": {
            "get": {"summary": "the durability view: how exposed the cluster is",
                    "responses": {"200": _json("the view", _ref("Cluster")),
                                  "503": _UNAVAILABLE}},
        },
        "/cluster/plan": {
            "get": {"summary": "what repair and rebalancing still have to move",
                    "responses": {"200": _json("the plan", _ref("MovementPlan")),
                                  "503": _UNAVAILABLE}},
        },
    }


_INT = {"type": "integer", "minimum": 0}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def admin_schemas() -> dict[str, Any]:
    """The schemas :func:`admin_paths` refers to."""
    node = {"type": "object", "required": ["node_id", "address", "state", "admin"],
            "properties": {
                "node_id": {"type": "string"}, "address": {"type": "string"},
                "weight": {"type": "number"}, "zone": {"type": "string"},
                "state": {"type": "string", "enum": ["active", "down"]},
                "admin": {"type": "string", "enum": ["active", "draining", "drained"]},
                "live": {"type": "boolean"},
                "capacity": {"type": ["integer", "null"]}, "used": {"type": ["integer", "null"]},
                "free": {"type": ["integer", "null"]},
                "last_seen": _TIME, "down_since": _TIME}}
    return {
        "Node": node,
        "NewNode": {"type": "object", "required": ["node_id", "address"],
                    "additionalProperties": False, "properties": {
                        "node_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"},
                        "address": {"type": "string", "example": "10.0.0.7:7001"},
                        "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                        "zone": {"type": "string", "maxLength": 63}}},
        "NodeDetail": {"allOf": [_ref("Node"), {"type": "object", "properties": {
            "replicas": _INT, "bytes": _INT,
            "drain": {"type": ["object", "null"], "properties": {
                "replicas_at_start": _INT, "remaining": _INT,
                "progress": {"type": "number", "minimum": 0, "maximum": 1}}}}}]},
        "MovementPlan": {"type": "object", "properties": {
            "chunks": _INT, "copies": _INT, "bytes": _INT, "drops": _INT,
            "chunks_examined": _INT, "replicas_examined": _INT,
            "fraction_of_replicas_moving": {"type": "number"}}},
        "Durability": {"type": "object", "properties": {
            "chunks_by_healthy_replicas": {"type": "object",
                                           "additionalProperties": {"type": "integer"}},
            "chunks_below_target": _INT, "bytes_at_risk": _INT, "damaged_files": _INT}},
        "Cluster": {"allOf": [_ref("Durability"), {"type": "object", "properties": {
            "replicas": _INT,
            "files_by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
            "repair": {"type": "object", "properties": {
                "queued": _INT, "due": _INT, "copies": _INT, "bytes": _INT, "failures": _INT,
                "replicas_dropped": _INT, "bandwidth": _INT, "concurrency": _INT,
                "repair_after": {"type": "number"}}},
            "corruptions": {"type": "object", "properties": {
                "found_by_scrub": _INT, "found_by_read": _INT}},
            "nodes_down": {"type": "array", "items": {"type": "string"}},
            "nodes": {"type": "array", "items": _ref("Node")}}}]},
    }
