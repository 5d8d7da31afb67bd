"""
The ``s3node`` command group: its global options, the client every command
shares, and the one place where failures become a message and an exit code.

Each noun is a :class:`click.Group` of its own (``s3node node ...``), so the
operations later issues add (``node add``, ``node drain``, ``cluster``,
``key``) slot in as commands of their group.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import click

from s3node import __version__
from s3node.cli._client import DEFAULT_URL, Client, connect
from s3node.cli._errors import CliError

__all__ = ["Settings", "cli", "client_of", "main"]


@dataclass
class Settings:
    """The global options, checked; the client is made on first use."""

    url: str
    access_key: str | None
    secret_key: str | None
    timeout: float
    _client: Client | None = field(default=None, repr=False)

    def client(self, ctx: click.Context) -> Client:
        """The shared client, closed when the command ends."""
        if self._client is None:
            self._client = connect(
                self.url,
                access_key=self.access_key,
                secret_key=self.secret_key,
                timeout=self.timeout,
            )
            ctx.call_on_close(self._client.close)
        return self._client


def client_of(ctx: click.Context) -> Client:
    """The client of the running command."""
    return ctx.find_object(Settings).client(ctx)  # type: ignore[union-attr]


def fail(error: CliError) -> None:
    """Print ``s3node: MESSAGE`` on stderr and exit with the error's code."""
    click.echo(f"s3node: {error.message}", err=True)
    raise click.exceptions.Exit(int(error.exit_code))


class Commands(click.Group):
    """A group that reports :class:`CliError` as one line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; a :class:`CliError` from it ends the process."""
        try:
            return super().invoke(ctx)
        except CliError as e:
            fail(e)


def _check_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL", ctx, param)
    return value


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="S3NODE_URL",
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    callback=_check_url,
    help="The gateway's base URL.",
)
@click.option(
    "--access-key",
    envvar="S3NODE_ACCESS_KEY",
    show_envvar=True,
    help="Access key, sent with the secret key as HTTP Basic credentials.",
)
@click.option(
    "--secret-key",
    envvar="S3NODE_SECRET_KEY",
    show_envvar=True,
    help="Secret key that goes with --access-key.",
)
@click.option(
    "--credentials-file",
    envvar="S3NODE_CREDENTIALS_FILE",
    show_envvar=True,
    type=click.Path(dir_okay=False),
    help="An AWS shared credentials file (standalone writes DATA_DIR/s3-credentials) whose"
    " [default] key to send, unless --access-key says otherwise.",
)
@click.option(
    "--timeout",
    envvar="S3NODE_TIMEOUT",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    show_envvar=True,
    help="Seconds any one connect, read or write may take.",
)
@click.version_option(__version__, prog_name="s3node")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str,
    access_key: str | None,
    secret_key: str | None,
    credentials_file: str | None,
    timeout: float,
) -> None:
    """Upload, download, list and manage files on an s3node gateway.

    With no options it talks to a standalone s3node on this machine
    (`twistd -n s3node standalone`).  Exit codes: 0 ok, 1 the server said no
    (or a local file could not be used), 2 bad usage, 3 the server cannot be
    reached, 4 checksum mismatch.
    """
    if (access_key is None) != (secret_key is None):
        raise click.UsageError("--access-key and --secret-key go together", ctx)
    if access_key is None and credentials_file is not None:
        access_key, secret_key = _read_credentials(ctx, credentials_file)
    ctx.obj = Settings(url, access_key, secret_key, timeout)


def _read_credentials(ctx: click.Context, path: str) -> tuple[str, str]:
    """The ``[default]`` key of an AWS shared credentials file."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise click.UsageError(f"cannot read --credentials-file {path}: {e}", ctx) from None
    section = "default" if parser.has_section("default") else next(iter(parser.sections()), None)
    key = parser.get(section, "aws_access_key_id", fallback=None) if section else None
    secret = parser.get(section, "aws_secret_access_key", fallback=None) if section else None
    if not key or not secret:
        raise click.UsageError(
            f"--credentials-file {path} has no aws_access_key_id and aws_secret_access_key", ctx)
    return key, secret


def main() -> None:
    """The ``s3node`` console script (the commands register on import of :mod:`s3node.cli`)."""
    cli(prog_name="s3node")
