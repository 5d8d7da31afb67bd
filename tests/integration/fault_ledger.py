"""
The ledger of the fault-injection scenario (``test_fault_scenario.py``): every
upload it made and what its client saw, every fault injected, every byte
verified; the waits the phases share (on the metadata database, read
directly); and the end-state inventory that compares each node's disk with the
metadata.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from integration.e2e_client import MiB
from integration.fault_clients import REQUEST_TIMEOUT, Body, GatedBody, Http, Outcome, make_body
from integration.fault_harness import STALE_AFTER, FaultDeployment, Role
from support.waiting import poll_until, within
from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.internet.threads import deferToThread

__all__ = ["Inventory", "Ledger", "Upload", "gather"]

#: file states an upload is under way in
UNDER_WAY = ("pending", "uploading")


async def gather(*work: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run ``work`` at once; every result, or the first error itself."""
    try:
        return await gatherResults([Deferred.fromCoroutine(w) for w in work], consumeErrors=True)
    except FirstError as e:
        e.subFailure.raiseException()
        raise


@dataclass
class Upload:
    """An upload under way: its body (maybe held at a byte) and its outcome to come."""

    name: str
    body: GatedBody
    done: Deferred[Outcome]


@dataclass
class Inventory:
    """Each node's chunk files beside the replicas the metadata records of completed files."""

    #: node id → chunk ids of the data files on its disk
    on_disk: dict[str, set[str]]
    #: node id → chunk ids of its ``stored`` replicas
    stored: dict[str, set[str]]
    #: (node id, chunk id) of ``corrupt`` replicas
    corrupt_replicas: set[tuple[str, str]]
    #: (file id, chunk index) of chunks with a ``corrupt`` replica
    corrupt_chunks: set[tuple[str, int]]
    #: every replica state seen
    states: set[str]
    #: (file id, chunk index) → how many ``stored`` replicas it has
    stored_per_chunk: dict[tuple[str, int], int]
    #: (node id, chunk id) of every replica row, whatever its file's status
    named: set[tuple[str, str]] = field(default_factory=set)

    @property
    def orphans(self) -> dict[str, set[str]]:
        """Chunk files that no stored (or known corrupt) replica of a completed file names."""
        return {n: disk - self.stored[n] - {c for m, c in self.corrupt_replicas if m == n}
                for n, disk in self.on_disk.items()}

    @property
    def lost(self) -> dict[str, set[str]]:
        """Stored replicas whose chunk file is not on their node."""
        return {n: self.stored[n] - disk for n, disk in self.on_disk.items()}

    @property
    def orphan_count(self) -> int:
        return sum(map(len, self.orphans.values()))

    @property
    def unnamed_count(self) -> int:
        """Chunk files that no replica row names at all (not even of an unfinished file)."""
        return sum(1 for n, disk in self.on_disk.items() for c in disk
                   if (n, c) not in self.named)


@dataclass
class Ledger:
    """What the scenario did and saw, and the helpers its phases share."""

    dep: FaultDeployment
    http: Http = field(default_factory=Http)
    bodies: dict[str, Body] = field(default_factory=dict)
    #: upload name → what its client saw
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    #: file id → the body of every upload that got a 201
    acked: dict[str, Body] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    bytes_verified: int = 0
    #: (node id, chunk id) of the replicas the scenario corrupted
    corrupt: set[tuple[str, str]] = field(default_factory=set)
    lost_reply: tuple[str, str] = ("", "")
    stray: tuple[str, str] = ("", "")
    #: gateway role → peak RSS growth (MiB) while downloads stalled
    memory: dict[str, float] = field(default_factory=dict)
    #: (unaccounted chunk files, of which no row names) when the faults ended, and at the end
    orphans_before: tuple[int, int] | None = None
    orphans_after: tuple[int, int] | None = None
    #: completed files whose client saw no 201 (a lost reply is safe: docs/durability.md)
    unacknowledged_completed: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _turn: int = 0

    def __post_init__(self) -> None:
        self.folder = self.dep.base / "bodies"
        self.folder.mkdir()

    @property
    def cluster(self) -> bool:
        return self.dep.kind == "cluster"

    def gateway(self, i: int | None = None) -> Role:
        """Gateway ``i`` (modulo their number), or the next one in turn."""
        if i is None:
            i, self._turn = self._turn, self._turn + 1
        return self.dep.gateways[i % len(self.dep.gateways)]

    def body(self, name: str, size: int) -> Body:
        body = self.bodies[name] = make_body(self.folder, name, size)
        return body

    # -- uploads ------------------------------------------------------------

    def start_upload(self, body: Body, gateway: Role, hold_at: int | None = None) -> Upload:
        producer = GatedBody(body.path, hold_at)
        return Upload(body.filename, producer,
                      Deferred.fromCoroutine(self.http.upload(gateway.url, producer)))

    async def finish(self, upload: Upload) -> Outcome:
        outcome: Outcome = await within(upload.done, what=f"the upload {upload.name} to end",
                                        timeout=2 * REQUEST_TIMEOUT)
        return self.record(upload.name, outcome)

    async def upload(self, body: Body, gateway: Role) -> Outcome:
        return await self.finish(self.start_upload(body, gateway))

    async def must_upload(self, body: Body, gateway: Role) -> str:
        outcome = await self.upload(body, gateway)
        assert outcome.code == 201, f"{body.filename} through {gateway.name}: {outcome}"
        return str(outcome.reply["file_id"])

    def record(self, name: str, outcome: Outcome) -> Outcome:
        """Keep what the client of ``name`` saw; a 201 must describe exactly what was sent."""
        self.outcomes[name] = outcome
        if outcome.code == 201:
            body = self.bodies[name]
            reply = outcome.reply
            assert (reply["checksum"], reply["size"], reply["status"]) == (
                body.sha256, body.size, "completed"), (name, reply)
            self.acked[reply["file_id"]] = body
        return outcome

    def acked_id(self, name: str) -> str:
        return next(i for i, b in self.acked.items() if b.filename == name)

    # -- downloads ------------------------------------------------------------

    async def verify(self, file_id: str, gateway: Role) -> None:
        """Download ``file_id`` through ``gateway``: it must be exactly what was uploaded."""
        (row,) = await self.db("SELECT filename FROM files WHERE id = %s", file_id)
        body = self.bodies[row[0]]
        download = await self.http.download(f"{gateway.url}/files/{file_id}")
        digest, length, error = await download.finish()
        assert (download.code, digest, length, error) == (200, body.sha256, body.size, None), (
            f"{body.filename} through {gateway.name}")
        self.bytes_verified += length

    async def metadata(self, file_id: str) -> Any:
        code, meta = await self.http.get_json(f"{self.gateway().url}/files/{file_id}/metadata")
        assert code == 200, meta
        return meta

    # -- the metadata database, read directly -------------------------------------

    async def db(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await deferToThread(self.dep.rows, sql, *params)
        return rows

    async def file_row(self, filename: str) -> tuple[Any, ...] | None:
        """(id, status, chunk rows) of the file named ``filename``, if it exists."""
        rows = await self.db(
            "SELECT f.id, f.status, (SELECT count(*) FROM chunks c WHERE c.file_id = f.id)"
            " FROM files f WHERE f.filename = %s", filename)
        return rows[0] if rows else None

    async def file_id(self, filename: str) -> str:
        row = await self.file_row(filename)
        assert row is not None, filename
        return str(row[0])

    async def wait_progress(self, filename: str, chunks: int) -> None:
        """Wait until the gateway recorded ``chunks`` chunks of the upload ``filename``."""

        async def far_enough() -> bool:
            row = await self.file_row(filename)
            if row is None:
                return False
            assert row[1] in UNDER_WAY, f"{filename} is {row[1]} already"
            return bool(row[2] >= chunks)

        await poll_until(far_enough, what=f"{filename} to have {chunks} chunks recorded",
                         interval=0.05)

    async def wait_claimed(self, filename: str) -> None:
        """Wait until the upload ``filename`` is no longer under way (claimed, or swept)."""

        async def claimed() -> bool:
            row = await self.file_row(filename)
            return row is None or row[1] not in UNDER_WAY

        await poll_until(claimed, what=f"{filename} to be claimed", timeout=STALE_AFTER + 30,
                         interval=0.2)

    async def wait_stale(self, filename: str) -> None:
        """Wait until the upload ``filename`` was not touched for ``--stale-after`` seconds."""

        async def stale() -> bool:
            (row,) = await self.db("SELECT updated_at FROM files WHERE filename = %s", filename)
            touched = row[0].timestamp() if hasattr(row[0], "timestamp") else row[0] / 1e6
            return time.time() - touched > STALE_AFTER + 1

        await poll_until(stale, what=f"{filename} to go stale", timeout=STALE_AFTER + 30,
                         interval=0.2)

    async def settled(self) -> bool:
        """Whether every file is ``completed`` (nothing under way, failed or deleting)."""
        ((count,),) = await self.db("SELECT count(*) FROM files WHERE status <> 'completed'")
        return bool(count == 0)

    async def unsettled(self) -> list[tuple[Any, ...]]:
        """The files not completed, each with its replicas (for a failure message)."""
        return await self.db(
            "SELECT f.filename, f.status, f.sweep_attempts, f.sweep_after, r.chunk_index,"
            " r.node_id, r.state FROM files f LEFT JOIN chunk_replicas r ON r.file_id = f.id"
            " WHERE f.status <> 'completed' ORDER BY f.filename, r.chunk_index")

    async def lease_holder(self) -> Role | None:
        """The gateway holding the background lease, as the database says."""
        rows = await self.db("SELECT holder FROM leases WHERE name = 'background'")
        if not rows:
            return None
        holder = rows[0][0]
        for g in self.dep.gateways:
            if holder == "standalone" or f":{g.proc.pid}:" in holder:
                return g
        return None

    # -- the gateways' view ------------------------------------------------------

    async def healthy(self, gateway: Role) -> bool:
        try:
            code, _ = await self.http.get_json(f"{gateway.url}/health")
        except Exception:  # noqa: BLE001 - not answering is not healthy
            return False
        return code == 200

    async def wait_node_live(self, node_id: str) -> None:
        """Wait until every gateway takes ``node_id`` for live again."""
        for g in self.dep.gateways:
            async def live(g: Role = g) -> bool:
                _, body = await self.http.get_json(f"{g.url}/nodes")
                return any(n["node_id"] == node_id and n["state"] == "active"
                           for n in body["nodes"])

            await poll_until(live, what=f"{g.name} to see {node_id} up", interval=0.2)

    # -- the end state --------------------------------------------------------------

    async def inventory(self) -> Inventory:
        chunks = await self.db(
            "SELECT c.file_id, c.chunk_index FROM chunks c JOIN files f ON f.id = c.file_id"
            " WHERE f.status = 'completed'")
        replicas = await self.db(
            "SELECT r.file_id, r.chunk_index, c.chunk_id, r.node_id, r.state, f.status"
            " FROM chunk_replicas r"
            " JOIN chunks c ON c.file_id = r.file_id AND c.chunk_index = r.chunk_index"
            " JOIN files f ON f.id = r.file_id")
        on_disk = await deferToThread(self.dep.chunk_inventory)
        stored: dict[str, set[str]] = {n: set() for n in on_disk}
        per_chunk = {(str(f), i): 0 for f, i in chunks}
        inventory = Inventory(on_disk, stored, set(), set(), set(), per_chunk)
        for file_id, index, chunk_id, node_id, state, status in replicas:
            inventory.named.add((node_id, chunk_id))
            if status != "completed":
                continue
            inventory.states.add(state)
            if state == "stored":
                stored.setdefault(node_id, set()).add(chunk_id)
                per_chunk[(str(file_id), index)] += 1
            elif state == "corrupt":
                inventory.corrupt_replicas.add((node_id, chunk_id))
                inventory.corrupt_chunks.add((str(file_id), index))
        return inventory

    def reconciler_totals(self) -> Counter[str]:
        """What the reconcile passes logged, summed over the run and every gateway."""
        totals: Counter[str] = Counter()
        pattern = re.compile(r"reconciled \S+: (\d+) chunks, (\d+) orphans deleted, .*"
                             r" (\d+) writing settled")
        for g in self.dep.gateways:
            for line in g.lines():
                if m := pattern.search(line):
                    totals["orphans deleted"] += int(m.group(2))
                    totals["writing replicas settled"] += int(m.group(3))
        return totals

    def report(self) -> str:
        acked = sum(b.size for b in self.acked.values())
        faults = ", ".join(f"{kind} ×{n}" for kind, n in self.faults.items())
        reconciler = self.reconciler_totals()
        others = Counter(f"{re.sub(r'-[0-9]+$', '-N', name)}: {outcome.short()}"
                         for name, outcome in self.outcomes.items() if outcome.code != 201)
        memory = ", ".join(f"{name} +{mib:.1f} MiB" for name, mib in self.memory.items())
        lines = [
            f"fault scenario ({self.dep.kind}):",
            (f"  uploads acknowledged (201): {len(self.acked)} ({acked / MiB:.1f} MiB)"
             f" of {len(self.outcomes)} attempted; completed without a 201:"
             f" {self.unacknowledged_completed or 'none'}"),
            f"  faults injected: {sum(self.faults.values())}: {faults}",
            "  what the other uploads' clients saw: "
            + ", ".join(f"{what} ×{n}" for what, n in sorted(others.items())),
            (f"  bytes verified byte-exact by download: {self.bytes_verified}"
             f" ({self.bytes_verified / MiB:.1f} MiB)"),
            ("  chunk files that are not stored replicas of completed files (of which no"
             f" replica row names): {_pair(self.orphans_before)} when the last fault ended,"
             f" {_pair(self.orphans_after)} after the final reconcile pass; over the run the"
             f" reconciler deleted {reconciler['orphans deleted']} orphans and settled"
             f" {reconciler['writing replicas settled']} writing replicas"),
            f"  peak memory growth while downloads stalled: {memory}",
            f"  wall time: {time.monotonic() - self.started:.0f} s",
        ]
        return "\n".join(lines)


def _pair(counts: tuple[int, int] | None) -> str:
    return "?" if counts is None else f"{counts[0]} ({counts[1]})"
