"""
Helpers for the S3 building-block tests: requests signed by botocore's own signer.

botocore is a test dependency only.  ``stub_client`` is a real boto3 client whose HTTP exchange a test
plays.  The signing helpers turn a botocore
``AWSRequest`` after signing into what the gateway will hand
:meth:`s3node.s3.sigv4.SignedRequest.parse`: the method, the raw path and
raw query exactly as they go on the wire, and the header list (with the
``Host`` header the HTTP client adds).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"

Wire = tuple[str, str, str, list[tuple[str, str]]]


def lookup(access_key: str) -> str | None:
    """The test secret of the one test access key."""
    return SECRET_KEY if access_key == ACCESS_KEY else None


def botocore_signed(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    signer: type[SigV4Auth] = S3SigV4Auth,
    region: str = REGION,
    secret: str = SECRET_KEY,
    context: dict[str, object] | None = None,
) -> Wire:
    """A request signed in the ``Authorization`` header by botocore, as it goes on the wire."""
    request = AWSRequest(method=method, url=url, data=body)
    request.context.update(context or {})
    for name, value in headers:
        request.headers[name] = value
    signer(Credentials(ACCESS_KEY, secret), "s3", region).add_auth(request)
    return prepared_wire(request)


def botocore_presigned(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]] = (),
    expires: int = 3600,
    region: str = REGION,
) -> Wire:
    """A presigned URL made by botocore's ``S3SigV4QueryAuth``, as it goes on the wire."""
    request = AWSRequest(method=method, url=url)
    for name, value in headers:
        request.headers[name] = value
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", region, expires=expires).add_auth(
        request
    )
    return prepared_wire(request)


def seconds(timestamp: str) -> float:
    """``YYYYMMDDTHHMMSSZ`` as seconds since the epoch."""
    return datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def header(wire: Wire, name: str) -> str:
    """The first value of a header of a wire request."""
    return next(v for k, v in wire[3] if k.lower() == name)


class _RawBody:
    """Just enough of urllib3's response for botocore to read a canned body."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *args: object, **kwargs: object):
        """The whole body, once."""
        yield self._data

    def read(self, *args: object, **kwargs: object) -> bytes:
        """The whole body, then nothing."""
        data, self._data = self._data, b""
        return data


@functools.cache
def _session() -> Any:
    """One boto3 session for every stub client: its loader caches the S3 model."""
    return boto3.session.Session()


Responder = Callable[[AWSPreparedRequest], tuple[int, dict[str, str], bytes]]


def stub_client(respond: Responder, **config: Any) -> Any:
    """
    A real boto3 S3 client whose HTTP exchange is ``respond``: every request it
    would send (already serialised and signed) goes to ``respond``, and what
    ``respond`` returns is parsed by botocore as the service's answer.
    """
    client = _session().client(
        "s3",
        endpoint_url="http://s3.test:9000",
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(
            **{"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}, **config}
        ),
    )

    def send(request: AWSPreparedRequest, **kwargs: object) -> AWSResponse:
        status, headers, body = respond(request)
        return AWSResponse(request.url, status, headers, _RawBody(body))

    client.meta.events.register("before-send.s3.*", send)
    return client


def prepared_wire(request: AWSRequest | AWSPreparedRequest) -> Wire:
    """A botocore request as it would go on the wire (method, raw path, raw query, headers)."""
    parts = urlsplit(request.url)
    headers = [
        # botocore sends a str value as UTF-8; the server reads bytes as Latin-1
        (str(k), (v if isinstance(v, bytes) else str(v).encode("utf-8")).decode("latin-1"))
        for k, v in request.headers.items()
    ]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(("Host", parts.netloc))
    return request.method, parts.path, parts.query, headers


def body_of(request: AWSPreparedRequest) -> bytes:
    """A prepared request's body as bytes."""
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    data = body.read()
    body.seek(0)
    return bytes(data)
