"""
The admin part of the OpenAPI document: the node set (``/nodes``) and the
cluster's durability view and movement plan (``/cluster``); see
docs/operations.md.  :mod:`s3node.gateway.openapi` merges it in.
"""

from __future__ import annotations

from typing import Any

from s3node.config import NODE_ID_PATTERN
from s3node.gateway.openapi_parts import error, json_response, ref, with_protocol

__all__ = ["admin_paths", "admin_schemas"]


_NODE_ID = {"name": "node_id", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": NODE_ID_PATTERN}}
_FLAG = {"type": "string", "enum": ["true", "false"]}
_UNAVAILABLE = error("the database does not answer")


def admin_paths(protocol: dict[str, Any]) -> dict[str, Any]:
    """
    The ``/nodes`` and ``/cluster`` paths; ``protocol`` holds the responses the
    protocol layer may give any request (added to every operation's).
    """
    return with_protocol(_paths(), protocol)


def _paths() -> dict[str, Any]:
    return {
        "/nodes": {
            "get": {"operationId": "listNodes",
                    "summary": "every storage node with its health and admin state",
                    "responses": {"200": json_response("nodes", {"type": "object", "properties": {
                        "nodes": {"type": "array", "items": ref("Node")}}}),
                        "503": _UNAVAILABLE}},
            "post": {
                "operationId": "addNode",
                "summary": "add a storage node (?dry_run=true: only say what would move)",
                "parameters": [{"name": "dry_run", "in": "query", "required": False,
                                "schema": _FLAG}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": ref("NewNode")}}},
                "responses": {
                    "201": json_response("added", ref("NodeDetail")),
                    "200": json_response("the dry run's plan; nothing changed", {
                        "type": "object", "properties": {
                            "dry_run": {"type": "boolean"}, "node": ref("Node"),
                            "plan": ref("MovementPlan")}}),
                    "400": error("malformed body"),
                    "409": error("a node with that id is registered"),
                    "503": _UNAVAILABLE},
            },
        },
        "/nodes/{node_id}": {
            "get": {"operationId": "getNode",
                    "summary": "one node: what it holds and how its drain goes",
                    "parameters": [_NODE_ID],
                    "responses": {"200": json_response("the node", ref("NodeDetail")),
                                  "400": error("malformed node id"),
                                  "404": error("no such node"), "503": _UNAVAILABLE}},
            "delete": {
                "operationId": "forgetNode",
                "summary": ("forget a node: once drained, or ?lost=true for a node lost for"
                            " good (its replicas become repair work)"),
                "parameters": [_NODE_ID, {"name": "lost", "in": "query", "required": False,
                                          "schema": _FLAG}],
                "responses": {
                    "200": json_response("forgotten", {"type": "object", "properties": {
                        "node_id": {"type": "string"}, "lost": {"type": "boolean"},
                        "replicas_dropped": {"type": "integer"}}}),
                    "400": error("malformed node id or flag"),
                    "404": error("no such node"),
                    "409": error("not drained (and not declared lost)"),
                    "503": _UNAVAILABLE},
            },
        },
        "/nodes/{node_id}/drain": {
            "post": {"operationId": "drainNode",
                     "summary": "drain a node: no new chunks; its replicas are copied elsewhere",
                     "parameters": [_NODE_ID],
                     "responses": {"200": json_response("draining", ref("NodeDetail")),
                                   "400": error("malformed node id"),
                                   "404": error("no such node"), "503": _UNAVAILABLE}},
        },
        "/cluster": {
            "get": {"operationId": "cluster",
                    "summary": "the durability view: how exposed the cluster is",
                    "responses": {"200": json_response("the view", ref("Cluster")),
                                  "503": _UNAVAILABLE}},
        },
        "/cluster/plan": {
            "get": {"operationId": "clusterPlan",
                    "summary": "what repair and rebalancing still have to move",
                    "responses": {"200": json_response("the plan", ref("MovementPlan")),
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
                        "node_id": {"type": "string", "pattern": NODE_ID_PATTERN},
                        "address": {"type": "string", "example": "10.0.0.7:7001"},
                        "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                        "zone": {"type": "string", "maxLength": 63}}},
        "NodeDetail": {"allOf": [ref("Node"), {"type": "object", "properties": {
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
        "Cluster": {"allOf": [ref("Durability"), {"type": "object", "properties": {
            "replicas": _INT,
            "files_by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
            "repair": {"type": "object", "properties": {
                "queued": _INT, "due": _INT, "copies": _INT, "bytes": _INT, "failures": _INT,
                "replicas_dropped": _INT, "bandwidth": _INT, "concurrency": _INT,
                "repair_after": {"type": "number"}}},
            "corruptions": {"type": "object", "properties": {
                "found_by_scrub": _INT, "found_by_read": _INT}},
            "nodes_down": {"type": "array", "items": {"type": "string"}},
            "nodes": {"type": "array", "items": ref("Node")}}}]},
    }
