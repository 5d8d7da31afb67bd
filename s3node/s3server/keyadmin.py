"""
``s3node-keys``: create, list and revoke S3 access keys in a metadata database.

It speaks to the metadata database directly (the gateway reads keys from
there, remembering each for :data:`~s3node.s3server.auth.CACHE_SECONDS`), so
it needs no running gateway and exposes nothing on the network::

    s3node-keys --db postgresql://s3node@db/s3node create --description "backup job"
    s3node-keys --db sqlite:s3node-data/metadata.sqlite3 list
    s3node-keys --db ... revoke S3N0123456789ABCDEFG

``create`` prints the new key once, as an AWS shared credentials profile; the
secret cannot be shown again by this command (it stays in the database,
where SigV4 needs it).
"""

from __future__ import annotations

import argparse
import sys
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
    commands.add_parser("list", help="list every key (without secrets)")
    revoke = commands.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("access_key_id")
    return parser


async def _run(reactor: Any, args: argparse.Namespace) -> None:
    from s3node.config import parse_db_url
    from s3node.metadata import open_metadata_store
    from s3node.s3server.keys import credentials_text, new_access_key

    store = open_metadata_store(parse_db_url(args.db), reactor=reactor)
    try:
        await store.migrate()
        if args.command == "create":
            key = new_access_key(args.description)
            await store.add_access_key(key)
            sys.stdout.write(credentials_text(key, args.region))
        elif args.command == "list":
            for k in await store.list_access_keys():
                state = f"revoked {k.revoked_at.isoformat()}" if k.revoked_at else "active"
                sys.stdout.write(f"{k.access_key_id}\t{k.created_at.isoformat()}\t{state}\t"
                                 f"{k.description}\n")
        else:
            await store.revoke_access_key(args.access_key_id)
            sys.stdout.write(f"revoked {args.access_key_id}\n")
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
