"""
The S3 ACL operations, as far as one tenant makes them mean anything:
GetBucketAcl and GetObjectAcl answer the truth (the owner holds
``FULL_CONTROL``, no one else anything: what each key may do is its grants,
docs/security.md); PutBucketAcl and PutObjectAcl accept the ACL every bucket
and object already has (``x-amz-acl: private``, or none, without a body) and
change nothing.  Any other ACL answers ``501 NotImplemented``, never a
success that grants nothing.
"""

from __future__ import annotations

from s3node.s3 import errors, responses
from s3node.s3server.app import Call, Handler, send
from s3node.s3server.bodies import read_small_body
from s3node.s3server.buckets import OWNER

__all__ = ["ACL_HANDLERS", "check_private"]

XML = b"application/xml"


async def _owner_of(call: Call) -> responses.Owner:
    """The owner of the route's bucket, or of its object (each must exist)."""
    route = call.route
    assert route.bucket is not None
    if route.key is None:
        await call.api.files.get_bucket(route.bucket)
    else:
        await call.api.files.get_object(route.bucket, route.key)
    return OWNER


def check_private(headers: dict[str, str]) -> None:
    """Refuse (``501``) any canned ACL but ``private`` and any ``x-amz-grant-*`` header."""
    grants = sorted(h for h in headers if h.startswith("x-amz-grant-"))
    if headers.get("x-amz-acl", "private").strip() != "private" or grants:
        raise errors.NotImplementedByS3Node(
            "ACLs other than private are not implemented by s3node",
            fields=[("Header", grants[0] if grants else "x-amz-acl")])


async def get_acl(call: Call) -> None:
    owner = await _owner_of(call)
    send(call.request, 200, responses.access_control_policy(owner), content_type=XML)


async def put_acl(call: Call) -> None:
    check_private(call.headers)
    document = await read_small_body(call.request.body, call.credentials, call.headers,
                                     call.api.cpu, limit=64 * 1024)
    if document.strip():
        raise errors.NotImplementedByS3Node(
            "ACL documents are not implemented by s3node (x-amz-acl: private is)")
    await _owner_of(call)
    send(call.request, 200)


ACL_HANDLERS: dict[str, Handler] = {
    "GetBucketAcl": get_acl,
    "GetObjectAcl": get_acl,
    "PutBucketAcl": put_acl,
    "PutObjectAcl": put_acl,
}
