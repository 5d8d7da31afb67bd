"""
:class:`Lease`: which gateway runs the background workers.

Several gateways may share one PostgreSQL database; the sweeper and the
reconciler must run on one of them at a time.  Each tick asks
:meth:`Lease.hold`, which takes or renews a row in the metadata store's
``leases`` table (:meth:`~s3node.interfaces.MetadataStore.try_lease`) valid for
``ttl`` seconds: the holder keeps it by renewing it, and when the holder dies
another gateway takes it over once it has expired.  Standalone names itself
with a fixed holder id, so a restarted process takes its own lease back at once.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from s3node.errors import S3NodeError
from s3node.interfaces import MetadataStore

__all__ = ["BACKGROUND", "Lease", "process_holder_id"]

log = Logger()

#: the lease of the sweeper and the reconciler
BACKGROUND = "background"


def process_holder_id() -> str:
    """A holder id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One named lease, held by this gateway while it keeps renewing it."""

    def __init__(
        self, store: MetadataStore, clock: IReactorTime, *, name: str, holder: str, ttl: float
    ) -> None:
        self._store = store
        self._clock = clock
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.held = False

    async def hold(self) -> bool:
        """Take or renew the lease; whether this gateway holds it now."""
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)  # type: ignore[misc]
        try:
            held = await self._store.try_lease(
                name=self.name, holder=self.holder, now=now, ttl=self.ttl)
        except S3NodeError as e:
            log.info("cannot renew the {name} lease: {error}", name=self.name, error=e.message)
            held = False
        if held != self.held:
            log.info("{verb} the {name} lease as {holder}", name=self.name, holder=self.holder,
                     verb="took" if held else "lost")
        self.held = held
        return held

    async def release(self) -> None:
        """Give the lease up (at shutdown), so another gateway takes over at once."""
        if not self.held:
            return
        self.held = False
        try:
            await self._store.release_lease(name=self.name, holder=self.holder)
        except S3NodeError as e:
            log.info("cannot release the {name} lease: {error}", name=self.name, error=e.message)
