"""
Standalone's process tree, with real processes: its storage nodes are
``twistd s3node storage`` children that are restarted when they die and never
outlive it, and ``--workers 2`` serves one listening socket from two gateway
processes that share the metadata.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.auth import ADMIN_ID, ADMIN_SECRET
from support.processes import TwistdProcess, start_twistd
from support.scrape import parse
from support.waiting import wait_until

pytestmark = pytest.mark.integration
TIMEOUT = 60.0
#: the suite's admin key, which start_twistd gives every gateway
KEY = (ADMIN_ID, ADMIN_SECRET)
GATEWAY_READY = r"s3node gateway listening on (?P<host>[\d.]+):(?P<port>\d+)"
STARTED = r"(?P<child>(node|worker)-\d+) started \(pid (?P<pid>\d+)\)"


def start_standalone(tmp_path: Path, *extra: str) -> TwistdProcess:
    """
    A standalone (2 nodes, replicas 2, 64 KiB chunks, fast health checks) on a
    free port, its temp files (the workers' run dir) in ``tmp_path / "tmp"``.
    """
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return start_twistd(
        ["s3node", "standalone", "--data-dir", str(tmp_path / "data"), "--nodes", "2",
         "--replicas", "2", "--chunk-size", "64KiB", "--health-interval", "0.2",
         "--listen", "tcp:0:interface=127.0.0.1", "--s3-listen", "none", "--no-fsync", *extra],
        cwd=tmp_path, ready_pattern=GATEWAY_READY, timeout=TIMEOUT,
        env={"TMPDIR": str(tmp_path / "tmp")})


def children(proc: TwistdProcess) -> dict[str, int]:
    """The last pid each child (``node-1``, ``worker-2``...) was started with."""
    return {m.group("child"): int(m.group("pid")) for m in re.finditer(STARTED, proc.output())}


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def loads_cryptography(pid: int) -> bool:
    """Whether process ``pid`` has cryptography's compiled module mapped."""
    return "/cryptography/" in Path(f"/proc/{pid}/maps").read_text()


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[TwistdProcess]:
    proc = start_standalone(tmp_path)
    yield proc
    proc.stop()


def upload(url: str, data: bytes) -> str:
    r = httpx.post(f"{url}/files", files={"file": ("f.bin", data)}, timeout=30, auth=KEY)
    assert r.status_code == 201, r.text
    return str(r.json()["file_id"])


def test_a_killed_node_is_restarted_on_its_port_and_the_data_stays_readable(
    standalone: TwistdProcess,
) -> None:
    """
    SIGKILL of a node process: standalone logs it, starts it again on the same
    port, the files stored before read back byte-exact and new uploads (which
    need both nodes at 2 replicas) succeed again.
    """
    url = f"http://127.0.0.1:{standalone.port}"
    data = os.urandom(300_000)
    file_id = upload(url, data)
    before = children(standalone)
    port = re.findall(r"s3node storage node-1 listening on 127\.0\.0\.1:(\d+)",
                      standalone.output())[-1]
    lines = standalone.line_count()
    os.kill(before["node-1"], signal.SIGKILL)
    standalone.wait_for(rf"node-1 \(pid {before['node-1']}\) ended: .*restarting in", TIMEOUT,
                        start=lines)
    standalone.wait_for(rf"s3node storage node-1 listening on 127\.0\.0\.1:{port}\b", TIMEOUT,
                        start=lines)
    after = children(standalone)
    assert after["node-1"] != before["node-1"] and after["node-2"] == before["node-2"]
    assert not alive(before["node-1"])
    assert httpx.get(f"{url}/files/{file_id}", timeout=30, auth=KEY).content == data

    def uploaded() -> str | None:
        r = httpx.post(f"{url}/files", files={"file": ("g.bin", data)}, timeout=30, auth=KEY)
        return r.json()["file_id"] if r.status_code == 201 else None

    again = wait_until(uploaded, what="an upload to both nodes", timeout=TIMEOUT, interval=0.2)
    assert httpx.get(f"{url}/files/{again}", timeout=30, auth=KEY).content == data


def test_stopping_standalone_leaves_no_child_process(tmp_path: Path) -> None:
    """SIGTERM stops standalone cleanly, and every node and worker process with it."""
    proc = start_standalone(tmp_path, "--workers", "2")
    pids = children(proc)
    assert set(pids) == {"node-1", "node-2", "worker-2"}
    assert all(alive(p) for p in pids.values())
    # Node processes leave Twisted's TLS support (pyOpenSSL, cryptography) unloaded;
    # a gateway worker, which may serve ssl:, has it.
    assert {c: loads_cryptography(p) for c, p in pids.items()} == {
        "node-1": False, "node-2": False, "worker-2": True}
    # the gateway's run dir for its workers' port files, in the TMPDIR it was given
    assert [p.name[:15] for p in (tmp_path / "tmp").iterdir()] == ["s3node-workers-"]
    assert proc.stop() == -signal.SIGTERM
    assert [c for c, p in pids.items() if alive(p)] == []
    assert list((tmp_path / "tmp").iterdir()) == []  # the workers' run dir went with it


def test_sigkill_of_standalone_leaves_no_orphan(tmp_path: Path) -> None:
    """
    When standalone is SIGKILLed (no chance to stop anything), its node and
    worker processes see their parent's pipe close and stop by themselves; the
    next standalone removes the run dir the killed one left.
    """
    proc = start_standalone(tmp_path, "--workers", "2")
    pids = children(proc)
    assert len(pids) == 3 and all(alive(p) for p in pids.values())
    proc.kill()
    wait_until(lambda: not any(alive(p) for p in pids.values()),
               what=f"the children {pids} to exit", timeout=TIMEOUT, interval=0.1)
    # Its workers' run dir stays behind; the next standalone with that TMPDIR removes it.
    (left,) = (tmp_path / "tmp").iterdir()
    again = start_standalone(tmp_path, "--workers", "2")
    try:
        (made,) = (tmp_path / "tmp").iterdir()
        assert made.name.startswith("s3node-workers-") and made != left
    finally:
        again.stop()


def test_two_workers_serve_one_port_and_share_the_files(tmp_path: Path) -> None:
    """
    ``--workers 2``: both gateway processes answer on the one port (the
    metrics, labelled by worker, count requests on each); a file uploaded
    through one worker downloads byte-exact through the other; ``/metrics``
    shows every worker's and every node's figures whichever worker answers.
    """
    proc = start_standalone(tmp_path, "--workers", "2")
    try:
        url = f"http://127.0.0.1:{proc.port}"
        data = os.urandom(200_000)
        file_id = upload(url, data)
        page = parse(httpx.get(f"{url}/metrics", timeout=30, auth=KEY).text)
        (uploader,) = {w for w in ("1", "2")
                       if page.sum("s3node_http_requests_total", route="/files", method="POST",
                                   status="201", worker=w) == 1}
        other = "2" if uploader == "1" else "1"

        def read_by_other() -> bool:
            # a new connection each time: the kernel picks the worker that accepts it
            with httpx.Client(timeout=30, auth=KEY) as client:
                assert client.get(f"{url}/files/{file_id}").content == data
            scraped = parse(httpx.get(f"{url}/metrics", timeout=30, auth=KEY).text)
            return scraped.sum("s3node_http_requests_total", route="/files/<file_id>",
                               method="GET", status="200", worker=other) > 0

        wait_until(read_by_other, what=f"a download through worker {other}", timeout=TIMEOUT,
                   interval=0.01)
        page = parse(httpx.get(f"{url}/metrics", timeout=30, auth=KEY).text)
        assert page.labels("s3node_http_requests_total", "worker") == {"1", "2"}
        assert page.labels("s3node_storage_chunks", "node") == {"node-1", "node-2"}
        assert page.sum("s3node_storage_chunks") == 2 * 4  # 4 chunks of 64 KiB, 2 replicas
    finally:
        proc.stop()


def test_acknowledged_inline_objects_survive_a_sigkill(tmp_path: Path) -> None:
    """
    Small files (kept inline in the metadata) and a chunked one, each
    acknowledged, then standalone SIGKILLed with no chance to stop: a new
    standalone on the same data dir serves every one byte-exact, the small
    ones still inline.
    """
    proc = start_standalone(tmp_path)
    url = f"http://127.0.0.1:{proc.port}"
    files = {upload(url, data): data
             for data in [os.urandom(n) for n in (1, 100, 4096, 16 * 1024, 200_000)]}
    children_before = children(proc)
    proc.kill()
    wait_until(lambda: not any(alive(p) for p in children_before.values()),
               what="the old children to exit", timeout=TIMEOUT, interval=0.1)
    again = start_standalone(tmp_path)
    try:
        url = f"http://127.0.0.1:{again.port}"
        for file_id, data in files.items():
            assert httpx.get(f"{url}/files/{file_id}", timeout=30, auth=KEY).content == data
            meta = httpx.get(f"{url}/files/{file_id}/metadata", timeout=30, auth=KEY).json()
            assert meta["inline"] is (len(data) <= 16 * 1024), (len(data), meta)
    finally:
        again.stop()


def node_calls(tmp_path: Path, node: str, method: str) -> float:
    """Node ``node``'s count of ``method`` calls answered OK, from its own metrics page."""
    ports = json.loads((tmp_path / "data" / node / "ports.json").read_text())
    page = httpx.get(f"http://127.0.0.1:{ports['metrics_port']}/metrics", timeout=10)
    return parse(page.text).get("s3node_storage_calls_total", node=node, method=method, code="OK")


def test_large_chunks_take_the_bulk_ports_also_after_a_node_restarts(tmp_path: Path) -> None:
    """
    Standalone's nodes name a bulk port; chunks over 1 MiB go there (counted
    as BulkPut, no PutChunk), smaller ones in one PutSmallChunk; a download
    reads the large ones through the nodes' local sockets (BulkGet, no
    GetChunk), the small one in one GetSmallChunk.  A node
    killed and restarted takes a new free bulk port: uploads go on (one
    may fall back to gRPC meanwhile), and once a health check names the
    new port its chunks take it again.
    """
    proc = start_standalone(tmp_path, "--chunk-size", "2MiB")
    try:
        url = f"http://127.0.0.1:{proc.port}"
        data = os.urandom(5 * 1024 * 1024)  # chunks of 2, 2 and 1 MiB, on both nodes
        file_id = upload(url, data)
        assert httpx.get(f"{url}/files/{file_id}", timeout=30, auth=KEY).content == data
        for node in ("node-1", "node-2"):
            ports = json.loads((tmp_path / "data" / node / "ports.json").read_text())
            assert ports["bulk_port"] > 0
            assert node_calls(tmp_path, node, "BulkPut") == 2
            assert node_calls(tmp_path, node, "PutChunk") == 0
            assert node_calls(tmp_path, node, "PutSmallChunk") == 1
        reads = {method: sum(node_calls(tmp_path, node, method) for node in ("node-1", "node-2"))
                 for method in ("BulkGet", "GetChunk", "GetSmallChunk")}
        assert reads == {"BulkGet": 2, "GetChunk": 0, "GetSmallChunk": 1}
        pid = children(proc)["node-1"]
        lines = proc.line_count()
        os.kill(pid, signal.SIGKILL)
        proc.wait_for(r"s3node storage node-1 takes bulk puts on", TIMEOUT, start=lines)

        def bulk_again() -> str | None:
            r = httpx.post(f"{url}/files", files={"file": ("g.bin", data)}, timeout=30, auth=KEY)
            if r.status_code != 201:
                return None
            # the restarted node's counters start at 0: one is a chunk on its new port
            if not node_calls(tmp_path, "node-1", "BulkPut"):
                return None
            return str(r.json()["file_id"])

        again = wait_until(bulk_again, what="a chunk on node-1's new bulk port",
                           timeout=TIMEOUT, interval=0.2)
        assert httpx.get(f"{url}/files/{again}", timeout=30, auth=KEY).content == data
    finally:
        proc.stop()


def test_a_large_object_is_stored_in_large_chunks(tmp_path: Path) -> None:
    """
    An upload that declares at least ``--large-object-size`` bytes gets
    ``--large-chunk-size`` chunks after a first one of the usual size
    (through the nodes' bulk path like any large chunk) and reads back whole
    and in ranges; a smaller one, the usual chunks.
    """
    proc = start_standalone(tmp_path, "--chunk-size", "1MiB", "--large-chunk-size", "4MiB",
                            "--large-object-size", "8MiB")
    try:
        url = f"http://127.0.0.1:{proc.port}"
        data = os.urandom(10 * 1024 * 1024)
        file_id = upload(url, data)
        meta = httpx.get(f"{url}/files/{file_id}/metadata", timeout=30, auth=KEY).json()
        assert [c["size"] for c in meta["chunks"]] == [1 << 20, 4 << 20, 4 << 20, 1 << 20]
        assert httpx.get(f"{url}/files/{file_id}", timeout=30, auth=KEY).content == data
        r = httpx.get(f"{url}/files/{file_id}", timeout=30, auth=KEY,
                      headers={"range": "bytes=1048000-9438000"})  # across all four
        assert r.status_code == 206 and r.content == data[1048000:9438001]
        for node in ("node-1", "node-2"):  # replicas 2: both large chunks on both
            assert node_calls(tmp_path, node, "BulkPut") == 2
        small = upload(url, data[:7 * 1024 * 1024])
        meta = httpx.get(f"{url}/files/{small}/metadata", timeout=30, auth=KEY).json()
        assert [c["size"] for c in meta["chunks"]] == [1 << 20] * 7
    finally:
        proc.stop()
