"""
The gateway's HTTP API (``docs/http-api.md``) as plain synchronous calls.

:class:`Client` takes its :class:`httpx.Client` through the constructor (build
one with :func:`connect`), turns error replies into :class:`ServerError` and
transport failures into :class:`Unreachable`, and never holds a file body in
memory: uploads are sent from a generator, downloads are handed over as a
streaming response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx

from s3node import __version__
from s3node.cli._errors import ServerError, Unreachable
from s3node.cli._multipart import BLOCK_SIZE, FileForm

__all__ = ["DEFAULT_URL", "Client", "connect"]

#: where ``twistd -n s3node standalone`` listens unless told otherwise
DEFAULT_URL = "http://127.0.0.1:8080"

#: seconds to wait for the server to accept the connection
CONNECT_TIMEOUT = 10.0


def connect(
    url: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    timeout: float = 60.0,
) -> Client:
    """
    A :class:`Client` of the gateway at ``url``.

    :param access_key: with ``secret_key``, sent as HTTP Basic credentials
    :param timeout: seconds any one network operation (connect, a read, a
        write) may take before the call fails as unreachable
    """
    auth = (access_key, secret_key) if access_key is not None and secret_key is not None else None
    http = httpx.Client(
        base_url=url.rstrip("/"),
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        headers={"User-Agent": f"s3node-cli/{__version__}"},
        follow_redirects=False,
        trust_env=False,
    )
    return Client(http)


def file_path(file_id: str, suffix: str = "") -> str:
    """The path of a file's resource, the id escaped so it stays one path segment."""
    return f"/files/{quote(file_id, safe='')}{suffix}"


def node_path(node_id: str, suffix: str = "") -> str:
    """The path of a storage node's resource, the id escaped so it stays one path segment."""
    return f"/nodes/{quote(node_id, safe='')}{suffix}"


class Client:
    """
    Synchronous calls to one s3node gateway.

    :param http: the HTTP client, its ``base_url`` set to the gateway
    """

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return str(self.http.base_url).rstrip("/")

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    @contextmanager
    def _transport(self, method: str, path: str) -> Iterator[None]:
        """Turn httpx's transport failures during ``method path`` into :class:`Unreachable`."""
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise Unreachable(f"cannot connect to {self.url}: {e or type(e).__name__}") from e
        except httpx.TimeoutException as e:
            raise Unreachable(
                f"{method} {path}: the server at {self.url} did not answer in time "
                f"({type(e).__name__})"
            ) from e
        except httpx.TransportError as e:
            raise Unreachable(
                f"{method} {path}: the connection to {self.url} broke: {e or type(e).__name__}"
            ) from e

    def _request(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """Send a request whose reply is small; return the reply, or raise :class:`ServerError`."""
        with self._transport(method, path):
            response = self.http.request(method, path, **kwargs)
        if response.status_code not in ok:
            raise ServerError(method, path, response.status_code, response.content)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return its JSON reply, or raise :class:`ServerError`."""
        return _decoded(method, path, self._request(method, path, **kwargs))

    def upload(self, form: FileForm, on_bytes: Callable[[int], object]) -> dict[str, Any]:
        """
        ``POST /files`` the form's file, streamed; the server's record of it.

        :param on_bytes: called with the size of each block of the file as it is sent
        """
        headers = {"Content-Type": form.content_type, "Content-Length": str(form.content_length)}
        record: dict[str, Any] = self._json(
            "POST", "/files", ok=(201,), content=form.blocks(on_bytes), headers=headers
        )
        return record

    @contextmanager
    def download(self, file_id: str) -> Iterator[Download]:
        """``GET /files/{file_id}`` as a :class:`Download` whose body is read as it arrives."""
        path = file_path(file_id)
        with self._transport("GET", path):
            request = self.http.build_request("GET", path, headers={"Accept-Encoding": "identity"})
            response = self.http.send(request, stream=True)
        try:
            if response.status_code != 200:
                with self._transport("GET", path):
                    body = response.read()
                raise ServerError("GET", path, response.status_code, body)
            yield Download(self, path, response)
        finally:
            response.close()

    def metadata(self, file_id: str) -> dict[str, Any]:
        """``GET /files/{file_id}/metadata``: the record with its chunks and their replicas."""
        found: dict[str, Any] = self._json("GET", file_path(file_id, "/metadata"))
        return found

    def list_files(
        self, *, limit: int, status: str | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """One cursor page of ``GET /files``, newest first."""
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status
        if cursor is not None:
            params["cursor"] = cursor
        page: dict[str, Any] = self._json("GET", "/files", params=params)
        return page

    def iter_files(
        self, *, limit: int, status: str | None = None, cursor: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every file from ``cursor`` on, following ``next_cursor`` a page at a time."""
        while True:
            page = self.list_files(limit=limit, status=status, cursor=cursor)
            yield from page["files"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def delete(self, file_id: str) -> None:
        """``DELETE /files/{file_id}``."""
        self._request("DELETE", file_path(file_id), ok=(204,))

    def health(self) -> tuple[int, dict[str, Any]]:
        """``GET /health``: its status (``200`` or ``503``) and its report."""
        response = self._request("GET", "/health", ok=(200, 503))
        document: dict[str, Any] = _decoded("GET", "/health", response)
        return response.status_code, document

    def nodes(self) -> list[dict[str, Any]]:
        """``GET /nodes``: the storage nodes the gateway knows."""
        nodes: list[dict[str, Any]] = self._json("GET", "/nodes")["nodes"]
        return nodes

    def add_node(self, node: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """``POST /nodes``: register ``node`` (``201``, the node); with ``dry_run``, only
        what adding it would move (``200 {"dry_run", "node", "plan"}``)."""
        params = {"dry_run": "true"} if dry_run else {}
        reply: dict[str, Any] = self._json(
            "POST", "/nodes", ok=(200,) if dry_run else (201,), json=node, params=params)
        return reply

    def node(self, node_id: str) -> dict[str, Any]:
        """``GET /nodes/{node_id}``: the node, its replicas and bytes, its drain progress."""
        found: dict[str, Any] = self._json("GET", node_path(node_id))
        return found

    def drain_node(self, node_id: str) -> dict[str, Any]:
        """``POST /nodes/{node_id}/drain``: start moving every replica off the node."""
        found: dict[str, Any] = self._json("POST", node_path(node_id, "/drain"))
        return found

    def forget_node(self, node_id: str, *, lost: bool = False) -> dict[str, Any]:
        """``DELETE /nodes/{node_id}``: forget a drained node; with ``lost``
        (``?lost=true``), any node, dropping every replica recorded on it."""
        params = {"lost": "true"} if lost else {}
        reply: dict[str, Any] = self._json("DELETE", node_path(node_id), params=params)
        return reply

    def cluster(self) -> dict[str, Any]:
        """``GET /cluster``: the durability view."""
        view: dict[str, Any] = self._json("GET", "/cluster")
        return view

    def keys(self, method: str, suffix: str = "", *, ok: tuple[int, ...] = (200,),
             body: dict[str, Any] | None = None) -> Any:
        """A call of the admin key routes: ``/keys{suffix}``; its JSON reply (``None``
        for ``204``)."""
        path = "/keys" + suffix
        response = self._request(method, path, ok=ok, json=body)
        return None if response.status_code == 204 else _decoded(method, path, response)

    def cluster_plan(self) -> dict[str, Any]:
        """``GET /cluster/plan``: what repair and rebalancing still have to copy and drop."""
        plan: dict[str, Any] = self._json("GET", "/cluster/plan")
        return plan

def _decoded(method: str, path: str, response: httpx.Response) -> Any:
    """The JSON body of ``response``; a body that does not parse is a :class:`ServerError`."""
    try:
        return response.json()
    except ValueError as e:
        raise ServerError(method, path, response.status_code, response.content) from e


class Download:
    """A ``200`` reply to ``GET /files/{id}``, its body not read yet."""

    def __init__(self, client: Client, path: str, response: httpx.Response) -> None:
        self._client = client
        self._path = path
        self.response = response

    @property
    def size(self) -> int | None:
        """The announced ``Content-Length``, if any."""
        value = self.response.headers.get("Content-Length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def etag(self) -> str | None:
        """The ``ETag`` without its quotes: the whole file's checksum."""
        value = self.response.headers.get("ETag")
        return None if value is None else value.strip().removeprefix("W/").strip('"')

    def blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
        """The body, block by block, as it arrives.

        :raises Unreachable: when the connection breaks before ``Content-Length``
            bytes came (the gateway's way of saying a later chunk could not be read)
        """
        with self._client._transport("GET", self._path):
            yield from self.response.iter_raw(block_size)
