"""
The cluster commands: ``health``, ``nodes`` and the ``node`` group.

``node`` holds one command per node operation the gateway offers; today that
is ``forget`` (``DELETE /nodes/{id}?lost=true``).  ``node add`` and ``node
drain``, and a ``cluster`` group, join when the gateway grows those routes.
"""

from __future__ import annotations

from typing import Any

import click

from s3node.cli._app import cli, client_of
from s3node.cli._errors import CliError, ServerError
from s3node.cli._output import (
    echo_json,
    echo_pairs,
    echo_table,
    human_size,
    json_option,
    short_time,
)

__all__ = ["forget", "health", "node", "nodes"]


def _echo_nodes(nodes: list[dict[str, Any]]) -> None:
    echo_table(
        ("NODE ID", "ADDRESS", "STATE", "USED", "CAPACITY", "LAST SEEN"),
        (
            (
                n.get("node_id"),
                n.get("address"),
                n.get("state"),
                human_size(n.get("used")),
                human_size(n.get("capacity")),
                short_time(n.get("last_seen")),
            )
            for n in nodes
        ),
    )


@cli.command()
@json_option
@click.pass_context
def health(ctx: click.Context, as_json: bool) -> None:
    """Show the health of the database and of each storage node.

    Exits 1 when the gateway reports itself unavailable (HTTP 503), after
    printing its report.
    """
    status, report = client_of(ctx).health()
    if as_json:
        echo_json(report)
    else:
        echo_pairs([
            ("status", report.get("status")),
            ("database", report.get("database")),
            ("replicas", report.get("replicas")),
            ("live nodes", report.get("live_nodes")),
        ])
        click.echo()
        _echo_nodes(report.get("nodes") or [])
    if status != 200:
        raise CliError(
            f"the gateway is unavailable (HTTP {status}): database {report.get('database')}, "
            f"{report.get('live_nodes')} live nodes for {report.get('replicas')} replicas"
        )


@cli.command()
@json_option
@click.pass_context
def nodes(ctx: click.Context, as_json: bool) -> None:
    """List the storage nodes the gateway knows, with their state and space."""
    found = client_of(ctx).nodes()
    if as_json:
        echo_json({"nodes": found})
    else:
        _echo_nodes(found)


@cli.group()
def node() -> None:
    """Operate on one storage node."""


@node.command()
@click.argument("node_id")
@click.option(
    "--lost",
    is_flag=True,
    help="Confirm that the node is lost for good (required): every replica it held is dropped.",
)
@json_option
@click.pass_context
def forget(ctx: click.Context, node_id: str, lost: bool, as_json: bool) -> None:
    """Forget NODE_ID, a node lost for good, with every replica recorded on it.

    Its chunks become under-replicated until they are repaired.  Remove the
    node from the gateway's --node options too, or it comes back empty.
    """
    if not lost:
        raise click.UsageError(
            "forgetting a node drops every replica recorded on it: pass --lost to confirm "
            "that it is lost for good",
            ctx,
        )
    try:
        reply = client_of(ctx).forget_node(node_id)
    except ServerError as e:
        if e.status in (404, 405) and e.error in ("not_found", "method_not_allowed"):
            raise CliError(
                f"the gateway at {client_of(ctx).url} cannot forget nodes: it has no "
                f"DELETE /nodes/{{node_id}}?lost=true (HTTP {e.status} {e.error} from "
                f"DELETE {e.path})"
            ) from e
        raise
    if as_json:
        echo_json(reply)
    else:
        click.echo(
            f"forgot node {reply.get('node_id', node_id)}: "
            f"{reply.get('replicas_dropped')} replica records dropped"
        )
