"""
The ``key`` group: access keys over the gateway's admin routes (``/keys``;
an admin key is needed): ``create`` (prints the secret, once), ``list``,
``show``, ``grant`` (replace what a key may do), ``disable``, ``enable`` and
``delete``.  ``s3node-keys`` does the same against the metadata database
when no gateway is running.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from s3node.cli._app import cli, client_of
from s3node.cli._output import echo_json, echo_pairs, echo_table, json_option, short_time

__all__ = ["key"]


def _grants(read: tuple[str, ...], write: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"scope": scope, "read": scope in read, "write": scope in write}
            for scope in dict.fromkeys([*read, *write])]


def _role(found: dict[str, Any]) -> str:
    if found.get("admin"):
        return "admin"
    words = [f"{'r' if g.get('read') else ''}{'w' if g.get('write') else ''}:{g.get('scope')}"
             for g in found.get("grants") or []]
    return " ".join(words) or "-"


def _echo_key(found: dict[str, Any]) -> None:
    pairs = [("access key", found.get("access_key_id"))]
    if "secret" in found:
        pairs.append(("secret", found["secret"]))
    pairs += [("description", found.get("description") or None),
              ("created", short_time(found.get("created_at"))),
              ("enabled", "yes" if found.get("enabled") else f"no (since "
               f"{short_time(found.get('disabled_at'))})"),
              ("may", _role(found))]
    echo_pairs(pairs)


_SCOPE_HELP = "a bucket, '*' (every bucket) or /files (repeat for several)"
_role_options = [
    click.option("--admin", is_flag=True, help="May do everything (nodes, keys, all data)."),
    click.option("--read", multiple=True, metavar="SCOPE", help=f"May read in SCOPE: {_SCOPE_HELP}."),
    click.option("--write", multiple=True, metavar="SCOPE",
                 help=f"May write in SCOPE: {_SCOPE_HELP}."),
]


def _with_role(f: Any) -> Any:
    for option in reversed(_role_options):
        f = option(f)
    return f


def _path(key_id: str, suffix: str = "") -> str:
    return f"/{quote(key_id, safe='')}{suffix}"


@cli.group()
def key() -> None:
    """Create, list, change, disable and delete access keys (needs an admin key)."""


@key.command()
@click.option("--description", default="", help="What the key is for.")
@_with_role
@json_option
@click.pass_context
def create(ctx: click.Context, description: str, admin: bool, read: tuple[str, ...],
           write: tuple[str, ...], as_json: bool) -> None:
    """Create a key and print it with its secret: the only time the secret is shown."""
    body = {"description": description, "admin": admin, "grants": _grants(read, write)}
    found = client_of(ctx).keys("POST", ok=(201,), body=body)
    echo_json(found) if as_json else _echo_key(found)


@key.command(name="list")
@json_option
@click.pass_context
def list_keys(ctx: click.Context, as_json: bool) -> None:
    """List every key (never a secret)."""
    found = client_of(ctx).keys("GET")
    if as_json:
        echo_json(found)
        return
    echo_table(("ACCESS KEY", "ENABLED", "MAY", "CREATED", "DESCRIPTION"), (
        (k.get("access_key_id"), "yes" if k.get("enabled") else "no", _role(k),
         short_time(k.get("created_at")), k.get("description"))
        for k in found.get("keys") or []))


@key.command()
@click.argument("access_key")
@json_option
@click.pass_context
def show(ctx: click.Context, access_key: str, as_json: bool) -> None:
    """Show one key (without its secret)."""
    found = client_of(ctx).keys("GET", _path(access_key))
    echo_json(found) if as_json else _echo_key(found)


@key.command()
@click.argument("access_key")
@_with_role
@json_option
@click.pass_context
def grant(ctx: click.Context, access_key: str, admin: bool, read: tuple[str, ...],
          write: tuple[str, ...], as_json: bool) -> None:
    """Replace what ACCESS_KEY may do with --admin, or with the --read and --write scopes."""
    body = {"admin": admin, "grants": _grants(read, write)}
    found = client_of(ctx).keys("PUT", _path(access_key, "/grants"), body=body)
    echo_json(found) if as_json else _echo_key(found)


def _switch(action: str) -> Any:
    @click.argument("access_key")
    @json_option
    @click.pass_context
    def command(ctx: click.Context, access_key: str, as_json: bool) -> None:
        found = client_of(ctx).keys("POST", _path(access_key, f"/{action}"))
        echo_json(found) if as_json else _echo_key(found)

    command.__doc__ = f"{action.capitalize()} ACCESS_KEY (doing it again changes nothing)."
    return key.command(name=action)(command)


disable = _switch("disable")
enable = _switch("enable")


@key.command()
@click.argument("access_key")
@click.pass_context
def delete(ctx: click.Context, access_key: str) -> None:
    """Delete ACCESS_KEY for good."""
    client_of(ctx).keys("DELETE", _path(access_key), ok=(204,))
    click.echo(f"deleted {access_key}")
