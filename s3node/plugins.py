"""
The plugin manager: s3node's hooks, its built-in plugins and third-party
plugins from the ``s3node`` entry-point group.

Hosts build one manager at startup and resolve every name they need right
away (:func:`resolve_placement`, :func:`resolve_checksum`,
:func:`checksum_algorithms`); nothing calls a hook per chunk.  See
``docs/plugins.md`` for writing a plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pluggy

from s3node import hookspecs
from s3node.builtin import checksums as builtin_checksums
from s3node.builtin import placement as builtin_placement
from s3node.errors import ConfigurationError, UnknownPlugin
from s3node.hookspecs import PROJECT_NAME, hookimpl, hookspec
from s3node.interfaces import ChecksumAlgorithm, PlacementStrategy

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "checksum_algorithm_names",
    "checksum_algorithms",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "placement_strategy_names",
    "resolve_checksum",
    "resolve_placement",
]

#: the entry-point group third-party plugins register under
ENTRY_POINT_GROUP = PROJECT_NAME

#: the built-in plugins, registered under these names before any entry point
BUILTIN_PLUGINS = {
    "s3node.builtin.checksums": builtin_checksums,
    "s3node.builtin.placement": builtin_placement,
}


def get_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """
    A plugin manager with s3node's hook specs, its built-in plugins and (unless
    ``load_entry_points`` is false) every plugin of the ``s3node`` entry-point
    group installed in the running environment.

    :raises s3node.errors.ConfigurationError: when a plugin fails to import
        (whatever it raises) or implements a hook that does not exist (a misspelled name) or with
        arguments the spec does not have.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name, plugin in BUILTIN_PLUGINS.items():
        pm.register(plugin, name=name)
    try:
        if load_entry_points:
            _load_entry_points(pm)
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise ConfigurationError(f"invalid s3node plugin {e.plugin!r}: {e}") from e
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    except pluggy.PluginValidationError:
        raise
    except Exception as e:
        # third-party code failed to import: a configuration problem, not a crash
        raise ConfigurationError(
            f"an s3node plugin cannot be loaded: {type(e).__name__}: {e}"
        ) from e


def _names(results: list[list[str]]) -> list[str]:
    return sorted({name for names in results for name in names or ()})


def placement_strategy_names(pm: pluggy.PluginManager) -> list[str]:
    """Every placement strategy name some plugin lists, sorted."""
    return _names(pm.hook.s3node_placement_strategy_names())


def checksum_algorithm_names(pm: pluggy.PluginManager) -> list[str]:
    """Every checksum algorithm name some plugin lists, sorted."""
    return _names(pm.hook.s3node_checksum_algorithm_names())


def _reject(kind: str, name: str, result: Any, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"the plugin providing {kind} {name!r} returned {result!r}, {problem}"
    )


def resolve_placement(pm: pluggy.PluginManager, name: str) -> PlacementStrategy:
    """
    The placement strategy called ``name``.

    :raises s3node.errors.UnknownPlugin: when no plugin provides ``name``; the
        message lists the available names.
    :raises s3node.errors.ConfigurationError: when a plugin returns an object
        with another name or no ``preference_list``.
    """
    result = pm.hook.s3node_placement_strategy(name=name)
    if result is None:
        raise UnknownPlugin(
            f"unknown placement strategy {name!r}; available: "
            f"{', '.join(placement_strategy_names(pm)) or '(none)'}"
        )
    if getattr(result, "name", None) != name:
        raise _reject("placement strategy", name, result, "whose name differs")
    if not callable(getattr(result, "preference_list", None)):
        raise _reject("placement strategy", name, result, "which has no preference_list")
    return result  # type: ignore[no-any-return]


def resolve_checksum(pm: pluggy.PluginManager, name: str) -> ChecksumAlgorithm:
    """
    The checksum algorithm called ``name``.

    :raises s3node.errors.UnknownPlugin: when no plugin provides ``name``; the
        message lists the available names.
    :raises s3node.errors.ConfigurationError: when a plugin returns an object
        with another name or that is not callable.
    """
    result = pm.hook.s3node_checksum_algorithm(name=name)
    if result is None:
        raise UnknownPlugin(
            f"unknown checksum algorithm {name!r}; available: "
            f"{', '.join(checksum_algorithm_names(pm)) or '(none)'}"
        )
    if getattr(result, "name", None) != name:
        raise _reject("checksum algorithm", name, result, "whose name differs")
    if not callable(result):
        raise _reject("checksum algorithm", name, result, "which is not callable")
    return result  # type: ignore[no-any-return]


def checksum_algorithms(pm: pluggy.PluginManager) -> Mapping[str, ChecksumAlgorithm]:
    """
    Every available checksum algorithm, resolved once, by name (read-only).

    A storage node builds this at startup and looks up whatever algorithm a
    client names in it, never calling a hook per chunk.

    :raises s3node.errors.ConfigurationError: when a listed name resolves to
        nothing or to a malformed object.
    """
    resolved: dict[str, ChecksumAlgorithm] = {}
    for name in checksum_algorithm_names(pm):
        try:
            resolved[name] = resolve_checksum(pm, name)
        except UnknownPlugin:
            raise ConfigurationError(
                f"checksum algorithm {name!r} is listed by a plugin, but no plugin provides it"
            ) from None
    return MappingProxyType(resolved)
