"""
What the commands print: one JSON document for ``--json``, aligned tables and
``key  value`` lines for people, sizes in binary units.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click

__all__ = [
    "echo_json",
    "echo_pairs",
    "echo_table",
    "human_size",
    "json_option",
    "short_time",
]

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text."
)


def echo_json(document: Any) -> None:
    """Print ``document`` as indented JSON (a single document) on stdout."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def human_size(size: Any) -> str:
    """``size`` bytes in binary units (``1.5 MiB``); ``-`` when unknown."""
    if not isinstance(size, int):
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def short_time(stamp: Any) -> str:
    """An ISO 8601 timestamp to the second, without its offset (``-`` when unknown)."""
    if not isinstance(stamp, str) or not stamp:
        return "-"
    return stamp.replace("T", " ")[:19]


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print ``rows`` under ``headers``, each column as wide as its widest cell."""
    cells = [list(headers)] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def echo_pairs(pairs: Sequence[tuple[str, Any]]) -> None:
    """Print ``key  value`` lines, the values aligned."""
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        click.echo(f"{key.ljust(width)}  {'-' if value is None else value}")
