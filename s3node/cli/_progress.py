"""
Progress bars for transfers, drawn by tqdm on stderr.

:class:`Progress` gives each file its own bar (bytes, speed, ETA) and, when a
command moves several files, a total bar under them.  The bars are off with
``--quiet`` and whenever stderr is not a terminal (tqdm's ``disable=None``),
so scripts and pipes see no escape codes.  Lines printed through
:meth:`Progress.echo` do not tear the bars.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click
from tqdm import tqdm

__all__ = ["Progress"]

#: the widest file name shown before a bar
NAME_WIDTH = 24


def _label(name: str) -> str:
    """``name`` cut to :data:`NAME_WIDTH` characters, keeping its end (the extension)."""
    return name if len(name) <= NAME_WIDTH else "…" + name[-(NAME_WIDTH - 1) :]


class Progress:
    """
    The bars of one command run.

    :param sizes: the size in bytes of each file the command will move, in
        order (``None`` where unknown); more than one adds a total bar
    :param quiet: draw nothing
    :param stream: where the bars go (stderr)
    """

    def __init__(
        self, sizes: list[int | None], *, quiet: bool = False, stream: TextIO | None = None
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._disable: bool | None = True if quiet else None
        self._total: tqdm[Any] | None = None
        if len(sizes) > 1:
            # above the bar of the file under way (position 1)
            known = None if None in sizes else sum(s or 0 for s in sizes)
            self._total = self._bar(f"total ({len(sizes)} files)", known, position=0)

    def _bar(self, label: str, size: int | None, **kwargs: Any) -> tqdm[Any]:
        return tqdm(
            total=size,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            dynamic_ncols=True,
            file=self._stream,
            disable=self._disable,
            **kwargs,
        )

    @contextmanager
    def transfer(self, name: str, size: int | None) -> Iterator[Callable[[int], None]]:
        """
        A bar for one file while the ``with`` block runs; yields the function
        to call with each block's size.

        A lone file's bar stays on screen after it.  With a total bar, each
        file's bar gives way to the line printed for that file (its id):
        tqdm places bars relative to the cursor, so a bar left behind would
        shift the total bar off its own line.
        """
        bar = self._bar(
            _label(name), size, position=0 if self._total is None else 1, leave=self._total is None
        )
        total = self._total

        def advance(count: int) -> None:
            bar.update(count)
            if total is not None:
                total.update(count)

        try:
            yield advance
        finally:
            bar.close()

    def echo(self, text: str, *, err: bool = False) -> None:
        """Print a line on stdout (or stderr) without breaking the bars."""
        with tqdm.external_write_mode(file=sys.stderr if err else sys.stdout):
            click.echo(text, err=err)

    def close(self) -> None:
        """Finish the total bar."""
        if self._total is not None:
            self._total.close()
            self._total = None
