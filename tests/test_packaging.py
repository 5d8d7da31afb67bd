"""``pip install .`` and ``pip install -e .`` from a clean copy both give a working twistd plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_PROBE = """
import importlib.metadata, json, s3node, twisted.plugins
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
names = [p.tapname for p in getPlugins(IServiceMaker, twisted.plugins)]
import twisted.plugins.s3node_plugin as plugin
from s3node.metadata.migrations import migrations_root
print(json.dumps({"names": names, "package": s3node.__file__, "plugin": plugin.__file__,
                  "version": [importlib.metadata.version("s3node"), s3node.__version__],
                  "sql": sorted(p.name for p in migrations_root().glob("*/*.sql"))}))
"""


def _clean_copy(dest: Path) -> Path:
    """Copy what a fresh clone has (tracked and untracked, not ignored) to ``dest``."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to install from")
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def _is_ours(name: str) -> bool:
    return name.startswith(("s3node", "__editable__.s3node", "__editable___s3node"))


def _link_all_but_ours(src: Path, dest: Path, nested: dict[str, dict]) -> None:
    """Mirror ``src`` into ``dest`` with symlinks, leaving out s3node's own files.

    ``nested`` names folders to mirror entry by entry instead of linking whole
    (``twisted/plugins`` holds our plugin file beside Twisted's own).
    """
    dest.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if _is_ours(entry.name) or entry.name in ("dropin.cache", "__pycache__"):
            continue
        if entry.name in nested:
            _link_all_but_ours(entry, dest / entry.name, nested[entry.name])
        else:
            (dest / entry.name).symlink_to(entry)


def _venv_borrowing_dependencies(path: Path) -> Path:
    """A venv whose dependencies come from this interpreter, without any s3node of its own.

    The running interpreter (a tox env, or a developer's) may have s3node installed
    itself, so its site-packages is mirrored without s3node's files and the
    mirror is what the new venv borrows.
    """
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    borrowed = []
    for i, site in enumerate(sorted({sysconfig.get_paths()["purelib"],
                                     sysconfig.get_paths()["platlib"]})):
        mirror = path.parent / f"borrowed-{i}"
        _link_all_but_ours(Path(site), mirror, {"twisted": {"plugins": {}}})
        borrowed.append(str(mirror))
    (Path(purelib) / "zz_borrowed.pth").write_text("\n".join(borrowed) + "\n")
    return python


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_install_finds_the_plugin(tmp_path: Path, editable: bool) -> None:
    """
    After either install mode, twistd's plugin scan finds s3node from that
    install, the installed version is the package's ``__version__``, and the
    ``s3node`` console script runs.
    """
    src = _clean_copy(tmp_path / "clone")
    python = _venv_borrowing_dependencies(tmp_path / "venv")
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
           "--no-deps", "--no-build-isolation", "--no-index"]
    cmd += ["-e", str(src)] if editable else [str(src)]
    install = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = list((tmp_path / "venv").rglob("twisted/plugins/*"))
    assert not [p for p in installed if p.name == "dropin.cache"], "dropin.cache is never shipped"
    if not editable:
        assert [p.name for p in installed if p.suffix == ".py"] == ["s3node_plugin.py"]
    probe = subprocess.run(
        [str(python), "-c", _PROBE], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert probe.returncode == 0, probe.stderr
    import json

    found = json.loads(probe.stdout.strip().splitlines()[-1])
    home = src if editable else tmp_path / "venv"
    assert "s3node" in found["names"]
    installed_version, package_version = found["version"]
    assert installed_version == package_version, "setup.py reads the version from s3node"
    assert Path(found["package"]).is_relative_to(home)
    assert Path(found["plugin"]).is_relative_to(home)
    expected_sql = sorted(p.name for p in (REPO / "sql").glob("*/*.sql"))
    assert expected_sql and found["sql"] == expected_sql
    # the console script works from that install too (docs/cli.md)
    script = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "s3node"), "--version"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert script.returncode == 0, script.stderr
    assert script.stdout == f"s3node, version {package_version}\n"


def test_twisted_plugins_is_not_a_package() -> None:
    """twisted/ and twisted/plugins/ have no __init__.py, and dropin.cache is git-ignored."""
    assert not (REPO / "twisted" / "__init__.py").exists()
    assert not (REPO / "twisted" / "plugins" / "__init__.py").exists()
    assert "dropin.cache" in (REPO / ".gitignore").read_text().split()
