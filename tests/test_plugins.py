"""Tests for :mod:`s3node.plugins`: hooks, built-ins and entry-point plugins."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pluggy
import pytest

from s3node import hookspecs
from s3node.core.checksums import BLAKE2B, BLAKE3, CRC32C, SHA256
from s3node.errors import ConfigurationError, UnknownPlugin
from s3node.plugins import (
    BUILTIN_PLUGINS,
    checksum_algorithm_names,
    checksum_algorithms,
    get_plugin_manager,
    hookimpl,
    placement_strategy_names,
    resolve_checksum,
    resolve_placement,
)
from s3node.records import PlacementNode


class _Sentinel:
    """An algorithm object the built-ins never return."""

    name = "sha256"

    def __call__(self):
        return SHA256()


SENTINEL = _Sentinel()


def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str
) -> None:
    """
    Install a real distribution on disk whose ``s3node`` entry point is
    ``module`` (written from ``source``), and put it on ``sys.path``.
    """
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[s3node]\n{module} = {module}\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, module, raising=False)


OVERRIDE = '''
import hashlib
from s3node.plugins import hookimpl


class Md5:
    name = "md5"
    digest_size = 16

    def __call__(self):
        return hashlib.md5()


class FakeSha256:
    """Claims sha256; the test checks it wins over the built-in."""

    name = "sha256"
    digest_size = 32

    def __call__(self):
        return hashlib.sha256()


class Reversed:
    name = "consistent-hash"

    def preference_list(self, key, nodes):
        return sorted((n.node_id for n in nodes), reverse=True)


MD5 = Md5()
FAKE_SHA256 = FakeSha256()
REVERSED = Reversed()


@hookimpl
def s3node_checksum_algorithm(name):
    return {"md5": MD5, "sha256": FAKE_SHA256}.get(name)


@hookimpl
def s3node_checksum_algorithm_names():
    return ["md5", "sha256"]


@hookimpl
def s3node_placement_strategy(name):
    return REVERSED if name == "consistent-hash" else None


@hookimpl
def s3node_placement_strategy_names():
    return ["consistent-hash"]
'''


def test_builtins_resolve() -> None:
    """Without plugins, the built-in names resolve to the built-in objects."""
    pm = get_plugin_manager()
    assert resolve_checksum(pm, "sha256") is SHA256
    assert resolve_checksum(pm, "blake2b") is BLAKE2B
    assert resolve_checksum(pm, "crc32c") is CRC32C
    assert resolve_checksum(pm, "blake3") is BLAKE3
    assert resolve_placement(pm, "consistent-hash").name == "consistent-hash"
    assert resolve_placement(pm, "rendezvous").name == "rendezvous"
    assert checksum_algorithm_names(pm) == ["blake2b", "blake3", "crc32c", "sha256"]
    assert placement_strategy_names(pm) == ["consistent-hash", "rendezvous"]


def test_builtin_placement_orders_every_node() -> None:
    """A resolved built-in strategy returns every node id once, deterministically."""
    pm = get_plugin_manager(load_entry_points=False)
    nodes = [PlacementNode(f"node-{i}") for i in range(5)]
    for name in ("consistent-hash", "rendezvous"):
        strategy = resolve_placement(pm, name)
        order = strategy.preference_list("ab" * 16, nodes)
        assert sorted(order) == [n.node_id for n in nodes]
        assert resolve_placement(pm, name).preference_list("ab" * 16, nodes[::-1]) == order


def test_unknown_checksum_lists_names() -> None:
    """An unknown checksum name raises UnknownPlugin listing the available names, sorted."""
    pm = get_plugin_manager()
    with pytest.raises(UnknownPlugin) as info:
        resolve_checksum(pm, "md4")
    assert info.value.code == "unknown_plugin"
    assert "'md4'" in info.value.message
    assert "blake2b, blake3, crc32c, sha256" in info.value.message


def test_unknown_placement_lists_names() -> None:
    """An unknown placement name raises UnknownPlugin listing the available names, sorted."""
    pm = get_plugin_manager()
    with pytest.raises(UnknownPlugin, match="consistent-hash, rendezvous"):
        resolve_placement(pm, "random")


def test_checksum_algorithms_mapping() -> None:
    """checksum_algorithms resolves every listed name once into a read-only mapping."""
    algorithms = checksum_algorithms(get_plugin_manager())
    assert dict(algorithms) == {"blake2b": BLAKE2B, "blake3": BLAKE3, "crc32c": CRC32C,
                                "sha256": SHA256}
    with pytest.raises(TypeError):
        algorithms["md5"] = SHA256  # type: ignore[index]


def test_entry_point_plugin_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin installed through the s3node entry-point group wins over the trylast built-ins."""
    install_plugin(tmp_path, monkeypatch, "s3node_override_plugin", OVERRIDE)
    pm = get_plugin_manager()
    plugin = sys.modules["s3node_override_plugin"]
    assert resolve_checksum(pm, "sha256") is plugin.FAKE_SHA256
    assert resolve_placement(pm, "consistent-hash") is plugin.REVERSED
    # names the plugin does not answer still reach the built-ins
    assert resolve_checksum(pm, "crc32c") is CRC32C
    assert resolve_placement(pm, "rendezvous").name == "rendezvous"


def test_entry_point_plugin_adds_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party algorithm becomes resolvable and listed, once, beside the built-ins."""
    install_plugin(tmp_path, monkeypatch, "s3node_md5_plugin", OVERRIDE)
    pm = get_plugin_manager()
    md5 = resolve_checksum(pm, "md5")
    hasher = md5()
    hasher.update(b"abc")
    assert hasher.hexdigest() == "900150983cd24fb0d6963f7d28e17f72"
    assert checksum_algorithm_names(pm) == ["blake2b", "blake3", "crc32c", "md5", "sha256"]
    algorithms = checksum_algorithms(pm)
    assert algorithms["md5"] is md5
    assert algorithms["sha256"] is sys.modules["s3node_md5_plugin"].FAKE_SHA256
    with pytest.raises(UnknownPlugin, match="blake2b, blake3, crc32c, md5, sha256"):
        resolve_checksum(pm, "sha1")


def test_entry_points_can_be_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_entry_points=False ignores installed plugins."""
    install_plugin(tmp_path, monkeypatch, "s3node_skipped_plugin", OVERRIDE)
    pm = get_plugin_manager(load_entry_points=False)
    assert resolve_checksum(pm, "sha256") is SHA256
    assert "s3node_skipped_plugin" not in sys.modules


def test_misspelled_hookimpl_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """check_pending turns a plugin's misspelled hook into a ConfigurationError naming it."""
    source = """
    from s3node.plugins import hookimpl

    @hookimpl
    def s3node_checksum_algoritm(name):
        return None
    """
    install_plugin(tmp_path, monkeypatch, "s3node_typo_plugin", source)
    with pytest.raises(ConfigurationError, match="s3node_checksum_algoritm"):
        get_plugin_manager()


def test_check_pending_is_what_catches_typos() -> None:
    """pluggy's check_pending, which get_plugin_manager calls, flags a hook without a spec."""

    class Typo:
        @hookimpl
        def s3node_placement_strategies(self, name):
            return None

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


def test_wrong_hook_arguments_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hookimpl asking for an argument the spec does not pass is a ConfigurationError."""
    source = """
    from s3node.plugins import hookimpl

    @hookimpl
    def s3node_checksum_algorithm(name, size):
        return None
    """
    install_plugin(tmp_path, monkeypatch, "s3node_args_plugin", source)
    with pytest.raises(ConfigurationError, match="s3node_args_plugin"):
        get_plugin_manager()


def test_broken_plugin_import_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin whose module fails to import is a ConfigurationError, not a crash."""
    install_plugin(
        tmp_path, monkeypatch, "s3node_broken_plugin", "import s3node_no_such_module_xyz\n"
    )
    with pytest.raises(ConfigurationError, match="s3node_no_such_module_xyz"):
        get_plugin_manager()


def test_plugin_raising_at_import_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin whose module raises any error while importing is a ConfigurationError."""
    install_plugin(
        tmp_path, monkeypatch, "s3node_raising_plugin", "raise RuntimeError('plugin exploded')\n"
    )
    with pytest.raises(ConfigurationError, match="RuntimeError: plugin exploded"):
        get_plugin_manager()


def test_listed_but_unprovided_name_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checksum_algorithms refuses a name a plugin lists but nobody provides."""
    source = """
    from s3node.plugins import hookimpl

    @hookimpl
    def s3node_checksum_algorithm_names():
        return ["ghost"]
    """
    install_plugin(tmp_path, monkeypatch, "s3node_ghost_plugin", source)
    pm = get_plugin_manager()
    with pytest.raises(ConfigurationError, match="'ghost' is listed"):
        checksum_algorithms(pm)


def test_plugin_returning_misnamed_object_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin answering a name with an object of another name or shape is a ConfigurationError."""
    source = """
    import hashlib
    from s3node.plugins import hookimpl

    class Liar:
        name = "sha1"
        def __call__(self):
            return hashlib.sha1()

    @hookimpl
    def s3node_checksum_algorithm(name):
        return Liar() if name == "sha512" else None

    @hookimpl
    def s3node_placement_strategy(name):
        return object() if name == "broken" else None
    """
    install_plugin(tmp_path, monkeypatch, "s3node_liar_plugin", source)
    pm = get_plugin_manager()
    with pytest.raises(ConfigurationError, match="name differs"):
        resolve_checksum(pm, "sha512")
    with pytest.raises(ConfigurationError):
        resolve_placement(pm, "broken")


def test_builtins_are_trylast() -> None:
    """Every built-in hook implementation is marked trylast, so any other plugin is asked first."""
    pm = get_plugin_manager(load_entry_points=False)
    builtins = {"s3node.builtin.checksums", "s3node.builtin.placement"}
    seen = 0
    for caller in pm.get_hookcallers(pm.get_plugin("s3node.builtin.checksums")) + (
        pm.get_hookcallers(pm.get_plugin("s3node.builtin.placement"))
    ):
        for impl in caller.get_hookimpls():
            assert impl.plugin_name in builtins
            assert impl.trylast
            seen += 1
    assert seen == 4


def test_earlier_registered_plugin_still_wins() -> None:
    """A plugin registered before the built-ins is still asked before them (trylast, not order)."""

    class Early:
        @hookimpl
        def s3node_checksum_algorithm(self, name):
            return SENTINEL if name == "sha256" else None

    pm = pluggy.PluginManager("s3node")
    pm.add_hookspecs(hookspecs)
    pm.register(Early())
    for name, plugin in BUILTIN_PLUGINS.items():
        pm.register(plugin, name=name)
    assert resolve_checksum(pm, "sha256") is SENTINEL

