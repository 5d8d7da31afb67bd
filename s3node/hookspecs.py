"""
s3node's hooks: the pluggy markers and one specification per decision a plugin can make.

Plugins mark their hook functions with :data:`hookimpl` (also exported from
:mod:`s3node.plugins`, which plugin authors import); the specs below are
marked with :data:`hookspec`, both under the project name :data:`PROJECT_NAME`.
Every hook takes keyword arguments only.  The host resolves hooks once at
startup (:mod:`s3node.plugins`), never per chunk.  s3node's own
implementations live in :mod:`s3node.builtin` and are marked ``trylast``, so
a plugin from the ``s3node`` entry-point group is asked first and wins for
every name it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from s3node.interfaces import ChecksumAlgorithm, PlacementStrategy

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: the pluggy project name and the entry-point group plugins register under
PROJECT_NAME = "s3node"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def s3node_placement_strategy(name: str) -> PlacementStrategy | None:
    """
    Return the placement strategy called ``name``, or ``None`` if this plugin
    does not provide it.

    Stops at the first non-``None`` result.  The returned object has a
    ``name`` equal to ``name`` and a ``preference_list(key, nodes)`` method
    (:class:`s3node.interfaces.PlacementStrategy`); that method is called once
    per chunk, so it must be fast, deterministic (the same key and node ids,
    weights and zones give the same list in every process) and thread-safe.
    """


@hookspec
def s3node_placement_strategy_names() -> list[str]:
    """
    Return the names of the placement strategies this plugin provides.

    Every plugin's list is collected; the host shows the union when a name
    is unknown.  Each name listed must be answered by
    :func:`s3node_placement_strategy`.
    """
    raise NotImplementedError  # a specification: never called


@hookspec(firstresult=True)
def s3node_checksum_algorithm(name: str) -> ChecksumAlgorithm | None:
    """
    Return the checksum algorithm called ``name``, or ``None`` if this plugin
    does not provide it.

    Stops at the first non-``None`` result.  The returned object has a
    ``name`` equal to ``name`` and, when called with no arguments, returns a
    new :mod:`hashlib`-shaped hasher (``update``, ``digest``, ``hexdigest``,
    ``copy``) (:class:`s3node.interfaces.ChecksumAlgorithm`).  The name is
    stored beside every digest, so it must never change meaning.
    """


@hookspec
def s3node_checksum_algorithm_names() -> list[str]:
    """
    Return the names of the checksum algorithms this plugin provides.

    Every plugin's list is collected; the host resolves each name once at
    startup (:func:`s3node.plugins.checksum_algorithms`).  Each name listed
    must be answered by :func:`s3node_checksum_algorithm`.
    """
    raise NotImplementedError  # a specification: never called
