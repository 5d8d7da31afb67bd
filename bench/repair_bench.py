#!/usr/bin/env python3
"""
Repair: how long a cluster takes to copy a lost node's replicas again, at the
default ``--repair-bandwidth`` and unthrottled.

For each (size, bandwidth) a fresh cluster starts: 4 ``twistd s3node
storage`` processes and one ``twistd s3node gateway`` (SQLite metadata, 8 MiB
chunks, 2 replicas, ``--repair-after 1``).  Files are uploaded until the
victim node holds about SIZE of replicas; the victim is SIGKILLed; the time is
measured from the moment ``--repair-after`` has passed to the moment
``GET /cluster`` shows no chunk below 2 healthy replicas.  Printed per run:
the lost bytes, the seconds, MB/s (10^6), and the gateway's peak RSS.
Requests carry the test suite's admin key, which ``start_twistd`` gives the
gateway (HTTP Basic).

    python3 bench/repair_bench.py                                   # 1GiB at 64MiB/s and 0
    python3 bench/repair_bench.py --sizes 1GiB,10GiB --bandwidths 64MiB,0
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench_auth import ADMIN
from gateway_bench import upload
from storage_bench import machine
from support.processes import TwistdProcess, start_twistd
from support.waiting import wait_until

from s3node.config import format_size, parse_size

MiB = 1024 * 1024
GATEWAY_READY = r"s3node gateway listening on (?P<host>[\d.]+):(?P<port>\d+)"
STORAGE_READY = r"s3node storage (?P<node_id>\S+) listening on (?P<host>[\d.]+):(?P<port>\d+)"
FILE_SIZE = 256 * MiB
REPAIR_AFTER = 1.0


def get(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": ADMIN})
        response = conn.getresponse()
        reply = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {reply}")
        return reply
    finally:
        conn.close()


def start_cluster(work: Path, bandwidth: int) -> tuple[dict[str, TwistdProcess], TwistdProcess]:
    def node(i: int) -> TwistdProcess:
        return start_twistd(["--reactor=asyncio", "s3node", "storage", "--listen", "127.0.0.1:0",
                             "--data-dir", str(work / f"n{i}"), "--node-id", f"n{i}",
                             "--no-fsync", "--scrub-rate", "0"],
                            cwd=work, ready_pattern=STORAGE_READY, timeout=60)

    with ThreadPoolExecutor(4) as pool:
        nodes = dict(zip([f"n{i}" for i in range(1, 5)], pool.map(node, range(1, 5)),
                         strict=True))
    args = ["s3node", "gateway", "--listen", "tcp:0:interface=127.0.0.1",
            "--db", f"sqlite:{work / 'metadata.sqlite3'}", "--replicas", "2",
            "--chunk-size", "8MiB", "--max-file-size", "20GiB",
            "--health-interval", "0.5", "--repair-interval", "0.5",
            "--repair-after", str(REPAIR_AFTER), "--repair-bandwidth", str(bandwidth),
            "--stats-interval", "5"]
    for node_id, proc in nodes.items():
        args += ["--node", f"{node_id}=127.0.0.1:{proc.port}"]
    gateway = start_twistd(args, cwd=work, ready_pattern=GATEWAY_READY, timeout=60)
    return nodes, gateway


def run(size: int, bandwidth: int, base: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="repair-bench-", dir=base))
    nodes, gateway = start_cluster(work, bandwidth)
    try:
        victim = "n2"
        upload_s, uploaded = 0.0, 0
        while True:
            held = get(gateway.port, f"/nodes/{victim}")["bytes"]
            if held >= size:
                break
            upload_s += upload(gateway.port, FILE_SIZE)[0]
            uploaded += FILE_SIZE
        nodes[victim].kill()
        killed = time.monotonic()
        wait_until(lambda: get(gateway.port, "/cluster")["chunks_below_target"] > 0,
                   what="the loss seen", timeout=60, interval=0.1)
        start = max(killed + REPAIR_AFTER, time.monotonic())
        wait_until(lambda: get(gateway.port, "/cluster")["chunks_below_target"] == 0,
                   what="repaired", timeout=3600, interval=0.25)
        took = time.monotonic() - start
        view = get(gateway.port, "/cluster")
        return {
            "lost": format_size(held), "bandwidth": format_size(bandwidth) if bandwidth else "0",
            "seconds": round(took, 1), "MBps": round(held / took / 1e6, 1),
            "copies": view["repair"]["copies"], "failures": view["repair"]["failures"],
            "gateway_peak_rss_mib": round(gateway.status("VmHWM") / 1024, 1),
            "uploaded": format_size(uploaded),
        }
    finally:
        gateway.stop()
        for proc in nodes.values():
            if proc.returncode is None:
                proc.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1GiB", help="lost replica bytes, comma-separated")
    parser.add_argument("--bandwidths", default="64MiB,0",
                        help="--repair-bandwidth settings, comma-separated (0: unthrottled)")
    parser.add_argument("--dir", default=None, help="where the data dirs go (default: /tmp)")
    args = parser.parse_args()
    base = Path(args.dir or tempfile.gettempdir())
    print(f"# {machine()}; 4 storage processes + 1 gateway (SQLite), 8 MiB chunks, R=2")
    print(f"# {' '.join(sys.argv)}")
    for size in (parse_size(s) for s in args.sizes.split(",")):
        for bandwidth in (parse_size(b) for b in args.bandwidths.split(",")):
            print(json.dumps(run(size, bandwidth, base)), flush=True)


if __name__ == "__main__":
    main()
