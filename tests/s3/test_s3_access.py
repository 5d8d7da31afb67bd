"""What each S3 operation needs (``s3node.s3server.access``), checked without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


@pytest.mark.parametrize("case", ["unknown key", "wrong secret"])
def test_s3_refusals_wait_the_same_delay(case: str) -> None:
    """InvalidAccessKeyId and SignatureDoesNotMatch are raised only once the failure
    delay has passed on the injected clock, whether the key exists or not."""
    import time
    from types import SimpleNamespace

    from support.s3 import ACCESS_KEY, SECRET_KEY, botocore_signed
    from twisted.internet.defer import Deferred
    from twisted.internet.task import Clock

    from s3node.gateway.keyring import KeyRing
    from s3node.metadata.memory import MemoryMetadataStore
    from s3node.s3 import errors
    from s3node.s3server.app import S3Api

    clock = Clock()
    clock.advance(time.time())
    store = MemoryMetadataStore(clock=clock)
    if case == "wrong secret":
        Deferred.fromCoroutine(store.add_access_key(
            AccessKey(ACCESS_KEY, SECRET_KEY, datetime.now(UTC), admin=True)))
    method, path, query, headers = botocore_signed(
        "GET", "http://s3.example:9000/bk1/k", secret="not-the-secret" * 3)
    api = SimpleNamespace(keys=KeyRing(store, clock, region="us-east-1", failure_delay=0.5))
    refused = Deferred.fromCoroutine(S3Api._authenticate(api, method, path, query, headers))
    failures: list[Any] = []
    refused.addErrback(failures.append)
    clock.advance(0.499)
    assert not refused.called
    clock.advance(0.001)
    expected = errors.InvalidAccessKeyId if case == "unknown key" else errors.SignatureDoesNotMatch
    assert refused.called and failures[0].check(expected)
