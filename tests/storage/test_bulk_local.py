"""
Local bulk puts: a chunk whose bytes stay in the gateway's memfd, read by a
node on the same host through its Unix socket (Health's ``bulk_local``).

Real nodes with the cluster secret, real Unix sockets and memfds; the
hostile peer sends what it likes on the same socket.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import tempfile
import uuid

import pytest
from storage.test_bulk import (
    NODE,
    SECRET,
    header_for,
    reply_of,
    scrape,
    temp_files,
)
from support.aio import aio_test
from support.chunks import collect, new_chunk
from twisted.internet import task

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.core.checksums import CRC32C, hexdigest_of
from s3node.core.chunking import FRAME_SIZE, SHARED_BUFFERS, ChunkBuffers, Chunker
from s3node.errors import ChecksumMismatch, ChunkNotFound, NodeAuthFailed, TimedOut
from s3node.storage import bulkpaths
from s3node.storage.bulkclient import bulk_get_local, bulk_put_local
from s3node.storage.bulkserver import BulkPutServer, listening_socket, local_socket
from s3node.storage.bulkwire import GET_MAGIC, MAGIC, MAX_HEAD, PREFIX, framed_get_head, framed_head
from s3node.storage.client import StorageClient
from s3node.storage.memorystore import MemoryChunkStore
from s3node.storage.servicer import StorageServicer

pytestmark = pytest.mark.skipif(not SHARED_BUFFERS, reason="memfds are Linux's")


def shared_chunk(buffers: ChunkBuffers, data: bytes) -> memoryview:
    """``data`` as the gateway's chunker hands it out: a view of a memfd's mapping."""
    chunker = Chunker(len(data), buffers)
    chunks = [c for i in range(0, len(data), FRAME_SIZE) for c in chunker.feed(data[i:i + FRAME_SIZE])]
    (chunk,) = chunks
    assert isinstance(chunk, memoryview)
    return chunk


def memfd_of(data: bytes) -> int:
    fd = os.memfd_create("test-chunk", os.MFD_CLOEXEC)
    os.write(fd, data)
    return fd


def identity(fd: int) -> tuple[int, int]:
    """What ``fd`` is open on (device, inode): the same for every copy of it."""
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def holders(objects: set[tuple[int, int]] = frozenset(), memfds: str = "test-") -> list[str]:
    """
    This process's descriptors (the node's included) still open on any of
    ``objects``, or on a memfd whose name starts with ``memfds``.
    """
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            st = os.stat(f"/proc/self/fd/{name}")
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed meanwhile, or the listing's own descriptor
            continue
        if (st.st_dev, st.st_ino) in objects or target.startswith(f"/memfd:{memfds}"):
            found.append(target)
    return found


async def local_exchange(name: str, message: bytes, fds: list[int]) -> bytes:
    """Send ``message`` with ``fds`` on the node's local socket; its one reply ("" if none)."""
    def exchange() -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.settimeout(30)
            sock.connect("\0" + name)
            socket.send_fds(sock, [message], fds)
            return sock.recv(1 << 16)

    return await asyncio.get_running_loop().run_in_executor(None, exchange)


@aio_test
async def test_health_names_the_local_socket_and_shared_chunks_take_it(bulk_node, bulk_client,
                                                                      monkeypatch):
    """
    Health names the node's local socket; a chunk in a memfd goes there, not
    to the bulk port (which fails the test if used), is stored with its
    digest and reads back byte-exact; a chunk in private memory still takes
    the bulk port.
    """
    assert bulk_client.bulk.local == bulk_node.bulk.local_name != ""
    sent_by_tcp = []
    real_bulk_put = bulkpaths.bulk_put

    async def tcp_put(*args, **kwargs):  # type: ignore[no-untyped-def]
        sent_by_tcp.append(args[3].chunk_id)
        return await real_bulk_put(*args, **kwargs)

    monkeypatch.setattr(bulkpaths, "bulk_put", tcp_put)
    buffers = ChunkBuffers(shared=True)
    chunk_id, data, digest = new_chunk(3 * FRAME_SIZE + 12345)
    chunk = shared_chunk(buffers, data)
    result = await bulk_client.put_chunk(chunk_id, chunk, algorithm="sha256", digest=digest,
                                          transfer_crc32c=hexdigest_of(CRC32C, data))
    assert (result.chunk_id, result.size, result.digest, result.created) == (
        chunk_id, len(data), digest, True)
    assert await collect(bulk_client.get_chunk(chunk_id, verify=True)) == data
    private_id, private, private_digest = new_chunk(2 * FRAME_SIZE)
    await bulk_client.put_chunk(private_id, private, algorithm="sha256", digest=private_digest)
    assert sent_by_tcp == [private_id]
    samples = await scrape(bulk_node)
    assert samples.get("s3node_storage_calls_total", method="BulkPut", code="OK", **NODE) == 2
    assert samples.get("s3node_storage_received_bytes_total", **NODE) == len(data) + len(private)
    assert temp_files(bulk_node) == []


@aio_test
async def test_a_client_on_another_host_finds_no_socket_and_uses_the_bulk_port(bulk_node,
                                                                              bulk_client):
    """
    A name nothing listens under (the node is elsewhere) costs one refused
    connect: the put takes the bulk port, and the client forgets the name
    until the next Health.
    """
    bulk_client.bulk.local = f"s3node-bulk/elsewhere/{uuid.uuid4().hex}"
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
    await bulk_client.put_chunk(chunk_id, shared_chunk(ChunkBuffers(shared=True), data),
                                 algorithm="sha256", digest=digest)
    assert bulk_client.bulk.local == ""
    assert await collect(bulk_client.get_chunk(chunk_id, verify=True)) == data
    await bulk_client.health()
    assert bulk_client.bulk.local == bulk_node.bulk.local_name


@aio_test
async def test_the_nodes_errors_come_back_and_a_wrong_secret_is_refused(bulk_node, executor):
    """
    A memfd whose bytes miss the sender's CRC fails its put with
    ChecksumMismatch, a wrong secret with NodeAuthFailed; nothing is kept and
    every descriptor the node received is closed.
    """
    name = bulk_node.bulk.local_name
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
    bent = bytearray(data)
    bent[FRAME_SIZE + 5] ^= 1
    fd = memfd_of(bytes(bent))
    try:
        header = header_for(chunk_id, data, digest)
        header.transfer_crc32c = hexdigest_of(CRC32C, data)
        with pytest.raises(ChecksumMismatch, match="crc32c"):
            await bulk_put_local(name, SECRET, header, fd, where="test", executor=executor)
        with pytest.raises(NodeAuthFailed, match="secret"):
            await bulk_put_local(name, b"x" * 40, header, fd, where="test", executor=executor)
    finally:
        os.close(fd)
    assert (await bulk_node.store.list()).chunk_ids == ()
    assert temp_files(bulk_node) == []
    assert holders() == []


@aio_test
async def test_what_a_hostile_local_peer_sends_fails_only_its_own_put(bulk_node, bulk_client):
    """
    No descriptor, two, a pipe, a regular file, a memfd shorter than
    announced, a head in pieces or past 16 KiB, and noise: each gets an
    error, no temp file stays, every descriptor the node received is closed,
    and the node goes on storing chunks.
    """
    name = bulk_node.bulk.local_name
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
    head = framed_head(SECRET, header_for(chunk_id, data, digest))
    good, short = memfd_of(data), memfd_of(data[:-1])
    reader, writer = os.pipe()
    passed = {identity(reader)}
    with tempfile.TemporaryFile() as plain:
        plain.write(data)
        plain.flush()
        passed.add(identity(plain.fileno()))
        cases = {
            "without its memfd": (head, []),
            "one descriptor": (head, [good, good]),
            "must come as a memfd": (head, [reader]),
            "must come as a memfd ": (head, [plain.fileno()]),
            "shorter than": (head, [short]),
            "in one message": (head[:20], [good]),
            "at most": (PREFIX.pack(MAGIC, MAX_HEAD) + bytes(MAX_HEAD + 1), [good]),
            "not a bulk put": (b"GET / HTTP/1.1\r\n\r\n", [good]),
        }
        try:
            for why, (message, fds) in cases.items():
                reply = reply_of(await local_exchange(name, message, fds))
                assert reply.error_code == "bad_request" and why.strip() in reply.message, why
            for _ in range(20):
                noise = os.urandom(int.from_bytes(os.urandom(2), "big") % 200)
                reply = reply_of(await local_exchange(name, noise, [good]))
                assert reply.error_code == "bad_request"
        finally:
            for fd in (good, short, reader, writer):
                os.close(fd)
    assert holders(passed) == []
    assert temp_files(bulk_node) == [] and (await bulk_node.store.list()).chunk_ids == ()
    await bulk_client.put_chunk(chunk_id, shared_chunk(ChunkBuffers(shared=True), data),
                                 algorithm="sha256", digest=digest)
    assert await collect(bulk_client.get_chunk(chunk_id, verify=True)) == data


@aio_test
async def test_a_put_given_up_retires_its_buffer(bulk_client):
    """
    A local socket that takes the put and never answers: the put times out,
    and its chunk's buffer (which that process may still read) is never
    handed out again.
    """
    mute = local_socket(f"s3node-test/{uuid.uuid4().hex}")
    taken: list[socket.socket] = []

    async def take() -> None:
        conn, _ = await asyncio.get_running_loop().sock_accept(mute)
        taken.append(conn)

    accepting = asyncio.ensure_future(take())
    bulk_client.bulk.local = mute.getsockname()[1:].decode()
    buffers = ChunkBuffers(keep=2, shared=True)
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE)
    chunk = shared_chunk(buffers, data)
    try:
        with pytest.raises(TimedOut, match="bulk put"):
            await bulk_client.put_chunk(chunk_id, chunk, algorithm="sha256", digest=digest,
                                         timeout=0.5)
        buffers.give(chunk)
        assert buffers.free == 0 and buffers.out == 0
    finally:
        accepting.cancel()
        for conn in taken:
            conn.close()
        mute.close()


async def stored(client: StorageClient, size: int) -> tuple[str, bytes]:
    chunk_id, data, digest = new_chunk(size)
    await client.put_chunk(chunk_id, data, algorithm="sha256", digest=digest)
    return chunk_id, data


@aio_test
async def test_a_whole_chunk_read_comes_through_the_local_socket(bulk_node, bulk_client):
    """
    A read for a caller that verifies comes back in 1 MiB pieces written
    into the call's memfd, counted as BulkGet with the bytes sent; a missing
    chunk raises ChunkNotFound; a size other than the stored one is refused
    by the node and gives ``None`` (GetChunk then says what is wrong),
    without forgetting the socket.
    """
    chunk_id, data = await stored(bulk_client, 3 * FRAME_SIZE + 777)
    pieces = await bulk_client.get_chunk_local(chunk_id, len(data))
    assert pieces is not None and b"".join(pieces) == data
    assert [len(p) for p in pieces] == [FRAME_SIZE] * 3 + [777]
    with pytest.raises(ChunkNotFound):
        await bulk_client.get_chunk_local(new_chunk(10)[0], len(data))
    assert await bulk_client.get_chunk_local(chunk_id, len(data) - 1) is None
    assert bulk_client.bulk.local == bulk_node.bulk.local_name
    assert holders(memfds="s3node-get") == []  # neither side keeps a read's memfd
    samples = await scrape(bulk_node)
    calls = {code: samples.get("s3node_storage_calls_total", method="BulkGet", code=code, **NODE)
             for code in ("OK", "NOT_FOUND", "INVALID_ARGUMENT")}
    assert calls == {"OK": 1, "NOT_FOUND": 1, "INVALID_ARGUMENT": 1}
    assert samples.get("s3node_storage_sent_bytes_total", **NODE) == len(data)


@aio_test
async def test_a_local_get_from_another_host_finds_no_socket(bulk_node, bulk_client):
    """Nothing under the name: ``None``, and the name is forgotten until the next Health."""
    chunk_id, data = await stored(bulk_client, 2 * FRAME_SIZE)
    bulk_client.bulk.local = f"s3node-bulk/elsewhere/{uuid.uuid4().hex}"
    assert await bulk_client.get_chunk_local(chunk_id, len(data)) is None
    assert bulk_client.bulk.local == ""
    assert await bulk_client.get_chunk_local(chunk_id, len(data)) is None  # no socket tried
    await bulk_client.health()
    assert await bulk_client.get_chunk_local(chunk_id, len(data)) is not None


@aio_test
async def test_what_a_hostile_local_reader_sends_fails_only_its_own_get(bulk_node, bulk_client):
    """
    A get head without its request, a wrong secret, a memfd too short for
    the read, a pipe, a memfd sealed against writes, and a head that does
    not decode: each gets its error, the node closes every descriptor it
    received, and the next get works.
    """
    name = bulk_node.bulk.local_name
    chunk_id, data = await stored(bulk_client, 2 * FRAME_SIZE)
    request = pb.GetChunkRequest(chunk_id=chunk_id, reader_verifies=True)
    good = framed_get_head(SECRET, request)
    big = os.memfd_create("test-get", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(big, len(data))
    sealed = os.memfd_create("test-sealed", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(sealed, len(data))
    fcntl.fcntl(sealed, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
    small = memfd_of(b"x" * 10)
    reader, writer = os.pipe()
    passed = {identity(reader)}
    empty = pb.BulkGetHead(secret=SECRET).SerializeToString()
    cases = [
        ("bad_request", "no request", PREFIX.pack(GET_MAGIC, len(empty)) + empty, big),
        ("node_unauthenticated", "secret", framed_get_head(b"nope", request), big),
        ("bad_request", "shorter than", good, small),
        ("bad_request", "memfd", good, reader),
        ("bad_request", "cannot write", good, sealed),
        ("bad_request", "undecodable", PREFIX.pack(GET_MAGIC, 3) + b"\xff\xff\xff", big),
    ]
    try:
        for code, why, message, fd in cases:
            reply = pb.BulkGetReply.FromString(
                (await local_exchange(name, message, [fd]))[4:])
            assert (reply.error_code, why in reply.message) == (code, True), reply.message
        reply = pb.BulkGetReply.FromString((await local_exchange(name, good, [big]))[4:])
        assert reply.error_code == "" and reply.length == len(data)
        assert os.pread(big, len(data), 0) == data
    finally:
        for fd in (big, sealed, small, reader, writer):
            os.close(fd)
    assert holders(passed) == []
    assert b"".join(await bulk_client.get_chunk_local(chunk_id, len(data)) or []) == data


@aio_test
async def test_a_store_that_cannot_copy_writes_the_pieces(algorithms, executor):
    """
    A store without a kernel-to-kernel copy (in memory) serves a local get
    piece by piece with ``pwrite``: the same bytes, the same reply.
    """
    store = MemoryChunkStore(algorithms=algorithms, max_chunk_size=8 * FRAME_SIZE)
    chunk_id, data, digest = new_chunk(2 * FRAME_SIZE + 3)
    await store.put(chunk_id, size=len(data), algorithm="sha256", digest=digest,
                    data=collect_into(data))
    assert (await store.read(chunk_id, reader_verifies=True)).copy_into is None
    clock = task.Clock()
    servicer = StorageServicer(store, node_id="memory", clock=clock, put_idle_timeout=30)
    server = BulkPutServer(servicer, listening_socket("127.0.0.1", 0), secrets=(SECRET,),
                           clock=clock, idle_timeout=30, max_connections=4,
                           local=local_socket(f"s3node-test/{uuid.uuid4().hex}"))
    server.start()
    try:
        request = pb.GetChunkRequest(chunk_id=chunk_id, reader_verifies=True)
        pieces = await bulk_get_local(server.local_name, SECRET, request, len(data),
                                      where="test", executor=executor)
        assert pieces is not None and b"".join(pieces) == data
    finally:
        await server.stop(1)


async def collect_into(data: bytes):  # type: ignore[no-untyped-def]
    yield data
