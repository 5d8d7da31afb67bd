"""Exit codes and one-line errors: the server says no (1), bad usage (2), no server (3),
wrong bytes (4), and what the client puts on the wire."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_run import GATEWAY_READY, MiB, run_s3node, standalone_args, write_pattern
from cli.fake_gateway import FakeGateway, Reply
from support.processes import start_twistd

from s3node.gateway.multipart import MultipartReader, PartData, PartStart

FILE_ID = "0b7e7a4c-5d5e-4c55-9a43-0d7b0c3e7f10"
DATA = b"the real bytes of the file\n" * 1000


def _serve_file(fake: FakeGateway, body: Reply) -> None:
    """Metadata for :data:`DATA` under :data:`FILE_ID`, and ``body`` as its download."""
    fake.replies["GET", f"/files/{FILE_ID}/metadata"] = Reply.json(200, {
        "file_id": FILE_ID, "filename": "data.txt", "size": len(DATA),
        "checksum": hashlib.sha256(DATA).hexdigest(), "checksum_algorithm": "sha256",
        "status": "completed", "chunks": [],
    })
    fake.replies["GET", f"/files/{FILE_ID}"] = body


def test_unknown_file_exits_1_quoting_the_server(standalone_url: str, tmp_path: Path) -> None:
    """`stat` and `get` of an unknown id exit 1 with one stderr line that quotes the server's
    JSON error code and details, the status and the request; `get` writes nothing."""
    unknown = str(uuid.uuid4())
    for args in (("stat", unknown), ("get", unknown)):
        result = run_s3node(*args, url=standalone_url, cwd=tmp_path)
        assert result.code == 1
        assert result.stdout == ""
        assert result.stderr == (
            f"s3node: file_not_found: no file {unknown} "
            f"(HTTP 404 from GET /files/{unknown}/metadata)\n"
        )
    assert list(tmp_path.iterdir()) == []

    malformed = run_s3node("stat", "not-an-id", url=standalone_url)
    assert malformed.code == 1
    assert malformed.stderr.startswith("s3node: bad_request: ")


def test_an_error_without_json_is_quoted_on_one_line(fake_gateway: FakeGateway) -> None:
    """A proxy's non-JSON error page is quoted, folded onto one line."""
    fake_gateway.replies["GET", "/nodes"] = Reply(502, b"<html>\n  Bad   Gateway\n</html>")
    result = run_s3node("nodes", url=fake_gateway.url)
    assert result.code == 1
    assert result.stderr == "s3node: <html> Bad Gateway </html> (HTTP 502 from GET /nodes)\n"


@pytest.fixture
def refusing_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_no_server_exits_3(refusing_url: str, tmp_path: Path) -> None:
    """Every command exits 3 with `cannot connect to URL` when nothing listens there."""
    source = tmp_path / "a.txt"
    source.write_text("a")
    for args in (("ls",), ("put", str(source)), ("get", FILE_ID), ("health",), ("nodes",),
                 ("rm", FILE_ID), ("stat", FILE_ID)):
        result = run_s3node(*args, url=refusing_url, cwd=tmp_path)
        assert result.code == 3, (args, result)
        assert result.stderr.startswith(f"s3node: cannot connect to {refusing_url}: "), args
        assert result.stderr.count("\n") == 1


def test_wrong_bytes_exit_4_and_leave_nothing(fake_gateway: FakeGateway, tmp_path: Path) -> None:
    """A download whose bytes do not match the recorded sha256 exits 4, names both digests,
    and leaves neither the target nor a temporary file."""
    _serve_file(fake_gateway, Reply(200, DATA.replace(b"real", b"fake")))
    result = run_s3node("get", FILE_ID, "-o", str(tmp_path / "data.txt"), url=fake_gateway.url)
    assert result.code == 4
    assert f"s3node: file {FILE_ID}: the bytes received have sha256 " in result.stderr
    assert hashlib.sha256(DATA).hexdigest() in result.stderr
    assert "was not written" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_cut_download_exits_3_and_leaves_nothing(
    fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    """A download that ends before its Content-Length (how the gateway reports a chunk it
    could not read) exits 3, leaving neither the target nor a temporary file."""
    _serve_file(fake_gateway, Reply(200, DATA[:1000], declared_length=len(DATA)))
    result = run_s3node("get", FILE_ID, url=fake_gateway.url, cwd=tmp_path)
    assert result.code == 3
    assert f"GET /files/{FILE_ID}: the connection to {fake_gateway.url} broke" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ("ls", "--limit", "0"),
    ("ls", "--status", "lost"),
    ("--url", "ftp://127.0.0.1", "ls"),
    ("--access-key", "only-half", "ls"),
    ("put", "/no/such/file"),
    ("get",),
    ("frobnicate",),
], ids=["limit", "status", "url", "half-credentials", "missing-file", "no-id", "unknown"])
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    """A bad command line exits 2 with click's usage message, before any request."""
    # no key from the environment (the suite's would complete a half of one)
    result = run_s3node(*args, url="http://127.0.0.1:9",
                        env={"S3NODE_ACCESS_KEY": "", "S3NODE_SECRET_KEY": ""})
    assert result.code == 2
    assert "Usage: s3node" in result.stderr and "Error:" in result.stderr


def test_upload_streams_a_sized_multipart_form_with_credentials(
    fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    """The upload is one multipart part named `file` with the file's name, type and exact
    bytes, sent with a Content-Length (not chunked) and HTTP Basic credentials from the
    environment, to the URL in S3NODE_URL."""
    source = tmp_path / "page.html"
    digest = write_pattern(source, MiB + 5, seed=7)
    fake_gateway.replies["POST", "/files"] = Reply.json(201, {
        "file_id": FILE_ID, "size": MiB + 5, "checksum": digest, "checksum_algorithm": "sha256",
    })
    result = run_s3node("put", str(source), env={
        "S3NODE_URL": fake_gateway.url, "S3NODE_ACCESS_KEY": "ak", "S3NODE_SECRET_KEY": "sk"})
    assert result.code == 0, result.stderr
    assert result.stdout == FILE_ID + "\n"

    [request] = fake_gateway.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert int(headers["content-length"]) == len(request.body)
    assert "transfer-encoding" not in headers
    assert headers["authorization"] == "Basic " + base64.b64encode(b"ak:sk").decode()
    reader = MultipartReader(headers["content-type"].encode())
    events = reader.feed(request.body)
    reader.close()
    assert events[0] == PartStart(name="file", filename="page.html", content_type="text/html")
    sent = b"".join(e.data for e in events if isinstance(e, PartData))
    assert hashlib.sha256(sent).hexdigest() == digest


def test_a_server_checksum_that_differs_exits_4(fake_gateway: FakeGateway, tmp_path: Path) -> None:
    """When the server records another sha256 than the one of the bytes sent, `put` exits 4
    and names the stored file."""
    source = tmp_path / "a.bin"
    source.write_bytes(b"abc")
    fake_gateway.replies["POST", "/files"] = Reply.json(201, {
        "file_id": FILE_ID, "size": 3, "checksum": "00" * 32, "checksum_algorithm": "sha256"})
    result = run_s3node("put", str(source), url=fake_gateway.url)
    assert result.code == 4
    assert f"the server stored file {FILE_ID}" in result.stderr


def test_too_large_is_refused_before_the_body(tmp_path: Path) -> None:
    """Against a gateway with --max-file-size 64KiB, `put` of a 64 MiB file exits 1 quoting
    413 too_large, refused from the declared Content-Length before the body was read."""
    source = tmp_path / "big.bin"
    write_pattern(source, 64 * MiB, seed=8)
    with start_twistd(standalone_args(tmp_path / "data", "--max-file-size", "64KiB"),
                      cwd=tmp_path, ready_pattern=GATEWAY_READY, timeout=60) as gateway:
        url = f"http://127.0.0.1:{gateway.port}"
        result = run_s3node("put", str(source), url=url)
        assert result.code == 1
        declared = re.match(r"s3node: too_large: the request body \((\d+) bytes\)", result.stderr)
        assert declared and int(declared.group(1)) > 64 * MiB, result.stderr
        assert result.stderr.endswith("(HTTP 413 from POST /files)\n")
        listed = run_s3node("ls", "--all", "--json", url=url)
    assert listed.json()["files"] == []
