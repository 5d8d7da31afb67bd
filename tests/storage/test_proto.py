"""
The committed gRPC modules are exactly what proto/generate.py makes from
proto/, and the contract documents every RPC and field.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto" / "s3node" / "storage" / "v1" / "storage.proto"
COMMITTED = ROOT / "s3node" / "_proto" / "storage"


_STAMPS = [
    (re.compile(r"GRPC_GENERATED_VERSION = '[^']*'"), "GRPC_GENERATED_VERSION = '*'"),
    (re.compile(r"# Protobuf Python Version: \S+"), "# Protobuf Python Version: *"),
    (
        re.compile(
            r"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)"
            r"\s*\d+,\s*\d+,\s*\d+,\s*'[^']*',"
        ),
        r"\1 *,",
    ),
]


def _unstamped(text: str) -> str:
    """``text`` without the generator's version stamps (a grpcio-tools patch release changes them)."""
    for pattern, replacement in _STAMPS:
        text = pattern.sub(replacement, text)
    return text


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): _unstamped(p.read_text(encoding="utf-8"))
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_version_stamps_are_normalised():
    """The normalisation removes exactly the version stamps, so content changes still show."""
    pb2 = (COMMITTED / "v1" / "storage_pb2.py").read_text(encoding="utf-8")
    grpc_py = (COMMITTED / "v1" / "storage_pb2_grpc.py").read_text(encoding="utf-8")
    assert "Protobuf Python Version: *" in _unstamped(pb2)
    assert "ValidateProtobufRuntimeVersion(\n    _runtime_version.Domain.PUBLIC, *," in _unstamped(
        pb2
    )
    assert "GRPC_GENERATED_VERSION = '*'" in _unstamped(grpc_py)
    assert _unstamped(pb2.replace("PutChunk", "PutChunkX")) != _unstamped(pb2)


def test_generated_modules_are_up_to_date(tmp_path):
    """
    Regenerating from proto/ reproduces the committed s3node/_proto modules
    (byte for byte apart from the generator's version stamps).
    """
    subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = _files(tmp_path / "s3node" / "_proto" / "storage")
    committed = _files(COMMITTED)
    assert sorted(fresh) == sorted(committed), "run `python proto/generate.py` (or tox -e proto)"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"stale generated modules {stale}: run `python proto/generate.py`"


def test_generation_is_reproducible(tmp_path):
    """Two runs of proto/generate.py produce identical files."""
    outputs = []
    for run in ("a", "b"):
        subprocess.run(
            [sys.executable, str(ROOT / "proto" / "generate.py"), "--out", str(tmp_path / run)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        outputs.append(_files(tmp_path / run))
    assert outputs[0] == outputs[1] and outputs[0]


def test_generated_modules_import_under_s3node_proto():
    """The generated modules import as s3node._proto.storage.v1 and register the Storage service."""
    from s3node._proto.storage.v1 import storage_pb2, storage_pb2_grpc

    service = storage_pb2.DESCRIPTOR.services_by_name["Storage"]
    assert service.full_name == "s3node.storage.v1.Storage"
    assert {m.name for m in service.methods} == {
        "PutChunk",
        "GetChunk",
        "DeleteChunk",
        "StatChunk",
        "ListChunks",
        "Health",
        "ListQuarantined",
        "DropQuarantined",
        "PutSmallChunk",
        "GetSmallChunk",
    }
    assert storage_pb2_grpc.StorageStub is not None
    assert storage_pb2.PutChunkRequest.__module__ == "s3node._proto.storage.v1.storage_pb2"


_DECLARATION = re.compile(
    r"^\s*(rpc \w+|message \w+|service \w+|(?:optional |repeated )?[\w.]+ \w+ = \d+;)"
)


def test_every_rpc_message_and_field_has_a_comment():
    """Each rpc, message and field in the .proto is preceded by a // comment."""
    lines = PROTO.read_text(encoding="utf-8").splitlines()
    declarations = [i for i, line in enumerate(lines) if _DECLARATION.match(line)]
    undocumented = [
        lines[i].strip() for i in declarations if not lines[i - 1].strip().startswith("//")
    ]
    assert len(declarations) > 40  # the pattern does find the declarations
    assert undocumented == []
