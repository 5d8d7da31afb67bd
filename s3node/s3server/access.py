"""
What each S3 operation needs (:mod:`s3node.gateway.permissions`), in one
table beside the dispatcher: the S3 counterpart of the Klein routes'
``@needs``.  ``tests/s3server`` checks that every operation
:mod:`s3node.s3.routing` can route to is listed.

A copy (``x-amz-copy-source``) needs ``read`` in the source's bucket as
well.  ListBuckets needs any valid key and lists only the buckets it may
read.
"""

from __future__ import annotations

from s3node.errors import Forbidden
from s3node.gateway.permissions import (
    ANY_KEY,
    BUCKET_READ,
    BUCKET_WRITE,
    Need,
    allowed,
    may,
)
from s3node.records import AccessKey
from s3node.s3.routing import Route

__all__ = ["OPERATION_NEEDS", "authorize"]

#: every operation s3node routes to, and what it needs
OPERATION_NEEDS: dict[str, Need] = {
    "ListBuckets": ANY_KEY,
    "CreateBucket": BUCKET_WRITE,
    "HeadBucket": BUCKET_READ,
    "DeleteBucket": BUCKET_WRITE,
    "GetBucketLocation": BUCKET_READ,
    "GetBucketAcl": BUCKET_READ,
    "PutBucketAcl": BUCKET_WRITE,
    "GetObjectAcl": BUCKET_READ,
    "PutObjectAcl": BUCKET_WRITE,
    "ListObjects": BUCKET_READ,
    "ListObjectsV2": BUCKET_READ,
    "DeleteObjects": BUCKET_WRITE,
    "ListMultipartUploads": BUCKET_READ,
    "PutObject": BUCKET_WRITE,
    "CopyObject": BUCKET_WRITE,
    "GetObject": BUCKET_READ,
    "HeadObject": BUCKET_READ,
    "DeleteObject": BUCKET_WRITE,
    "CreateMultipartUpload": BUCKET_WRITE,
    "UploadPart": BUCKET_WRITE,
    "UploadPartCopy": BUCKET_WRITE,
    "CompleteMultipartUpload": BUCKET_WRITE,
    "AbortMultipartUpload": BUCKET_WRITE,
    "ListParts": BUCKET_READ,
    # answered 501 to any valid key
    "NotImplemented": ANY_KEY,
}


def authorize(key: AccessKey, route: Route) -> None:
    """
    Refuse ``route`` unless ``key`` has what its operation needs (and ``read``
    on a copy's source bucket).

    :raises s3node.errors.Forbidden: it has not (S3's ``AccessDenied``).
    """
    need = OPERATION_NEEDS[route.operation]  # a KeyError here is a bug: an unlisted operation
    if not allowed(key, need, route.bucket):
        raise Forbidden(f"Access Denied: access key {key.access_key_id} may not"
                        f" {route.operation} here (it needs {need.name})")
    source = route.copy_source
    if source is not None and not may(key, "read", source.bucket):
        raise Forbidden(f"Access Denied: access key {key.access_key_id} may not read"
                        f" the copy source's bucket")
