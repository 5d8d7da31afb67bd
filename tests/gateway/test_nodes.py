"""The node pool: which failures mark a node down, and which nodes placement may use."""

from __future__ import annotations

from dataclasses import replace

import grpc
import pytest
import pytest_twisted
from gateway.gateway_fakes import FakeNode
from twisted.internet.task import Clock

from s3node import errors as e
from s3node.metadata.memory import MemoryMetadataStore
from s3node.records import NodeRecord
from s3node.storage.errors import ERROR_CODE_KEY, error_from_rpc


class SilentAboutSpace(FakeNode):
    """A node whose health report does not say how many bytes it has free."""

    async def health(self, timeout: float | None = None):  # type: ignore[no-untyped-def]
        return replace(await super().health(timeout), free=None)


async def started_pool(*nodes: FakeNode):
    """A started pool over ``nodes`` (every one answered its first health check)."""
    from s3node.gateway.nodes import NodePool

    clock = Clock()
    by_address = {f"{n.node_id}:1": n for n in nodes}
    pool = NodePool(MemoryMetadataStore(clock=clock),
                    [NodeRecord(n.node_id, f"{n.node_id}:1") for n in nodes],
                    by_address.__getitem__, clock, health_interval=5, health_timeout=1)
    await pool.start()
    return pool


def rpc_error(status: grpc.StatusCode, code: str | None = None) -> e.S3NodeError:
    """The error the storage client raises for a call that failed with ``status``."""
    trailing = grpc.aio.Metadata((ERROR_CODE_KEY, code)) if code else grpc.aio.Metadata()
    return error_from_rpc(grpc.aio.AioRpcError(status, grpc.aio.Metadata(), trailing, "why"),
                          "n1:1")


S = grpc.StatusCode


@pytest.mark.parametrize(("error", "down"), [
    (e.Unavailable("connection refused"), True),
    (e.ShuttingDown("stopping"), True),
    (rpc_error(S.UNAVAILABLE), True),
    (rpc_error(S.UNAVAILABLE, "shutting_down"), True),
    (e.TimedOut("late"), False),
    (rpc_error(S.DEADLINE_EXCEEDED), False),
    (e.Overloaded("busy"), False),
    (rpc_error(S.UNAVAILABLE, "overloaded"), False),
    (e.InsufficientStorage("full"), False),
    (rpc_error(S.RESOURCE_EXHAUSTED), False),
    (e.InvalidRequest("bad"), False),
    (rpc_error(S.INVALID_ARGUMENT, "size_mismatch"), False),
    (e.Conflict("other bytes"), False),
    (rpc_error(S.ALREADY_EXISTS), False),
    (ValueError("a bug"), False),
], ids=lambda v: v if isinstance(v, bool) else f"{type(v).__name__}:{v}"[:60])
def test_only_a_transport_failure_means_the_node_is_down(error, down):
    """A put failure means its node is down only for Unavailable (status UNAVAILABLE),
    never for a timeout, an overloaded or full node, or a refused chunk."""
    from s3node.gateway.nodes import means_node_down

    assert means_node_down(error) is down


@pytest_twisted.ensureDeferred
async def test_put_failed_marks_the_node_down_only_when_the_failure_means_it():
    """A timeout, a full node or a refused chunk leave the node live; a transport failure
    takes it out of placement until its next good health check."""
    pool = await started_pool(FakeNode("n1"), FakeNode("n2"))
    for error in (e.TimedOut("late"), e.InsufficientStorage("full"), e.Overloaded("busy"),
                  e.InvalidRequest("bad"), e.ChunkExists("other bytes")):
        assert pool.put_failed("n1", error) is False
        assert pool.is_live("n1")
    assert pool.put_failed("n1", e.Unavailable("connection reset")) is True
    assert not pool.is_live("n1")
    assert [n.node_id for n in pool.live_nodes()] == ["n2"]
    assert await pool.check("n1")
    assert [n.node_id for n in pool.live_nodes()] == ["n1", "n2"]
    await pool.close()


@pytest_twisted.ensureDeferred
async def test_live_nodes_leaves_out_nodes_with_too_little_free_space():
    """live_nodes(min_free) leaves out the nodes whose last health report shows fewer
    free bytes; a node that does not report its free space stays in."""
    small, large, unknown = FakeNode("n1"), FakeNode("n2"), SilentAboutSpace("n3")
    small.capacity = 1000
    small.chunks["c" * 32] = bytes(400)  # 600 bytes free
    pool = await started_pool(small, large, unknown)
    assert [(n.node_id, n.free) for n in pool.live_nodes()] == [
        ("n1", 600), ("n2", large.capacity), ("n3", None)]
    assert [n.node_id for n in pool.live_nodes(min_free=600)] == ["n1", "n2", "n3"]
    assert [n.node_id for n in pool.live_nodes(min_free=601)] == ["n2", "n3"]
    small.chunks.clear()  # the next report shows the space again
    assert await pool.check("n1")
    assert [n.node_id for n in pool.live_nodes(min_free=601)] == ["n1", "n2", "n3"]
    await pool.close()
