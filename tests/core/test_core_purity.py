"""The core stays pure: importing it pulls in neither Twisted nor gRPC."""

import json
import subprocess
import sys

CHECK = """
import importlib, json, pkgutil, sys
import s3node.core
names = [m.name for m in pkgutil.iter_modules(s3node.core.__path__, "s3node.core.")]
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {"twisted", "grpc", "klein", "treq"})
json.dump({"modules": names, "bad": bad}, sys.stdout)
"""


def test_core_imports_neither_twisted_nor_grpc() -> None:
    """Importing every s3node.core module in a fresh interpreter loads no Twisted, gRPC, Klein or treq."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout)
    assert {
        "s3node.core.checksums",
        "s3node.core.chunking",
        "s3node.core.ids",
        "s3node.core.placement",
        "s3node.core.ranges",
        "s3node.core.ratelimit",
    } <= set(report["modules"])
    assert report["bad"] == []
