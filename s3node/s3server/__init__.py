"""
The S3 edge of the gateway: the pure building blocks of :mod:`s3node.s3`
wired to Twisted and to the protocol-neutral
:class:`~s3node.gateway.files.FileService`.

- :mod:`s3node.s3server.app` -- the twisted.web resource: request ids,
  authentication, dispatch by :func:`s3node.s3.routing.route`, XML errors
- :mod:`s3node.s3server.auth` -- SigV4 against the access keys in the metadata
  (the gateway's :class:`~s3node.gateway.keyring.KeyRing`, shared with REST)
- :mod:`s3node.s3server.access` -- what each operation needs (docs/security.md)
- :mod:`s3node.s3server.bodies` -- request bodies (plain or ``aws-chunked``)
  as byte sources, every claim about them verified while they stream
- :mod:`s3node.s3server.buckets` -- bucket operations and listings
- :mod:`s3node.s3server.objects` -- object operations
- :mod:`s3node.s3server.keys` -- standalone's first (admin) key, ``--admin-key-file``
- :mod:`s3node.s3server.keyadmin` -- ``s3node-keys``, keys in the database directly

``docs/s3.md`` describes what each operation does.
"""
