"""
The ``s3node`` command-line client against real processes.

``standalone_url`` (session): one ``twistd -n s3node standalone`` process on a
free loopback port, with SQLite, three nodes, 1 MiB chunks and two replicas;
the tests run the installed console script against it.  ``fake_gateway``: a
:class:`~cli.fake_gateway.FakeGateway` for the replies a real gateway won't
give on demand.  Every test here is marked ``integration``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_run import GATEWAY_READY, standalone_args
from cli.fake_gateway import FakeGateway
from support.processes import start_twistd

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def standalone_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running ``twistd -n s3node standalone``."""
    base = tmp_path_factory.mktemp("cli-standalone")
    with start_twistd(standalone_args(base / "data"), cwd=base, ready_pattern=GATEWAY_READY,
                      timeout=60) as gateway:
        yield f"http://127.0.0.1:{gateway.port}"


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    """A fake gateway on a free loopback port, stopped after the test."""
    with FakeGateway() as fake:
        yield fake


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here as integration: they run the console script and real processes."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)
