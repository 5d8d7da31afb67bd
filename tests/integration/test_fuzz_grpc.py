"""
Malformed gRPC against a real ``twistd -n s3node storage`` process (issue 11):
random bytes as messages, fields of the wrong wire type, hostile chunk ids,
an oversized frame and streams that open and never send.  The node must
never crash, never write outside its data directory, and answer each call
with a clear status (never ``UNKNOWN`` or ``INTERNAL``, always with details).

Bounded and seeded (``S3NODE_FUZZ_SEED``, default 1109): run with ``-s`` to
see how many cases each kind tried.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from support.chunks import new_chunk
from support.nodeauth import TEST_SECRET, write_secret
from support.processes import start_storage_node
from support.waiting import wait_until

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.storage.nodeauth import SECRET_KEY
from s3node.storage.service import MAX_MESSAGE_BYTES

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("S3NODE_FUZZ_SEED", "1109"))
#: random messages per method (8 methods)
RANDOM_CASES = 80
SERVICE = "/s3node.storage.v1.Storage/"
UNARY = ["DeleteChunk", "StatChunk", "ListChunks", "Health", "ListQuarantined",
         "DropQuarantined", "PutSmallChunk", "GetSmallChunk"]
#: statuses that mean the node did not handle the input (a bug or a crash)
NOT_CLEAR = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE}
HOSTILE_IDS = [
    "../../../../escaped", "..", ".", "/etc/passwd", "a/../../b", "a\x00b", "a\nb",
    "evil\u202etxt", "C:\\escaped", "%2e%2e%2fescaped", "x" * 5000, "", " ", "\\\\host\\share",
    "chunks/../../escaped", "~root", "a" * 255 + "/b",
]


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


def _wrong_types(rng: random.Random) -> bytes:
    """Fields 1..7 with a random wire type and payload, whatever the message declares."""
    out = b""
    for number in rng.sample(range(1, 8), rng.randint(1, 4)):
        wire = rng.choice([0, 1, 2, 5])
        out += _varint(number << 3 | wire)
        if wire == 0:
            out += _varint(rng.getrandbits(70))
        elif wire == 1:
            out += rng.randbytes(8)
        elif wire == 5:
            out += rng.randbytes(4)
        else:
            payload = rng.randbytes(rng.randint(0, 40))
            out += _varint(len(payload)) + payload
    return out


class Fuzz:
    """Raw calls on one channel, with the statuses they got; each sends ``secret``
    (a function of nothing, called per call) as the cluster secret unless ``None``."""

    def __init__(self, port: int, secret: Callable[[], str | None] = lambda: TEST_SECRET) -> None:
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_send_message_length", 2 * MAX_MESSAGE_BYTES)])
        self._secret = secret
        self.statuses: Counter[str] = Counter()
        self.tried: Counter[str] = Counter()
        self.unclear: list[tuple[str, str, str]] = []

    def _record(self, kind: str, method: str, code: grpc.StatusCode, details: str) -> None:
        self.tried[kind] += 1
        self.statuses[code.name] += 1
        if code in NOT_CLEAR or (code is not grpc.StatusCode.OK and not details):
            self.unclear.append((kind, method, f"{code.name}: {details!r}"))

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        secret = self._secret()
        return () if secret is None else ((SECRET_KEY, secret),)

    def unary(self, kind: str, method: str, message: bytes) -> None:
        call = self.channel.unary_unary(SERVICE + method, request_serializer=None,
                                        response_deserializer=None)
        try:
            call(message, timeout=10, metadata=self.metadata)
            self._record(kind, method, grpc.StatusCode.OK, "")
        except grpc.RpcError as e:
            self._record(kind, method, e.code(), e.details() or "")

    def get(self, kind: str, message: bytes) -> None:
        call = self.channel.unary_stream(SERVICE + "GetChunk", request_serializer=None,
                                         response_deserializer=None)
        try:
            for _ in call(message, timeout=10, metadata=self.metadata):
                pass
            self._record(kind, "GetChunk", grpc.StatusCode.OK, "")
        except grpc.RpcError as e:
            self._record(kind, "GetChunk", e.code(), e.details() or "")

    def put(self, kind: str, messages: Iterator[bytes] | list[bytes], timeout: float = 10) -> None:
        call = self.channel.stream_unary(SERVICE + "PutChunk", request_serializer=None,
                                         response_deserializer=None)
        try:
            call(iter(messages), timeout=timeout, metadata=self.metadata)
            self._record(kind, "PutChunk", grpc.StatusCode.OK, "")
        except grpc.RpcError as e:
            self._record(kind, "PutChunk", e.code(), e.details() or "")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_malformed_grpc_is_refused_clearly_and_stays_in_the_data_dir(tmp_path):
    """Hundreds of malformed calls: no crash, clear statuses, nothing outside the data dir."""
    rng = random.Random(SEED)
    data_dir = tmp_path / "node"
    secret = write_secret(tmp_path / "cluster-secret")
    proc = start_storage_node(data_dir, "--put-idle-timeout", "1", "--node-id", "fuzzed",
                              "--cluster-secret-file", str(secret))
    outside_before = _files(tmp_path) - _files(data_dir)
    fuzz = Fuzz(proc.port)
    try:
        # random bytes and wrong wire types as every method's message
        for _ in range(RANDOM_CASES):
            for method in UNARY:
                fuzz.unary("random bytes", method, rng.randbytes(rng.randint(0, 64)))
                fuzz.unary("wrong field types", method, _wrong_types(rng))
            fuzz.get("random bytes", rng.randbytes(rng.randint(0, 64)))
            fuzz.get("wrong field types", _wrong_types(rng))
            fuzz.put("random bytes", [rng.randbytes(rng.randint(0, 64))
                                      for _ in range(rng.randint(1, 3))])
            fuzz.put("wrong field types", [_wrong_types(rng) for _ in range(rng.randint(1, 3))])
        # hostile chunk ids, in every call that takes one
        for chunk_id in HOSTILE_IDS:
            for method, message in (
                ("StatChunk", pb.StatChunkRequest(chunk_id=chunk_id)),
                ("DeleteChunk", pb.DeleteChunkRequest(chunk_id=chunk_id)),
                ("DropQuarantined", pb.DropQuarantinedRequest(entry_id=chunk_id)),
                ("GetSmallChunk", pb.GetChunkRequest(chunk_id=chunk_id)),
            ):
                fuzz.unary("hostile ids", method, message.SerializeToString())
            fuzz.get("hostile ids", pb.GetChunkRequest(chunk_id=chunk_id).SerializeToString())
            _, data, digest = new_chunk(100)
            header = pb.PutChunkHeader(chunk_id=chunk_id, size=len(data),
                                       checksum_algorithm="sha256", digest=digest)
            fuzz.put("hostile ids", [pb.PutChunkRequest(header=header).SerializeToString(),
                                     pb.PutChunkRequest(data=data).SerializeToString()])
            fuzz.unary("hostile ids", "PutSmallChunk",
                       pb.PutSmallChunkRequest(header=header, data=data).SerializeToString())
        # one frame past the node's message limit
        fuzz.put("oversized frame", [b"\x12" + _varint(MAX_MESSAGE_BYTES) +
                                     b"\0" * MAX_MESSAGE_BYTES])
        fuzz.unary("oversized frame", "StatChunk", b"\x0a" + _varint(MAX_MESSAGE_BYTES) +
                   b"a" * MAX_MESSAGE_BYTES)
        # streams that open and never send: the node ends them (--put-idle-timeout 1)
        never = threading.Event()

        def silent() -> Iterator[bytes]:
            never.wait(30)
            return
            yield b""  # pragma: no cover - makes this a generator

        threads = [threading.Thread(target=fuzz.put, args=("silent streams", silent(), 20))
                   for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: fuzz.tried["silent streams"] == 4,
                       what="the node to end the silent streams", timeout=20)
        finally:
            never.set()
            for t in threads:
                t.join(30)
        fuzz.unary("after", "Health", b"")
        assert fuzz.statuses and fuzz.tried["after"] == 1
        health = pb.HealthResponse.FromString(
            fuzz.channel.unary_unary(SERVICE + "Health")(b"", timeout=10,
                                                         metadata=fuzz.metadata))
        assert health.node_id == "fuzzed" and health.chunk_count == 0
    finally:
        fuzz.channel.close()
        alive = proc.returncode is None
        proc.stop()
    print(f"\ngRPC fuzz (seed {SEED}): {sum(fuzz.tried.values())} calls,"
          f" by kind {dict(fuzz.tried)}, statuses {dict(fuzz.statuses)}")
    assert alive, proc.output()[-3000:]
    assert fuzz.unclear == []
    assert fuzz.statuses["UNAUTHENTICATED"] == 0  # every call reached the handlers
    assert fuzz.statuses["DEADLINE_EXCEEDED"] >= 4  # the silent streams, ended by the node
    assert _files(tmp_path) - _files(data_dir) == outside_before
    escaped = [p for p in _files(data_dir) if "escaped" in str(p) or "passwd" in str(p)]
    assert escaped == []
    assert list((data_dir / "tmp").iterdir()) == []


def _printable(rng: random.Random) -> str | None:
    """No secret, or a wrong one: printable ASCII of any length up to 300."""
    if rng.random() < 0.2:
        return None
    return "".join(chr(rng.randint(0x21, 0x7E)) for _ in range(rng.randint(0, 300)))


def test_fuzzed_calls_without_the_secret_never_reach_a_handler(tmp_path):
    """Random messages to every method, with no secret or a random wrong one: each is
    ``UNAUTHENTICATED`` with details, nothing is stored, and the node still serves."""
    rng = random.Random(SEED + 1)
    data_dir = tmp_path / "node"
    secret = write_secret(tmp_path / "cluster-secret")
    proc = start_storage_node(data_dir, "--node-id", "guarded",
                              "--cluster-secret-file", str(secret))
    intruder = Fuzz(proc.port, lambda: _printable(rng))
    try:
        for _ in range(RANDOM_CASES // 4):
            for method in UNARY:
                intruder.unary("no or wrong secret", method, rng.randbytes(rng.randint(0, 64)))
            intruder.get("no or wrong secret", rng.randbytes(rng.randint(0, 64)))
            chunk_id, data, digest = new_chunk(100)
            header = pb.PutChunkHeader(chunk_id=chunk_id, size=len(data),
                                       checksum_algorithm="sha256", digest=digest)
            intruder.put("no or wrong secret", [
                pb.PutChunkRequest(header=header).SerializeToString(),
                pb.PutChunkRequest(data=data).SerializeToString()])
        friend = Fuzz(proc.port)
        health = pb.HealthResponse.FromString(
            friend.channel.unary_unary(SERVICE + "Health")(b"", timeout=10,
                                                           metadata=friend.metadata))
        friend.channel.close()
    finally:
        intruder.channel.close()
        alive = proc.returncode is None
        proc.stop()
    print(f"\ngRPC fuzz without the secret (seed {SEED + 1}): {sum(intruder.tried.values())}"
          f" calls, statuses {dict(intruder.statuses)}")
    assert alive, proc.output()[-3000:]
    assert intruder.unclear == []
    assert set(intruder.statuses) == {"UNAUTHENTICATED"}
    assert intruder.statuses["UNAUTHENTICATED"] == (len(UNARY) + 2) * (RANDOM_CASES // 4)
    assert health.node_id == "guarded" and health.chunk_count == 0
    assert TEST_SECRET not in proc.output()
