"""
The Klein app: the files API, a thin adapter over the file service.

:class:`Gateway` holds its collaborators (store, node pool, the
:class:`~s3node.gateway.files.FileService` over the pipelines and the
sweeper) and serves the routes of ``docs/http-api.md``: each route parses its
request, calls the file service, and renders the result.  Errors are raised,
never answered here: :mod:`s3node.gateway.errors` turns them into JSON.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from klein import Klein
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node._aio import shielded
from s3node.config import parse_node_id
from s3node.errors import (
    ConfigurationError,
    InvalidRequest,
    describe,
)
from s3node.gateway.access import request_id_of
from s3node.gateway.admin import ClusterAdmin, durability_json, node_json
from s3node.gateway.auth import RestAuth, check_signed_body, needs
from s3node.gateway.download import DownloadPipeline
from s3node.gateway.errors import install_error_handlers
from s3node.gateway.figures import DurabilityFigures
from s3node.gateway.files import FileService
from s3node.gateway.formupload import FormFileSource, body_length, check_declared_length
from s3node.gateway.headers import content_disposition, range_of
from s3node.gateway.jsonio import json_body, json_response
from s3node.gateway.keyring import KeyRing
from s3node.gateway.keyroutes import install_key_routes
from s3node.gateway.lease import Lease
from s3node.gateway.limits import Limiter
from s3node.gateway.metrics import GatewayMetrics
from s3node.gateway.nodes import NodePool
from s3node.gateway.openapi import FILE_ID_PATTERN, openapi_document
from s3node.gateway.permissions import (
    ADMIN,
    FILES_DELETE,
    FILES_READ,
    FILES_UPLOAD,
    PUBLIC,
)
from s3node.gateway.reconciler import Reconciler
from s3node.gateway.repair import Repairer
from s3node.gateway.streaming import abort_connection
from s3node.gateway.sweeper import Sweeper
from s3node.gateway.upload import UploadPipeline
from s3node.interfaces import MetadataStore
from s3node.metrics import ProcessMetrics, render
from s3node.records import MAX_PAGE_SIZE, FileRecord, FileStatus, ReplicaState

__all__ = ["Gateway", "file_json"]

log = Logger()

#: seconds the health check waits for the database
DB_PING_TIMEOUT = 2.0


def file_json(record: FileRecord) -> dict[str, Any]:
    """The JSON form of a file record."""
    return {
        "file_id": str(record.file_id),
        "filename": record.filename,
        "size": record.size,
        "content_type": record.content_type,
        "checksum": record.checksum,
        "checksum_algorithm": record.checksum_algorithm,
        "status": record.status.value,
        "created_at": record.created_at.isoformat(),
        "damaged": record.damaged,
    }


def _flag(request: Any, name: bytes) -> bool:
    """A ``true``/``false`` query parameter (absent: false)."""
    values = request.args.get(name)
    if not values:
        return False
    if values[-1] not in (b"true", b"false"):
        raise InvalidRequest(f"{name.decode()} must be true or false")
    return bool(values[-1] == b"true")


#: a file id in its one canonical form: lowercase hex, dashed, 36 ASCII characters
_CANONICAL_UUID = re.compile(FILE_ID_PATTERN)


def _file_id(text: str) -> uuid.UUID:
    """A file id from a path: the canonical form only (one file, one URL), else ``400``."""
    if not _CANONICAL_UUID.fullmatch(text):
        raise InvalidRequest(
            f"not a file id (a UUID in canonical form: lowercase, dashed): {text[:100]!r}")
    return uuid.UUID(text)


def _int_arg(request: Any, name: str, default: int, low: int, high: int) -> int:
    values = request.args.get(name.encode())
    if not values:
        return default
    text = values[0].decode("utf-8", "replace")
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise InvalidRequest(f"{name} must be a whole number, not {text[:40]!r}")
    value = int(text)
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}, not {value}")
    return value


def _node_id(text: str) -> str:
    """A node id from a path, as ``--node`` accepts them, else ``400`` (never logged raw)."""
    try:
        return parse_node_id(text)
    except ConfigurationError:
        raise InvalidRequest(f"not a node id: {text[:70]!r}") from None


#: the two ways of paging ``GET /files``; one request uses one of them
_NUMBERED = (b"page", b"per_page")
_CURSOR = (b"cursor", b"limit")


def _paging(request: Any) -> str:
    """``"cursor"`` or ``"numbered"``: which paging a listing asks for (``400`` for both)."""
    numbered = [n.decode() for n in _NUMBERED if n in request.args]
    cursor = [n.decode() for n in _CURSOR if n in request.args]
    if numbered and cursor:
        raise InvalidRequest(
            f"{' and '.join(numbered)} cannot be combined with {' and '.join(cursor)}:"
            " page with page/per_page or with limit/cursor")
    return "cursor" if cursor else "numbered"


def _status_arg(request: Any) -> FileStatus | None:
    values = request.args.get(b"status")
    if not values:
        return None
    text = values[0].decode("utf-8", "replace")
    try:
        return FileStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in FileStatus)
        raise InvalidRequest(f"unknown status {text[:40]!r} (one of {known})") from None


class Gateway:
    """The HTTP front of s3node."""

    app = Klein()
    install_error_handlers(app)
    install_key_routes(app)

    def __init__(
        self,
        store: MetadataStore,
        pool: NodePool,
        uploads: UploadPipeline,
        downloads: DownloadPipeline,
        sweeper: Sweeper,
        reconciler: Reconciler,
        lease: Lease,
        clock: IReactorTime,
        *,
        replicas: int,
        upload_slots: Limiter,
        download_slots: Limiter,
        admin: ClusterAdmin,
        repairer: Repairer,
        keys: KeyRing,
        metrics: ProcessMetrics | None = None,
        figures: DurabilityFigures | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.uploads = uploads
        self.downloads = downloads
        self.sweeper = sweeper
        self.reconciler = reconciler
        self.lease = lease
        self.admin = admin
        self.repairer = repairer
        self.clock = clock
        #: the access keys (shared with the S3 API) and the REST routes' checks of them
        self.keys = keys
        self.auth = RestAuth(keys)
        self.replicas = replicas
        #: ``--max-uploads`` and ``--max-downloads``
        self.upload_slots = upload_slots
        self.download_slots = download_slots
        #: the process's metrics, served at ``/metrics``, and the gateway's own instruments
        self.process_metrics = metrics if metrics is not None else ProcessMetrics()
        self.metrics = self.process_metrics.part(GatewayMetrics)
        self.figures = figures
        #: what every front end does with files; the routes adapt it to HTTP
        self.files = FileService(store, uploads, downloads, sweeper, clock)

    def resource(self) -> Any:
        """The twisted.web resource of this gateway."""
        return self.app.resource()

    def services(self) -> list[Service]:
        """
        The gateway's periodic workers — node health checks, the sweeper, the
        reconciler, repair, the durability figures — as services for the
        role's service to run as its children.
        """
        workers: list[Service] = [self.pool.service(), self.sweeper.service(),
                                  self.reconciler.service(), self.repairer.service()]
        if self.figures is not None:
            workers.append(self.figures.service())
        return workers

    async def close(self, *, grace: float) -> None:
        """
        The gateway's part of a stop, once nothing new comes in (the listener
        and the workers have stopped): uploads under way get ``grace`` seconds
        to end, then their connections are aborted so that each records its
        outcome (``fail_file``) while the store still answers; then the work
        the routes started in the background ends, the lease is given up and
        the node clients close.  The metadata store is the caller's to close,
        after this.
        """
        await self.files.close(grace=grace)
        await self.lease.release()
        await self.pool.close()

    def check_length(self, request: Any) -> None:
        """An upload whose declared size is over ``--max-file-size``: ``413`` at once."""
        check_declared_length(body_length(request), self.files.max_file_size)

    @app.route("/files", methods=["POST"])
    @needs(FILES_UPLOAD, before=lambda gateway, request: gateway.check_length(request))
    async def upload(self, request: Any) -> bytes:
        # Beyond --max-uploads: 503 before a byte of the body is read.  The slot
        # is held until the response ends and the pipeline has cleaned up.
        check_signed_body(request, None)  # streamed: checked by its own sha256
        with self.upload_slots.take(request) as slot:
            source = FormFileSource(request.body, request.getHeader(b"content-type"),
                                    max_file_size=self.files.max_file_size,
                                    body_length=body_length(request))
            # Shielded: a client that disconnects makes Klein cancel this handler, but
            # the pipeline must still record the chunks it wrote and fail the file.
            work = self.files.store(source, abort=lambda: abort_connection(request))
            stored = await shielded(slot.hold(work))
        record = stored.record
        request.setHeader(b"location", f"/files/{record.file_id}".encode())
        return json_response(request, {**file_json(record), "chunk_count": stored.chunk_count}, 201)

    @app.route("/files", methods=["GET"])
    @needs(FILES_READ)
    async def list_files(self, request: Any) -> bytes:
        status = _status_arg(request)
        if _paging(request) == "cursor":
            limit = _int_arg(request, "limit", 20, 1, MAX_PAGE_SIZE)
            cursor = (request.args.get(b"cursor") or [b""])[0].decode("utf-8", "replace")
            cpage = await self.files.list_after(
                cursor=cursor or None, limit=limit, status=status
            )
            return json_response(request, {
                "files": [file_json(f) for f in cpage.files],
                "limit": limit,
                "next_cursor": cpage.next_cursor,
            })
        page = _int_arg(request, "page", 1, 1, 10**9)
        per_page = _int_arg(request, "per_page", 20, 1, MAX_PAGE_SIZE)
        result = await self.files.list_page(page=page, per_page=per_page, status=status)
        return json_response(request, {
            "files": [file_json(f) for f in result.files],
            "page": result.page,
            "per_page": result.per_page,
            "total": result.total,
            "total_pages": result.total_pages,
        })

    @app.route("/files/<string:file_id>", methods=["GET", "HEAD"])
    @needs(FILES_READ)
    async def download(self, request: Any, file_id: str) -> bytes:
        if request.method == b"HEAD":  # sends no body: not counted as a download
            return await self._send_file(request, file_id)
        # Beyond --max-downloads: 503; the slot is held until the response ends.
        with self.download_slots.take(request):
            return await self._send_file(request, file_id)

    async def _send_file(self, request: Any, file_id: str) -> bytes:
        fwc = await self.files.open(_file_id(file_id))
        record = fwc.file
        size = record.size or 0
        request.setHeader(b"accept-ranges", b"bytes")
        request.setHeader(b"etag", f'"{record.checksum}"'.encode("ascii"))
        request.setHeader(b"content-type", record.content_type.encode("latin-1", "replace"))
        request.setHeader(b"content-disposition",
                          content_disposition(record.filename).encode("ascii"))
        header = request.getHeader(b"range")
        r = range_of(request, header.decode("latin-1") if header else None, size)
        if request.method == b"HEAD":
            return b""
        await self.files.stream(request, fwc, r)
        return b""

    @app.route("/files/<string:file_id>/metadata", methods=["GET"])
    @needs(FILES_READ)
    async def metadata(self, request: Any, file_id: str) -> bytes:
        fwc = await self.files.describe(_file_id(file_id))
        chunks = [
            {"index": c.index, "size": c.size, "checksum": c.checksum,
             "checksum_algorithm": c.checksum_algorithm,
             "nodes": list(c.nodes_with(ReplicaState.STORED)),
             "replicas": [{"node_id": r.node_id, "state": r.state.value} for r in c.replicas]}
            for c in fwc.chunks
        ]
        return json_response(request, {**file_json(fwc.file), "inline": fwc.inline is not None,
                                       "chunks": chunks})

    @app.route("/files/<string:file_id>", methods=["DELETE"])
    @needs(FILES_DELETE)
    async def delete(self, request: Any, file_id: str) -> bytes:
        await self.files.delete(_file_id(file_id))
        request.setResponseCode(204)
        return b""

    @app.route("/health", methods=["GET"])
    @needs(PUBLIC)
    async def health(self, request: Any) -> bytes:
        database = "ok"
        try:
            d = Deferred.fromCoroutine(self.store.ping())
            d.addTimeout(DB_PING_TIMEOUT, self.clock)
            await d
        except Exception as e:  # noqa: BLE001 - any failure means unavailable
            database = "unavailable"
            log.info("health: database does not answer: {error}",
                     error=describe(e), request_id=request_id_of(request))
        nodes = self.pool.nodes()
        live = sum(1 for n in nodes if self.pool.is_live(n.node_id))
        ok = database == "ok" and live >= self.replicas
        return json_response(request, {
            "status": "ok" if ok else "unavailable",
            "database": database,
            "replicas": self.replicas,
            "live_nodes": live,
            "nodes": [node_json(n, live=self.pool.is_live(n.node_id)) for n in nodes],
            "durability": self._durability_summary(),
        }, 200 if ok else 503)

    def _durability_summary(self) -> dict[str, Any] | None:
        """The last periodic durability count (``None`` before the first), for ``/health``."""
        last = self.figures.last if self.figures is not None else None
        if last is None:
            return None
        return {**durability_json(last.counts, self.replicas), "counted_at": last.at}

    @app.route("/nodes", methods=["GET"])
    @needs(ADMIN)
    def nodes(self, request: Any) -> bytes:
        return json_response(request, {"nodes": [node_json(n, live=self.pool.is_live(n.node_id))
                                         for n in self.pool.nodes()]})

    @app.route("/nodes", methods=["POST"])
    @needs(ADMIN)
    async def add_node(self, request: Any) -> bytes:
        node = self.admin.parse_node(await json_body(request))
        if _flag(request, b"dry_run"):
            plan = await self.admin.plan(add=node)
            return json_response(request, {"dry_run": True, "node": node_json(node), "plan": plan.json()})
        added = await self.admin.add_node(node)
        log.info("node {node_id} added", node_id=added.node_id, request_id=request_id_of(request))
        return json_response(request, await self.admin.node(added.node_id), 201)

    @app.route("/nodes/<string:node_id>", methods=["GET"])
    @needs(ADMIN)
    async def node(self, request: Any, node_id: str) -> bytes:
        return json_response(request, await self.admin.node(_node_id(node_id)))

    @app.route("/nodes/<string:node_id>/drain", methods=["POST"])
    @needs(ADMIN)
    async def drain_node(self, request: Any, node_id: str) -> bytes:
        return json_response(request, await self.admin.drain(_node_id(node_id)))

    @app.route("/nodes/<string:node_id>", methods=["DELETE"])
    @needs(ADMIN)
    async def forget_node(self, request: Any, node_id: str) -> bytes:
        _node_id(node_id)
        lost = _flag(request, b"lost")
        dropped = await self.admin.forget(node_id, lost=lost)
        return json_response(request, {"node_id": node_id, "lost": lost, "replicas_dropped": dropped})

    @app.route("/cluster", methods=["GET"])
    @needs(ADMIN)
    async def cluster(self, request: Any) -> bytes:
        return json_response(request, await self.admin.cluster())

    @app.route("/cluster/plan", methods=["GET"])
    @needs(ADMIN)
    async def cluster_plan(self, request: Any) -> bytes:
        return json_response(request, (await self.admin.plan()).json())

    @app.route("/metrics", methods=["GET"])
    @needs(ADMIN)
    async def metrics_page(self, request: Any) -> bytes:
        return await render(self.process_metrics, request)

    @app.route("/openapi.json", methods=["GET"])
    @needs(PUBLIC)
    def openapi(self, request: Any) -> bytes:
        return json_response(request, openapi_document())

    async def wait_background(self) -> None:
        """Wait for the immediate sweeps that DELETE started (at shutdown)."""
        await self.files.wait_background()
