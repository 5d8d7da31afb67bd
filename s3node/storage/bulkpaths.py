"""
The bulk paths from the gateway to one storage node, as the node's last
Health named them: its bulk port (:func:`~s3node.storage.bulkclient.bulk_put`)
and its local socket (:func:`~s3node.storage.bulkclient.bulk_put_local`,
:func:`~s3node.storage.bulkclient.bulk_get_local`).  Used by
:class:`~s3node.storage.client.StorageClient`, which falls back to gRPC when
neither path takes a call.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from s3node._proto.storage.v1 import storage_pb2 as pb
from s3node.config import NodeAuth
from s3node.core import chunking
from s3node.errors import InvalidRequest, S3NodeError, TimedOut, Unavailable
from s3node.storage.bulkclient import bulk_get_local, bulk_put, bulk_put_local

__all__ = ["BULK_THREADS", "BulkPaths"]

#: bulk calls to one node in progress at once, each on a thread of its own (more wait
#: for one); a gateway has at most ``--max-uploads`` times three chunks out per node
BULK_THREADS = 16


class BulkPaths:
    """
    The bulk paths to the node at ``address`` (``host:port``), none until
    :meth:`learn` is told a Health reply; never with TLS (``auth.tls``).
    """

    def __init__(self, address: str, auth: NodeAuth | None) -> None:
        self._where = address
        self._host = address.rpartition(":")[0].strip("[]")
        self._allowed = auth is None or auth.tls is None
        self._secret = auth.secrets[0] if auth is not None and auth.secrets else b""
        #: the node's bulk port, from its last Health (0: none known)
        self.port = 0
        #: the abstract name of the node's local socket, from its last Health
        #: ("": none known, or not reachable from this host)
        self.local = ""
        #: the node id Health named (a bulk call is meant for that node only)
        self._node_id = ""
        #: the threads bulk calls run on (created with the first)
        self._executor: ThreadPoolExecutor | None = None

    def learn(self, reply: pb.HealthResponse) -> None:
        """Take the paths a Health reply names."""
        if self._allowed:
            self.port, self._node_id, self.local = reply.bulk_port, reply.node_id, reply.bulk_local

    def _threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=BULK_THREADS,
                                                thread_name_prefix="s3node-bulk")
        return self._executor

    async def put(self, header: pb.PutChunkHeader, data: memoryview,
                  timeout: float | None) -> pb.PutChunkResponse | None:
        """
        Put ``data`` (bytes) as ``header`` says: through the local socket when
        ``data`` views a chunk in a memfd (``chunking.shared_fd``), else (or when
        the node is not on this host) on the bulk port; ``None`` when neither
        path is known or takes it (the caller uses gRPC).  A path that turns
        out wrong is forgotten until the next Health.
        """
        if not self.port:
            return None
        fd = chunking.shared_fd(data) if self.local else None
        if fd is not None:
            try:
                reply = await bulk_put_local(self.local, self._secret, header, fd,
                                             where=self._where, executor=self._threads(),
                                             node_id=self._node_id, timeout=timeout)
            except BaseException as e:
                if not isinstance(e, S3NodeError) or isinstance(e, (Unavailable, TimedOut)):
                    chunking.retire(data)  # the node may still be reading the memfd
                raise
            if reply is not None:
                return reply
            self.local = ""  # not on this host, or not this node: its bulk port
        reply = await bulk_put(self._host, self.port, self._secret, header, data,
                               where=self._where, executor=self._threads(),
                               node_id=self._node_id, timeout=timeout)
        if reply is None:
            self.port = 0  # not this node's port now: gRPC until the next Health says
        return reply

    async def get(self, request: pb.GetChunkRequest, size: int,
                  timeout: float | None) -> list[bytes] | None:
        """
        The ``size`` bytes ``request`` reads, through the local socket;
        ``None`` when it is not known or not reachable (then forgotten until
        the next Health), or the node refused the read as invalid (GetChunk
        then says what is wrong).
        """
        if not self.local:
            return None
        try:
            pieces = await bulk_get_local(self.local, self._secret, request, size,
                                          where=self._where, executor=self._threads(),
                                          node_id=self._node_id, timeout=timeout)
        except InvalidRequest:
            return None
        if pieces is None:
            self.local = ""  # not on this host, or not this node: GetChunk
        return pieces

    def close(self) -> None:
        """Let the threads go (calls in progress end with their sockets)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
