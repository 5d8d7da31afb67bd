"""
Caps on the transfers a gateway serves at once (``--max-uploads``, ``--max-downloads``).

A :class:`Limiter` admits a request into one of its slots or refuses it at
once with :class:`s3node.errors.Overloaded` (``503`` with ``Retry-After``,
see :mod:`s3node.gateway.errors`): nothing ever waits in a queue.  A route
takes its :class:`Slot` first thing, before it reads a byte of the body, and
the slot stays taken until every part of the request's work has ended: the
route itself, the response (finished, or its connection lost), and whatever
work the route hands on (:meth:`Slot.hold`: the upload pipeline, which keeps
running behind a shield after a client disconnects, until its cleanup is
done).  So the count is the transfers that still hold memory, and each slot is
given back exactly once, on every path.
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

from twisted.internet.defer import Deferred

from s3node.errors import Overloaded

__all__ = ["Limiter", "Slot"]

T = TypeVar("T")


class Limiter:
    """At most ``limit`` requests of one kind (``what``: ``"uploads"``) at once."""

    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        #: slots taken and not given back yet
        self.active = 0

    def take(self, request: Any) -> Slot:
        """
        A slot for ``request``, held at least until its response ends.

        Use the slot as a context manager around the route's own work.

        :raises Overloaded: when every slot is taken
        """
        if self.active >= self.limit:
            raise Overloaded(
                f"the gateway serves {self.limit} {self.what} at once; try again shortly"
            )
        self.active += 1
        slot = Slot(self)
        finished: Deferred[None] = request.notifyFinish()
        slot.hold(finished).addErrback(lambda _: None)  # a lost connection ends it too
        return slot

    def _give_back(self) -> None:
        self.active -= 1


class Slot:
    """
    One admitted request, given back once the route (the ``with`` block), its
    response and every Deferred passed to :meth:`hold` have ended.
    """

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter
        #: parts still under way: the route itself, then one per held Deferred
        self._open = 1
        self._route_done = False

    def hold(self, d: Deferred[T]) -> Deferred[T]:
        """Keep the slot until ``d`` fires; return ``d`` (its result passes untouched)."""
        self._open += 1

        def ended(result: Any) -> Any:
            self._end()
            return result

        d.addBoth(ended)
        return d

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._route_done:
            self._route_done = True
            self._end()

    def _end(self) -> None:
        self._open -= 1
        if self._open == 0:
            self._limiter._give_back()
