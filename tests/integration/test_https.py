"""
HTTPS on both front ends through Twisted endpoints (issue 11): a real
standalone process with ``--listen ssl:0:...`` and ``--s3-listen ssl:0:...``
and a throwaway certificate; treq (REST) and boto3 (S3) upload and download
over https, trusting the test CA, and a client that does not trust it gets
no answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import pytest_twisted
import treq
from botocore.config import Config
from integration.conftest import GATEWAY_READY, S3_READY, _key_from
from integration.e2e_client import CTYPE, form
from support.auth import basic
from support.nodeauth import Pki, make_pki
from support.processes import TwistdProcess, start_twistd
from twisted.internet import reactor
from twisted.internet.ssl import Certificate
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, ResponseFailed

pytestmark = pytest.mark.integration


@dataclass
class Https:
    proc: TwistdProcess
    pki: Pki
    url: str
    s3_url: str
    key: tuple[str, str]


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    """Standalone serving REST and S3 over TLS with a certificate for 127.0.0.1."""
    base = tmp_path_factory.mktemp("https")
    pki = make_pki(base / "pki")
    tls = f"privateKey={pki.node_key}:certKey={pki.node_cert}:interface=127.0.0.1"
    proc = start_twistd(
        ["s3node", "standalone", "--data-dir", str(base / "data"), "--nodes", "2",
         "--chunk-size", "64KiB", "--listen", f"ssl:0:{tls}", "--s3-listen", f"ssl:0:{tls}",
         "--no-fsync"],
        cwd=base, ready_pattern=GATEWAY_READY, timeout=60)
    try:
        s3_port = proc.wait_for(S3_READY, timeout=60).group("port")
        key = _key_from((base / "data" / "s3-credentials").read_text())
        yield Https(proc, pki, f"https://127.0.0.1:{proc.port}",
                    f"https://127.0.0.1:{s3_port}", key)
    finally:
        proc.stop()


def _trusting(ca: Path) -> treq.client.HTTPClient:
    """A treq client that trusts ``ca`` (and checks the server's name against it)."""
    policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(ca.read_bytes()))
    return treq.client.HTTPClient(Agent(reactor, contextFactory=policy))


@pytest_twisted.ensureDeferred
async def test_rest_over_https_with_treq(https: Https) -> None:
    """A file goes up and comes back byte-exact over https; a client that does not
    trust the certificate gets no answer at all."""
    client = _trusting(https.pki.ca)
    data = bytes(range(256)) * 700  # three 64 KiB chunks
    auth = basic(*https.key)  # standalone's first key (admin), sent over TLS only
    r = await client.post(https.url + "/files", data=form(data),
                          headers={"content-type": CTYPE, "authorization": auth})
    assert r.code == 201, await r.text()
    file_id = (await r.json())["file_id"]
    r = await client.get(f"{https.url}/files/{file_id}", headers={"authorization": auth})
    assert r.code == 200 and await r.content() == data
    with pytest.raises(ResponseFailed):  # the default trust store does not know our CA
        await treq.get(https.url + "/health")


def test_s3_over_https_with_boto3(https: Https) -> None:
    """boto3 creates a bucket, puts and gets an object over https, verifying the
    certificate with the test CA; without it the request fails verification."""
    import botocore.exceptions

    def s3(verify: str | bool) -> object:
        return boto3.client(
            "s3", endpoint_url=https.s3_url, verify=verify, region_name="us-east-1",
            aws_access_key_id=https.key[0], aws_secret_access_key=https.key[1],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    client = s3(str(https.pki.ca))
    body = hashlib.sha512(b"https").digest() * 3000  # 192,000 bytes
    client.create_bucket(Bucket="tls")  # type: ignore[attr-defined]
    client.put_object(Bucket="tls", Key="a/b.bin", Body=body)  # type: ignore[attr-defined]
    got = client.get_object(Bucket="tls", Key="a/b.bin")  # type: ignore[attr-defined]
    assert got["Body"].read() == body
    with pytest.raises(botocore.exceptions.SSLError):
        s3(True).list_buckets()  # type: ignore[attr-defined]
