"""
The S3 error codes s3node answers with, each a class with its HTTP status.

Every class derives from :class:`S3Error`, itself an
:class:`s3node.errors.S3NodeError`, so the one error root holds.  An
:class:`S3Error`'s ``code`` is the S3 error code clients read from the
``<Code>`` element (``NoSuchBucket``, ``SignatureDoesNotMatch``, ...) and its
``status`` is the HTTP status S3 sends with it; the S3 edge renders any of
them with :func:`s3node.s3.xml.error_document` and never chooses a status of
its own.  :func:`from_error` turns any other exception (the core's
:class:`~s3node.errors.S3NodeError` subclasses, or a bug) into the S3 error
to answer with, in one table.

Codes and statuses are those of the Amazon S3 API reference, "Error
responses" (``ErrorResponses.html``).  Class names are the codes, except
``NotImplemented`` (a Python built-in), spelled :class:`NotImplementedByS3Node`.
"""

from __future__ import annotations

from collections.abc import Iterable

from s3node import errors as core

__all__ = [
    "AccessDenied",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "BadDigest",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "BucketNotEmpty",
    "EntityTooLarge",
    "EntityTooSmall",
    "IncompleteBody",
    "InternalError",
    "InvalidAccessKeyId",
    "InvalidArgument",
    "InvalidBucketName",
    "InvalidChunkedEncoding",
    "InvalidDigest",
    "InvalidPart",
    "InvalidPartOrder",
    "InvalidRange",
    "InvalidRequest",
    "InvalidURI",
    "KeyTooLongError",
    "MalformedXML",
    "MaxMessageLengthExceeded",
    "MethodNotAllowed",
    "MissingContentLength",
    "MissingSecurityHeader",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "NotImplementedByS3Node",
    "PreconditionFailed",
    "RequestTimeTooSkewed",
    "S3Error",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "SlowDown",
    "XAmzContentSHA256Mismatch",
    "from_error",
]


class S3Error(core.S3NodeError):
    """We encountered an internal error. Please try again."""

    #: the S3 error code, sent as ``<Code>``
    code = "InternalError"
    #: the HTTP status S3 sends with this code
    status = 500

    def __init__(self, message: str = "", fields: Iterable[tuple[str, str]] = ()) -> None:
        """
        :param message: the ``<Message>``; the class's docstring when empty
        :param fields: extra elements of the error document, in order, as
            S3 adds them to some errors (``Region``, ``ServerTime``,
            ``StringToSign``, ...)
        """
        super().__init__(message)
        self.fields: tuple[tuple[str, str], ...] = tuple(fields)


class InternalError(S3Error):
    """We encountered an internal error. Please try again."""

    code = "InternalError"
    status = 500


class AccessDenied(S3Error):
    """Access Denied"""

    code = "AccessDenied"
    status = 403


class AuthorizationHeaderMalformed(S3Error):
    """The authorization header that you provided is not valid."""

    code = "AuthorizationHeaderMalformed"
    status = 400


class AuthorizationQueryParametersError(S3Error):
    """The query-string authentication parameters are not valid."""

    code = "AuthorizationQueryParametersError"
    status = 400


class BadDigest(S3Error):
    """The Content-MD5 or checksum value that you specified did not match what the server received."""

    code = "BadDigest"
    status = 400


class BucketAlreadyExists(S3Error):
    """The requested bucket name is not available."""

    code = "BucketAlreadyExists"
    status = 409


class BucketAlreadyOwnedByYou(S3Error):
    """The bucket that you tried to create already exists, and you own it."""

    code = "BucketAlreadyOwnedByYou"
    status = 409


class BucketNotEmpty(S3Error):
    """The bucket that you tried to delete is not empty."""

    code = "BucketNotEmpty"
    status = 409


class EntityTooLarge(S3Error):
    """Your proposed upload exceeds the maximum allowed object size."""

    code = "EntityTooLarge"
    status = 400


class EntityTooSmall(S3Error):
    """Your proposed upload is smaller than the minimum allowed object size."""

    code = "EntityTooSmall"
    status = 400


class IncompleteBody(S3Error):
    """You did not provide the number of bytes specified by the Content-Length HTTP header."""

    code = "IncompleteBody"
    status = 400


class InvalidAccessKeyId(S3Error):
    """The AWS access key ID that you provided does not exist in our records."""

    code = "InvalidAccessKeyId"
    status = 403


class InvalidArgument(S3Error):
    """Invalid Argument"""

    code = "InvalidArgument"
    status = 400


class InvalidBucketName(S3Error):
    """The specified bucket is not valid."""

    code = "InvalidBucketName"
    status = 400


class InvalidDigest(S3Error):
    """The Content-MD5 or checksum value that you specified is not valid."""

    code = "InvalidDigest"
    status = 400


class InvalidPart(S3Error):
    """One or more of the specified parts could not be found."""

    code = "InvalidPart"
    status = 400


class InvalidPartOrder(S3Error):
    """The list of parts was not in ascending order."""

    code = "InvalidPartOrder"
    status = 400


class InvalidRange(S3Error):
    """The requested range cannot be satisfied."""

    code = "InvalidRange"
    status = 416


class InvalidRequest(S3Error):
    """Invalid Request"""

    code = "InvalidRequest"
    status = 400


class InvalidChunkedEncoding(InvalidRequest):
    """The aws-chunked request body is malformed."""


class InvalidURI(S3Error):
    """The specified URI couldn't be parsed."""

    code = "InvalidURI"
    status = 400


class KeyTooLongError(S3Error):
    """Your key is too long."""

    code = "KeyTooLongError"
    status = 400


class MalformedXML(S3Error):
    """The XML that you provided was not well formed or did not validate against our published schema."""

    code = "MalformedXML"
    status = 400


class MaxMessageLengthExceeded(S3Error):
    """Your request was too large."""

    code = "MaxMessageLengthExceeded"
    status = 400


class MethodNotAllowed(S3Error):
    """The specified method is not allowed against this resource."""

    code = "MethodNotAllowed"
    status = 405


class MissingContentLength(S3Error):
    """You must provide the Content-Length HTTP header."""

    code = "MissingContentLength"
    status = 411


class MissingSecurityHeader(S3Error):
    """Your request is missing a required header."""

    code = "MissingSecurityHeader"
    status = 400


class NoSuchBucket(S3Error):
    """The specified bucket does not exist."""

    code = "NoSuchBucket"
    status = 404


class NoSuchKey(S3Error):
    """The specified key does not exist."""

    code = "NoSuchKey"
    status = 404


class NoSuchUpload(S3Error):
    """The specified multipart upload does not exist."""

    code = "NoSuchUpload"
    status = 404


class NotImplementedByS3Node(S3Error):
    """A header or query you provided implies functionality that is not implemented."""

    code = "NotImplemented"
    status = 501


class PreconditionFailed(S3Error):
    """At least one of the preconditions that you specified did not hold."""

    code = "PreconditionFailed"
    status = 412


class RequestTimeTooSkewed(S3Error):
    """The difference between the request time and the server's time is too large."""

    code = "RequestTimeTooSkewed"
    status = 403


class ServiceUnavailable(S3Error):
    """Service is unable to handle request."""

    code = "ServiceUnavailable"
    status = 503


class SignatureDoesNotMatch(S3Error):
    """The request signature that we calculated does not match the signature you provided."""

    code = "SignatureDoesNotMatch"
    status = 403


class SlowDown(S3Error):
    """Please reduce your request rate."""

    code = "SlowDown"
    status = 503


class XAmzContentSHA256Mismatch(S3Error):
    """The provided 'x-amz-content-sha256' header does not match what was computed."""

    code = "XAmzContentSHA256Mismatch"
    status = 400


#: the S3 error each of the core's errors becomes (most specific class wins)
_FROM_CORE: dict[type[core.S3NodeError], type[S3Error]] = {
    core.InvalidRequest: InvalidRequest,
    core.ClientDisconnected: IncompleteBody,
    core.InvalidRange: InvalidRange,
    core.ChecksumMismatch: BadDigest,
    core.SizeMismatch: IncompleteBody,
    core.FileNotFound: NoSuchKey,
    core.FileNotReady: NoSuchKey,
    core.ObjectNotFound: NoSuchKey,
    core.BucketNotFound: NoSuchBucket,
    core.BucketExists: BucketAlreadyOwnedByYou,
    core.BucketNotEmpty: BucketNotEmpty,
    core.PreconditionFailed: PreconditionFailed,
    core.UploadNotFound: NoSuchUpload,
    core.InvalidPart: InvalidPart,
    core.PartTooSmall: EntityTooSmall,
    core.AccessKeyNotFound: InvalidAccessKeyId,
    core.Forbidden: AccessDenied,
    core.Unauthenticated: AccessDenied,
    core.TooLarge: EntityTooLarge,
    core.Unavailable: ServiceUnavailable,
    core.Overloaded: SlowDown,
}


def from_error(error: BaseException) -> S3Error:
    """
    The S3 error to answer ``error`` with: the one place the S3 edge maps errors.

    An :class:`S3Error` is itself; the core's errors map by their most specific
    listed class (:func:`s3node.errors.lookup`), keeping their message; and
    anything else, including a bug, is an :class:`InternalError` whose
    message says nothing about the cause (log the original instead).
    """
    if isinstance(error, S3Error):
        return error
    if isinstance(error, core.S3NodeError):
        cls = core.lookup(_FROM_CORE, error, InternalError)
        return cls(error.message) if cls is not InternalError else InternalError()
    return InternalError()
