"""
``/metrics`` and JSON logs of real processes: a ``twistd -n s3node standalone``
logging through ``--logger s3node.logging.json_observer``, and a ``twistd -n
s3node storage`` with ``--metrics-listen``.  Each scrape is parsed with
prometheus_client's parser, and the counters are compared before and after
real traffic.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.aio import aio_test
from support.auth import ADMIN_ID, ADMIN_SECRET
from support.chunks import collect, new_chunk
from support.processes import TwistdProcess, start_storage_node, start_twistd
from support.scrape import Samples, parse

from s3node.errors import ChunkNotFound
from s3node.storage.client import StorageClient

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
TIMEOUT = 60.0
#: the gateway's ready line, as a JSON event
GATEWAY_READY_JSON = r'"message": "s3node gateway listening on (?P<host>[\d.]+):(?P<port>\d+)"'
METRICS_READY = r"s3node storage (?P<node_id>\S+) metrics listening on (?P<host>[\d.]+):(?P<port>\d+)"


def scrape(url: str) -> Samples:
    r = httpx.get(url + "/metrics", timeout=30, auth=(ADMIN_ID, ADMIN_SECRET))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


@pytest.fixture
def json_standalone(tmp_path: Path) -> Any:
    """A standalone process (3 nodes, 1 MiB chunks, 2 replicas) that logs JSON."""
    proc = start_twistd(
        ["--logger", "s3node.logging.json_observer",
         "s3node", "standalone", "--data-dir", str(tmp_path / "data"), "--nodes", "3",
         "--listen", "tcp:0:interface=127.0.0.1", "--chunk-size", "1MiB", "--replicas", "2",
         "--s3-listen", "none", "--no-fsync"],
        cwd=tmp_path, ready_pattern=GATEWAY_READY_JSON, timeout=TIMEOUT,
    )
    yield proc
    proc.stop()


def test_standalone_metrics_move_with_traffic_and_logs_are_json(
    json_standalone: TwistdProcess,
) -> None:
    """
    An upload and a download through a standalone process move the gateway's
    request, byte, transfer and chunk counters and its nodes' call, byte and
    chunk figures on the one ``/metrics``; every line the process prints is a
    JSON object, and the access events name the ids the responses carried.
    """
    url = f"http://127.0.0.1:{json_standalone.port}"
    data = os.urandom(3 * MiB + 5)  # 4 chunks, each on 2 nodes
    before = scrape(url)
    with httpx.Client(base_url=url, timeout=60, auth=(ADMIN_ID, ADMIN_SECRET)) as client:
        up = client.post("/files", files={"file": ("m.bin", data)})
        assert up.status_code == 201, up.text
        file_id = up.json()["file_id"]
        down = client.get(f"/files/{file_id}")
        assert down.status_code == 200 and down.content == data
    after = scrape(url)

    def moved(name: str, **labels: str) -> float:
        return after.sum(name, **labels) - before.sum(name, **labels)

    assert moved("s3node_http_requests_total", route="/files", method="POST", status="201") == 1
    assert moved("s3node_http_requests_total", route="/files/<file_id>", method="GET",
                 status="200") == 1
    assert moved("s3node_http_received_bytes_total", route="/files") > len(data)
    assert moved("s3node_http_sent_bytes_total", route="/files/<file_id>") == len(data)
    assert moved("s3node_uploads_completed_total") == 1
    assert moved("s3node_downloads_completed_total") == 1
    assert moved("s3node_chunk_put_duration_seconds_count", result="ok") == 8
    assert moved("s3node_chunk_put_bytes_total") == 2 * len(data)
    assert moved("s3node_chunk_get_duration_seconds_count", result="ok") == 4
    assert moved("s3node_chunk_get_bytes_total") == len(data)
    # the nodes, in the same process, on the same page, labelled by node id
    # every chunk is at most 1 MiB: one PutSmallChunk and GetSmallChunk call each
    assert moved("s3node_storage_calls_total", method="PutSmallChunk", code="OK") == 8
    assert moved("s3node_storage_calls_total", method="GetSmallChunk", code="OK") == 4
    assert moved("s3node_storage_received_bytes_total") == 2 * len(data)
    assert moved("s3node_storage_sent_bytes_total") == len(data)
    assert after.sum("s3node_storage_chunks") == 8
    assert after.labels("s3node_storage_chunks", "node") == {"node-1", "node-2", "node-3"}
    assert after.sum("s3node_node_up") == 3

    json_standalone.stop()
    lines = json_standalone.output().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(e, dict) and "log_time" in e and "message" in e for e in events)
    access = {e.get("request_id"): e for e in events
              if e.get("log_namespace") == "s3node.gateway.access"}
    upload_event = access[up.headers["x-request-id"]]
    assert upload_event["status"] == "201" and upload_event["route"] == "/files"
    assert access[down.headers["x-request-id"]]["sent"] == len(data)


@aio_test
async def test_storage_node_serves_metrics_on_metrics_listen(tmp_path: Path) -> None:
    """
    ``--metrics-listen tcp:0:...`` serves ``/metrics`` on a port the node logs;
    a put, a get and a get of a missing chunk move its counters; its state
    gauges follow; other paths are 404.
    """
    node = await asyncio.to_thread(
        start_storage_node, tmp_path / "node", "--node-id", "m1",
        "--metrics-listen", "tcp:0:interface=127.0.0.1")
    try:
        ready = await asyncio.to_thread(node.wait_for, METRICS_READY, TIMEOUT)
        url = f"http://127.0.0.1:{ready.group('port')}"
        before = await asyncio.to_thread(scrape, url)
        chunk_id, data, digest = new_chunk(MiB + 17)
        async with StorageClient(f"127.0.0.1:{node.port}") as client:
            await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest, timeout=30)
            assert await collect(client.get_chunk(chunk_id, timeout=30)) == data
            with pytest.raises(ChunkNotFound):
                await collect(client.get_chunk("cd" * 32, timeout=30))
        after = await asyncio.to_thread(scrape, url)
        other = await asyncio.to_thread(httpx.get, url + "/other", timeout=30)
        assert other.status_code == 404
    finally:
        await asyncio.to_thread(node.stop)

    def moved(name: str, **labels: str) -> float:
        return after.sum(name, node="m1", **labels) - before.sum(name, node="m1", **labels)

    assert moved("s3node_storage_calls_total", method="PutChunk", code="OK") == 1
    assert moved("s3node_storage_calls_total", method="GetChunk", code="OK") == 1
    assert moved("s3node_storage_calls_total", method="GetChunk", code="NOT_FOUND") == 1
    assert moved("s3node_storage_received_bytes_total") == len(data)
    assert moved("s3node_storage_sent_bytes_total") == len(data)
    assert before.get("s3node_storage_chunks", node="m1") == 0
    assert after.get("s3node_storage_chunks", node="m1") == 1
    assert after.get("s3node_storage_chunk_bytes", node="m1") == len(data)
    assert after.get("s3node_storage_free_bytes", node="m1") > 0
    assert "process_resident_memory_bytes" in after
