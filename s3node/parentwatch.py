"""
:class:`ParentWatchService`: stop a child process when the process that spawned it is gone.

The standalone role spawns its storage nodes (and gateway workers) with a pipe
on their standard input and never writes to it.  When the parent exits, however
it exits (even ``SIGKILL``), the kernel closes its end, the child reads end of
file, and this service calls ``on_gone`` (the role points it at
``reactor.stop``): no orphan outlives its parent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.main import CONNECTION_DONE
from twisted.logger import Logger
from zope.interface import implementer

__all__ = ["ParentWatchService"]

log = Logger()


@implementer(IReadDescriptor)
class _PipeReader:
    """Reads (and drops) whatever comes on ``fd``; its end of file means the parent is gone."""

    def __init__(self, fd: int, gone: Callable[[], object]) -> None:
        self._fd = fd
        self._gone = gone

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return "parent-pipe"

    def doRead(self) -> object:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        return None if data else CONNECTION_DONE

    def connectionLost(self, reason: Any) -> None:
        self._gone()


class ParentWatchService(Service):
    """Call ``on_gone`` once ``fd`` (standard input by default) reaches end of file."""

    def __init__(self, reactor: Any, on_gone: Callable[[], object], fd: int = 0) -> None:
        self.setName("parent watch")
        self._reactor = reactor
        self._on_gone = on_gone
        self._reader = _PipeReader(fd, self._gone)
        self._fd = fd
        self._watching = False

    def startService(self) -> None:
        super().startService()
        os.set_blocking(self._fd, False)
        self._reactor.addReader(self._reader)
        self._watching = True

    def _gone(self) -> None:
        if not self._watching:
            return
        self._watching = False
        log.warn("the parent process is gone (its pipe closed): stopping")  # noqa: G010
        self._on_gone()

    def stopService(self) -> None:
        super().stopService()
        if self._watching:
            self._watching = False
            self._reactor.removeReader(self._reader)
