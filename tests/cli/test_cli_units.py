"""The client's pieces on their own: no Twisted, the multipart body, error lines, sizes."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

from cli.cli_run import run_s3node

from s3node import __version__
from s3node.cli._errors import ServerError
from s3node.cli._multipart import FileForm
from s3node.cli._output import human_size
from s3node.gateway.multipart import MultipartReader, PartData, PartEnd, PartStart

PURITY = """
import json, sys
import s3node.cli
print(json.dumps(sorted(m for m in sys.modules
                        if m.split(".")[0] in {"twisted", "grpc", "klein", "treq"})))
"""


def test_the_client_imports_no_twisted() -> None:
    """Importing s3node.cli in a fresh interpreter loads no Twisted, gRPC, Klein or treq."""
    done = subprocess.run([sys.executable, "-c", PURITY], capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == []


def test_the_form_parses_back_to_the_file() -> None:
    """The streamed form, read by the gateway's own multipart parser, is one part named
    `file` with the name (quotes, backslashes, UTF-8 kept; line breaks dropped), the type
    and the exact bytes; its declared length is its real length; the sha256 is the file's."""
    data = bytes(range(256)) * 4000
    form = FileForm(io.BytesIO(data), len(data), 'a "b" \\ c\r\n é.bin', "image/png",
                    block_size=4096)
    sent: list[int] = []
    body = b"".join(form.blocks(sent.append))
    assert len(body) == form.content_length
    assert sum(sent) == len(data) and max(sent) == 4096

    reader = MultipartReader(form.content_type.encode())
    events = reader.feed(body)
    reader.close()
    assert events[0] == PartStart(name="file", filename='a "b" \\ c é.bin',
                                  content_type="image/png")
    assert events[-1] == PartEnd()
    assert b"".join(e.data for e in events if isinstance(e, PartData)) == data
    assert form.sha256.hexdigest() == hashlib.sha256(data).hexdigest()


def test_server_errors_are_one_line() -> None:
    """A JSON error reads `code: details (HTTP status from METHOD path)`; a multi-line or
    non-JSON body is folded onto one line and cut short."""
    body = json.dumps({"error": "too_large", "details": "over\nthe limit"}).encode()
    assert ServerError("POST", "/files", 413, body).message == (
        "too_large: over the limit (HTTP 413 from POST /files)")
    assert ServerError("GET", "/x", 500, b"").message == "(empty body) (HTTP 500 from GET /x)"
    long = ServerError("GET", "/x", 502, b"x" * 1000).message
    assert "\n" not in long and len(long) < 350


def test_sizes_use_binary_units() -> None:
    """Sizes read in B, KiB, MiB, GiB and TiB; an unknown size is a dash."""
    assert [human_size(n) for n in (0, 1023, 1024, 1536 * 1024, 5 * 1024**4, None)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 MiB", "5.0 TiB", "-"]


def test_help_names_the_defaults_and_the_version() -> None:
    """`s3node --help` names the standalone URL default and the environment variables;
    `--version` prints the package's version; `python -m s3node.cli` is the same command."""
    shown = run_s3node("--help")
    assert shown.code == 0
    for text in ("http://127.0.0.1:8080", "S3NODE_URL", "S3NODE_ACCESS_KEY", "S3NODE_SECRET_KEY"):
        assert text in shown.stdout
    for command in ("put", "get", "ls", "stat", "rm", "health", "nodes", "node"):
        assert f"\n  {command} " in shown.stdout
    assert run_s3node("--version").stdout == f"s3node, version {__version__}\n"
    module = subprocess.run([sys.executable, "-m", "s3node.cli", "--version"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert module.stdout == f"s3node, version {__version__}\n"
