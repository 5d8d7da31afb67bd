"""
Large chunks for large objects (docs/gateway.md): which uploads get them, and
the budget that bounds what reads of them hold (real HTTP over fake nodes).
"""

from __future__ import annotations

import hashlib
import json
import socket
import uuid
from typing import Any

import pytest
import pytest_twisted
import treq
from gateway.conftest import running_gateway
from gateway.test_app_files import upload
from gateway.test_files_service import Pieces
from gateway.test_metrics import scrape
from support.auth import AUTH
from support.waiting import poll_until, within
from twisted.internet.defer import CancelledError, Deferred

from s3node.gateway.readbudget import LARGE_READS, ByteBudget
from s3node.gateway.upload import LARGE_UPLOADS

#: usual chunks of 1000 bytes, large ones of 4000 for objects of at least 10,000
SETTINGS: dict[str, Any] = {"chunk_size": 1000, "large_chunk_size": 4000,
                            "large_object_size": 10_000}


def pattern(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def chunk_sizes(gw: Any, file_id: str) -> list[int]:
    chunks = gw.store.chunks[uuid.UUID(file_id)]
    return [chunks[i].size for i in sorted(chunks)]


@pytest_twisted.ensureDeferred
async def test_a_large_upload_gets_large_chunks_and_reads_back_whole_and_in_ranges():
    """
    A form upload declaring 10,000 bytes or more is cut into 4000-byte
    chunks after a first one of the usual 1000.
    """
    async with running_gateway(**SETTINGS) as gw:
        data = pattern(10_500)
        code, reply = await upload(gw.url, data)
        assert code == 201 and reply["chunk_count"] == 4
        assert chunk_sizes(gw, reply["file_id"]) == [1000, 4000, 4000, 1500]
        assert gw.store.files[uuid.UUID(reply["file_id"])].chunk_size == 4000
        url = f"{gw.url}/files/{reply['file_id']}"
        assert await fetched(url) == data
        assert await fetched(url, status=206, range="bytes=3990-8010") == data[3990:8011]
        budget = gw.gateway.downloads.large_reads
        assert budget.taken == 0  # every large chunk read gave its bytes back
        # below the size, or a source that declares none: the usual chunks
        code, reply = await upload(gw.url, pattern(9000))  # 9000 + the form's envelope
        assert chunk_sizes(gw, reply["file_id"]) == [1000] * 9
        stored = await gw.gateway.files.store(Pieces([pattern(10_500)]), abort=lambda: None)
        assert stored.chunk_count == 11


@pytest_twisted.ensureDeferred
async def test_off_when_the_large_chunk_size_is_zero():
    """``--large-chunk-size 0``: every upload gets the usual chunks."""
    async with running_gateway(**{**SETTINGS, "large_chunk_size": 0}) as gw:
        code, reply = await upload(gw.url, pattern(10_500))
        assert code == 201 and chunk_sizes(gw, reply["file_id"]) == [1000] * 10 + [500]


@pytest_twisted.ensureDeferred
async def test_an_upload_of_one_chunk_never_takes_a_large_place():
    """
    ``--large-object-size 0``: an upload that fits in one usual chunk gets
    that chunk and takes none of the LARGE_UPLOADS places; a larger one gets
    large chunks after its first.
    """
    async with running_gateway(**{**SETTINGS, "large_object_size": 0}) as gw:
        pipeline = gw.gateway.files.uploads
        assert pipeline.chunk_size_for(1000) == 1000
        assert pipeline.chunk_size_for(1001) == 4000
        held = []
        for _ in range(LARGE_UPLOADS):
            source = Pieces([pattern(400), pattern(500)], hold=1)
            source.size_hint = 900
            held.append((source, gw.gateway.files.store(source, abort=lambda: None)))
            await within(source.waiting, what="the small upload to stall")
        assert pipeline.large_active == 0
        big = Pieces([pattern(5500)])
        big.size_hint = 5500
        assert (await gw.gateway.files.store(big, abort=lambda: None)).chunk_count == 3
        for source, work in held:
            source.release.callback(None)
            assert (await work).chunk_count == 1


@pytest_twisted.ensureDeferred
async def test_at_most_LARGE_UPLOADS_at_once_get_large_chunks():
    """Past LARGE_UPLOADS large uploads under way, the next one gets the usual chunks."""
    async with running_gateway(**SETTINGS) as gw:
        files = gw.gateway.files
        held = []
        for _ in range(LARGE_UPLOADS):
            source = Pieces([pattern(5000), pattern(5500)], hold=1)
            source.size_hint = 10_500
            held.append((source, files.store(source, abort=lambda: None)))
            await within(source.waiting, what="the large upload to stall")
        extra = Pieces([pattern(10_500)])
        extra.size_hint = 10_500
        assert (await files.store(extra, abort=lambda: None)).chunk_count == 11
        assert (await scrape(gw.url)).get("s3node_large_uploads_in_progress") == LARGE_UPLOADS
        for source, work in held:
            source.release.callback(None)
            assert (await work).chunk_count == 4
        again = Pieces([pattern(10_500)])
        again.size_hint = 10_500
        assert (await files.store(again, abort=lambda: None)).chunk_count == 4


@pytest_twisted.ensureDeferred
async def test_reads_of_large_chunks_wait_for_the_budget():
    """
    While the budget is all taken, a download of large chunks reads its first
    chunk (of the usual size) and no other; then it goes on.
    """
    async with running_gateway(**SETTINGS) as gw:
        data = pattern(13_000)  # 1000, then three of 4000
        _, reply = await upload(gw.url, data)
        budget = gw.gateway.downloads.large_reads
        assert budget.total == LARGE_READS * 4000
        await within(budget.take(budget.total), what="the whole budget")
        reads = sum(n.reads for n in gw.nodes.values())
        got = Deferred.fromCoroutine(_download(f"{gw.url}/files/{reply['file_id']}"))
        await poll_until(lambda: sum(n.reads for n in gw.nodes.values()) == reads + 1,
                         what="the first chunk to be read")
        # a file of the usual chunks is not held back
        _, small = await upload(gw.url, pattern(2000))
        assert await fetched(f"{gw.url}/files/{small['file_id']}") == pattern(2000)
        assert not got.called
        assert sum(n.reads for n in gw.nodes.values()) == reads + 3  # and the two small chunks
        # the chunks after the first are read ahead two at a time: both wait
        await poll_until(lambda: budget.waiting == 2, what="two large reads to wait")
        page = await scrape(gw.url)
        assert page.get("s3node_large_reads_waiting") == 2
        assert page.get("s3node_large_read_bytes") == budget.total
        assert page.get("s3node_large_read_budget_bytes") == LARGE_READS * 4000
        budget.give(budget.total)
        assert await within(got, what="the download to go on") == data
        await poll_until(lambda: budget.taken == 0, what="the reads to give their bytes back")


async def _download(url: str, status: int = 200, **headers: str) -> bytes:
    r = await treq.get(url, headers=headers)
    assert r.code == status
    return await r.content()


async def fetched(url: str, status: int = 200, **headers: str) -> bytes:
    """A download's body, within the usual bound."""
    return await within(Deferred.fromCoroutine(_download(url, status, **headers)),
                        what=f"GET {url}")


@pytest_twisted.ensureDeferred
async def test_a_download_cut_short_gives_its_bytes_back():
    """A client that goes away mid-download leaves nothing taken from the budget."""
    async with running_gateway(**SETTINGS, max_file_size=10**7) as gw:
        data = pattern(2_000_000)  # 500 large chunks
        _, reply = await upload(gw.url, data)
        budget = gw.gateway.downloads.large_reads
        r = await within(treq.get(f"{gw.url}/files/{reply['file_id']}", unbuffered=True),
                         what="the response's head")
        got: list[bytes] = []

        def collect(piece: bytes) -> None:
            got.append(piece)
            raise GoneAway()  # treq drops the connection

        with pytest.raises(GoneAway):
            await within(treq.collect(r, collect), what="the first bytes")
        await poll_until(lambda: budget.taken == 0, what="the download to give its bytes back")
        assert 0 < len(b"".join(got)) < len(data)


@pytest_twisted.ensureDeferred
async def test_a_read_ahead_that_arrived_is_given_back_when_the_client_leaves():
    """
    A client that stops reading leaves the download writing a 16 MiB chunk
    (more than the connection's buffers take) with the next one read ahead;
    when it goes away, both give their bytes back.
    """
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol

    big = {"chunk_size": 4 << 20, "large_chunk_size": 16 << 20, "large_object_size": 32 << 20,
           "max_file_size": 64 << 20}
    async with running_gateway(**big) as gw:
        _, reply = await upload(gw.url, pattern(52 << 20))  # 4 MiB, then three of 16
        downloads = gw.gateway.downloads
        budget, fetch_held = downloads.large_reads, downloads.fetch_held
        fetched: list[int] = []

        async def counted(chunk: Any, piece: Any) -> Any:
            held = await fetch_held(chunk, piece)
            fetched.append(chunk.index)
            return held

        downloads.fetch_held = counted

        class Stalled(Protocol):
            def connectionMade(self) -> None:
                # a small receive buffer, and nothing read of the response
                self.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
                self.transport.pauseProducing()
                self.transport.write(f"GET /files/{reply['file_id']} HTTP/1.1\r\n"
                                     f"Host: 127.0.0.1\r\n{AUTH}\r\n".encode())

        port = gw.port.getHost().port
        client = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), Stalled())
        # the 4 MiB chunk may pass into the connection's buffers or stick there
        await poll_until(lambda: fetched in ([0, 1], [0, 1, 2]),
                         what="a 16 MiB chunk to be read ahead")
        await poll_until(lambda: budget.taken == (len(fetched) - 1) * (16 << 20),
                         what="the large chunks fetched to hold their bytes")
        client.transport.abortConnection()
        await poll_until(lambda: budget.taken == 0, what="the download to give them back")
        assert fetched in ([0, 1], [0, 1, 2])


class GoneAway(Exception):
    """The test's client stops reading."""


def test_a_byte_budget_admits_in_order_and_clamps():
    """Takes past the budget wait, first come first served; a take over the total takes it all."""
    budget = ByteBudget(10)
    first, second, third = budget.take(6), budget.take(6), budget.take(1)
    assert first.called and not second.called and not third.called  # no overtaking
    budget.give(6)
    assert second.called and third.called and budget.taken == 7
    huge = budget.take(50)
    assert not huge.called
    budget.give(6)
    budget.give(1)
    assert huge.called and budget.taken == 10
    budget.give(50)
    assert budget.taken == 0
    with pytest.raises(ValueError):
        ByteBudget(0)


def test_a_cancelled_take_takes_nothing_and_lets_the_next_in():
    """Cancelling a waiting take removes it; the take behind it is admitted if it fits."""
    budget = ByteBudget(10)
    budget.take(8)
    big, small = budget.take(5), budget.take(2)
    failures: list[Any] = []
    big.addErrback(failures.append)
    assert not small.called
    big.cancel()
    assert failures and failures[0].check(CancelledError)
    assert small.called and budget.taken == 10


@pytest_twisted.ensureDeferred
async def test_metadata_shows_the_large_chunks():
    """The file's metadata document lists the large chunks with their sizes."""
    async with running_gateway(**SETTINGS) as gw:
        _, reply = await upload(gw.url, pattern(10_000))
        meta = json.loads(await (await treq.get(
            f"{gw.url}/files/{reply['file_id']}/metadata")).content())
        assert [c["size"] for c in meta["chunks"]] == [1000, 4000, 4000, 1000]


@pytest_twisted.ensureDeferred
async def test_a_part_copied_from_large_chunks_gives_its_bytes_back():
    """UploadPartCopy of a range inside large chunks copies it and leaves nothing taken."""
    from s3node.core.ranges import ByteRange
    from s3node.gateway.copies import copy_part

    async with running_gateway(**SETTINGS) as gw:
        files = gw.gateway.files
        await gw.store.create_bucket("bkt")
        data = pattern(12_000)
        source = Pieces([data])
        source.size_hint = len(data)
        stored = await files.store_object(source, bucket="bkt", key="k", meta=lambda: (hashlib.md5(data).hexdigest(), ()),
                                          abort=lambda: None)
        assert stored.chunk_count == 4  # 1000, then 4000-byte chunks
        upload = await files.create_multipart("bkt", "k2", content_type="x/y", headers=())
        part = await copy_part(files, ("bkt", "k"), upload_id=upload.upload_id, part_number=1,
                               filename="k2", r=lambda size: ByteRange(1000, 9999),
                               check=lambda obj: None)
        assert not part.shared and part.etag == hashlib.md5(data[1000:10000]).hexdigest()
        assert gw.gateway.downloads.large_reads.taken == 0
