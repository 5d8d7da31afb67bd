"""What each S3 operation needs (``s3node.s3server.access``), checked without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3node.errors import Forbidden
from s3node.records import AccessKey, Grant
from s3node.s3 import routing
from s3node.s3server.access import OPERATION_NEEDS, authorize


def _key(*grants: Grant, admin: bool = False) -> AccessKey:
    return AccessKey("S3NODEKEY00000000ACC", "s" * 40, datetime.now(UTC), admin=admin,
                     grants=grants)


def test_every_routed_operation_states_what_it_needs() -> None:
    """The table lists exactly the operations the router can return: a new one can't
    be forgotten (authorize would fail on it)."""
    assert set(OPERATION_NEEDS) == set(routing.OPERATIONS)


@pytest.mark.parametrize(("method", "path", "headers", "allowed_for"), [
    ("GET", "/bk1/k", {}, {"reader", "all", "admin"}),
    ("PUT", "/bk1/k", {}, {"writer", "all", "admin"}),
    ("DELETE", "/bk1/k", {}, {"writer", "all", "admin"}),
    ("PUT", "/bk1", {}, {"writer", "all", "admin"}),
    ("GET", "/bk2/k", {}, {"all", "admin"}),
    ("GET", "/", {}, {"reader", "writer", "all", "admin", "nobody"}),
    ("PUT", "/bk1/k", {"x-amz-copy-source": "/bk2/k"}, {"all", "admin"}),
    ("PUT", "/bk1/k", {"x-amz-copy-source": "/bk1/j"}, {"all", "admin"}),
])
def test_grants_decide(method: str, path: str, headers: dict[str, str],
                       allowed_for: set[str]) -> None:
    """Bucket grants allow what they name; '*' covers every bucket but not /files; a copy
    needs read on its source; ListBuckets needs only a key."""
    keys = {
        "reader": _key(Grant("bk1", read=True)),
        "writer": _key(Grant("bk1", write=True)),
        "all": _key(Grant("*", read=True, write=True)),
        "admin": _key(admin=True),
        "nobody": _key(Grant("/files", read=True, write=True)),
    }
    route = routing.route(method, path, "", headers)
    for name, key in keys.items():
        if name in allowed_for:
            authorize(key, route)
        else:
            with pytest.raises(Forbidden):
                authorize(key, route)
