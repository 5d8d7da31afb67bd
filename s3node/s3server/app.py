"""
The S3 API as a twisted.web resource.

Every request goes the same way: an ``x-amz-request-id`` (the access log's
request id) on the response; the signature verified (:mod:`.auth`); the
operation chosen from the raw request (:func:`s3node.s3.routing.route`); its
handler (:mod:`.buckets`, :mod:`.objects`) called with a :class:`Call`.
Handlers raise, never answer errors: :meth:`S3Api.handle` turns any exception
into S3's XML error document with its status, in one place
(:func:`s3node.s3.errors.from_error`).  An operation s3node does not
implement answers ``501 NotImplemented``, never a wrong success.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.http_headers import Headers

from s3node._aio import CpuRunner
from s3node.errors import describe
from s3node.gateway.access import new_request_id, request_id_of
from s3node.gateway.files import FileService
from s3node.gateway.limits import Limiter
from s3node.gateway.streaming import abort_connection
from s3node.records import AccessKey
from s3node.s3 import errors, routing
from s3node.s3.sigv4 import Credentials
from s3node.s3.xml import error_document
from s3node.s3server.access import authorize
from s3node.s3server.auth import KeyRing

__all__ = ["Call", "S3Api", "finish", "send"]

log = Logger()

#: the response header that carries a request's id
REQUEST_ID = b"x-amz-request-id"


@dataclass
class Call:
    """One S3 request on its way through a handler."""

    api: S3Api
    request: Any
    route: routing.Route
    credentials: Credentials
    #: every header by lower-case name (the first of repeated ones), as text
    headers: dict[str, str]
    #: the key that signed the request (what it may do: :mod:`.access`)
    key: AccessKey | None = None


Handler = Callable[[Call], Awaitable[None]]


def send(request: Any, status: int, body: bytes = b"", *,
         headers: dict[bytes, bytes] | None = None, content_type: bytes | None = None) -> None:
    """Answer with ``status``, ``headers`` and a whole ``body`` (none for HEAD)."""
    if getattr(request, "_lost", False) or request.finished:
        return
    request.setResponseCode(status)
    for name, value in (headers or {}).items():
        request.setHeader(name, value)
    if content_type is not None:
        request.setHeader(b"content-type", content_type)
    if status not in (204, 304):
        request.setHeader(b"content-length", str(len(body)).encode())
    if body and request.method != b"HEAD":
        request.write(body)
    finish(request)


def finish(request: Any) -> None:
    """End the response, unless it ended or its connection is gone."""
    if not getattr(request, "_lost", False) and not request.finished:
        request.finish()


class _S3Headers(Headers):
    """
    Response headers that send ``x-amz-*`` names in lower case, as S3 does:
    twisted.web capitalises every name (``X-Amz-Meta-Color``), and clients
    keep the case of the user metadata names they read from them.
    """

    def getAllRawHeaders(self) -> Any:
        for name, values in super().getAllRawHeaders():
            lower = name.lower()
            yield (lower if lower.startswith(b"x-amz-") else name), values


def _text_headers(request: Any) -> tuple[dict[str, str], list[tuple[str, str]]]:
    pairs = [
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, values in request.requestHeaders.getAllRawHeaders()
        for value in values
    ]
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    return first, pairs


class S3Api:
    """The S3 front of s3node over a :class:`FileService`."""

    def __init__(
        self,
        files: FileService,
        keys: KeyRing,
        cpu: CpuRunner,
        clock: IReactorTime,
        *,
        domain: str | None,
        upload_slots: Limiter,
        download_slots: Limiter,
    ) -> None:
        from s3node.s3server.acl import ACL_HANDLERS
        from s3node.s3server.buckets import BUCKET_HANDLERS, OWNER
        from s3node.s3server.copy import COPY_HANDLERS
        from s3node.s3server.multipart import MULTIPART_HANDLERS
        from s3node.s3server.objects import OBJECT_HANDLERS

        self.files = files
        self.keys = keys
        self.cpu = cpu
        self.clock = clock
        self.domain = domain
        self.upload_slots = upload_slots
        self.download_slots = download_slots
        #: the account that owns every bucket (one tenant)
        self.owner_id = OWNER.id
        self._handlers: dict[str, Handler] = {**BUCKET_HANDLERS, **OBJECT_HANDLERS,
                                               **MULTIPART_HANDLERS, **COPY_HANDLERS,
                                               **ACL_HANDLERS}

    @property
    def region(self) -> str:
        """The region clients sign for."""
        return self.keys.region

    def resource(self) -> resource.Resource:
        """The twisted.web resource serving the whole S3 namespace."""
        return _S3Resource(self)

    async def handle(self, request: Any) -> None:
        """Serve one request to its end (errors included)."""
        request_id = request_id_of(request) or new_request_id()
        headers_out = _S3Headers()
        for name, values in request.responseHeaders.getAllRawHeaders():
            headers_out.setRawHeaders(name, values)
        request.responseHeaders = headers_out
        request.setHeader(REQUEST_ID, request_id.encode("ascii"))
        request.setHeader(b"server", b"s3node")
        initial = list(headers_out.getAllRawHeaders())
        uri = request.uri.decode("latin-1")
        raw_path, _, raw_query = uri.partition("?")
        method = request.method.decode("latin-1")
        try:
            headers, pairs = _text_headers(request)
            credentials, key = await self._authenticate(method, raw_path, raw_query, pairs)
            route = routing.route(method, raw_path, raw_query, headers, self.domain)
            request.route_label = f"s3:{route.operation}"
            authorize(key, route)
            routing.check_expected_owner(route, headers, self.owner_id)
            handler = self._handlers.get(route.operation)
            if handler is None or route.operation == "NotImplemented":
                what = route.unsupported or route.operation
                raise errors.NotImplementedByS3Node(
                    f"{what} is not implemented by s3node",
                    fields=[("Method", method), ("ResourceType", what)])
            await handler(Call(self, request, route, credentials, headers, key))
        except CancelledError:
            return  # the client went away mid-response
        except Exception as e:  # noqa: BLE001 - every error becomes an XML answer
            self._failed(request, e, raw_path, request_id, initial)
            return
        finish(request)

    async def _authenticate(self, method: str, raw_path: str, raw_query: str,
                            pairs: list[tuple[str, str]]) -> tuple[Credentials, AccessKey]:
        """The request's verified signature and key; a wrong key or signature is
        answered after the key ring's failure delay, whether the key exists or not."""
        started = self.keys.now()
        try:
            return await self.keys.verify(method, raw_path, raw_query, pairs)
        except (errors.InvalidAccessKeyId, errors.SignatureDoesNotMatch):
            await self.keys.refuse_after(started)
            raise

    def _failed(self, request: Any, error: BaseException, path: str, request_id: str,
                initial: list[tuple[bytes, list[bytes]]]) -> None:
        answer = errors.from_error(error)
        if answer.status >= 500:
            log.error("S3 {method} {path} failed: {error}", method=request.method.decode(
                "latin-1"), path=path[:300], error=describe(error), request_id=request_id)
        if request.startedWriting:
            # headers are out: the body cannot turn into an error any more
            abort_connection(request)
            return
        # none of the object's headers (ETag, checksums...) a GET had set describe the error
        request.responseHeaders = _S3Headers()
        for name, values in initial:
            request.responseHeaders.setRawHeaders(name, values)
        body = error_document(answer, path, request_id)
        send(request, answer.status, body, content_type=b"application/xml")


class _S3Resource(resource.Resource):
    """Every path is the API's: it dispatches on the raw request itself."""

    isLeaf = True

    def __init__(self, api: S3Api) -> None:
        super().__init__()
        self._api = api

    def render(self, request: Any) -> Any:
        Deferred.fromCoroutine(self._api.handle(request))
        return server.NOT_DONE_YET
