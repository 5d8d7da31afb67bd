"""
The test suite's admin key: every gateway the tests start knows it (the
in-process gateways have it in their store, real processes get
``--admin-key-file``), and :func:`authenticated_treq` makes every ``treq``
call carry it unless the call brings its own ``Authorization`` or passes
``auth=ANONYMOUS``.
"""

from __future__ import annotations

import atexit
import base64
import json
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import treq

__all__ = [
    "ADMIN_ID",
    "ADMIN_SECRET",
    "ANONYMOUS",
    "AUTH",
    "AUTH_LINE",
    "BASIC",
    "admin_key",
    "admin_key_file",
    "authenticated_treq",
    "basic",
    "create_key",
    "rest_routes",
]

ADMIN_ID = "S3NODETESTADMIN00001"
ADMIN_SECRET = "test-admin-secret-0123456789abcdef"


def basic(key_id: str, secret: str) -> str:
    """An ``Authorization`` header value for HTTP Basic."""
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode("ascii")


async def create_key(url: str, **role: Any) -> tuple[str, str]:
    """A new access key with ``role`` (``POST /keys`` on the gateway at ``url``, as the
    admin): its id and secret."""
    r = await treq.post(f"{url}/keys", json=role)
    assert r.code == 201, await r.text()
    body = json.loads(await r.content())
    return body["access_key_id"], body["secret"]


#: the ``Authorization`` header value of the admin key
BASIC = basic(ADMIN_ID, ADMIN_SECRET)
#: the admin key's header line, for raw requests (``AUTH_LINE``: the same as bytes)
AUTH = f"Authorization: {BASIC}\r\n"
AUTH_LINE = AUTH.encode("ascii")
#: pass as ``auth=`` to a treq call to send no credentials
ANONYMOUS: Any = object()
_file: Path | None = None


def admin_key() -> Any:
    """The admin key as an :class:`~s3node.records.AccessKey`."""
    from s3node.records import AccessKey

    return AccessKey(ADMIN_ID, ADMIN_SECRET, datetime.now(UTC), "tests", admin=True)


def admin_key_file() -> Path:
    """An AWS shared credentials file holding the admin key (made once per session)."""
    global _file
    if _file is None:
        folder = Path(tempfile.mkdtemp(prefix="s3node-test-key-"))
        atexit.register(shutil.rmtree, folder, True)
        _file = folder / "admin-credentials"
        _file.write_text(f"[default]\naws_access_key_id = {ADMIN_ID}\n"
                         f"aws_secret_access_key = {ADMIN_SECRET}\n")
        _file.chmod(0o600)
    return _file


def _has_authorization(headers: Any) -> bool:
    if headers is None:
        return False
    if hasattr(headers, "hasHeader"):
        return bool(headers.hasHeader(b"authorization"))
    return any((k.decode() if isinstance(k, bytes) else k).lower() == "authorization"
               for k in headers)


def authenticated_treq(monkeypatch: Any) -> None:
    """Make ``treq``'s module-level calls send the admin key (see the module docstring)."""
    import treq.api
    from treq.client import HTTPClient

    class AdminClient(HTTPClient):  # type: ignore[misc]
        def request(self, method: Any, url: Any, **kwargs: Any) -> Any:
            if kwargs.get("auth") is ANONYMOUS:
                kwargs.pop("auth")
            elif kwargs.get("auth") is None and not _has_authorization(kwargs.get("headers")):
                kwargs["auth"] = (ADMIN_ID, ADMIN_SECRET)
            return super().request(method, url, **kwargs)

    original = treq.api._client

    def client(*args: Any) -> Any:
        plain = original(*args)
        return AdminClient(plain._agent, plain._cookiejar, plain._data_to_body_producer)

    monkeypatch.setattr(treq.api, "_client", client)


#: a value for each path converter, so that every route can be called
_SAMPLES = {"file_id": "00000000-0000-4000-8000-000000000000", "node_id": "n1",
            "key_id": "S3NODEKEY00000000XYZ"}


def rest_routes() -> list[tuple[str, str, Any]]:
    """
    Every (method, path, endpoint function) the gateway's Klein app serves,
    read from its route table (so that a new route is never left out), with
    sample values in the paths.
    """
    from s3node.gateway.app import Gateway

    endpoints = Gateway.app._endpoints
    found = []
    for rule in Gateway.app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: _SAMPLES[m.group(1)], rule.rule)
        for method in sorted(rule.methods or ()):
            if method not in ("HEAD", "OPTIONS") or rule.methods == {"HEAD", "GET", "OPTIONS"}:
                found.append((method, path, endpoints[rule.endpoint]))
    return found
