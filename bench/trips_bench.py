"""
What a small operation pays per hand-off: a trip to the gateway's thread pool,
and a grpc.aio call with a client interceptor.

- ``pool``: SHA-256 of 4 KiB, called on the reactor thread (``inline``) or
  through ``deferToThreadPool`` and back (``pool``), as the gateway's
  ``run_cpu`` does below and above ``INLINE_BYTES``: microseconds of wall time
  and of process CPU per call, under the asyncio reactor.
- ``grpc``: a grpc.aio server in a child process answering a unary-stream
  call (a 60-byte then a 4 KiB message) and a stream-unary one (a 60-byte and
  a 4 KiB message in, 40 bytes out), 16 calls at a time; the client sends one
  metadata pair either through a client interceptor (``interceptor``) or as
  each call's ``metadata`` (``metadata``): calls per second, and client and
  server CPU per call.

Run ``python3 bench/trips_bench.py [--calls N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sbs_system import ProcessTree

KEY = "s3node-cluster-secret"
SIZE = 4096
CONCURRENCY = 16


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


# -- pool trips ----------------------------------------------------------------

def pool_trips(calls: int, repeat: int) -> None:
    from twisted.internet import asyncioreactor

    asyncioreactor.install(asyncio.new_event_loop())
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.internet.threads import deferToThreadPool
    from twisted.python.threadpool import ThreadPool

    pool = ThreadPool(2, 2, name="bench-cpu")
    pool.start()
    data = bytes(SIZE)

    async def run() -> None:
        for _ in range(repeat):
            for mode in ("inline", "pool"):
                c0, t0 = _cpu(), time.perf_counter()
                for _ in range(calls):
                    if mode == "pool":
                        await deferToThreadPool(reactor, pool, hashlib.sha256, data)
                    else:
                        hashlib.sha256(data)
                wall, cpu = time.perf_counter() - t0, _cpu() - c0
                print(f"pool  {mode:<12} {1e6 * wall / calls:7.1f} us wall "
                      f"{1e6 * cpu / calls:7.1f} us CPU per call", flush=True)

    def done(_: Any) -> None:
        pool.stop()
        reactor.stop()  # type: ignore[attr-defined]

    reactor.callWhenRunning(  # type: ignore[attr-defined]
        lambda: Deferred.fromCoroutine(run()).addBoth(done))
    reactor.run()  # type: ignore[attr-defined]


# -- grpc calls ------------------------------------------------------------------

def _same(b: bytes) -> bytes:
    return b


async def _serve(port_queue: Any, stop: Any) -> None:
    import grpc
    from grpc import aio

    async def put(requests: Any, context: Any) -> bytes:
        async for _ in requests:
            pass
        return bytes(40)

    async def get(request: bytes, context: Any) -> Any:
        yield bytes(60)
        yield bytes(SIZE)

    handler = grpc.method_handlers_generic_handler("bench.Trips", {
        "Put": grpc.stream_unary_rpc_method_handler(put, request_deserializer=_same,
                                                    response_serializer=_same),
        "Get": grpc.unary_stream_rpc_method_handler(get, request_deserializer=_same,
                                                    response_serializer=_same),
    })
    server = aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    port_queue.put(port)
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await server.stop(None)


def _server(port_queue: Any, stop: Any) -> None:
    asyncio.run(_serve(port_queue, stop))


async def _client(port: int, kind: str, mode: str, calls: int) -> tuple[float, float]:
    from grpc import aio

    class Put(aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, go: Any, details: Any, requests: Any) -> Any:
            metadata = aio.Metadata(*(details.metadata or ()), (KEY, "secret"))
            return await go(details._replace(metadata=metadata), requests)

    class Get(aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, go: Any, details: Any, request: Any) -> Any:
            metadata = aio.Metadata(*(details.metadata or ()), (KEY, "secret"))
            return await go(details._replace(metadata=metadata), request)

    interceptors = [Put(), Get()] if mode == "interceptor" else None
    metadata = ((KEY, "secret"),) if mode == "metadata" else None
    channel = aio.insecure_channel(f"127.0.0.1:{port}", interceptors=interceptors)
    put = channel.stream_unary("/bench.Trips/Put", request_serializer=_same,
                               response_deserializer=_same)
    get = channel.unary_stream("/bench.Trips/Get", request_serializer=_same,
                               response_deserializer=_same)

    async def requests() -> Any:
        yield bytes(60)
        yield bytes(SIZE)

    async def one_client(n: int) -> None:
        for _ in range(n):
            if kind == "put":
                await put(requests(), metadata=metadata)
            else:
                async for _ in get(b"chunk", metadata=metadata):
                    pass

    await one_client(50)  # the connection and its first calls
    c0, t0 = _cpu(), time.perf_counter()
    await asyncio.gather(*(one_client(calls // CONCURRENCY) for _ in range(CONCURRENCY)))
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    await channel.close()
    return wall, cpu


def grpc_calls(calls: int, repeat: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    port_queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_server, args=(port_queue, stop))
    server.start()
    server_tree = ProcessTree([server.pid])  # type: ignore[list-item]
    try:
        port = port_queue.get(timeout=60)
        n = calls // CONCURRENCY * CONCURRENCY
        for _ in range(repeat):
            for kind in ("get", "put"):
                for mode in ("interceptor", "metadata"):
                    s0 = server_tree.cpu_seconds()
                    wall, cpu = asyncio.run(_client(port, kind, mode, calls))
                    s1 = server_tree.cpu_seconds()
                    print(f"grpc  {kind} {mode:<12} {n / wall:7.0f} calls/s, client "
                          f"{1e6 * cpu / n:5.0f} us, server {1e6 * (s1 - s0) / n:5.0f} us "
                          f"CPU per call", flush=True)
    finally:
        stop.set()
        server.join(30)
        if server.is_alive():
            server.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=8000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=("pool", "grpc"))
    args = p.parse_args()
    if args.only != "pool":
        grpc_calls(args.calls, args.repeat)
    if args.only != "grpc":
        pool_trips(args.calls * 2, args.repeat)


if __name__ == "__main__":
    main()
