"""s3node: a distributed file and object store on Twisted."""

__version__ = "0.1.0.dev0"
