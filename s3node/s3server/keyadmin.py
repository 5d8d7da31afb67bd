"""
``s3node-keys``: create, list, disable, enable and delete access keys in a
metadata database, without a running gateway (the first admin key of a
cluster; a way back in when every admin key is lost).

It speaks to the metadata database directly (the gateway reads keys from
there, remembering each for :data:`~s3node.s3server.auth.CACHE_SECONDS`), so
it needs no running gateway and exposes nothing on the network::

    s3node-keys --db postgresql://s3node@db/s3node create --admin --description "ops"
    s3node-keys --db ... create --read photos --write photos --description "backup job"
    s3node-keys --db sqlite:s3node-data/metadata.sqlite3 list
    s3node-keys --db ... disable S3N0123456789ABCDEFG   (revoke: the same)
    s3node-keys --db ... enable S3N0123456789ABCDEFG
    s3node-keys --db ... delete S3N0123456789ABCDEFG

With a running gateway, ``s3node key ...`` does the same over its admin API.

``create`` prints the new key once, as an AWS shared credentials profile; the
secret cannot be shown again by this command (it stays in the database,
where SigV4 needs it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from s3node.errors import S3NodeError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3node-keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True,
                        help="the metadata database: sqlite:PATH or postgresql://...")
    parser.add_argument("--region", default="us-east-1",
                        help="the region to note beside a created key")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("--description", default="", help="what the key is for")
    create.add_argument("--admin", action="store_true", help="may do everything")
    create.add_argument("--read", action="append", default=[], metavar="SCOPE",
                        help="may read in SCOPE: a bucket, '*' (every bucket) or /files")
    create.add_argument("--write", action="append", default=[], metavar="SCOPE",
                        help="may write in SCOPE: a bucket, '*' (every bucket) or /files")
    commands.add_parser("list", help="list every key (without secrets)")
    for name, what in (("revoke", "disable a key (the same as disable)"),
                       ("disable", "disable a key"), ("enable", "enable a disabled key"),
                       ("delete", "delete a key for good")):
        command = commands.add_parser(name, help=what)
        command.add_argument("access_key_id")
    return parser


def grants_of(read: list[str], write: list[str]) -> tuple[Any, ...]:
    """The grants that ``--read`` and ``--write`` scopes give, one per scope."""
    from s3node.records import Grant

    return tuple(Grant(scope, scope in read, scope in write)
                 for scope in dict.fromkeys([*read, *write]))


def describe_key(key: Any) -> str:
    """One line of ``list``: id, created, state, role and grants, description."""
    state = f"disabled {key.revoked_at.isoformat()}" if key.revoked_at else "enabled"
    role = "admin" if key.admin else " ".join(
        f"{'r' if g.read else ''}{'w' if g.write else ''}:{g.scope}" for g in key.grants) or "-"
    return f"{key.access_key_id}\t{key.created_at.isoformat()}\t{state}\t{role}\t{key.description}"


async def _run(reactor: Any, args: argparse.Namespace) -> None:
    from s3node.config import parse_db_url
    from s3node.metadata import open_metadata_store
    from s3node.s3server.keys import credentials_text, new_access_key

    store = open_metadata_store(parse_db_url(args.db), reactor=reactor)
    try:
        await store.migrate()
        if args.command == "create":
            key = replace(new_access_key(args.description), admin=args.admin,
                          grants=grants_of(args.read, args.write))
            await store.add_access_key(key)
            sys.stdout.write(credentials_text(key, args.region))
        elif args.command == "list":
            for k in await store.list_access_keys():
                sys.stdout.write(describe_key(k) + "\n")
        elif args.command == "delete":
            await store.delete_access_key(args.access_key_id)
            sys.stdout.write(f"deleted {args.access_key_id}\n")
        else:
            enabled = args.command == "enable"
            await store.set_access_key_enabled(args.access_key_id, enabled)
            sys.stdout.write(f"{'enabled' if enabled else 'disabled'} {args.access_key_id}\n")
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    """The command; its exit status."""
    from twisted.internet.defer import Deferred
    from twisted.internet.task import react

    args = _parser().parse_args(argv)
    status = 0

    async def run(reactor: Any) -> None:
        nonlocal status
        try:
            await _run(reactor, args)
        except S3NodeError as e:
            sys.stderr.write(f"s3node-keys: {e.message}\n")
            status = 1

    try:
        react(lambda reactor: Deferred.fromCoroutine(run(reactor)))
    except SystemExit as e:
        if e.code not in (0, None):
            return int(e.code) if isinstance(e.code, int) else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
