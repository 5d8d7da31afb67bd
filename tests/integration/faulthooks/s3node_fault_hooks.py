"""
Fault hooks of the fault-injection scenario: a test build of s3node.

``twistd --reactor=asyncio s3node-faults ROLE [options]`` runs exactly what
``twistd s3node ROLE [options]`` runs (same options, same service tree), with
the storage servicer able to lose a reply on demand.  It is found through
``PYTHONPATH`` (this folder holds a ``twisted/plugins`` entry); nothing of it
ships with s3node.

A hook fires when its trigger file exists in ``$S3NODE_FAULT_DIR``; the first
call that meets it removes the file (so it fires once) and records what it did
in ``<trigger>.fired``:

``lose-put-reply``
    The next put (``PutChunk`` or ``PutSmallChunk``) a node of this process
    *commits* (the chunk is on disk, verified) answers ``UNAVAILABLE`` instead of its reply, as when the
    connection drops right after the commit; the node's next ``DeleteChunk``
    of that chunk (the failed lane's clean-up) is lost the same way, without
    deleting.  ``.fired`` holds ``NODE_ID CHUNK_ID``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from s3node.tap import Options as _Options
from s3node.tap import makeService as _make_service

__all__ = ["Options", "makeService"]

#: (node id, chunk id) whose next delete is lost
_LOST_DELETES: set[tuple[str, str]] = set()


class Options(_Options):
    """The options of ``twistd s3node``; standalone's nodes run this plugin too."""

    twistd_plugin = "s3node-faults"


def _consume(trigger: str, record: str) -> bool:
    """Whether ``trigger`` was armed; if so it is disarmed and ``record`` is saved."""
    folder = os.environ.get("S3NODE_FAULT_DIR")
    if not folder:
        return False
    try:
        os.unlink(Path(folder, trigger))  # one caller wins
    except FileNotFoundError:
        return False
    part = Path(folder, f"{trigger}.fired.part")
    part.write_text(record)
    part.replace(Path(folder, f"{trigger}.fired"))
    return True


def _install() -> None:
    import grpc

    from s3node.storage.servicer import StorageServicer

    put, put_small = StorageServicer.PutChunk, StorageServicer.PutSmallChunk
    delete = StorageServicer.DeleteChunk

    async def lose_reply(self: Any, reply: Any, context: Any) -> Any:
        if _consume("lose-put-reply", f"{self.node_id} {reply.chunk_id}"):
            _LOST_DELETES.add((self.node_id, reply.chunk_id))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "reply lost (fault hook)")
        return reply

    async def PutChunk(self: Any, request_iterator: Any, context: Any) -> Any:
        return await lose_reply(self, await put(self, request_iterator, context), context)

    async def PutSmallChunk(self: Any, request: Any, context: Any) -> Any:
        return await lose_reply(self, await put_small(self, request, context), context)

    async def DeleteChunk(self: Any, request: Any, context: Any) -> Any:
        key = (self.node_id, getattr(request, "chunk_id", ""))
        if key in _LOST_DELETES:
            _LOST_DELETES.discard(key)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "request lost (fault hook)")
        return await delete(self, request, context)

    StorageServicer.PutChunk = PutChunk  # type: ignore[method-assign]
    StorageServicer.PutSmallChunk = PutSmallChunk  # type: ignore[method-assign]
    StorageServicer.DeleteChunk = DeleteChunk  # type: ignore[method-assign]


def makeService(options: Options) -> Any:
    """``s3node.tap.makeService`` with the hooks installed first."""
    _install()
    return _make_service(options)
