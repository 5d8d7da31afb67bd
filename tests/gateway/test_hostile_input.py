"""
Hostile input at the gateway's routes (issue 11): file ids, paths, methods,
listing parameters, filenames, download headers and what gets logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
import pytest_twisted
import treq
from gateway.test_app_files import form, upload
from support.auth import AUTH_LINE
from support.raw_http import connect_raw
from support.waiting import poll_until, within

CANONICAL = "9d0f5f0e-8a2b-4c1d-9e3f-0123456789ab"


async def _json(r: Any) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(await r.content())
    return value


#: every ASCII digit to its full-width form (a version 4 uuid always has a 4)
FULLWIDTH_DIGITS = {ord(d): 0xFF10 + int(d) for d in "0123456789"}


@pytest_twisted.ensureDeferred
async def test_file_ids_only_in_canonical_form(gw):
    """One file answers to one URL: other spellings of its id are ``400`` on every route."""
    _, reply = await upload(gw.url, b"hello")
    fid = reply["file_id"]
    for text in [fid.upper(), fid.replace("-", ""), "{" + fid + "}", "urn:uuid:" + fid,
                 fid.translate(FULLWIDTH_DIGITS)]:
        for method, suffix in (("GET", ""), ("HEAD", ""), ("DELETE", ""), ("GET", "/metadata")):
            r = await treq.request(method, f"{gw.url}/files/{quote(text)}{suffix}")
            assert r.code == 400, (method, text, suffix)
            if method != "HEAD":
                assert (await _json(r))["error"] == "bad_request"
    r = await treq.get(f"{gw.url}/files/{fid}")
    assert r.code == 200 and await r.content() == b"hello"


@pytest_twisted.ensureDeferred
async def test_doubled_slashes_are_404_without_a_location(gw):
    """A path with ``//`` is unknown (``404``), never a redirect built from ``Host``."""
    for path in ("//files", "//evil.example/files", "/files//x", "//openapi.json"):
        client = await connect_raw(gw.url)
        client.transport.write(f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n"
                               "Connection: close\r\n\r\n".encode())
        await within(client.closed, what="the response")
        head = client.received.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 404"), (path, head)
        assert b"location:" not in head and b"evil.example" not in head


@pytest_twisted.ensureDeferred
async def test_405_says_allow(gw):
    """A method a route does not serve is ``405`` with the methods it does in ``Allow``."""
    r = await treq.put(f"{gw.url}/files", data=b"")
    assert r.code == 405 and r.headers.getRawHeaders("allow") == ["GET, HEAD, POST"]
    r = await treq.post(f"{gw.url}/files/{CANONICAL}", data=b"")
    assert r.code == 405
    assert r.headers.getRawHeaders("allow") == ["DELETE, GET, HEAD"]
    assert (await _json(r))["error"] == "method_not_allowed"


@pytest.mark.parametrize("query", [
    "page=0&per_page=5000&cursor=",
    "page=0&per_page=5000&limit=5",
    "per_page=5000&unknown=1",
    "page=0&cursor=abc",
    "limit=0&cursor=",
    "limit=5000",
    "page=2&limit=5",
])
@pytest_twisted.ensureDeferred
async def test_listing_parameters_are_always_validated(gw, query):
    """No parameter switches validation off; the two paging modes don't mix."""
    r = await treq.get(f"{gw.url}/files?{query}")
    assert r.code == 400, query
    assert (await _json(r))["error"] == "bad_request"


@pytest_twisted.ensureDeferred
async def test_unknown_listing_parameters_are_ignored(gw):
    """Unknown query parameters (a cache buster) are ignored; an empty cursor is the first page."""
    await upload(gw.url, b"x")
    r = await treq.get(f"{gw.url}/files?v=123&page=1")
    assert r.code == 200 and (await _json(r))["total"] == 1
    r = await treq.get(f"{gw.url}/files?cursor=&limit=5")
    assert r.code == 200 and len((await _json(r))["files"]) == 1


@pytest_twisted.ensureDeferred
async def test_a_file_part_without_a_usable_filename_is_refused_clearly(gw):
    """No ``filename`` parameter, or one that is empty once cleaned, is ``400 missing_filename``
    saying so; nothing is stored."""
    body, headers = form(b"x")
    r = await treq.post(gw.url + "/files", data=body.replace(b'; filename="a.bin"', b""),
                        headers=headers)
    reply = await _json(r)
    assert r.code == 400 and reply["error"] == "missing_filename"
    assert "filename" in reply["details"] and "-F file=@" in reply["details"]
    for name in ("..", "\u202e", "dir/"):
        code, reply = await upload(gw.url, b"x", filename=name)
        assert code == 400 and reply["error"] == "missing_filename", name
    assert (await gw.store.list_files(page=1, per_page=10)).total == 0


@pytest_twisted.ensureDeferred
async def test_long_filenames_are_cut_and_overlong_part_headers_refused(gw):
    """A filename of 9,000 characters is stored cut to 1,024; a part header block past
    16 KiB is a ``400 malformed_multipart`` that says why."""
    code, reply = await upload(gw.url, b"x", filename="y" * 9000)
    assert code == 201 and reply["filename"] == "y" * 1024
    code, reply = await upload(gw.url, b"x", filename="y" * 20_000)
    assert code == 400 and reply["error"] == "malformed_multipart"
    assert "header" in reply["details"]


@pytest_twisted.ensureDeferred
async def test_filenames_are_neutralised(gw):
    """Bidi overrides and other format characters, control characters and directory
    parts are removed from filenames; downloads say ``nosniff``."""
    cases = {
        "evil\u202egpj.exe": "evilgpj.exe",
        "../../etc/passwd": "passwd",
        "C:\\Users\\me\\report.pdf": "report.pdf",
        "a\u200bb\u2066c\u2069.txt": "abc.txt",
        "nim\u200cfasele.txt": "nim\u200cfasele.txt",  # a joiner words need stays
        "  spaced.txt  ": "spaced.txt",
    }
    for sent, stored in cases.items():
        code, reply = await upload(gw.url, b"data", filename=sent, ctype="text/html")
        assert code == 201 and reply["filename"] == stored, sent
        r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
        assert r.headers.getRawHeaders("x-content-type-options") == ["nosniff"]
        disposition = r.headers.getRawHeaders("content-disposition")[0]
        assert "\u202e" not in disposition and "/" not in disposition.split(";")[1]
        assert r.headers.getRawHeaders("content-type") == ["text/html"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest_twisted.ensureDeferred
async def test_client_faults_log_no_errors(gw):
    """A malformed multipart body, an oversized upload and a truncated one log no
    error-level event, and the multipart parser writes nothing through :mod:`logging`."""
    from twisted.logger import LogLevel, globalLogPublisher

    errors: list[dict[str, Any]] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_level") in (LogLevel.error, LogLevel.critical):
            errors.append(event)

    handler = _Records()
    logging.getLogger().addHandler(handler)
    globalLogPublisher.addObserver(observe)
    try:
        # bytes the parser skips, each a warning in python_multipart
        junk = b"--B\r\n" + b"\x00garbage-before-headers\r\n" * 50
        r = await treq.post(gw.url + "/files", data=junk,
                            headers={"content-type": "multipart/form-data; boundary=B"})
        assert r.code == 400
        # a file part larger than --max-file-size (10**6 here), in a body that is not
        body, headers = form(b"z" * (10**6 + 1))
        r = await treq.post(gw.url + "/files", data=body, headers=headers)
        assert r.code == 413
        # a body cut short: the client goes away mid-file
        client = await connect_raw(gw.url)
        part, headers = form(b"q" * 5000)
        client.transport.write(
            b"POST /files HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE + b"Content-Type: "
            + headers[b"content-type"][0] + b"\r\nContent-Length: %d\r\n\r\n" % len(part)
            + part[:3000])
        await poll_until(lambda: gw.gateway.files._in_flight, what="the upload to start")
        client.transport.abortConnection()
        await poll_until(lambda: not gw.gateway.files._in_flight, what="the upload to end")
    finally:
        globalLogPublisher.removeObserver(observe)
        logging.getLogger().removeHandler(handler)
    assert [e.get("log_format") for e in errors] == []
    assert [r.getMessage() for r in handler.records if r.name.startswith("python_multipart")] == []


@pytest_twisted.ensureDeferred
async def test_node_ids_in_paths_are_checked(gw):
    """``DELETE /nodes/{id}`` takes only a well-formed node id (nothing hostile reaches
    the log); the pool keeps its nodes."""
    for text in ("n1%0A", "%0A", "..", "a%20b", "x" * 64, "%E2%80%AE1n"):
        r = await treq.delete(f"{gw.url}/nodes/{text}?lost=true")
        assert r.code == 400, text
        assert (await _json(r))["error"] == "bad_request"
    assert len(gw.gateway.pool.nodes()) == 3


@pytest_twisted.ensureDeferred
async def test_openapi_document_is_exact(gw):
    """The served document lists the protocol layer's statuses on every operation,
    401/403 and the Basic scheme on all but /health and /openapi.json, downloads of any type, the canonical id pattern and an opaque cursor, and links
    an upload to the operations on its file."""
    doc = await _json(await treq.get(f"{gw.url}/openapi.json"))
    operations = [op for path in doc["paths"].values() for op in path.values()]
    assert len({op["operationId"] for op in operations}) == len(operations) == 23
    for op in operations:
        assert {"400", "408", "414", "431"} <= set(op["responses"]), op["operationId"]
    # every operation but two needs a key: 401 and 403 documented, Basic declared
    public = {"health", "openapi"}
    for op in operations:
        if op["operationId"] in public:
            assert op["security"] == [] and "401" not in op["responses"]
        else:
            assert {"401", "403"} <= set(op["responses"]), op["operationId"]
    assert doc["security"] == [{"basic": []}]
    assert doc["components"]["securitySchemes"]["basic"]["scheme"] == "basic"
    get = doc["paths"]["/files/{file_id}"]["get"]
    assert get["responses"]["200"]["content"] == {
        "*/*": {"schema": {"type": "string", "format": "binary"}}}
    assert "content" not in doc["paths"]["/files/{file_id}"]["head"]["responses"]["200"]
    assert "bytes=-n" in get["parameters"][1]["description"]
    file_id = get["parameters"][0]["schema"]
    assert file_id["pattern"].startswith("^[0-9a-f]{8}-")
    post = doc["paths"]["/files"]["post"]
    assert {"201", "400", "404", "409", "413", "503"} <= set(post["responses"])
    assert set(post["responses"]["201"]["links"]) == {"GetFile", "GetFileMetadata", "DeleteFile"}
    cursor = [p for p in doc["paths"]["/files"]["get"]["parameters"] if p["name"] == "cursor"]
    assert "opaque" in cursor[0]["description"]
