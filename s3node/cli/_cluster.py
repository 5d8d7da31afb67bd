"""
The cluster commands: ``health``, ``nodes``, the ``node`` group and the
``cluster`` group.

``node`` holds one command per node operation of the gateway's admin routes
(``docs/http-api.md``, "The node set and the durability view"): ``add``
(``POST /nodes``, ``?dry_run=true`` for the movement plan), ``show`` (``GET
/nodes/{id}``), ``drain`` (``POST /nodes/{id}/drain``) and ``forget``
(``DELETE /nodes/{id}``, ``?lost=true`` with ``--lost``).  ``cluster`` alone
shows the durability view (``GET /cluster``); ``cluster plan`` what repair
and rebalancing still have to move (``GET /cluster/plan``).

Against a gateway that lacks one of these routes (it answers ``404
not_found`` or ``405``) a command says so in one line instead of quoting a
bare 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from s3node.cli._app import cli, client_of
from s3node.cli._client import Client
from s3node.cli._errors import CliError, ServerError
from s3node.cli._output import (
    echo_json,
    echo_pairs,
    echo_table,
    human_size,
    json_option,
    short_time,
)

__all__ = ["add", "cluster", "drain", "forget", "health", "node", "nodes", "plan", "show"]


def _echo_nodes(nodes: list[dict[str, Any]]) -> None:
    echo_table(
        ("NODE ID", "ADDRESS", "STATE", "ADMIN", "USED", "CAPACITY", "LAST SEEN"),
        (
            (
                n.get("node_id"),
                n.get("address"),
                n.get("state"),
                n.get("admin"),
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
    """List the storage nodes the gateway knows, with their state, admin state and space."""
    found = client_of(ctx).nodes()
    if as_json:
        echo_json({"nodes": found})
    else:
        _echo_nodes(found)


@contextmanager
def _route(ctx: click.Context, what: str, route: str) -> Iterator[Client]:
    """The client, for a call of ``route``; a gateway without the route (``404
    not_found`` or ``405``) is a one-line "the gateway cannot ``what``"."""
    client = client_of(ctx)
    try:
        yield client
    except ServerError as e:
        if e.status in (404, 405) and e.error in ("not_found", "method_not_allowed"):
            raise CliError(
                f"the gateway at {client.url} cannot {what}: it has no {route} "
                f"(HTTP {e.status} {e.error} from {e.method} {e.path})"
            ) from e
        raise


def _fetch(ctx: click.Context, as_json: bool, what: str, route: str,
           call: Callable[[Client], dict[str, Any]],
           echo: Callable[[dict[str, Any]], None]) -> None:
    """Ask the gateway with ``call`` (over ``route``); print its JSON, or ``echo`` it."""
    with _route(ctx, what, route) as client:
        found = call(client)
    if as_json:
        echo_json(found)
    else:
        echo(found)


def _percent(fraction: Any) -> str:
    """``0.596`` as ``59.6%``; ``-`` when unknown."""
    return f"{fraction * 100:.1f}%" if isinstance(fraction, int | float) else "-"


def _number(value: Any) -> str:
    """A weight as the operator wrote it: ``1`` rather than ``1.0``."""
    return f"{value:g}" if isinstance(value, int | float) else "-"


def _drain_progress(drain: Any) -> str | None:
    """A drain's progress: ``59.6% (850 of 2103 replicas left)``; ``None`` without one."""
    if not isinstance(drain, dict):
        return None
    return (f"{_percent(drain.get('progress'))} ({drain.get('remaining')} of "
            f"{drain.get('replicas_at_start')} replicas left)")


def _echo_node(found: dict[str, Any]) -> None:
    """One node as ``node show`` prints it."""
    pairs = [
        ("node id", found.get("node_id")),
        ("address", found.get("address")),
        ("weight", _number(found.get("weight"))),
        ("zone", found.get("zone") or None),
        ("state", found.get("state")),
        ("admin", found.get("admin")),
        ("used", f"{human_size(found.get('used'))} of {human_size(found.get('capacity'))}"),
        ("last seen", short_time(found.get("last_seen"))),
        ("down since", short_time(found.get("down_since"))),
    ]
    if "replicas" in found:
        pairs += [
            ("replicas", found.get("replicas")),
            ("bytes", human_size(found.get("bytes"))),
            ("drain", _drain_progress(found.get("drain"))),
        ]
    echo_pairs(pairs)


def _echo_plan(plan: dict[str, Any]) -> None:
    """A movement plan: what would be copied and dropped, and how much of the data moves."""
    echo_pairs([
        ("chunks", f"{plan.get('chunks')} of {plan.get('chunks_examined')} examined"),
        ("copies", plan.get("copies")),
        ("bytes", human_size(plan.get("bytes"))),
        ("drops", plan.get("drops")),
        ("replicas moving", (f"{_percent(plan.get('fraction_of_replicas_moving'))} of "
                             f"{plan.get('replicas_examined')}")),
    ])


@cli.group()
def node() -> None:
    """Add, show, drain and forget one storage node."""


@node.command()
@click.argument("node_id")
@click.argument("address", metavar="HOST:PORT")
@click.option("--weight", type=float, default=None,
              help="Its share of the chunks relative to the others (the gateway's default: 1).")
@click.option("--zone", default=None,
              help="Its failure domain: a chunk's replicas go to distinct zones first.")
@click.option("--dry-run", is_flag=True,
              help="Change nothing: print what adding the node would move.")
@json_option
@click.pass_context
def add(ctx: click.Context, node_id: str, address: str, weight: float | None, zone: str | None,
        dry_run: bool, as_json: bool) -> None:
    """Register NODE_ID, a storage node listening (gRPC) at HOST:PORT.

    The chunks whose placement it now heads move to it gradually, within the
    repair bandwidth.  Ask with --dry-run first what would move.
    """
    body: dict[str, Any] = {"node_id": node_id, "address": address}
    if weight is not None:
        body["weight"] = weight
    if zone is not None:
        body["zone"] = zone
    with _route(ctx, "add nodes", "POST /nodes") as client:
        reply = client.add_node(body, dry_run=dry_run)
    if as_json:
        echo_json(reply)
    elif dry_run:
        click.echo(f"dry run: adding node {node_id} at {address} would move (nothing changed)")
        _echo_plan(reply.get("plan") or {})
    else:
        click.echo(f"added node {reply.get('node_id', node_id)}")
        _echo_node(reply)


@node.command()
@click.argument("node_id")
@json_option
@click.pass_context
def show(ctx: click.Context, node_id: str, as_json: bool) -> None:
    """Show NODE_ID: its state, admin state, replicas and bytes, and its drain progress."""
    _fetch(ctx, as_json, "show a node", "GET /nodes/{node_id}",
           lambda client: client.node(node_id), _echo_node)


@node.command()
@click.argument("node_id")
@json_option
@click.pass_context
def drain(ctx: click.Context, node_id: str, as_json: bool) -> None:
    """Drain NODE_ID: no new chunks go to it; repair moves its replicas elsewhere.

    It ends `drained`, holding nothing; then `s3node node forget NODE_ID`
    removes it.  `s3node node show NODE_ID` follows the progress.
    """
    with _route(ctx, "drain nodes", "POST /nodes/{node_id}/drain") as client:
        found = client.drain_node(node_id)
    if as_json:
        echo_json(found)
        return
    drain_state = found.get("drain")
    left = drain_state.get("remaining") if isinstance(drain_state, dict) else found.get("replicas")
    click.echo(f"node {found.get('node_id', node_id)} is {found.get('admin')}: {left} replicas "
               f"to move; follow with: s3node node show {node_id}")


@node.command()
@click.argument("node_id")
@click.option(
    "--lost",
    is_flag=True,
    help="The node is gone for good: forget it even if not drained, dropping every replica "
         "recorded on it (repair copies those chunks again from their other replicas).",
)
@json_option
@click.pass_context
def forget(ctx: click.Context, node_id: str, lost: bool, as_json: bool) -> None:
    """Forget NODE_ID: a drained node, or with --lost a node lost for good.

    Without --lost the gateway refuses a node that is not drained.  Remove the
    node from the gateways' --node options too, or it comes back empty.
    """
    route = "DELETE /nodes/{node_id}" + ("?lost=true" if lost else "")
    try:
        with _route(ctx, "forget nodes", route) as client:
            reply = client.forget_node(node_id, lost=lost)
    except ServerError as e:
        if e.status == 409 and e.error == "node_in_use":
            raise CliError(
                f"{e.message}: drain it first (s3node node drain {node_id}, then forget it once "
                f"s3node node show {node_id} says drained), or pass --lost if it is gone for good"
            ) from e
        raise
    if as_json:
        echo_json(reply)
    else:
        click.echo(
            f"forgot node {reply.get('node_id', node_id)}: "
            f"{reply.get('replicas_dropped')} replica records dropped"
        )


def _healthy_counts(by_replicas: Any) -> str:
    """``{"0": 0, "1": 523, "2": 1477}`` as ``0: 0  1: 523  2: 1477``."""
    if not isinstance(by_replicas, dict):
        return "-"
    return "  ".join(f"{k}: {n}" for k, n in by_replicas.items())


def _echo_cluster(view: dict[str, Any]) -> None:
    """The durability view as ``cluster`` prints it."""
    repair = view.get("repair") or {}
    found = view.get("corruptions") or {}
    files = view.get("files_by_status") or {}
    echo_pairs([
        ("replicas", view.get("replicas")),
        ("chunks by healthy replicas", _healthy_counts(view.get("chunks_by_healthy_replicas"))),
        ("chunks below target", view.get("chunks_below_target")),
        ("bytes at risk", human_size(view.get("bytes_at_risk"))),
        ("damaged files", view.get("damaged_files")),
        ("files", ", ".join(f"{n} {s}" for s, n in files.items()) or "none"),
        ("repair queue", f"{repair.get('queued')} queued, {repair.get('due')} due"),
        ("repair copies", f"{repair.get('copies')} ({human_size(repair.get('bytes'))})"),
        ("repair failures", repair.get("failures")),
        ("replicas dropped", repair.get("replicas_dropped")),
        ("corruptions", (f"{found.get('found_by_scrub')} by scrub, "
                         f"{found.get('found_by_read')} by read")),
        ("nodes down", ", ".join(view.get("nodes_down") or []) or "none"),
    ])
    click.echo()
    _echo_nodes(view.get("nodes") or [])


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def cluster(ctx: click.Context, as_json: bool) -> None:
    """Show how exposed the data is and how repair is doing (the durability view).

    `s3node cluster plan` shows what repair and rebalancing still have to move.
    """
    if ctx.invoked_subcommand is not None:
        return
    _fetch(ctx, as_json, "show the durability view", "GET /cluster", Client.cluster,
           _echo_cluster)


@cluster.command()
@json_option
@click.pass_context
def plan(ctx: click.Context, as_json: bool) -> None:
    """Show what repair and rebalancing still have to copy and drop."""
    as_json = as_json or bool(ctx.parent and ctx.parent.params.get("as_json"))
    _fetch(ctx, as_json, "plan movement", "GET /cluster/plan", Client.cluster_plan, _echo_plan)
