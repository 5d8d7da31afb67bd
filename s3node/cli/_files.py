"""
The file commands: ``put``, ``get``, ``ls``, ``stat`` and ``rm``.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path, PurePosixPath
from typing import Any

import click

from s3node.cli._app import cli, client_of
from s3node.cli._errors import LocalFileError, ServerError
from s3node.cli._output import (
    echo_json,
    echo_pairs,
    echo_table,
    human_size,
    json_option,
    short_time,
)
from s3node.cli._progress import Progress
from s3node.cli._transfer import download, upload

__all__ = ["get", "ls", "put", "rm", "stat"]

#: the statuses ``GET /files?status=`` accepts
STATUSES = ("pending", "uploading", "completed", "failed", "deleting")

quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar (there is none unless stderr is a terminal)."
)


@cli.command()
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
)
@click.option(
    "--content-type",
    metavar="TYPE",
    help="The content type recorded for each file [default: guessed from its name].",
)
@quiet_option
@json_option
@click.pass_context
def put(
    ctx: click.Context, files: tuple[Path, ...], content_type: str | None, quiet: bool,
    as_json: bool,
) -> None:
    """Upload FILE... and print the id of each, one per line.

    The upload streams (memory stays flat) and the server's checksum is
    compared with the SHA-256 of what was sent.  Files go one after the
    other; the first failure stops the rest.  With --json: the record of the
    file, or for several files a list of the records uploaded.
    """
    client = client_of(ctx)
    progress = Progress([_size(p) for p in files], quiet=quiet)
    records: list[dict[str, Any]] = []
    try:
        for path in files:
            kind = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            record = upload(client, path, kind, progress)
            records.append(record)
            if not as_json:
                progress.echo(str(record["file_id"]))
    finally:
        progress.close()
        if as_json and (len(files) > 1 or records):
            echo_json(records[0] if len(files) == 1 else records)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as e:
        raise LocalFileError(f"cannot read {path}: {e.strerror or e}") from e


def _default_name(metadata: dict[str, Any]) -> str:
    """The file's recorded name without any folders (its id if nothing is left)."""
    name = PurePosixPath(str(metadata.get("filename") or "").replace("\\", "/")).name
    return name if name not in ("", ".", "..") else str(metadata["file_id"])


@cli.command()
@click.argument("file_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, allow_dash=True),
    help="Where to write: a file (replaced if it exists), a folder, or - for stdout "
    "[default: the file's name, in the current folder, which must not exist yet].",
)
@quiet_option
@json_option
@click.pass_context
def get(
    ctx: click.Context, file_id: str, output: Path | None, quiet: bool, as_json: bool
) -> None:
    """Download FILE_ID and verify its checksum.

    The bytes go to a temporary file beside the target, which is renamed into
    place only once its checksum matches the one the server recorded; on a
    mismatch nothing is left behind and the exit code is 4.
    """
    to_stdout = output is not None and str(output) == "-"
    if to_stdout and as_json:
        raise click.UsageError("--json prints on stdout; it cannot go with -o -", ctx)
    client = client_of(ctx)
    metadata = client.metadata(file_id)
    target: Path | None = None
    if output is None:
        target = Path(_default_name(metadata))
        if target.exists():
            raise LocalFileError(
                f"{target} exists already: pass -o {target} to replace it, or another -o"
            )
    elif not to_stdout:
        target = output / _default_name(metadata) if output.is_dir() else output
    progress = Progress([metadata.get("size")], quiet=quiet)
    try:
        fetched = download(client, metadata, target, progress)
    finally:
        progress.close()
    if as_json:
        echo_json(fetched.as_json())
    else:
        click.echo(
            f"{fetched.path}: {fetched.size} bytes, {fetched.checksum_algorithm} verified "
            f"({fetched.checksum})",
            err=to_stdout,
        )


LS_COLUMNS = (("FILE ID", 36), ("SIZE", 10), ("STATUS", 9), ("CREATED", 19), ("NAME", 0))


def _ls_line(cells: tuple[str, ...]) -> str:
    parts = [
        c.rjust(w) if name == "SIZE" else c.ljust(w)
        for (name, w), c in zip(LS_COLUMNS, cells)
    ]
    return "  ".join(parts).rstrip()


@cli.command("ls")
@click.option("--status", type=click.Choice(STATUSES), help="Only files in this status.")
@click.option("--all", "everything", is_flag=True, help="Follow the cursor to the oldest file.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=20, show_default=True,
    help="Files per page.",
)
@click.option("--cursor", help="Go on from the next_cursor an earlier page gave.")
@json_option
@click.pass_context
def ls(
    ctx: click.Context, status: str | None, everything: bool, limit: int, cursor: str | None,
    as_json: bool,
) -> None:
    """List files, newest first: one page, or every file with --all.

    With --json: {"files": [...], "next_cursor": ...}, the cursor null once
    the listing is complete.  The listing streams, page by page.
    """
    client = client_of(ctx)
    if not everything:
        page = client.list_files(limit=limit, status=status, cursor=cursor)
        files, next_cursor = page["files"], page.get("next_cursor")
    else:
        files, next_cursor = client.iter_files(limit=limit, status=status, cursor=cursor), None
    if as_json:
        click.echo('{"files": [', nl=False)
        for i, record in enumerate(files):
            click.echo(("," if i else "") + "\n  " + json.dumps(record, ensure_ascii=False), nl=False)
        click.echo(f'\n], "next_cursor": {json.dumps(next_cursor)}}}')
        return
    click.echo(_ls_line(tuple(name for name, _ in LS_COLUMNS)))
    for record in files:
        click.echo(_ls_line((
            str(record["file_id"]), human_size(record.get("size")), str(record.get("status")),
            short_time(record.get("created_at")), str(record.get("filename") or ""),
        )))
    if next_cursor:
        click.echo(f"more: s3node ls --cursor {next_cursor} (or --all)", err=True)


def replica_states(chunk: dict[str, Any]) -> list[tuple[str, str]]:
    """``(node id, state)`` for each replica of a chunk.

    Gateways that report replica states list them in ``replicas``; older
    ones list only the nodes holding a stored replica, in ``nodes``.
    """
    if isinstance(chunk.get("replicas"), list):
        return [(str(r.get("node_id")), str(r.get("state"))) for r in chunk["replicas"]]
    return [(str(node), "stored") for node in chunk.get("nodes", [])]


@cli.command()
@click.argument("file_id")
@json_option
@click.pass_context
def stat(ctx: click.Context, file_id: str, as_json: bool) -> None:
    """Show FILE_ID's record, and each chunk with its replicas and their states."""
    metadata = client_of(ctx).metadata(file_id)
    if as_json:
        echo_json(metadata)
        return
    chunks = metadata.get("chunks") or []
    checksum = metadata.get("checksum")
    echo_pairs([
        ("file id", metadata.get("file_id")),
        ("name", metadata.get("filename")),
        ("size", f"{human_size(metadata.get('size'))} ({metadata.get('size')} bytes)"
         if metadata.get("size") is not None else None),
        ("content type", metadata.get("content_type")),
        ("status", metadata.get("status")),
        ("created", metadata.get("created_at")),
        ("checksum", f"{metadata.get('checksum_algorithm')} {checksum}" if checksum else None),
        ("chunks", "none: kept inline in the metadata store" if metadata.get("inline")
         else len(chunks)),
    ])
    if chunks:
        click.echo()
        echo_table(
            ("CHUNK", "SIZE", "CHECKSUM", "REPLICAS"),
            (
                (
                    c.get("index"),
                    human_size(c.get("size")),
                    str(c.get("checksum") or "-")[:16],
                    ", ".join(f"{node} {state}" for node, state in replica_states(c)) or "none",
                )
                for c in chunks
            ),
        )


@cli.command()
@click.argument("file_ids", metavar="FILE_ID...", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, file_ids: tuple[str, ...]) -> None:
    """Delete FILE_ID...

    An id the server refuses (unknown, malformed) is reported on stderr and
    the others are still deleted; the exit code is then 1.
    """
    client = client_of(ctx)
    failed: ServerError | None = None
    for file_id in file_ids:
        try:
            client.delete(file_id)
        except ServerError as e:
            click.echo(f"s3node: {e.message}", err=True)
            failed = failed or e
            continue
        click.echo(f"deleted {file_id}")
    if failed is not None:
        raise click.exceptions.Exit(int(failed.exit_code))
