"""
Access key management over REST (admin only): create (the secret is shown
in that answer only), list and show (never a secret), disable, enable,
delete, and set what a key may do.  See docs/security.md, "Managing keys".

:func:`install_key_routes` declares the routes on the gateway's Klein app
(as :func:`~s3node.gateway.errors.install_error_handlers` does for errors),
each with ``@needs(ADMIN)``.  A key cannot disable, delete or demote itself
(``409 key_in_use``): nobody could undo it.
"""

from __future__ import annotations

import re
from typing import Any

from klein import Klein
from twisted.logger import Logger

from s3node.errors import InvalidRequest, KeyInUse
from s3node.gateway.access import request_id_of
from s3node.gateway.auth import key_of, needs
from s3node.gateway.jsonio import json_body, json_response
from s3node.gateway.keyring import new_access_key
from s3node.gateway.permissions import ADMIN
from s3node.records import AccessKey, Grant

__all__ = ["KEY_ID_PATTERN", "install_key_routes", "key_json", "parse_grants"]

log = Logger()

#: an access key id in a path
KEY_ID_PATTERN = "^[A-Za-z0-9]{16,128}$"
_KEY_ID = re.compile(KEY_ID_PATTERN)
_NEW_KEY_FIELDS = {"description", "admin", "grants"}
_GRANT_FIELDS = {"scope", "read", "write"}


def key_json(key: AccessKey) -> dict[str, Any]:
    """The JSON form of a key, without its secret."""
    return {
        "access_key_id": key.access_key_id,
        "description": key.description,
        "created_at": key.created_at.isoformat(),
        "enabled": key.revoked_at is None,
        "disabled_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "admin": key.admin,
        "grants": [{"scope": g.scope, "read": g.read, "write": g.write} for g in key.grants],
    }


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false")
    return value


def parse_grants(value: Any) -> tuple[Grant, ...]:
    """The grants of a request body (the store checks scopes and duplicates)."""
    if not isinstance(value, list):
        raise InvalidRequest("grants must be a list of {scope, read, write}")
    grants = []
    for item in value[:101]:
        if not isinstance(item, dict) or not isinstance(item.get("scope"), str) or (
                set(item) - _GRANT_FIELDS):
            raise InvalidRequest("a grant is {\"scope\": \"*\"|\"/files\"|BUCKET,"
                                 " \"read\": bool, \"write\": bool}")
        grants.append(Grant(item["scope"], _bool(item, "read"), _bool(item, "write")))
    if len(value) > 100:
        raise InvalidRequest("a key holds at most 100 grants")
    return tuple(grants)


def _role(body: dict[str, Any]) -> tuple[bool, tuple[Grant, ...]]:
    unknown = sorted(set(body) - _NEW_KEY_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0][:40]!r}")
    return _bool(body, "admin"), parse_grants(body.get("grants", []))


def _key_id(text: str) -> str:
    if not _KEY_ID.fullmatch(text):
        raise InvalidRequest(f"not an access key id: {text[:70]!r}")
    return text


def _not_self(request: Any, key_id: str, what: str) -> None:
    own = key_of(request)
    if own is not None and own.access_key_id == key_id:
        raise KeyInUse(f"a key cannot {what} itself; use another admin key")


def install_key_routes(app: Klein) -> None:
    """Declare the ``/keys`` routes on the gateway's ``app``."""
    @app.route("/keys", methods=["GET"])
    @needs(ADMIN)
    async def list_keys(gateway: Any, request: Any) -> bytes:
        keys = await gateway.store.list_access_keys()
        return json_response(request, {"keys": [key_json(k) for k in keys]})

    @app.route("/keys", methods=["POST"])
    @needs(ADMIN)
    async def create_key(gateway: Any, request: Any) -> bytes:
        body = await json_body(request)
        admin, grants = _role(body)
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 200:
            raise InvalidRequest("description is text of at most 200 characters")
        key = new_access_key(description)
        key = AccessKey(key.access_key_id, key.secret, key.created_at, description,
                        admin=admin, grants=grants)
        await gateway.store.add_access_key(key)
        created = await gateway.store.get_access_key(key.access_key_id)
        log.info("access key {access_key_id} created (admin: {admin})",
                 access_key_id=key.access_key_id, admin=admin,
                 request_id=request_id_of(request))
        request.setHeader(b"location", f"/keys/{key.access_key_id}".encode())
        request.setHeader(b"cache-control", b"no-store")
        return json_response(request, {**key_json(created), "secret": key.secret}, 201)

    @app.route("/keys/<string:key_id>", methods=["GET"])
    @needs(ADMIN)
    async def get_key(gateway: Any, request: Any, key_id: str) -> bytes:
        return json_response(request, key_json(await _find(gateway, _key_id(key_id))))

    @app.route("/keys/<string:key_id>/grants", methods=["PUT"])
    @needs(ADMIN)
    async def set_grants(gateway: Any, request: Any, key_id: str) -> bytes:
        _key_id(key_id)
        admin, grants = _role(await json_body(request))
        if not admin:
            _not_self(request, key_id, "demote")
        key = await gateway.store.set_access_key_grants(key_id, admin=admin, grants=grants)
        gateway.keys.forget(key_id)
        log.info("access key {access_key_id} now: admin {admin}, {count} grants",
                 access_key_id=key_id, admin=admin, count=len(grants),
                 request_id=request_id_of(request))
        return json_response(request, key_json(key))

    @app.route("/keys/<string:key_id>/disable", methods=["POST"])
    @needs(ADMIN)
    async def disable_key(gateway: Any, request: Any, key_id: str) -> bytes:
        _not_self(request, _key_id(key_id), "disable")
        return await _enable(gateway, request, key_id, False)

    @app.route("/keys/<string:key_id>/enable", methods=["POST"])
    @needs(ADMIN)
    async def enable_key(gateway: Any, request: Any, key_id: str) -> bytes:
        return await _enable(gateway, request, _key_id(key_id), True)

    @app.route("/keys/<string:key_id>", methods=["DELETE"])
    @needs(ADMIN)
    async def delete_key(gateway: Any, request: Any, key_id: str) -> bytes:
        _not_self(request, _key_id(key_id), "delete")
        await gateway.store.delete_access_key(key_id)
        gateway.keys.forget(key_id)
        log.info("access key {access_key_id} deleted", access_key_id=key_id,
                 request_id=request_id_of(request))
        request.setResponseCode(204)
        return b""

    async def _enable(gateway: Any, request: Any, key_id: str, enabled: bool) -> bytes:
        key = await gateway.store.set_access_key_enabled(key_id, enabled)
        gateway.keys.forget(key_id)
        log.info("access key {access_key_id} {state}", access_key_id=key_id,
                 state="enabled" if enabled else "disabled", request_id=request_id_of(request))
        return json_response(request, key_json(key))


async def _find(gateway: Any, key_id: str) -> AccessKey:
    from s3node.errors import AccessKeyNotFound

    for key in await gateway.store.list_access_keys():
        if key.access_key_id == key_id:
            return key  # type: ignore[no-any-return]
    raise AccessKeyNotFound(f"no access key {key_id}")
