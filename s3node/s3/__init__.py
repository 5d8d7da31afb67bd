"""
The S3 protocol's building blocks, each pure (no Twisted, no network).

- :mod:`s3node.s3.errors` -- the S3 error codes and their HTTP statuses
- :mod:`s3node.s3.encoding` -- S3's percent-encoding rules and query parsing
- :mod:`s3node.s3.sigv4` -- AWS Signature Version 4 verification
- :mod:`s3node.s3.chunked` -- the ``aws-chunked`` content encoding, decoded incrementally
- :mod:`s3node.s3.checksums` -- ``x-amz-checksum-*``, ``Content-MD5`` and ETags
- :mod:`s3node.s3.xml` -- request XML parsed safely; response XML written exactly
- :mod:`s3node.s3.responses` -- the bodies of successful responses
- :mod:`s3node.s3.routing` -- the request dispatcher: which operation, on what

The S3 edge of the gateway wires these together; ``docs/s3.md`` describes them.
"""
