"""
Authenticated node traffic on gRPC: the cluster secret and TLS with client certificates.

A gateway's :class:`~s3node.storage.client.StorageClient` sends the cluster
secret as the call metadata :data:`SECRET_KEY` with every call
(:func:`call_metadata`; passed with each call rather than added by a client
interceptor, which costs grpc.aio an extra task per call).  A storage node checks it before any handler
runs (:class:`SecretCheck`, a server interceptor): a call without it, or
with a secret that matches none of the node's (compared in constant time),
is answered ``UNAUTHENTICATED`` at once.  With :class:`~s3node.config.TlsFiles`
the channel is TLS: the node presents its certificate and requires a client
certificate signed by the CA (:func:`server_credentials`); the gateway checks
the node's certificate against the same CA and presents its own
(:func:`channel_credentials`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from s3node.config import NodeAuth, TlsFiles
from s3node.errors import NodeAuthFailed
from s3node.storage.errors import ERROR_CODE_KEY

__all__ = [
    "SECRET_KEY",
    "SecretCheck",
    "call_metadata",
    "channel_credentials",
    "secret_matches",
    "server_credentials",
    "server_interceptors",
]

#: the call metadata key that carries the cluster secret
SECRET_KEY = "s3node-cluster-secret"

_MISSING = (f"this storage node requires the cluster secret: send it as the "
            f"{SECRET_KEY} call metadata (the gateway's --cluster-secret-file)")
_WRONG = (f"the {SECRET_KEY} call metadata matches none of this storage node's "
          f"secrets (its --cluster-secret-file)")


def _refusal(handler: grpc.RpcMethodHandler, details: str) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind that answers ``UNAUTHENTICATED`` without reading a byte."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, details,
                            trailing_metadata=((ERROR_CODE_KEY, NodeAuthFailed.code),))

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)


class SecretCheck(grpc.aio.ServerInterceptor):
    """
    Let a call through only when it carries one of ``secrets`` (the node's
    cluster secrets, current and previous).
    """

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("SecretCheck needs at least one secret")
        self._secrets = tuple(secrets)

    def _verdict(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
        """``None`` when the call may pass, else why not."""
        sent = [value for key, value in metadata or () if key == SECRET_KEY]
        if not sent:
            return _MISSING
        given = sent[0] if isinstance(sent[0], bytes) else sent[0].encode("utf-8", "replace")
        return None if len(sent) == 1 and secret_matches(self._secrets, given) else _WRONG

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        why = self._verdict(handler_call_details.invocation_metadata)  # type: ignore[attr-defined]
        if why is None or handler is None:  # an unknown method stays UNIMPLEMENTED
            return handler
        return _refusal(handler, why)


def secret_matches(secrets: Sequence[bytes], given: bytes) -> bool:
    """
    Whether ``given`` is one of ``secrets``: every secret is compared, in
    constant time each, so there is no early way out.
    """
    matches = [hmac.compare_digest(given, secret) for secret in secrets]
    return any(matches)


def call_metadata(auth: NodeAuth | None) -> tuple[tuple[str, str], ...] | None:
    """The metadata every call sends for ``auth``'s secret (``None`` without one)."""
    if auth is None or not auth.secrets:
        return None
    return ((SECRET_KEY, auth.secrets[0].decode("ascii")),)


def server_interceptors(auth: NodeAuth) -> list[grpc.aio.ServerInterceptor]:
    """What a node's server needs to check ``auth``'s secrets (nothing without one)."""
    return [SecretCheck(auth.secrets)] if auth.secrets else []


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    """A node's TLS: its certificate, and client certificates required and checked against the CA."""
    return grpc.ssl_server_credentials(((tls.key, tls.cert),), root_certificates=tls.ca,
                                       require_client_auth=True)


def channel_credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    """A gateway's TLS: node certificates checked against the CA, its own certificate presented."""
    return grpc.ssl_channel_credentials(root_certificates=tls.ca, private_key=tls.key,
                                        certificate_chain=tls.cert)
