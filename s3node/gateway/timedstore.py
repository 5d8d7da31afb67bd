"""
:class:`TimedStore`: a metadata store whose every operation is timed for ``/metrics``.

It wraps the gateway's :class:`~s3node.interfaces.MetadataStore` (whatever
the backend) and records each ``async`` operation's duration, failures and
the operations under way in :class:`~s3node.gateway.metrics.GatewayMetrics`,
labelled by the operation's name; everything else (attributes, plain
methods such as ``pool_usage``) is the wrapped store's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, cast

from s3node.gateway.metrics import GatewayMetrics
from s3node.interfaces import MetadataStore

__all__ = ["TimedStore", "timed_store"]


class TimedStore:
    """Forwards to ``store``, timing each coroutine method (looked up on every call)."""

    def __init__(self, store: MetadataStore, metrics: GatewayMetrics) -> None:
        self.wrapped = store
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.wrapped, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        return self._timed(name, attribute)

    def _timed(self, name: str, operation: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            with self._metrics.query_timer(name):
                return await operation(*args, **kwargs)

        return timed

    def __repr__(self) -> str:
        return f"<TimedStore {self.wrapped!r}>"


def timed_store(store: MetadataStore, metrics: GatewayMetrics) -> MetadataStore:
    """``store``, timed (typed as the protocol it forwards)."""
    return cast(MetadataStore, TimedStore(store, metrics))
