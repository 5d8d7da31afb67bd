"""
The ``s3node`` command-line client of the gateway's HTTP API.

A plain synchronous program (no Twisted, no reactor): click parses the
command line, httpx streams uploads and downloads, tqdm draws the progress
bars.  ``docs/cli.md`` describes the commands, options and exit codes.

:data:`cli` is the click group (commands register on it when this package is
imported); :func:`main` is the console script; :class:`Client` the HTTP API
as plain calls.
"""

from s3node.cli import _cluster, _files, _keys  # noqa: F401 (they register their commands)
from s3node.cli._app import cli, main
from s3node.cli._client import DEFAULT_URL, Client, connect
from s3node.cli._errors import ExitCode

__all__ = ["DEFAULT_URL", "Client", "ExitCode", "cli", "connect", "main"]
