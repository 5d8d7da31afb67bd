"""
What a request needs, and whether a key has it (docs/security.md, "Permissions").

Pure: no I/O.  A key is ``admin`` (everything) or a user key with
:class:`~s3node.records.Grant`\\ s: ``read`` and/or ``write`` on every bucket
(``*``), on named buckets, or on the REST ``/files`` namespace.

``/files`` is the flat view of **every** file, S3 objects included
(docs/s3.md, "One storage model").  So that a key never reads or deletes what
it was not granted, the ``/files`` routes that read or delete existing files
need the permission on ``/files`` *and* on every bucket (:data:`FILES_READ`,
:data:`FILES_DELETE`); an upload, which only adds a new file, needs ``write``
on ``/files`` alone (:data:`FILES_UPLOAD`).

Every route names one :class:`Need` where it is declared: the Klein routes
with :func:`s3node.gateway.auth.needs`, the S3 operations in
:data:`s3node.s3server.access.OPERATION_NEEDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from s3node.records import ALL_BUCKETS, FILES_SCOPE, AccessKey

__all__ = [
    "ADMIN",
    "ANY_KEY",
    "BUCKET_READ",
    "BUCKET_WRITE",
    "FILES_DELETE",
    "FILES_READ",
    "FILES_UPLOAD",
    "PUBLIC",
    "REQUEST_BUCKET",
    "Need",
    "allowed",
    "may",
]

#: in a :class:`Need`'s scopes: the bucket the request names
REQUEST_BUCKET = "{bucket}"


@dataclass(frozen=True)
class Need:
    """What a route needs: nothing, any valid key, admin, or a permission in scopes."""

    #: a short name for docs and errors (``files:read``)
    name: str
    #: ``"read"``, ``"write"`` or ``None`` (then ``admin`` or ``public`` decide)
    permission: str | None = None
    #: every scope the permission is needed in
    scopes: tuple[str, ...] = ()
    admin: bool = False
    public: bool = False


#: anyone, without credentials (``/health``, ``/openapi.json``)
PUBLIC = Need("public", public=True)
#: any enabled key (S3 ListBuckets: each key sees the buckets it may read)
ANY_KEY = Need("any key")
#: an admin key: nodes, keys, the cluster view, metrics
ADMIN = Need("admin", admin=True)
#: reading existing files through ``/files`` (the flat view of every bucket too)
FILES_READ = Need("files:read", "read", (FILES_SCOPE, ALL_BUCKETS))
#: deleting a file through ``/files`` (it may be an S3 object)
FILES_DELETE = Need("files:write", "write", (FILES_SCOPE, ALL_BUCKETS))
#: uploading a new file to ``/files``
FILES_UPLOAD = Need("files:upload", "write", (FILES_SCOPE,))
#: reading in the request's bucket
BUCKET_READ = Need("bucket:read", "read", (REQUEST_BUCKET,))
#: writing in the request's bucket (objects, uploads, the bucket itself)
BUCKET_WRITE = Need("bucket:write", "write", (REQUEST_BUCKET,))


def may(key: AccessKey, permission: str, scope: str) -> bool:
    """Whether ``key`` has ``permission`` in ``scope`` (a bucket, ``*`` or ``/files``)."""
    if key.admin:
        return True
    for grant in key.grants:
        covers = grant.scope == scope or (
            grant.scope == ALL_BUCKETS and scope != FILES_SCOPE)
        if covers and (grant.read if permission == "read" else grant.write):
            return True
    return False


def allowed(key: AccessKey, need: Need, bucket: str | None = None) -> bool:
    """Whether ``key`` may do what ``need`` says (``bucket``: the request's bucket)."""
    if need.public or key.admin:
        return True
    if need.admin:
        return False
    if need.permission is None:
        return True  # ANY_KEY
    for scope in need.scopes:
        if scope == REQUEST_BUCKET:
            if bucket is None:
                return False
            scope = bucket
        if not may(key, need.permission, scope):
            return False
    return True
