"""
A storage node's metrics: every gRPC call counted by method and status code,
chunk bytes in and out, fsync steps timed, and the store's state read at scrape time.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from support.aio import as_deferred
from support.chunks import aiter_of, collect, new_chunk
from support.scrape import parse

from s3node.config import StorageConfig
from s3node.errors import ChunkNotFound
from s3node.metrics import ProcessMetrics
from s3node.storage.client import StorageClient
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.metrics import StorageMetrics
from s3node.storage.service import StorageNodeService

NODE = {"node": "node-a"}


async def _scrape(metrics: ProcessMetrics):  # type: ignore[no-untyped-def]
    body, content_type = await metrics.exposition(None)
    assert content_type.startswith("text/plain")
    return parse(body)


@pytest_twisted.ensureDeferred
async def test_calls_bytes_and_chunks_move_with_traffic(node) -> None:  # type: ignore[no-untyped-def]
    """
    Puts (a stream, and one small chunk in one message), gets (a stream, one
    in one message, one of a missing chunk) and a delete are counted by method
    and status code; the puts' bytes count as received, the gets' as sent; the
    chunk and byte gauges follow the store.
    """
    client = StorageClient(node.address)
    chunk_id, data, digest = new_chunk(2 * 1024 * 1024)  # past SMALL_CHUNK: a PutChunk stream
    small_id, small, small_digest = new_chunk(300_000)  # one PutSmallChunk call
    try:
        before = await _scrape(node.metrics)
        assert before.get("s3node_storage_chunks", **NODE) == 0
        await as_deferred(client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest))
        await as_deferred(client.put_chunk(small_id, small, algorithm="sha256",
                                           digest=small_digest))
        assert await as_deferred(collect(client.get_chunk(chunk_id))) == data
        assert await as_deferred(client.get_small_chunk(small_id)) == small
        with pytest.raises(ChunkNotFound):
            await as_deferred(collect(client.get_chunk("ab" * 32)))
        stored = await _scrape(node.metrics)
        await as_deferred(client.delete_chunk(chunk_id))
        await as_deferred(client.delete_chunk(small_id))
        after = await _scrape(node.metrics)
    finally:
        await as_deferred(client.close())

    def calls(samples, method: str, code: str) -> float:  # type: ignore[no-untyped-def]
        return samples.get("s3node_storage_calls_total", method=method, code=code, **NODE)

    assert calls(stored, "PutChunk", "OK") == 1
    assert calls(stored, "PutSmallChunk", "OK") == 1
    assert calls(stored, "GetChunk", "OK") == 1
    assert calls(stored, "GetSmallChunk", "OK") == 1
    assert calls(stored, "GetChunk", "NOT_FOUND") == 1
    assert calls(after, "DeleteChunk", "OK") == 2
    both = len(data) + len(small)
    assert stored.get("s3node_storage_received_bytes_total", **NODE) == both
    assert stored.get("s3node_storage_sent_bytes_total", **NODE) == both
    assert stored.get("s3node_storage_call_duration_seconds_count", method="PutChunk",
                      **NODE) == 1
    assert stored.get("s3node_storage_chunks", **NODE) == 2
    assert stored.get("s3node_storage_chunk_bytes", **NODE) == both
    assert stored.get("s3node_storage_free_bytes", **NODE) > 0
    assert stored.get("s3node_storage_quarantined_chunks", **NODE) == 0
    assert ("s3node_storage_calls_in_flight", frozenset(NODE.items())) in stored.values
    assert after.get("s3node_storage_chunks", **NODE) == 0
    assert stored.types["s3node_storage_calls"] == "counter"
    assert stored.types["s3node_storage_chunks"] == "gauge"


@pytest_twisted.ensureDeferred
async def test_a_stopped_node_leaves_the_scrape(tmp_path, algorithms) -> None:  # type: ignore[no-untyped-def]
    """Once a node stops, its state gauges are gone; its counters stay."""
    from twisted.internet import reactor

    config = StorageConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node",
                           node_id="node-b", fsync=False, shutdown_grace=1.0)
    service = StorageNodeService(config, reactor, algorithms=algorithms)
    service.startService()
    await service.when_listening()
    client = StorageClient(service.address)
    try:
        await as_deferred(client.health(timeout=5))
    finally:
        await as_deferred(client.close())
    running = await _scrape(service.metrics)
    await service.stopService()
    stopped = await _scrape(service.metrics)
    assert running.get("s3node_storage_chunks", node="node-b") == 0
    assert ("s3node_storage_chunks", frozenset({("node", "node-b")})) in running.values
    assert "s3node_storage_chunks" not in stopped
    assert stopped.get("s3node_storage_calls_total", node="node-b", method="Health",
                       code="OK") == 1


@pytest_twisted.ensureDeferred
async def test_fsync_steps_are_timed(tmp_path, algorithms, executor) -> None:  # type: ignore[no-untyped-def]
    """With fsync on, a put's data and commit steps are observed; with it off, nothing is."""
    metrics = StorageMetrics()
    stores = {
        fsync: DiskChunkStore(tmp_path / f"fsync-{fsync}", algorithms=algorithms,
                              executor=executor, max_chunk_size=1 << 20, fsync=fsync,
                              on_sync=metrics.sync_timer(f"n-{fsync}"))
        for fsync in (True, False)
    }
    try:
        for store in stores.values():
            store.open()
            chunk_id, data, digest = new_chunk(1000)
            await as_deferred(store.put(chunk_id, size=len(data), algorithm="sha256",
                                        digest=digest, data=aiter_of(data)))
    finally:
        for store in stores.values():
            store.close()
    samples = parse(_text(metrics))
    name = "s3node_storage_fsync_duration_seconds_count"
    assert samples.get(name, node="n-True", step="data") == 1
    assert samples.get(name, node="n-True", step="commit") == 1
    assert samples.sum(name, node="n-False") == 0


def _text(metrics: StorageMetrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


def test_one_registry_per_process_object() -> None:
    """Two ProcessMetrics in one process register the same names without a clash."""
    first, second = ProcessMetrics(), ProcessMetrics()
    assert first.part(StorageMetrics) is first.part(StorageMetrics)
    assert first.part(StorageMetrics) is not second.part(StorageMetrics)
    first.part(StorageMetrics).calls.labels("n", "Health", "OK").inc()
    assert parse(_text(second.part(StorageMetrics))).sum("s3node_storage_calls_total") == 0


def test_scrub_gauges_follow_the_scrubbers_pass() -> None:
    """
    A node's scrub gauges show its scrubber's pass as it goes (chunks and bytes
    verified, corrupt found, when it started) and when it finished; a node
    without a scrubber has none.
    """
    from types import SimpleNamespace

    from prometheus_client import generate_latest

    from s3node.storage.scrubcheckpoint import ScrubPass

    metrics = StorageMetrics()
    scrubber = SimpleNamespace(progress=ScrubPass(started=1000.0))
    calls = SimpleNamespace(in_use=0)
    metrics.add_node("node-a", store=None, calls=calls, scrubber=scrubber)
    metrics.add_node("node-b", store=None, calls=calls)

    def value(name: str, node: str = "node-a") -> float | None:
        return parse(generate_latest(metrics.registry)).values.get(
            (name, frozenset({("node", node)})))

    assert value("s3node_storage_scrub_bytes_verified") == 0
    scrubber.progress.chunks_verified, scrubber.progress.bytes_verified = 3, 3 * 2**20
    scrubber.progress.corrupt_found = 1
    assert value("s3node_storage_scrub_chunks_verified") == 3
    assert value("s3node_storage_scrub_bytes_verified") == 3 * 2**20
    assert value("s3node_storage_scrub_corrupt_found") == 1
    assert value("s3node_storage_scrub_pass_started_timestamp_seconds") == 1000.0
    assert value("s3node_storage_scrub_pass_finished_timestamp_seconds") is None
    scrubber.progress.finished = 1500.0
    assert value("s3node_storage_scrub_pass_finished_timestamp_seconds") == 1500.0
    assert value("s3node_storage_scrub_bytes_verified", "node-b") is None
