"""
The S3 API next to the REST API on one standalone process, in one run.

One ``twistd -n s3node standalone`` process (3 storage nodes, SQLite, 8 MiB
chunks, nodes without fsync, ``--replicas`` 2 unless told) serves both APIs.
Measured, each through REST (``POST /files``, ``GET /files/{id}``) and
through S3 (PutObject with a SigV4-signed ``UNSIGNED-PAYLOAD``, GetObject by
a presigned URL):

- one stream of ``--size`` bytes (1 GiB) up and down, generated and hashed as
  it goes (never held in memory), MB/s (10^6 bytes per second), ``--rounds``
  (3) times per API, the APIs taking turns to go first (and each stream
  deleted after), the median of each;
- ``--count`` 4 KiB objects written, then read, by ``--clients`` (16) threads
  with one keep-alive connection each, requests per second.

It prints each figure, the S3/REST ratio and the process's peak RSS.  The
clients are blocking ``http.client`` in this process, sharing the machine's
cores with the server; signing an S3 request costs the client about 0.1 ms.
Both APIs use the test suite's admin key, which ``start_twistd`` gives the
process: REST requests send it as HTTP Basic, S3 requests sign with it.

    python3 bench/s3_bench.py
    python3 bench/s3_bench.py --size 256MiB --count 2000
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from bench_auth import ADMIN
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from gateway_bench import delete_file, download, send_blocks, upload
from support.auth import ADMIN_ID, ADMIN_SECRET
from support.processes import start_twistd

from s3node.config import parse_size

MiB = 1024 * 1024
READY = r"s3node gateway listening on (?P<host>[\d.]+):(?P<port>\d+)"
S3_READY = r"s3node s3 listening on 127\.0\.0\.1:(?P<port>\d+)"
SMALL = 4096


class S3:
    """Signed requests to one S3 endpoint over one keep-alive connection."""

    def __init__(self, port: int, key: tuple[str, str]) -> None:
        self.port = port
        self.credentials = Credentials(*key)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def headers(self, method: str, path: str, extra: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=f"http://127.0.0.1:{self.port}{path}",
                             headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", **extra})
        SigV4Auth(self.credentials, "s3", "us-east-1").add_auth(request)
        return {k: (v.decode() if isinstance(v, bytes) else v)
                for k, v in request.headers.items()}

    def put(self, path: str, body: bytes) -> None:
        self.conn.request("PUT", path, body=body, headers=self.headers(
            "PUT", path, {"Content-Length": str(len(body))}))
        reply = self.conn.getresponse()
        reply.read()
        if reply.status != 200:
            raise RuntimeError(f"PUT {path}: {reply.status}")

    def delete(self, path: str) -> None:
        self.conn.request("DELETE", path, headers=self.headers("DELETE", path, {}))
        reply = self.conn.getresponse()
        reply.read()
        if reply.status != 204:
            raise RuntimeError(f"DELETE {path}: {reply.status}")

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path, headers=self.headers("GET", path, {}))
        reply = self.conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"GET {path}: {reply.status}")
        return data


def s3_stream_up(port: int, key: tuple[str, str], size: int) -> tuple[float, str]:
    s3 = S3(port, key)
    block = bytearray(hashlib.sha512(b"bench").digest() * (MiB // 64))
    h = hashlib.sha256()
    start = time.perf_counter()
    conn = s3.conn
    conn.putrequest("PUT", "/bench/big", skip_accept_encoding=True)
    for name, value in s3.headers("PUT", "/bench/big", {"Content-Length": str(size)}).items():
        conn.putheader(name, value)
    conn.endheaders()
    send_blocks(conn, block, size, h)
    reply = conn.getresponse()
    reply.read()
    if reply.status != 200:
        raise RuntimeError(f"S3 PUT: {reply.status}")
    return time.perf_counter() - start, h.hexdigest()


def s3_stream_down(port: int, key: tuple[str, str]) -> tuple[float, str, int]:
    client = boto3.session.Session().client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    url = client.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "big"})
    path = url.split(f":{port}", 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("GET", path)
    reply = conn.getresponse()
    h, n = hashlib.sha256(), 0
    while data := reply.read(MiB):
        h.update(data)
        n += len(data)
    return time.perf_counter() - start, h.hexdigest(), n


def in_threads(clients: int, count: int, work: Callable[[int, Any], None],
               connect: Callable[[], Any]) -> float:
    """Run ``work(i, connection)`` for i in 0..count-1 on ``clients`` threads; requests/s."""
    errors: list[BaseException] = []

    def worker(first: int) -> None:
        conn = connect()
        try:
            for i in range(first, count, clients):
                work(i, conn)
        except BaseException as e:  # noqa: BLE001 - reported after the run
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return count / (time.perf_counter() - start)


def rest_small(port: int, clients: int, count: int) -> tuple[float, float]:
    boundary = "benchBoundary0123456789"
    ids: dict[int, str] = {}

    def put(i: int, conn: http.client.HTTPConnection) -> None:
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="s{i}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
        body += i.to_bytes(8, "little") * (SMALL // 8) + f"\r\n--{boundary}--\r\n".encode()
        conn.request("POST", "/files", body=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": ADMIN})
        reply = conn.getresponse()
        answer = json.loads(reply.read())
        if reply.status != 201:
            raise RuntimeError(f"REST upload: {reply.status}")
        ids[i] = answer["file_id"]

    def get(i: int, conn: http.client.HTTPConnection) -> None:
        conn.request("GET", f"/files/{ids[i]}", headers={"Authorization": ADMIN})
        reply = conn.getresponse()
        if len(reply.read()) != SMALL or reply.status != 200:
            raise RuntimeError("REST download")

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    return in_threads(clients, count, put, connect), in_threads(clients, count, get, connect)


def s3_small(port: int, key: tuple[str, str], clients: int, count: int) -> tuple[float, float]:
    def put(i: int, s3: S3) -> None:
        s3.put(f"/bench/s{i}", i.to_bytes(8, "little") * (SMALL // 8))

    def get(i: int, s3: S3) -> None:
        if len(s3.get(f"/bench/s{i}")) != SMALL:
            raise RuntimeError("S3 download")

    return (in_threads(clients, count, put, lambda: S3(port, key)),
            in_threads(clients, count, get, lambda: S3(port, key)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GiB", help="the single stream's size")
    parser.add_argument("--count", type=int, default=4000, help="4 KiB objects per API")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="single streams per API, the APIs taking turns to go first")
    parser.add_argument("--dir", default=None, help="where the data dir goes (default: /tmp)")
    args = parser.parse_args()
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="s3bench-", dir=args.dir))
    proc = start_twistd(
        ["s3node", "standalone", "--data-dir", str(work / "data"), "--nodes", "3",
         "--replicas", str(args.replicas), "--listen", "tcp:0:interface=127.0.0.1",
         "--s3-listen", "tcp:0:interface=127.0.0.1", "--max-file-size", "20GiB",
         "--no-fsync"], cwd=work, ready_pattern=READY, timeout=60)
    try:
        s3_port = int(proc.wait_for(S3_READY, timeout=60).group("port"))
        key = (ADMIN_ID, ADMIN_SECRET)  # start_twistd gives standalone the suite's admin key
        S3(s3_port, key).put("/bench", b"")  # CreateBucket
        rows: list[tuple[str, float, float, str]] = []
        rates: dict[str, list[float]] = {"up": [], "down": [], "s3 up": [], "s3 down": []}
        for turn in range(args.rounds):
            # the APIs take turns going first: the second stream of a round
            # meets the first one's dirty pages being written back
            for api in (("rest", "s3") if turn % 2 == 0 else ("s3", "rest")):
                if api == "rest":
                    up_s, sent, reply = upload(proc.port, size)
                    down_s, got, n = download(proc.port, reply["file_id"])
                    assert sent == got and n == size, "REST stream not byte-exact"
                    rates["up"].append(size / up_s / 1e6)
                    rates["down"].append(size / down_s / 1e6)
                    delete_file(proc.port, reply["file_id"])
                else:
                    s3_up, s3_sent = s3_stream_up(s3_port, key, size)
                    s3_down, s3_got, s3_n = s3_stream_down(s3_port, key)
                    assert s3_sent == s3_got and s3_n == size, "S3 stream not byte-exact"
                    rates["s3 up"].append(size / s3_up / 1e6)
                    rates["s3 down"].append(size / s3_down / 1e6)
                    S3(s3_port, key).delete("/bench/big")
        for what in ("up", "down"):
            rest, s3 = rates[what], rates[f"s3 {what}"]
            print(f"{args.size} {what}loads, MB/s per round: REST "
                  + " ".join(f"{r:.1f}" for r in rest) + ", S3 " + " ".join(f"{r:.1f}" for r in s3))
            rows.append((f"{args.size} {what}load (median)", statistics.median(rest),
                         statistics.median(s3), "MB/s"))
        rest_put, rest_get = rest_small(proc.port, args.clients, args.count)
        s3_put, s3_get = s3_small(s3_port, key, args.clients, args.count)
        rows.append((f"4 KiB writes, {args.clients} clients", rest_put, s3_put, "req/s"))
        rows.append((f"4 KiB reads, {args.clients} clients", rest_get, s3_get, "req/s"))
        print(f"{'':32} {'REST':>10} {'S3':>10} {'S3/REST':>8}")
        for name, rest, s3, unit in rows:
            print(f"{name:32} {rest:10.1f} {s3:10.1f} {s3 / rest:8.2f}  {unit}")
        print(f"peak RSS of the process: {proc.status('VmHWM') / 1024:.1f} MiB")
    finally:
        proc.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
