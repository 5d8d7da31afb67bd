"""
Authentication and permissions of the REST API over a real gateway on
loopback (fake nodes, in-memory store): every route but ``/health`` and
``/openapi.json`` refuses anonymous requests, keys do what their grants say,
``/keys`` manages them, and a refusal takes the same time whether the key
exists or not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
import treq
from gateway.conftest import Running
from integration.e2e_client import CTYPE, form, post_bytes
from support.auth import ADMIN_ID, ANONYMOUS, basic, create_key, rest_routes


def test_every_route_declares_what_it_needs() -> None:
    """Each Klein route has a @needs declaration; only /health and /openapi.json are public."""
    from s3node.gateway.auth import need_of

    routes = rest_routes()
    assert len(routes) >= 20
    public = set()
    for method, path, endpoint in routes:
        need = need_of(endpoint)
        assert need is not None, f"{method} {path} declares no @needs"
        if need.public:
            public.add(path)
    assert public == {"/health", "/openapi.json"}


@pytest_twisted.ensureDeferred
async def test_without_credentials_every_route_but_two_answers_401(gw: Running) -> None:
    """Anonymous, wrong-scheme and malformed credentials get 401 with WWW-Authenticate
    and a JSON error on every route of the table; /health and /openapi.json answer."""
    for method, path, _ in rest_routes():
        r = await treq.request(method, gw.url + path, auth=ANONYMOUS)
        if path in ("/health", "/openapi.json"):
            assert r.code == 200, (method, path)
            continue
        assert r.code == 401, (method, path, r.code)
        assert r.headers.getRawHeaders("www-authenticate") == ['Basic realm="s3node"']
        if method != "HEAD":
            body = json.loads(await r.content())
            assert body["error"] == "unauthenticated" and "curl -u" in body["details"]
    for header in ("Bearer abc", "Basic !!notbase64", "Basic " + "Zm9v", "Digest x"):
        r = await treq.get(f"{gw.url}/files", headers={"authorization": header})
        assert r.code == 401 and json.loads(await r.content())["error"] == "unauthenticated"


@pytest_twisted.ensureDeferred
async def test_a_read_only_key_reads_but_never_writes(gw: Running) -> None:
    """read on /files and every bucket: list, download, metadata; uploads and deletes are
    403; admin routes are 403."""
    code, stored = await post_bytes(gw.url, b"r" * 1500)
    assert code == 201
    key = await create_key(gw.url, grants=[{"scope": "/files", "read": True},
                                           {"scope": "*", "read": True}])
    fid = stored["file_id"]
    for path in ("/files", f"/files/{fid}", f"/files/{fid}/metadata"):
        assert (await treq.get(gw.url + path, auth=key)).code == 200, path
    r = await treq.post(f"{gw.url}/files", data=form(b"x"), headers={"content-type": CTYPE},
                        auth=key)
    assert r.code == 403 and json.loads(await r.content())["error"] == "forbidden"
    assert (await treq.delete(f"{gw.url}/files/{fid}", auth=key)).code == 403
    for path in ("/nodes", "/cluster", "/keys", "/metrics"):
        assert (await treq.get(gw.url + path, auth=key)).code == 403, path
    assert (await treq.get(f"{gw.url}/files/{fid}")).code == 200  # still there


@pytest_twisted.ensureDeferred
async def test_files_grants_need_every_bucket_to_read_the_flat_view(gw: Running) -> None:
    """/files lists S3 objects too: a key with /files but only some buckets may upload
    there, yet neither list, read nor delete; a bucket-only key can't reach /files."""
    code, stored = await post_bytes(gw.url, b"f" * 100)
    assert code == 201
    partial = await create_key(gw.url, grants=[{"scope": "/files", "read": True, "write": True},
                                               {"scope": "photos", "read": True, "write": True}])
    r = await treq.post(f"{gw.url}/files", data=form(b"new"), headers={"content-type": CTYPE},
                        auth=partial)
    assert r.code == 201
    for method, path in (("GET", "/files"), ("GET", f"/files/{stored['file_id']}"),
                         ("DELETE", f"/files/{stored['file_id']}")):
        assert (await treq.request(method, gw.url + path, auth=partial)).code == 403
    bucket_only = await create_key(gw.url, grants=[{"scope": "*", "read": True, "write": True}])
    assert (await treq.get(f"{gw.url}/files", auth=bucket_only)).code == 403


@pytest_twisted.ensureDeferred
async def test_keys_are_created_listed_changed_disabled_and_deleted(gw: Running) -> None:
    """The secret is shown once; lists never show it; grant changes, disabling and
    deleting take effect at once on this gateway; a key cannot disable itself."""
    key_id, secret = await create_key(gw.url, description="job", grants=[
        {"scope": "/files", "read": True}, {"scope": "*", "read": True}])
    key = (key_id, secret)
    listing = await (await treq.get(f"{gw.url}/keys")).text()
    assert key_id in listing and secret not in listing and ADMIN_ID in listing
    shown = json.loads(await (await treq.get(f"{gw.url}/keys/{key_id}")).content())
    assert shown["enabled"] and not shown["admin"] and "secret" not in shown
    assert shown["grants"] == [{"scope": "*", "read": True, "write": False},
                               {"scope": "/files", "read": True, "write": False}]
    assert (await treq.get(f"{gw.url}/files", auth=key)).code == 200
    assert (await treq.get(f"{gw.url}/nodes", auth=key)).code == 403
    r = await treq.put(f"{gw.url}/keys/{key_id}/grants", json={"admin": True})
    assert r.code == 200 and json.loads(await r.content())["admin"] is True
    assert (await treq.get(f"{gw.url}/nodes", auth=key)).code == 200
    # an admin key may not disable, delete or demote itself
    for method, path, body in (("POST", "disable", None), ("DELETE", "", None),
                               ("PUT", "grants", {"admin": False})):
        r = await treq.request(method, f"{gw.url}/keys/{key_id}/{path}".rstrip("/"),
                               json=body, auth=key)
        assert r.code == 409 and json.loads(await r.content())["error"] == "key_in_use"
    r = await treq.post(f"{gw.url}/keys/{key_id}/disable")
    assert r.code == 200 and json.loads(await r.content())["enabled"] is False
    assert (await treq.get(f"{gw.url}/files", auth=key)).code == 401
    assert (await treq.post(f"{gw.url}/keys/{key_id}/enable")).code == 200
    assert (await treq.get(f"{gw.url}/files", auth=key)).code == 200
    assert (await treq.delete(f"{gw.url}/keys/{key_id}")).code == 204
    assert (await treq.get(f"{gw.url}/files", auth=key)).code == 401
    assert (await treq.get(f"{gw.url}/keys/{key_id}")).code == 404
    assert (await treq.get(f"{gw.url}/files", auth=(ADMIN_ID, secret))).code == 401


@pytest.mark.parametrize("body", [
    {"grants": [{"scope": "No Bucket", "read": True}]},
    {"grants": [{"scope": "photos"}]},
    {"grants": [{"scope": "a1b", "read": True}, {"scope": "a1b", "write": True}]},
    {"grants": "rw:/files"}, {"admin": "yes"}, {"colour": "blue"}, {"description": "x" * 201},
])
@pytest_twisted.ensureDeferred
async def test_malformed_keys_are_refused(gw: Running, body: Any) -> None:
    """A malformed role or grant is a 400 that creates nothing."""
    before = len(gw.store.access_keys)
    r = await treq.post(f"{gw.url}/keys", json=body)
    assert r.code == 400 and json.loads(await r.content())["error"] == "bad_request"
    assert len(gw.store.access_keys) == before


@pytest_twisted.ensureDeferred
async def test_sigv4_signed_requests_are_accepted_on_rest(gw: Running) -> None:
    """A SigV4-signed GET and a signed JSON POST work as with Basic; a tampered body
    and an upload whose payload hash is signed are refused."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key_id, secret = await create_key(gw.url, admin=True)

    def signed(method: str, url: str, body: bytes = b"", **headers: str) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        S3SigV4Auth(Credentials(key_id, secret), "s3", "us-east-1").add_auth(request)
        return dict(request.headers.items())

    url = f"{gw.url}/files?limit=5"
    r = await treq.get(url, headers=signed("GET", url))
    assert r.code == 200 and "files" in json.loads(await r.content())
    body = json.dumps({"description": "signed"}).encode()
    headers = signed("POST", f"{gw.url}/keys", body, **{"content-type": "application/json"})
    assert (await treq.post(f"{gw.url}/keys", data=body, headers=headers)).code == 201
    r = await treq.post(f"{gw.url}/keys", data=body.replace(b"signed", b"forged"),
                        headers=headers)
    assert r.code == 400
    upload = form(b"signed upload")
    r = await treq.post(f"{gw.url}/files", data=upload,
                        headers=signed("POST", f"{gw.url}/files", upload, **{"content-type": CTYPE}))
    assert r.code == 400 and b"UNSIGNED-PAYLOAD" in await r.content()
    # curl before 8 signs like other AWS services: no x-amz-content-sha256 header, the
    # body's hash signed (on a request without a body: the empty string's)
    plain = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key_id, secret), "s3", "us-east-1").add_auth(plain)
    assert "x-amz-content-sha256" not in {k.lower() for k in plain.headers}
    assert (await treq.get(url, headers=dict(plain.headers.items()))).code == 200
    bad = signed("GET", url)
    bad["Authorization"] = bad["Authorization"][:-4] + "0000"
    r = await treq.get(url, headers=bad)
    assert r.code == 401


@pytest_twisted.ensureDeferred
async def test_refusals_take_the_same_delay_whether_the_key_exists_or_not() -> None:
    """Unknown id, wrong secret and a disabled key are each refused exactly when the
    failure delay has passed on the injected clock, never before; a good key at once."""
    from support.auth import ADMIN_SECRET, admin_key
    from twisted.internet.defer import Deferred
    from twisted.internet.task import Clock
    from twisted.web.http_headers import Headers

    from s3node.errors import Unauthenticated
    from s3node.gateway.auth import RestAuth
    from s3node.gateway.keyring import KeyRing
    from s3node.metadata.memory import MemoryMetadataStore

    clock = Clock()
    clock.advance(1_000_000)
    store = MemoryMetadataStore(clock=clock)
    await store.add_access_key(admin_key())
    await store.add_access_key(admin_key().__class__("S3NODEKEY00000000OFF", "o" * 40,
                                                      admin_key().created_at))
    await store.set_access_key_enabled("S3NODEKEY00000000OFF", False)
    auth = RestAuth(KeyRing(store, clock, region="us-east-1", failure_delay=0.5))

    class Request:
        def __init__(self, header: str) -> None:
            self.requestHeaders = Headers({"authorization": [header]})

        def getHeader(self, name: bytes) -> bytes | None:
            values = self.requestHeaders.getRawHeaders(name)
            return values[0] if values else None

    ok = Deferred.fromCoroutine(auth.authenticate(Request(basic(ADMIN_ID, ADMIN_SECRET))))
    assert ok.called and ok.result.access_key_id == ADMIN_ID
    for header in (basic("S3NODEKEY0000NOSUCH0", ADMIN_SECRET), basic(ADMIN_ID, "wrong" * 8),
                   basic("S3NODEKEY00000000OFF", "o" * 40), basic("short", "x")):
        refused = Deferred.fromCoroutine(auth.authenticate(Request(header)))
        failures: list[Any] = []
        refused.addErrback(failures.append)
        clock.advance(0.499)
        assert not refused.called, header
        clock.advance(0.001)
        assert refused.called and failures[0].check(Unauthenticated)
        assert "unknown or disabled access key, or wrong secret" in failures[0].value.message


@pytest_twisted.ensureDeferred
async def test_an_oversized_upload_is_refused_before_authentication(gw: Running) -> None:
    """A declared size over --max-file-size is 413 at once, key or not, before any body
    is sent (the refusal names only the limit); within the limit, no key is 401."""
    from support.raw_http import connect_raw
    from support.waiting import within

    for length in (10**12, 10):
        client = await connect_raw(gw.url)
        client.transport.write(
            f"POST /files HTTP/1.1\r\nHost: x\r\nContent-Type: {CTYPE}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode())
        if length == 10:
            client.transport.write(b"0123456789")
        await within(client.closed, what="the answer")
        expected = b"HTTP/1.1 413" if length > 10 else b"HTTP/1.1 401"
        assert client.received.startswith(expected), client.received[:200]
