"""The pull feed: pages of change events after a cursor, and following the outbox as it grows.

The embedded default needs nothing more: a system downstream asks for the events
after the last ``seq`` it has processed (``GET /api/v1/changes?after=``, or
``custodata changes follow``), and keeps that cursor itself.  Delivery through a
broker (:mod:`custodata.changes.publisher`) reads the same pages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from custodata.changes.outbox import StoredEvent, read_events
from custodata.ops.store import OpsStore

MAX_LIMIT = 1_000


@dataclass(frozen=True)
class Page:
    """Events after ``after``; ``next`` is the cursor to ask with next time (``after`` when empty)."""

    after: int
    events: list[StoredEvent]
    more: bool  # a full page: more may follow at once

    @property
    def next(self) -> int:
        return self.events[-1].seq if self.events else self.after

    def public(self) -> dict[str, Any]:
        return {"after": self.after, "next": self.next, "more": self.more,
                "events": [e.public() for e in self.events]}


def read_page(ops: OpsStore, *, after: int = 0, limit: int = 100) -> Page:
    """At most ``limit`` (≤ :data:`MAX_LIMIT`) events with ``seq`` > ``after``, oldest first."""
    limit = max(1, min(limit, MAX_LIMIT))
    with ops.read() as con:
        events = read_events(con, after=max(after, 0), limit=limit)
    return Page(after, events, len(events) == limit)


def follow(
    ops: OpsStore, *, after: int = 0, limit: int = 100, poll: float = 1.0, once: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[StoredEvent]:
    """Every event after ``after`` as it is committed; ``once``: only what is there now."""
    cursor = after
    while not stop():
        page = read_page(ops, after=cursor, limit=limit)
        yield from page.events
        cursor = page.next
        if page.more:
            continue
        if once:
            return
        time.sleep(poll)


__all__ = ["MAX_LIMIT", "Page", "follow", "read_page"]
