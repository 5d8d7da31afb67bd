"""The files API of the gateway over fake nodes and a fake store (real HTTP on loopback)."""

from __future__ import annotations

import hashlib
import json

import pytest_twisted
import treq
from blake3 import blake3


def form(data: bytes, filename: str = "a.bin", ctype: str = "application/x-test",
         boundary: str = "BOUNDARYxyz") -> tuple[bytes, dict[bytes, list[bytes]]]:
    """A multipart/form-data body with one 'file' part."""
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n').encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {b"content-type": [f"multipart/form-data; boundary={boundary}".encode()]}


async def upload(url: str, data: bytes, **kw: str) -> tuple[int, dict]:
    body, headers = form(data, **kw)
    r = await treq.post(url + "/files", data=body, headers=headers)
    return r.code, json.loads(await r.content())


@pytest_twisted.ensureDeferred
async def test_upload_then_download_round_trips(gw):
    """An uploaded file comes back byte-exact with its recorded checksum and chunk count."""
    data = bytes(range(256)) * 20  # 5120 bytes: 6 chunks of 1000
    code, reply = await upload(gw.url, data)
    assert code == 201, reply
    assert reply["size"] == len(data)
    assert reply["checksum"] == hashlib.sha256(data).hexdigest()
    assert reply["chunk_count"] == 6 and reply["status"] == "completed"
    r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
    assert r.code == 200
    assert await r.content() == data
    assert r.headers.getRawHeaders("etag") == [f'"{reply["checksum"]}"']
    assert r.headers.getRawHeaders("content-type") == ["application/x-test"]
    stored = sum(len(n.chunks) for n in gw.nodes.values())
    assert stored == 12  # every chunk on 2 nodes


@pytest_twisted.ensureDeferred
async def test_empty_and_boundary_sized_files_round_trip(gw):
    """Files of 0, 1, chunk-1, chunk and chunk+1 bytes round-trip with the right chunk counts."""
    for size, chunks in ((0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2)):
        data = bytes((i * 7) % 256 for i in range(size))
        code, reply = await upload(gw.url, data)
        assert code == 201 and reply["chunk_count"] == chunks and reply["size"] == size
        r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
        assert r.code == 200 and await r.content() == data


@pytest_twisted.ensureDeferred
async def test_ranges(gw):
    """Range requests return 206 with the exact bytes, and unsatisfiable ranges return 416."""
    data = bytes(range(256)) * 10
    _, reply = await upload(gw.url, data)
    url = f"{gw.url}/files/{reply['file_id']}"
    for header, expected, crange in (
        ("bytes=0-0", data[:1], "bytes 0-0/2560"),
        ("bytes=995-1004", data[995:1005], "bytes 995-1004/2560"),
        ("bytes=2000-", data[2000:], "bytes 2000-2559/2560"),
        ("bytes=-10", data[-10:], "bytes 2550-2559/2560"),
    ):
        r = await treq.get(url, headers={"range": header})
        assert r.code == 206, header
        assert r.headers.getRawHeaders("content-range") == [crange]
        assert await r.content() == expected
    r = await treq.get(url, headers={"range": "bytes=5000-6000"})
    assert r.code == 416
    assert r.headers.getRawHeaders("content-range") == ["bytes */2560"]
    assert json.loads(await r.content())["error"] == "range_not_satisfiable"


@pytest_twisted.ensureDeferred
async def test_range_reads_only_covered_chunks(gw):
    """A range inside one chunk reads that chunk from one replica and nothing else."""
    _, reply = await upload(gw.url, bytes(5000))
    before = sum(n.reads for n in gw.nodes.values())
    r = await treq.get(f"{gw.url}/files/{reply['file_id']}", headers={"range": "bytes=2100-2200"})
    assert r.code == 206 and len(await r.content()) == 101
    assert sum(n.reads for n in gw.nodes.values()) - before == 1


@pytest_twisted.ensureDeferred
async def test_head_has_download_headers_and_no_body(gw):
    """HEAD answers the download's headers with no body."""
    _, reply = await upload(gw.url, b"x" * 1500, filename="r\u00e9sum\u00e9 \"1\".txt")
    r = await treq.head(f"{gw.url}/files/{reply['file_id']}")
    assert r.code == 200
    assert r.headers.getRawHeaders("content-length") == ["1500"]
    assert r.headers.getRawHeaders("accept-ranges") == ["bytes"]
    disposition = r.headers.getRawHeaders("content-disposition")[0]
    assert disposition == ('attachment; filename="resume _1_.txt"; '
                           "filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.txt")
    assert await r.content() == b""


@pytest_twisted.ensureDeferred
async def test_download_fails_over_from_corrupt_and_down_replicas(gw):
    """A corrupt replica, then a down node, are skipped: the download stays byte-exact."""
    data = bytes(range(256)) * 12
    _, reply = await upload(gw.url, data)
    import uuid

    url = f"{gw.url}/files/{reply['file_id']}"
    first = gw.store.chunks[uuid.UUID(reply["file_id"])][0].replicas[0].node_id
    n1 = gw.nodes[first]  # the replica the gateway reads first
    n1.corrupt.update(n1.chunks)
    r = await treq.get(url)
    assert r.code == 200 and await r.content() == data
    assert n1.reads > 0  # the corrupt replica was tried and rejected
    n1.corrupt.clear()
    n1.down = True
    r = await treq.get(url)
    assert r.code == 200 and await r.content() == data


@pytest_twisted.ensureDeferred
async def test_download_of_unreadable_file_is_503(gw):
    """When no replica of the first chunk answers, the client gets a clean 503 JSON error."""
    _, reply = await upload(gw.url, bytes(3000))
    for node in gw.nodes.values():
        node.down = True
    r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
    assert r.code == 503 and json.loads(await r.content())["error"] == "not_enough_replicas"


@pytest_twisted.ensureDeferred
async def test_download_aborts_when_a_later_chunk_has_no_replica(gw):
    """When no replica of a later chunk serves, the response is cut short, never completed."""
    import uuid

    _, reply = await upload(gw.url, bytes(range(250)) * 12)
    last = gw.store.chunks[uuid.UUID(reply["file_id"])][2]
    for node in gw.nodes.values():
        node.chunks.pop(last.chunk_id, None)
    r = await treq.get(f"{gw.url}/files/{reply['file_id']}", unbuffered=True)
    assert r.code == 200
    try:
        body = await treq.content(r)
    except Exception:  # noqa: BLE001 - a cut connection is the expected outcome
        body = None
    assert body is None or len(body) < 3000


@pytest_twisted.ensureDeferred
async def test_upload_hands_off_to_next_node(gw):
    """With one node down the chunks land on the two others and the upload completes."""
    gw.nodes["n1"].down = True
    code, reply = await upload(gw.url, bytes(2500))
    assert code == 201
    meta = json.loads(await (await treq.get(f"{gw.url}/files/{reply['file_id']}/metadata"))
                      .content())
    assert all(sorted(c["nodes"]) == ["n2", "n3"] for c in meta["chunks"])


@pytest_twisted.ensureDeferred
async def test_upload_without_enough_nodes_is_503_and_failed(gw):
    """With two of three nodes down an upload with 2 replicas fails: 503, file failed."""
    gw.nodes["n1"].down = gw.nodes["n2"].down = True
    code, reply = await upload(gw.url, bytes(2500))
    assert code == 503 and reply["error"] == "not_enough_replicas"
    statuses = {f.status.value for f in gw.store.files.values()}
    assert statuses == {"failed"}


@pytest_twisted.ensureDeferred
async def test_metadata_lists_chunks_and_nodes(gw):
    """The metadata document lists every chunk with size, checksum and its two nodes."""
    data = b"abc" * 700
    _, reply = await upload(gw.url, data, filename="m.txt", ctype="text/plain; charset=utf-8")
    r = await treq.get(f"{gw.url}/files/{reply['file_id']}/metadata")
    meta = json.loads(await r.content())
    assert meta["filename"] == "m.txt" and meta["content_type"] == "text/plain; charset=utf-8"
    assert [c["size"] for c in meta["chunks"]] == [1000, 1000, 100]
    # chunks carry BLAKE3 digests by default (--chunk-checksum), the file its SHA-256
    assert [c["checksum"] for c in meta["chunks"]][2] == blake3(data[2000:]).hexdigest()
    assert {c["checksum_algorithm"] for c in meta["chunks"]} == {"blake3"}
    assert meta["checksum"] == hashlib.sha256(data).hexdigest()
    assert all(len(set(c["nodes"])) == 2 for c in meta["chunks"])
    assert meta["created_at"].startswith("2026-")


@pytest_twisted.ensureDeferred
async def test_delete_then_404_and_chunks_removed(gw):
    """DELETE answers 204; the file is then 404 everywhere and its chunks leave the nodes."""
    _, reply = await upload(gw.url, bytes(2500))
    url = f"{gw.url}/files/{reply['file_id']}"
    assert (await treq.delete(url)).code == 204
    for r in (await treq.get(url), await treq.head(url), await treq.get(url + "/metadata"),
              await treq.delete(url)):
        assert r.code == 404
    await gw.gateway.wait_background()
    assert sum(len(n.chunks) for n in gw.nodes.values()) == 0


@pytest_twisted.ensureDeferred
async def test_malformed_requests_get_json_400(gw):
    """Malformed ids, bodies and pagination get 400 with a JSON error; unknown ids 404."""
    bad = [
        await treq.get(f"{gw.url}/files/not-a-uuid"),
        await treq.post(f"{gw.url}/files", data=b"hello",
                        headers={"content-type": "text/plain"}),
        await treq.post(f"{gw.url}/files", data=b"--B\r\nnonsense",
                        headers={"content-type": "multipart/form-data; boundary=B"}),
    ]
    body, headers = form(b"x")
    bad.append(await treq.post(f"{gw.url}/files", data=body.replace(b'name="file"', b'name="f"'),
                               headers=headers))
    for query in ("page=0", "per_page=0", "per_page=1001", "page=x", "status=nope",
                  "limit=0", "page=1e3"):
        bad.append(await treq.get(f"{gw.url}/files?{query}"))
    for r in bad:
        assert r.code == 400
        assert r.headers.getRawHeaders("content-type") == ["application/json"]
        reply = json.loads(await r.content())
        assert set(reply) == {"error", "details"}
    r = await treq.get(f"{gw.url}/files/00000000-0000-0000-0000-000000000000")
    assert r.code == 404 and json.loads(await r.content())["error"] == "file_not_found"
    r = await treq.get(f"{gw.url}/nowhere")
    assert r.code == 404 and json.loads(await r.content())["error"] == "not_found"


@pytest_twisted.ensureDeferred
async def test_not_completed_file_is_409(gw):
    """Downloading a file whose upload hasn't completed answers 409."""
    record = await gw.store.create_file(filename="p", content_type="a/b",
                                        checksum_algorithm="sha256", chunk_size=1000)
    r = await treq.get(f"{gw.url}/files/{record.file_id}")
    assert r.code == 409 and json.loads(await r.content())["error"] == "file_not_ready"


@pytest_twisted.ensureDeferred
async def test_listing_pages_and_cursor(gw):
    """Listing pages newest first with totals, filters by status, and walks by cursor."""
    ids = []
    for i in range(5):
        ids.append((await upload(gw.url, bytes([i]) * 10))[1]["file_id"])
    r = json.loads(await (await treq.get(f"{gw.url}/files?page=2&per_page=2")).content())
    assert [f["file_id"] for f in r["files"]] == ids[::-1][2:4]
    assert (r["page"], r["per_page"], r["total"], r["total_pages"]) == (2, 2, 5, 3)
    r = json.loads(await (await treq.get(f"{gw.url}/files?status=failed")).content())
    assert r["total"] == 0
    seen, cursor = [], ""
    for _ in range(5):
        r = json.loads(await (await treq.get(
            f"{gw.url}/files?limit=2&cursor={cursor}")).content())
        seen += [f["file_id"] for f in r["files"]]
        cursor = r["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


@pytest_twisted.ensureDeferred
async def test_health_nodes_and_openapi(gw):
    """Health is 200 with the DB and nodes up and 503 when the DB is down; /nodes and
    /openapi.json describe the nodes and the API."""
    r = await treq.get(f"{gw.url}/health")
    reply = json.loads(await r.content())
    assert r.code == 200 and reply["status"] == "ok" and len(reply["nodes"]) == 3
    gw.store.down = True
    r = await treq.get(f"{gw.url}/health")
    assert r.code == 503 and json.loads(await r.content())["database"] == "unavailable"
    r = await treq.get(f"{gw.url}/files")
    assert r.code == 503 and json.loads(await r.content())["error"] == "metadata_unavailable"
    gw.store.down = False
    nodes = json.loads(await (await treq.get(f"{gw.url}/nodes")).content())["nodes"]
    assert [n["state"] for n in nodes] == ["active"] * 3 and nodes[0]["capacity"] == 10**9
    doc = json.loads(await (await treq.get(f"{gw.url}/openapi.json")).content())
    assert doc["openapi"].startswith("3.") and "/files/{file_id}" in doc["paths"]
