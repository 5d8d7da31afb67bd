"""
The HTTP contract end to end, against real processes: the PostgreSQL cluster
(6 storage nodes + gateway) and standalone (SQLite), via the ``deployment``
fixture.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
import pytest_twisted
import treq
from blake3 import blake3
from integration.e2e_client import (
    CTYPE,
    MiB,
    envelope,
    form,
    get_hash,
    get_json,
    post_bytes,
    post_file,
    write_body_file,
)
from support.auth import AUTH
from support.raw_http import connect_raw
from support.waiting import poll_until
from twisted.internet.defer import Deferred, DeferredList

from s3node.config import GatewayConfig

pytestmark = pytest.mark.integration

INLINE = GatewayConfig.inline_max_size


@pytest_twisted.ensureDeferred
async def test_small_sizes_round_trip(deployment):
    """0, 1, the inline limit and one more, chunk-1, chunk and chunk+1 byte files
    round-trip byte-exact with the right checksum, size, chunk count (none for a
    file kept inline) and headers."""
    for size, chunks in ((0, 0), (1, 0), (INLINE, 0), (INLINE + 1, 1), (MiB - 1, 1),
                         (MiB, 1), (MiB + 1, 2)):
        data = hashlib.sha512(str(size).encode()).digest() * (size // 64 + 1)
        data = data[:size]
        code, reply = await post_bytes(deployment.url, data, filename=f"s{size}.bin",
                                       content_type="application/x-e2e")
        assert code == 201, reply
        assert (reply["size"], reply["chunk_count"]) == (size, chunks)
        assert reply["checksum"] == hashlib.sha256(data).hexdigest()
        assert reply["checksum_algorithm"] == "sha256" and reply["status"] == "completed"
        url = f"{deployment.url}/files/{reply['file_id']}"
        r = await treq.get(url)
        assert r.code == 200 and await r.content() == data
        assert r.length == size  # the Content-Length the client read
        assert r.headers.getRawHeaders("content-type") == ["application/x-e2e"]
        assert r.headers.getRawHeaders("etag") == [f'"{reply["checksum"]}"']
        assert r.headers.getRawHeaders("accept-ranges") == ["bytes"]
        assert r.headers.getRawHeaders("content-disposition") == [
            f'attachment; filename="s{size}.bin"']


@pytest_twisted.ensureDeferred
async def test_every_byte_value_and_ranges(deployment):
    """Every byte value survives, and ranges (a-b, a-, -n, across chunks) return exactly
    their bytes with 206 and Content-Range; an unsatisfiable one returns 416."""
    data = bytes(range(256)) * (3 * MiB // 256) + b"\x00\xff"
    size = len(data)
    code, reply = await post_bytes(deployment.url, data)
    assert code == 201
    url = f"{deployment.url}/files/{reply['file_id']}"
    assert await (await treq.get(url)).content() == data
    for header, start, end in (("bytes=0-0", 0, 0), (f"bytes={MiB - 5}-{MiB + 5}", MiB - 5,
                               MiB + 5), (f"bytes={2 * MiB}-", 2 * MiB, size - 1),
                               ("bytes=-7", size - 7, size - 1)):
        r = await treq.get(url, headers={"range": header})
        assert r.code == 206
        assert r.headers.getRawHeaders("content-range") == [f"bytes {start}-{end}/{size}"]
        assert await r.content() == data[start:end + 1]
    r = await treq.get(url, headers={"range": f"bytes={size}-"})
    assert r.code == 416
    assert r.headers.getRawHeaders("content-range") == [f"bytes */{size}"]
    r = await treq.head(url, headers={"range": "bytes=1-2"})
    assert r.code == 206 and await r.content() == b""


@pytest_twisted.ensureDeferred
async def test_large_file_streams_byte_exact(deployment, tmp_path):
    """
    A file of several hundred MiB is uploaded and downloaded streaming,
    byte-exact; past --large-object-size (256 MiB) it is cut into
    --large-chunk-size chunks (32 MiB) after a first one of the deployment's
    usual 1 MiB.
    """
    body = tmp_path / "big.body"
    digest = write_body_file(body, 300 * MiB, seed=7)
    code, reply = await post_file(deployment.url, body)
    body.unlink()
    assert code == 201, reply
    assert reply["checksum"] == digest and reply["chunk_count"] == 11  # 1 + 9 × 32 + 11 MiB
    status, got, length = await get_hash(f"{deployment.url}/files/{reply['file_id']}")
    assert (status, got, length) == (200, digest, 300 * MiB)


#: hostile filenames and what is stored: directory parts (after / or \\) and
#: bidirectional overrides are removed (docs/security.md)
HOSTILE = {
    'quote"and.txt': 'quote"and.txt',
    'dir\\quote"and\\back.txt': "back.txt",
    "r\u00e9sum\u00e9 \u65e5\u672c\u8a9e.pdf": "r\u00e9sum\u00e9 \u65e5\u672c\u8a9e.pdf",
    "../../etc/passwd": "passwd",
    "semi;colon, comma=equals.bin": "semi;colon, comma=equals.bin",
    "x" * 600: "x" * 600,
    "emoji \U0001f600.txt": "emoji \U0001f600.txt",
    "evil\u202egpj.exe": "evilgpj.exe",
}


@pytest_twisted.ensureDeferred
async def test_hostile_filenames(deployment):
    """Hostile filenames are stored neutralised and never break the Content-Disposition
    header (ASCII fallback plus filename*=UTF-8'')."""
    for sent, name in HOSTILE.items():
        code, reply = await post_bytes(deployment.url, b"data", filename=sent)
        assert code == 201 and reply["filename"] == name
        r = await treq.head(f"{deployment.url}/files/{reply['file_id']}")
        (header,) = r.headers.getRawHeaders("content-disposition")
        assert header.isascii() and "\r" not in header and "\n" not in header
        assert header.startswith('attachment; filename="')
        fallback = header.split('filename="', 1)[1].split('"', 1)[0]
        assert "\\" not in fallback
        if not name.isascii() or '"' in name or "\\" in name:
            from urllib.parse import unquote

            assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name
    code, reply = await post_bytes(deployment.url, b"d", raw_filename=b"ctl\x01\x7fname")
    assert code == 201 and reply["filename"] == "ctlname"


@pytest_twisted.ensureDeferred
async def test_metadata_listing_and_delete(deployment):
    """Metadata lists chunks with their nodes; listing pages newest first; DELETE is 204,
    then every read is 404 and the chunks leave the nodes."""
    code, _ = await post_bytes(deployment.url, b"older", filename="older.bin")  # a next page
    assert code == 201
    before = deployment.chunk_files()
    data = b"m" * (2 * MiB + 10)
    code, reply = await post_bytes(deployment.url, data, filename="meta.bin")
    assert code == 201
    fid = reply["file_id"]
    status, meta = await get_json(f"{deployment.url}/files/{fid}/metadata")
    assert status == 200 and meta["filename"] == "meta.bin" and meta["size"] == len(data)
    assert [c["size"] for c in meta["chunks"]] == [MiB, MiB, 10]
    assert all(len(set(c["nodes"])) == 2 for c in meta["chunks"])
    assert meta["chunks"][2]["checksum"] == blake3(b"m" * 10).hexdigest()  # --chunk-checksum
    assert uuid.UUID(fid) and "T" in meta["created_at"]
    assert len(deployment.chunk_files() - before) == 6

    _, page = await get_json(f"{deployment.url}/files?page=1&per_page=1")
    assert page["files"][0]["file_id"] == fid and page["per_page"] == 1
    assert page["total_pages"] == page["total"] >= 1
    _, page = await get_json(f"{deployment.url}/files?status=completed&per_page=1000")
    assert all(f["status"] == "completed" for f in page["files"])
    _, cursor_page = await get_json(f"{deployment.url}/files?limit=1")
    assert cursor_page["files"][0]["file_id"] == fid and cursor_page["next_cursor"]
    for query in ("page=0", "per_page=1001", "per_page=abc", "status=weird", "limit=0"):
        status, err = await get_json(f"{deployment.url}/files?{query}")
        assert status == 400 and set(err) == {"error", "details"}

    url = f"{deployment.url}/files/{fid}"
    assert (await treq.delete(url)).code == 204
    for r in (await treq.get(url), await treq.head(url), await treq.get(url + "/metadata"),
              await treq.delete(url)):
        assert r.code == 404
    await poll_until(lambda: deployment.chunk_files() <= before,
                     what="the sweeper to remove the deleted file's chunks", interval=0.1)
    assert deployment.chunk_files() <= before


@pytest_twisted.ensureDeferred
async def test_errors_are_json(deployment):
    """Malformed ids, missing file parts, malformed multipart and unknown files answer
    JSON errors with the documented statuses."""
    cases = [
        (await treq.get(f"{deployment.url}/files/nope"), 400),
        (await treq.get(f"{deployment.url}/files/{uuid.uuid4()}"), 404),
        (await treq.get(f"{deployment.url}/files/{uuid.uuid4()}/metadata"), 404),
        (await treq.delete(f"{deployment.url}/files/{uuid.uuid4()}"), 404),
        (await treq.post(f"{deployment.url}/files", data=form(b"x").replace(
            b'name="file"', b'name="other"'), headers={"content-type": CTYPE}), 400),
        (await treq.post(f"{deployment.url}/files", data=b"--x\r\ngarbage",
                         headers={"content-type": CTYPE}), 400),
        (await treq.post(f"{deployment.url}/files", data=b"plain",
                         headers={"content-type": "text/plain"}), 400),
    ]
    for r, status in cases:
        assert r.code == status
        body = json.loads(await r.content())
        assert set(body) == {"error", "details"}


@pytest_twisted.ensureDeferred
async def test_oversized_declared_length_refused_before_body(deployment):
    """A Content-Length over --max-file-size gets 413 right after the headers, in place
    of '100 Continue'."""
    raw = await connect_raw(deployment.url)
    raw.transport.write(
        f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
        f"Content-Length: {11 * 1024**3}\r\nExpect: 100-continue\r\n\r\n".encode())
    await raw.wait_for(b"\r\n\r\n")
    assert raw.received.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in raw.received
    raw.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_concurrent_uploads_and_downloads(deployment):
    """32 concurrent uploads, then 32 concurrent downloads, all byte-exact."""
    blobs = [hashlib.sha256(bytes([i])).digest() * (8192 * (i % 5 + 1) + i) for i in range(32)]
    results = await DeferredList(
        [Deferred.fromCoroutine(post_bytes(deployment.url, b)) for b in blobs],
        fireOnOneErrback=True, consumeErrors=True)
    replies = [r for _, r in results]
    assert all(code == 201 for code, _ in replies)
    downloads = await DeferredList(
        [Deferred.fromCoroutine(get_hash(f"{deployment.url}/files/{reply['file_id']}"))
         for _, reply in replies], fireOnOneErrback=True, consumeErrors=True)
    for blob, (_, (status, digest, length)) in zip(blobs, downloads):
        assert (status, digest, length) == (200, hashlib.sha256(blob).hexdigest(), len(blob))


@pytest_twisted.ensureDeferred
async def test_client_disconnect_mid_upload_fails_and_is_swept(deployment):
    """A client that disconnects mid-upload leaves the file failed (never completed) and
    the sweeper removes the chunks it stored."""
    before = deployment.chunk_files()
    name = f"abandoned-{uuid.uuid4().hex}.bin"
    head, _ = envelope(filename=name)
    raw = await connect_raw(deployment.url)
    raw.transport.write(
        f"POST /files HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {CTYPE}\r\n"
        f"Content-Length: {len(head) + 10 * MiB}\r\n\r\n".encode() + head)
    for _ in range(4):
        raw.transport.write(b"\xab" * MiB)
    await poll_until(lambda: len(deployment.chunk_files() - before) >= 4,
                     what="chunks to be stored mid-body", interval=0.05)
    assert len(deployment.chunk_files() - before) >= 4  # chunks were stored mid-body
    raw.transport.abortConnection()
    statuses = set()

    async def swept() -> bool:
        _, page = await get_json(f"{deployment.url}/files?per_page=50")
        mine = [f["status"] for f in page["files"] if f["filename"] == name]
        statuses.update(mine)
        return not mine and deployment.chunk_files() <= before

    await poll_until(swept, what="the sweeper to remove the abandoned upload", interval=0.1)
    assert "completed" not in statuses
    assert statuses <= {"uploading", "failed"}
    assert deployment.chunk_files() <= before


@pytest_twisted.ensureDeferred
async def test_health_nodes_openapi(deployment):
    """/health is 200 with the DB and nodes named; /nodes lists every node with state and
    capacity; /openapi.json is an OpenAPI 3 document."""
    status, health = await get_json(f"{deployment.url}/health")
    assert status == 200 and health["status"] == "ok" and health["database"] == "ok"
    status, nodes = await get_json(f"{deployment.url}/nodes")
    assert status == 200
    assert {n["node_id"] for n in nodes["nodes"]} >= set(deployment.data_dirs) - {
        k for k, p in deployment.nodes.items() if p.returncode is not None}
    assert all(n["capacity"] for n in nodes["nodes"] if n["state"] == "active")
    status, doc = await get_json(f"{deployment.url}/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
