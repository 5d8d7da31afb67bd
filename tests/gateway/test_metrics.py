"""
The gateway's ``/metrics`` over fake nodes and the memory metadata store: it
parses as Prometheus text, and its counters move with uploads and downloads.
Request ids: every response has one, and the access log event carries it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import pytest_twisted
import treq
from gateway.conftest import running_gateway
from gateway.test_app_files import form, upload
from support.scrape import Samples, parse
from twisted.logger import globalLogPublisher

from s3node.metrics import ProcessMetrics


async def scrape(url: str) -> Samples:
    r = await treq.get(url + "/metrics")
    assert r.code == 200
    assert r.headers.getRawHeaders("content-type")[0].startswith("text/plain; version=0.0.4")
    return parse(await r.content())


@pytest_twisted.ensureDeferred
async def test_counters_move_with_an_upload_and_a_download(gw: Any) -> None:
    """
    An upload and a download move the request counter (by route pattern,
    method and status), the byte counters, the transfer counters and the
    per-node chunk put and get histograms; node health is a gauge per node.
    """
    data = bytes(range(256)) * 10  # 2560 bytes: 3 chunks, each on 2 nodes
    before = await scrape(gw.url)
    code, reply = await upload(gw.url, data)
    assert code == 201
    r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
    assert await r.content() == data
    after = await scrape(gw.url)

    def moved(name: str, **labels: str) -> float:
        return after.sum(name, **labels) - before.sum(name, **labels)

    requests = "s3node_http_requests_total"
    assert moved(requests, route="/files", method="POST", status="201") == 1
    assert moved(requests, route="/files/<file_id>", method="GET", status="200") == 1
    assert moved(requests, route="/metrics", method="GET", status="200") == 1  # the first scrape
    assert moved("s3node_http_received_bytes_total", route="/files") > len(data)
    assert moved("s3node_http_sent_bytes_total", route="/files/<file_id>") == len(data)
    assert moved("s3node_http_request_duration_seconds_count", route="/files") == 1
    assert moved("s3node_uploads_completed_total") == 1
    assert moved("s3node_downloads_completed_total") == 1
    puts = "s3node_chunk_put_duration_seconds_count"
    assert moved(puts, result="ok") == 6
    assert after.labels(puts, "node") <= {"n1", "n2", "n3"}
    assert moved("s3node_chunk_put_bytes_total") == 2 * len(data)
    assert moved("s3node_chunk_get_duration_seconds_count", result="ok") == 3
    assert moved("s3node_chunk_get_bytes_total") == len(data)
    for node in ("n1", "n2", "n3"):
        assert after.get("s3node_node_up", node=node) == 1
    assert after.get("s3node_transfer_slots", kind="upload") == 32
    assert moved("s3node_metadata_query_duration_seconds_count", operation="create_file") == 1
    assert after.types["s3node_http_requests"] == "counter"
    assert after.types["s3node_http_request_duration_seconds"] == "histogram"
    assert "process_cpu_seconds_total" in after


@pytest_twisted.ensureDeferred
async def test_failures_are_counted_by_error_code(gw: Any) -> None:
    """
    An upload without a file part and a download from a node that lost the
    chunk count as failures by their error code; unknown paths are
    ``unmatched``, never their raw path.
    """
    body, headers = form(b"x")
    body = body.replace(b'name="file"', b'name="other"')
    r = await treq.post(gw.url + "/files", data=body, headers=headers)
    assert r.code == 400
    await r.content()
    _, reply = await upload(gw.url, b"y" * 500)
    for node in gw.nodes.values():
        node.chunks.clear()
    r = await treq.get(f"{gw.url}/files/{reply['file_id']}")
    await r.content()
    r = await treq.get(f"{gw.url}/no/such/{'x' * 40}")
    assert r.code == 404
    await r.content()
    samples = await scrape(gw.url)
    assert samples.get("s3node_uploads_failed_total", error="missing_file") == 1
    assert samples.get("s3node_downloads_failed_total", error="not_enough_replicas") == 1
    assert samples.sum("s3node_chunk_get_duration_seconds_count", result="chunk_not_found") == 2
    assert samples.get("s3node_http_requests_total", route="unmatched", method="GET",
                       status="404") == 1
    assert not any("x" * 40 in route for route in samples.labels(
        "s3node_http_requests_total", "route"))


@pytest_twisted.ensureDeferred
async def test_every_response_has_a_request_id_the_access_log_repeats(gw: Any) -> None:
    """
    Successes, client errors and routing errors all carry a fresh 16-hex-digit
    ``X-Request-Id``; the access log event of each names the same id.
    """
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        ids = []
        for method, path in (("GET", "/health"), ("GET", "/files/not-a-uuid"),
                             ("GET", "/nope"), ("DELETE", "/health")):
            r = await treq.request(method, gw.url + path)
            await r.content()
            [request_id] = r.headers.getRawHeaders("x-request-id")
            ids.append(request_id)
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids) and len(set(ids)) == 4
    access = {e["request_id"]: e for e in events
              if e.get("log_namespace") == "s3node.gateway.access"}
    assert set(ids) <= set(access)
    assert access[ids[1]]["status"] == "400" and access[ids[1]]["route"] == "/files/<file_id>"
    assert access[ids[3]]["status"] == "405" and access[ids[3]]["route"] == "unmatched"


@pytest_twisted.ensureDeferred
async def test_error_logs_carry_the_request_id() -> None:
    """A 500 logs its failure with the request's id, the one its response names."""
    async with running_gateway() as running:
        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

        running.store.list_files = broken  # type: ignore[method-assign]
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        try:
            r = await treq.get(running.url + "/files")
            assert r.code == 500
            await r.content()
        finally:
            globalLogPublisher.removeObserver(events.append)
    [request_id] = r.headers.getRawHeaders("x-request-id")
    failures = [e for e in events if e.get("log_failure") is not None
                and e.get("log_namespace") == "s3node.gateway.errors"]
    assert [e["request_id"] for e in failures] == [request_id]


@pytest_twisted.ensureDeferred
async def test_state_figures_and_background_counters() -> None:
    """
    The durability figures count chunks by stored replicas and files by status;
    a DELETE's sweep and a reconciler pass move their counters; metadata
    failures are counted by operation and error code.
    """
    async with running_gateway() as running:
        gateway = running.gateway
        _, kept = await upload(running.url, b"k" * 1500)  # 2 chunks
        _, gone = await upload(running.url, b"g" * 500)
        r = await treq.delete(f"{running.url}/files/{gone['file_id']}")
        assert r.code == 204
        await gateway.wait_background()
        await gateway.figures.count()
        await gateway.reconciler.reconcile()
        r = await treq.get(f"{running.url}/files/00000000-0000-0000-0000-000000000000")
        assert r.code == 404
        await r.content()
        samples = await scrape(running.url)
    assert samples.get("s3node_chunks_by_stored_replicas", replicas="2") == 2
    assert samples.get("s3node_chunks_under_replicated") == 0
    assert samples.get("s3node_replicas_target") == 2
    assert samples.get("s3node_files", status="completed") == 1
    assert samples.get("s3node_sweeper_queue_files") == 0
    assert samples.get("s3node_sweeper_files_swept_total") == 1
    assert samples.get("s3node_sweeper_replicas_deleted_total") == 2
    assert samples.get("s3node_background_lease_held") == 1
    assert samples.sum("s3node_reconciler_passes_total", result="ok") == 3
    assert samples.sum("s3node_reconciler_chunks_seen_total") == 4
    assert samples.get("s3node_metadata_query_errors_total", operation="get_file_with_chunks",
                       error="file_not_found") == 1
    assert kept["chunk_count"] == 2


def test_gateways_in_one_process_have_their_own_registries() -> None:
    """Several gateways' metrics live side by side: no duplicated timeseries, no sharing."""
    from s3node.gateway.metrics import GatewayMetrics

    first, second = ProcessMetrics(), ProcessMetrics()
    first.part(GatewayMetrics).uploads_completed.inc()
    assert second.part(GatewayMetrics).uploads_completed._value.get() == 0
    assert first.part(GatewayMetrics) is first.part(GatewayMetrics)


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "text/plain; version=0.0.4"),
    ("application/openmetrics-text; version=1.0.0", "application/openmetrics-text"),
])
@pytest_twisted.ensureDeferred
async def test_the_format_follows_accept(gw: Any, accept: str | None, expected: str) -> None:
    """A scraper asking for OpenMetrics gets it; anyone else gets Prometheus text."""
    headers = {"accept": [accept]} if accept else {}
    r = await treq.get(gw.url + "/metrics", headers=headers)
    assert r.headers.getRawHeaders("content-type")[0].startswith(expected)
    body = await r.content()
    if accept:
        assert body.rstrip().endswith(b"# EOF")
    else:
        parse(body)


@pytest_twisted.ensureDeferred
async def test_docs_list_every_metric(gw: Any) -> None:
    """
    Every s3node metric a gateway and a node expose is listed in
    docs/metrics.md, and every name listed there exists (the metadata pool
    gauges need a store with a pool; the in-memory one has none).
    """
    from pathlib import Path

    from prometheus_client import generate_latest

    from s3node.storage.metrics import StorageMetrics

    await gw.gateway.figures.count()
    families = set((await scrape(gw.url)).types)
    families |= set(parse(generate_latest(StorageMetrics().registry)).types)
    # in Prometheus text a counter's creation time is a gauge of its own
    exposed = {f for f in families if f.startswith("s3node_") and not f.endswith("_created")}
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    listed = {re.sub(r"_total$", "", name) for name in re.findall(r"`(s3node_[a-z_]*[a-z])`", doc)}
    assert exposed - listed == set()
    assert listed - exposed == {
        "s3node_metadata_pool_size", "s3node_metadata_pool_in_use", "s3node_metadata_pool_waiting"}


def test_the_sample_dashboard_uses_documented_metrics() -> None:
    """docs/grafana-dashboard.json is JSON, and every s3node metric it queries is documented."""
    import json
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|total)$", "", m) for e in exprs
            for m in re.findall(r"s3node_[a-z_]*[a-z]", e)}
    listed = {re.sub(r"_total$", "", name)
              for name in re.findall(r"`(s3node_[a-z_]*[a-z])`", (docs / "metrics.md").read_text())}
    assert used and used <= listed
