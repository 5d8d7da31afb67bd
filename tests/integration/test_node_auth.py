"""
Authenticated node traffic (issue 11) with real ``twistd`` processes on loopback:

- a storage node with ``--cluster-secret-file`` answers every method of the
  service ``UNAUTHENTICATED`` without the secret and with a wrong one, before
  any handler runs, and serves calls with any secret of its file;
- a gateway and its nodes work together with the secret, and a gateway with
  another secret gets nothing from them;
- with TLS client certificates, a gateway and its nodes work together, and a
  client whose certificate another CA signed (or that has none) is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import pytest_twisted
import treq
from integration.conftest import GATEWAY_READY
from integration.e2e_client import post_bytes
from support.aio import aio_test
from support.chunks import new_chunk
from support.nodeauth import TEST_SECRET, Pki, make_pki, secret_auth, write_secret
from support.processes import TwistdProcess, start_storage_node, start_twistd
from support.waiting import poll_until

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.config import NodeAuth
from s3node.errors import NodeAuthFailed, Unavailable
from s3node.nodeauth import node_auth
from s3node.storage.client import StorageClient
from s3node.storage.nodeauth import SECRET_KEY

pytestmark = pytest.mark.integration

PREVIOUS_SECRET = "s3node-previous-cluster-secret-77d0e1"
#: every method of the storage service, from its descriptor (none forgotten)
METHODS = list(pb.DESCRIPTOR.services_by_name["Storage"].methods)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwistdProcess]:
    """A node whose secret file holds the current and the previous secret."""
    base = tmp_path_factory.mktemp("guarded")
    secret = write_secret(base / "cluster-secret", TEST_SECRET, PREVIOUS_SECRET)
    proc = start_storage_node(base / "node", "--node-id", "guarded",
                              "--cluster-secret-file", str(secret))
    yield proc
    proc.stop()


def _call(channel: grpc.Channel, method: object, metadata: tuple[tuple[str, str], ...]) -> None:
    """Call ``method`` (a descriptor) with an empty message; raise its error, if any."""
    path = f"/{method.containing_service.full_name}/{method.name}"  # type: ignore[attr-defined]
    if method.client_streaming and method.server_streaming:  # type: ignore[attr-defined]
        raise AssertionError(f"{path}: a bidirectional method needs a case here")
    if method.client_streaming:  # type: ignore[attr-defined]
        channel.stream_unary(path)(iter([b""]), timeout=10, metadata=metadata)
    elif method.server_streaming:  # type: ignore[attr-defined]
        for _ in channel.unary_stream(path)(b"", timeout=10, metadata=metadata):
            pass
    else:
        channel.unary_unary(path)(b"", timeout=10, metadata=metadata)


def _status(channel: grpc.Channel, method: object,
            metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, str]:
    try:
        _call(channel, method, metadata)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_every_method_refuses_a_call_without_the_right_secret(guarded: TwistdProcess,
                                                              method: object) -> None:
    """Without the secret, with a wrong one, or with two: ``UNAUTHENTICATED`` saying what
    is missing; with the current or the previous secret the call reaches its handler."""
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as channel:
        code, details = _status(channel, method, ())
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "requires the cluster secret" in details and SECRET_KEY in details
        for wrong in (((SECRET_KEY, TEST_SECRET[:-1]),), ((SECRET_KEY, TEST_SECRET + "x"),),
                      ((SECRET_KEY, ""),), (("other-key", TEST_SECRET),),
                      ((SECRET_KEY, "nope"), (SECRET_KEY, TEST_SECRET))):
            code, details = _status(channel, method, wrong)
            assert code == grpc.StatusCode.UNAUTHENTICATED, wrong
            assert "matches none" in details or "requires" in details
        for right in (TEST_SECRET, PREVIOUS_SECRET):
            code, details = _status(channel, method, ((SECRET_KEY, right),))
            # an empty message is a bad request for most methods, but no refusal
            assert code != grpc.StatusCode.UNAUTHENTICATED, details
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), details
    assert TEST_SECRET not in guarded.output() and PREVIOUS_SECRET not in guarded.output()


@aio_test
async def test_the_storage_client_sends_the_secret(guarded: TwistdProcess) -> None:
    """StorageClient with the secret stores and reads a chunk; without it, or with a
    wrong one, every call raises NodeAuthFailed, and nothing is stored."""
    address = f"127.0.0.1:{guarded.port}"
    chunk_id, data, digest = new_chunk(3000)
    for auth in (None, secret_auth("s3node-wrong-cluster-secret-000")):
        async with StorageClient(address, auth=auth) as client:
            with pytest.raises(NodeAuthFailed, match="secret"):
                await client.health(timeout=10)
            with pytest.raises(NodeAuthFailed):
                await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest,
                                       timeout=10)
    async with StorageClient(address, auth=secret_auth()) as client:
        with pytest.raises(Exception) as missing:
            await client.stat_chunk(chunk_id, timeout=10)
        assert not isinstance(missing.value, NodeAuthFailed)  # not found: nothing was stored
        assert (await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest,
                                       timeout=10)).created
        got = b"".join([piece async for piece in client.get_chunk(chunk_id, timeout=10)])
        assert got == data
        assert await client.delete_chunk(chunk_id, timeout=10)


# -- gateways and nodes ------------------------------------------------------------------


def _start_nodes(base: Path, count: int, *extra: str) -> list[TwistdProcess]:
    nodes: list[TwistdProcess] = []
    try:
        for i in range(1, count + 1):
            nodes.append(start_storage_node(base / f"n{i}", "--node-id", f"n{i}", *extra))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _start_gateway(base: Path, name: str, nodes: list[TwistdProcess],
                   *extra: str) -> TwistdProcess:
    node_args = [a for i, n in enumerate(nodes, 1) for a in ("--node", f"n{i}=127.0.0.1:{n.port}")]
    return start_twistd(
        ["s3node", "gateway", "--listen", "tcp:0:interface=127.0.0.1",
         "--db", f"sqlite:{base / f'{name}.sqlite3'}", "--chunk-size", "64KiB",
         "--replicas", "2", "--health-interval", "0.5", *extra, *node_args],
        cwd=base, ready_pattern=GATEWAY_READY, timeout=60)


async def _health(url: str) -> dict[str, object]:
    reply: dict[str, object] = json.loads(await (await treq.get(url + "/health")).content())
    return reply


async def _round_trip(url: str) -> None:
    """Upload a file of several chunks over the gateway and read it back."""
    await poll_until(lambda: _live(url, 2), what="both nodes live", timeout=30, interval=0.1)
    data = bytes(range(256)) * 1000  # 256,000 bytes: four 64 KiB chunks
    code, reply = await post_bytes(url, data)
    assert code == 201, reply
    r = await treq.get(f"{url}/files/{reply['file_id']}")
    assert r.code == 200 and await r.content() == data


async def _live(url: str, count: int) -> bool:
    return (await _health(url))["live_nodes"] == count


@pytest_twisted.ensureDeferred
async def test_a_gateway_and_its_nodes_work_together_with_the_secret(tmp_path: Path) -> None:
    """Nodes and a gateway sharing the secret serve a real round trip; a gateway with
    another secret finds no live node, cannot store, and logs why."""
    secret = write_secret(tmp_path / "cluster-secret")
    other = write_secret(tmp_path / "other-secret", "s3node-some-other-secret-1234")
    nodes = _start_nodes(tmp_path, 2, "--cluster-secret-file", str(secret))
    gateways: list[TwistdProcess] = []
    try:
        gateways.append(_start_gateway(tmp_path, "good", nodes, "--cluster-secret-file",
                                       str(secret)))
        await _round_trip(f"http://127.0.0.1:{gateways[0].port}")
        gateways.append(_start_gateway(tmp_path, "bad", nodes, "--cluster-secret-file",
                                       str(other)))
        bad = f"http://127.0.0.1:{gateways[1].port}"
        await poll_until(lambda: "matches none of this storage node" in gateways[1].output(),
                         what="the refused health check in the log", timeout=30, interval=0.1)
        assert (await _health(bad))["live_nodes"] == 0
        code, reply = await post_bytes(bad, b"x" * 100_000)  # past the inline limit
        assert code == 503, reply
    finally:
        for proc in [*gateways, *nodes]:
            proc.stop()
    for proc in [*gateways, *nodes]:
        assert TEST_SECRET not in proc.output()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA with node and client certificates, and an unrelated CA."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls_auth(pki: Pki, *, other: bool = False, secret: bool = True) -> NodeAuth:
    args = dict(zip(pki.gateway_args(other=other)[::2], pki.gateway_args(other=other)[1::2],
                    strict=True))
    auth = node_auth(None, args["--tls-cert"], args["--tls-key"], args["--tls-ca"])
    return NodeAuth(secrets=secret_auth().secrets if secret else (), tls=auth.tls)


@pytest_twisted.ensureDeferred
async def test_a_gateway_and_its_nodes_work_together_with_client_certificates(
        tmp_path: Path, pki: Pki) -> None:
    """Nodes requiring client certificates (and the secret) and a gateway presenting its
    certificate serve a real round trip over TLS; a client certificate from another CA,
    no client certificate, or plaintext gets nothing from a node."""
    secret = write_secret(tmp_path / "cluster-secret")
    nodes = _start_nodes(tmp_path, 2, "--cluster-secret-file", str(secret), *pki.node_args())
    gateway = None
    try:
        gateway = _start_gateway(tmp_path, "tls", nodes, "--cluster-secret-file", str(secret),
                                 *pki.gateway_args())
        await _round_trip(f"http://127.0.0.1:{gateway.port}")
        await _refused_without_a_good_certificate(f"127.0.0.1:{nodes[0].port}", pki)
    finally:
        for proc in [gateway, *nodes]:
            if proc is not None:
                proc.stop()


def _refused_without_a_good_certificate(address: str, pki: Pki) -> object:
    async def check() -> None:
        for auth in (_tls_auth(pki, other=True), None,
                     NodeAuth(secrets=secret_auth().secrets)):
            # another CA's client certificate, and plaintext: the handshake fails
            async with StorageClient(address, auth=auth) as client:
                with pytest.raises(Unavailable) as refused:
                    await client.health(timeout=10)
                assert not isinstance(refused.value, NodeAuthFailed)
        # TLS that checks the node but presents no client certificate
        credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
        async with grpc.aio.secure_channel(address, credentials) as channel:
            with pytest.raises(grpc.RpcError) as bare:
                await channel.unary_unary("/s3node.storage.v1.Storage/Health")(
                    b"", timeout=10, metadata=((SECRET_KEY, TEST_SECRET),))
            assert bare.value.code() == grpc.StatusCode.UNAVAILABLE
        # the right certificate without the secret: through TLS, then refused by the secret
        async with StorageClient(address, auth=_tls_auth(pki, secret=False)) as client:
            with pytest.raises(NodeAuthFailed):
                await client.health(timeout=10)
        async with StorageClient(address, auth=_tls_auth(pki)) as client:
            assert (await client.health(timeout=10)).node_id == "n1"

    from support.aio import as_deferred

    return as_deferred(check())
