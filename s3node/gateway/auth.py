"""
Authentication and permissions of the REST API.

Every Klein route of :class:`~s3node.gateway.app.Gateway` is declared with
:func:`needs`, which names what it needs (:mod:`s3node.gateway.permissions`)
right where the route is: ``@app.route(...)`` then ``@needs(FILES_READ)``.
Before the route runs, :class:`RestAuth` finds the request's key:

- ``Authorization: Basic`` (``curl -u ACCESS_KEY:SECRET``): the secret is
  compared in constant time (:meth:`~s3node.gateway.keyring.KeyRing.basic`);
- ``Authorization: AWS4-HMAC-SHA256`` (``curl --aws-sigv4 "aws:amz:REGION:s3"``):
  verified as an S3 request is.  A signed payload hash is held to the body
  the route reads (:func:`check_signed_body`); uploads must be signed with
  ``UNSIGNED-PAYLOAD`` (what curl sends for ``-F``/``-T``).

No credentials, or ones that are not valid, raise
:class:`~s3node.errors.Unauthenticated` (``401`` with ``WWW-Authenticate``);
wrong ones only after the key ring's failure delay, counted from the
request's arrival, whether the key exists or not.  A key without the
permission raises :class:`~s3node.errors.Forbidden` (``403``).  Secrets are
never logged: the errors name at most the access key id.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from s3node.errors import Forbidden, InvalidRequest, Unauthenticated
from s3node.gateway.keyring import KeyRing
from s3node.gateway.permissions import Need, allowed
from s3node.records import AccessKey
from s3node.s3 import errors as s3errors
from s3node.s3 import sigv4

__all__ = ["RestAuth", "check_signed_body", "key_of", "need_of", "needs"]

F = TypeVar("F", bound=Callable[..., Any])

#: SigV4's payload hash of an empty body
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: what a refused request is told (the same whether the key exists or not)
_REFUSED = "unknown or disabled access key, or wrong secret"
_HOW = ("this route needs credentials: HTTP Basic with an access key and its secret"
        " (curl -u ACCESS_KEY:SECRET) or AWS SigV4")


def key_of(request: Any) -> AccessKey | None:
    """The key a request was authenticated with (``None`` on a public route)."""
    return getattr(request, "access_key", None)


def need_of(route: Any) -> Need | None:
    """What a route declared with :func:`needs` needs (``None``: it declared nothing)."""
    return getattr(route, "need", None)


def check_signed_body(request: Any, body: bytes | None) -> None:
    """
    Refuse ``body`` if the request signed a different payload hash (``400``);
    ``None``: a streamed body, which must not claim a hash (``UNSIGNED-PAYLOAD``).
    """
    claimed = getattr(request, "signed_payload", None)
    if claimed is None:
        return
    if body is None:
        raise InvalidRequest("sign uploads with x-amz-content-sha256: UNSIGNED-PAYLOAD"
                             " (the upload's own sha256 is checked as it streams)")
    if not hmac.compare_digest(claimed, hashlib.sha256(body).hexdigest()):
        raise InvalidRequest("the body's SHA-256 is not the x-amz-content-sha256 it was signed with")


class RestAuth:
    """Finds the key of a REST request (Basic or SigV4) with a :class:`KeyRing`."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    async def authenticate(self, request: Any) -> AccessKey:
        """
        The request's enabled key.

        :raises s3node.errors.Unauthenticated: no, malformed, unknown, disabled
            or wrong credentials.
        """
        started = self.keys.now()
        header = request.getHeader(b"authorization")
        if not header:
            raise Unauthenticated(_HOW)
        scheme, _, value = header.strip().partition(b" ")
        if scheme.lower() == b"basic":
            key = await self._basic(value.strip())
        elif scheme == b"AWS4-HMAC-SHA256":
            key = await self._sigv4(request)
        else:
            raise Unauthenticated(f"unsupported authorization scheme; {_HOW}")
        if key is None:
            await self.keys.refuse_after(started)
            raise Unauthenticated(_REFUSED)
        return key

    async def _basic(self, value: bytes) -> AccessKey | None:
        try:
            text = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise Unauthenticated("malformed Basic credentials (base64 of ACCESS_KEY:SECRET)"
                                  ) from None
        key_id, colon, secret = text.partition(":")
        if not colon:
            raise Unauthenticated("malformed Basic credentials (base64 of ACCESS_KEY:SECRET)")
        return await self.keys.basic(key_id, secret)

    async def _sigv4(self, request: Any) -> AccessKey | None:
        uri = request.uri.decode("latin-1")
        raw_path, _, raw_query = uri.partition("?")
        pairs = [(name.decode("latin-1").lower(), value.decode("latin-1"))
                 for name, values in request.requestHeaders.getAllRawHeaders()
                 for value in values]
        # Without x-amz-content-sha256 (curl before 8 sends none), SigV4 signs the
        # body's hash: known here only for a request without a body.
        length = request.getHeader(b"content-length")
        bodyless = (length in (None, b"0") and request.getHeader(b"transfer-encoding") is None)
        try:
            credentials, key = await self.keys.verify(
                request.method.decode("latin-1"), raw_path, raw_query, pairs,
                default_payload_hash=EMPTY_SHA256 if bodyless else None)
        except (s3errors.InvalidAccessKeyId, s3errors.SignatureDoesNotMatch):
            return None
        except s3errors.S3Error as e:
            raise Unauthenticated(f"{e.code}: {e.message}") from None
        if credentials.payload_hash not in sigv4.PAYLOAD_MARKERS:
            request.signed_payload = credentials.payload_hash  # a hex SHA-256
        return key

    async def authorize(self, request: Any, need: Need) -> None:
        """Authenticate ``request`` and check that its key has ``need``."""
        if need.public:
            return
        key = await self.authenticate(request)
        if not allowed(key, need):
            raise Forbidden(f"access key {key.access_key_id} may not do this"
                            f" (it needs {need.name})")
        request.access_key = key


def needs(need: Need, *, before: Callable[[Any, Any], None] | None = None
          ) -> Callable[[F], F]:
    """
    Declare what a Klein route of the gateway needs; the route runs only for
    a request whose key has it (the gateway's ``auth``, a :class:`RestAuth`).
    Put it under ``@app.route``.

    :param before: ``before(gateway, request)``, a check that may refuse the
        request ahead of authentication, at once and without waiting on
        anything (an upload's declared size: its ``413`` must come before
        the client sends the body).
    """

    def decorate(route: F) -> F:
        @functools.wraps(route)
        async def guarded(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if before is not None:
                before(self, request)
            await self.auth.authorize(request, need)
            result = route(self, request, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        guarded.need = need  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate
