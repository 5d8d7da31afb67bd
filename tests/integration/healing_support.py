"""
What the self-healing scenario (``test_self_healing.py``) needs beyond the
fault harness: its settings, a blocking HTTP client over the files API and the
admin routes, a store of what was uploaded, and readings of the durability view.

Blocking on purpose: the scenario is a sequence of steps against real
processes, with client threads running beside some of them; every wait is
bounded (:func:`support.waiting.wait_until`).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
from support.auth import ADMIN_ID, ADMIN_SECRET
from support.waiting import wait_until

__all__ = ["CHUNK", "HEALING_SETTINGS", "Api", "Corpus", "Sampler"]

#: small chunks, so that a few MiB make enough chunks for placement figures
CHUNK = 16 * 1024
#: repair bytes a second: below what repair does unthrottled here (about 0.5
#: MiB/s of 16 KiB chunks), so that the cap binds and a repair is still under
#: way when the scenario kills its gateway; high enough that a step takes seconds
BANDWIDTH = 256 * 1024
CONCURRENCY = 4

HEALING_SETTINGS = {
    "chunk-size": str(CHUNK),
    # every file in chunks, however small: the scenario counts and heals chunks
    "inline-max-size": "0",
    "replicas": "2",
    "health-interval": "0.5",
    "sweep-interval": "1",
    "stale-after": "8",
    "reconcile-interval": "1",
    "orphan-grace": "1",
    "write-timeout": "5",
    "repair-interval": "0.5",
    "repair-after": "3",
    "repair-bandwidth": str(BANDWIDTH),
    "repair-concurrency": str(CONCURRENCY),
    "stats-interval": "1",
}
#: the storage nodes' scrubber: a whole pass of a node's few MiB in well under a second
SCRUB = ("--scrub-rate", "64MiB", "--scrub-interval", "2")

TIMEOUT = 30.0


class Api:
    """The files API and the admin routes of one gateway, blocking."""

    def __init__(self, base: str) -> None:
        self.base = base

    def _client(self) -> httpx.Client:
        # a new connection each time: no pooled connection outlives a gateway restart
        return httpx.Client(base_url=self.base, timeout=TIMEOUT, auth=(ADMIN_ID, ADMIN_SECRET))

    def upload(self, name: str, data: bytes) -> str:
        with self._client() as c:
            r = c.post("/files", files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 201, (r.status_code, r.text)
        return str(r.json()["file_id"])

    def download(self, file_id: str) -> tuple[int, bytes]:
        with self._client() as c:
            r = c.get(f"/files/{file_id}")
        return r.status_code, r.content

    def get(self, path: str) -> Any:
        with self._client() as c:
            r = c.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        with self._client() as c:
            return c.request(method, path, **kw)

    def cluster(self) -> dict[str, Any]:
        view: dict[str, Any] = self.get("/cluster")
        return view

    def settled(self, total_chunks: int) -> bool:
        """Every chunk at 2 healthy replicas, nothing queued, nothing left to move."""
        view = self.cluster()
        healthy = view["chunks_by_healthy_replicas"]
        if healthy.get("2") != total_chunks or view["repair"]["queued"]:
            return False
        plan = self.get("/cluster/plan")
        return bool(plan["copies"] == 0 and plan["drops"] == 0)

    def wait_settled(self, total_chunks: int, what: str, timeout: float = 60.0) -> None:
        wait_until(lambda: self.settled(total_chunks), what=what, timeout=timeout,
                   interval=0.2)


@dataclass
class Corpus:
    """Every file the scenario uploaded, with its sha256."""

    #: file id → (sha256, size)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, file_id: str, data: bytes) -> None:
        with self.lock:
            self.files[file_id] = (hashlib.sha256(data).hexdigest(), len(data))

    @property
    def chunks(self) -> int:
        """How many chunks the files make."""
        with self.lock:
            return sum(-(-size // CHUNK) for _, size in self.files.values())

    def verify(self, api: Api) -> int:
        """Download every file byte-exact (4 at a time); return the bytes read."""
        def one(item: tuple[str, tuple[str, int]]) -> int:
            file_id, (digest, _) = item
            status, body = api.download(file_id)
            assert status == 200, (file_id, status, body[:200])
            assert hashlib.sha256(body).hexdigest() == digest, file_id
            return len(body)

        with self.lock:
            items = list(self.files.items())
        with ThreadPoolExecutor(4) as pool:
            return sum(pool.map(one, items))


def upload_many(apis: list[Api], corpus: Corpus, count: int, size: int, seed: int) -> None:
    """Upload ``count`` files of ``size`` random bytes, alternating gateways, 4 at a time."""
    def one(i: int) -> None:
        data = random.Random(seed * 100_000 + i).randbytes(size)
        corpus.add(apis[i % len(apis)].upload(f"f{seed}-{i}.bin", data), data)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


class Sampler:
    """
    Reads ``repair.bytes`` from the durability view in a thread, to check the bandwidth cap.

    Each reading keeps when its request was sent and when its answer came: the
    gateway read the figure somewhere in between (a busy gateway may take a few
    hundred milliseconds to answer).
    """

    def __init__(self, api: Callable[[], Api], interval: float = 0.1) -> None:
        self._api = api
        self._interval = interval
        #: (sent, answered, bytes copied) per reading
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                copied = int(self._api().cluster()["repair"]["bytes"])
            except (httpx.HTTPError, AssertionError, KeyError):
                copied = -1  # the gateway asked is restarting: no reading
            if copied >= 0:
                self.samples.append((sent, time.monotonic(), copied))
            self._stop.wait(self._interval)

    def worst_window(self, min_span: float) -> tuple[float, float]:
        """
        The highest repair rate over any window of at least ``min_span``
        seconds between two readings, and the overall rate from the first
        reading to the last change.

        A window runs from when the first reading was sent to when the second
        was answered: the longest the copies between the two figures can have
        taken, so a slow answer never makes a window look shorter (and its
        rate higher) than it was.
        """
        worst = 0.0
        s = self.samples
        for i in range(len(s)):
            for j in range(i + 1, len(s)):
                span = s[j][1] - s[i][0]
                if span >= min_span:
                    worst = max(worst, (s[j][2] - s[i][2]) / span)
        changed = [t for (_, t, b), (_, _, prev) in zip(s[1:], s, strict=False) if b != prev]
        overall = ((s[-1][2] - s[0][2]) / (changed[-1] - s[0][0])
                   if changed and changed[-1] > s[0][0] else 0.0)
        return worst, overall
