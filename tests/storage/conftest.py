"""Fixtures for the chunk store and storage node tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import pytest_twisted
from support.aio import as_deferred
from support.chunks import NODE_MAX_CHUNK
from support.chunkstores import CONTRACT_MAX_CHUNK
from support.nodeauth import secret_auth
from support.remotestore import RemoteChunkStore
from support.waiting import poll_until

from s3node._proto.storage.v1 import storage_pb2_grpc as pb_grpc
from s3node.config import StorageConfig
from s3node.plugins import checksum_algorithms, get_plugin_manager
from s3node.storage.client import StorageClient
from s3node.storage.diskstore import DiskChunkStore
from s3node.storage.ledger import DiskSpace
from s3node.storage.memorystore import MemoryChunkStore
from s3node.storage.service import SERVER_OPTIONS
from s3node.storage.servicer import add_storage_servicer


@pytest.fixture(scope="session")
def algorithms():
    """Every built-in checksum algorithm, by name."""
    return checksum_algorithms(get_plugin_manager(load_entry_points=False))


#: the worker threads of the ``executor`` fixture
WORKERS = 2


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    """A small worker pool, shut down after the test."""
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="test-store")
    yield pool
    pool.shutdown(wait=True)


def loopback_node_config(tmp_path, node_id: str, max_chunk_size: int, **options) -> StorageConfig:
    """A node's config: a free loopback port, data in ``tmp_path / "node"``, no fsync."""
    return StorageConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", node_id=node_id,
                         max_chunk_size=max_chunk_size, fsync=False, **options)


@pytest_twisted.async_yield_fixture
async def node(tmp_path, algorithms):
    """A started storage node on a free loopback port."""
    config = loopback_node_config(tmp_path, "node-a", NODE_MAX_CHUNK, shutdown_grace=2.0)
    from twisted.internet import reactor

    from s3node.storage.service import StorageNodeService

    service = StorageNodeService(config, reactor, algorithms=algorithms)
    service.startService()
    await service.when_listening()
    yield service
    await service.stopService()


@pytest_twisted.async_yield_fixture
async def client(node):
    """A StorageClient of ``node``."""
    c = StorageClient(node.address)
    yield c
    await as_deferred(c.close())


@pytest_twisted.async_yield_fixture
async def stub(node):
    """The raw generated stub of ``node``, to check statuses exactly."""
    channel = grpc.aio.insecure_channel(node.address)
    yield pb_grpc.StorageStub(channel)
    await as_deferred(channel.close())


@pytest_twisted.async_yield_fixture(params=["disk", "memory", "remote"])
async def store(request, tmp_path, algorithms, executor):
    """
    A fresh, empty chunk store of each kind, taking chunks up to
    :data:`support.chunkstores.CONTRACT_MAX_CHUNK`; "remote" is a real node on
    a loopback port reached through StorageClient, both with the cluster secret
    (``backing`` is its disk store).
    """
    from twisted.internet import reactor

    from s3node.storage.service import StorageNodeService

    if request.param == "memory":
        yield MemoryChunkStore(algorithms=algorithms, max_chunk_size=CONTRACT_MAX_CHUNK)
        return
    if request.param == "remote":
        # every call of the contract carries the cluster secret
        config = loopback_node_config(tmp_path, "contract", CONTRACT_MAX_CHUNK,
                                      auth=secret_auth())
        node = StorageNodeService(config, reactor, algorithms=algorithms)
        node.startService()
        await node.when_listening()
        remote = RemoteChunkStore(StorageClient(node.address, auth=secret_auth()), timeout=30)
        remote.backing = node.store
        yield remote
        await as_deferred(remote.client.close())
        await node.stopService()
        return
    disk = DiskChunkStore(tmp_path / "node", algorithms=algorithms, executor=executor,
                          max_chunk_size=CONTRACT_MAX_CHUNK)
    disk.open()
    yield disk
    disk.close()


@pytest.fixture
def until():
    """
    ``await until(predicate, "what")``: :func:`support.waiting.poll_until`
    with a 10 s bound, for the asyncio-world storage tests.
    """

    async def wait(predicate, what: str, timeout: float = 10.0) -> None:
        await poll_until(predicate, what=what, timeout=timeout)

    return wait


@pytest.fixture
def tiny_fs(tmp_path):
    """An 8 MiB tmpfs mounted at a temp dir (needs root)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def open_disk_store(root, algorithms, executor, **options) -> DiskChunkStore:
    """An open disk store under ``root`` (chunks up to 64 MiB unless ``options`` say otherwise)."""
    options.setdefault("max_chunk_size", 64 * 1024 * 1024)
    store = DiskChunkStore(root, algorithms=algorithms, executor=executor, **options)
    store.open()
    return store


@pytest.fixture
def fake_disk_store(tmp_path, algorithms, executor):
    """
    ``fake_disk_store(free=..., total=..., **options)``: an open disk store in a
    temp dir, without fsync, whose file system always reports ``free`` of
    ``total`` bytes; closed after the test.
    """
    stores: list[DiskChunkStore] = []

    def make(*, free: int, total: int = 1 << 40, **options) -> DiskChunkStore:
        options.setdefault("max_chunk_size", 64 * 1024 * 1024)
        store = DiskChunkStore(
            tmp_path / f"fake-disk-{len(stores)}",
            algorithms=algorithms,
            executor=executor,
            fsync=False,
            disk_space=lambda root: DiskSpace(total, free),
            **options,
        )
        store.open()
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest_twisted.async_yield_fixture
async def serve():
    """
    ``address = await serve(servicer)``: serve a StorageServicer on a free
    loopback port, with a node's server options, until the test ends.
    """
    servers: list[grpc.aio.Server] = []

    async def start(servicer) -> str:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        add_storage_servicer(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await as_deferred(server.stop(0))


def started_bulk_node(tmp_path, algorithms, node_id: str = "bulk"):  # type: ignore[no-untyped-def]
    """A node with the cluster secret and a bulk port on a free port, started."""
    from twisted.internet import reactor

    from s3node.storage.service import StorageNodeService

    config = loopback_node_config(tmp_path, node_id, NODE_MAX_CHUNK, auth=secret_auth(),
                                  bulk_port=0, shutdown_grace=2.0)
    service = StorageNodeService(config, reactor, algorithms=algorithms)
    service.startService()
    return service


@pytest_twisted.async_yield_fixture
async def bulk_node(tmp_path, algorithms):
    """A started node with the cluster secret, a bulk port and its local socket."""
    service = started_bulk_node(tmp_path, algorithms)
    await service.when_listening()
    yield service
    await service.stopService()


@pytest_twisted.async_yield_fixture
async def bulk_client(bulk_node):
    """A client of ``bulk_node`` that knows its bulk port and local socket (from Health)."""
    client = StorageClient(bulk_node.address, auth=secret_auth())
    await as_deferred(client.health())
    yield client
    await as_deferred(client.close())
