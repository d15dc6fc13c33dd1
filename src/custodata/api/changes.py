"""The change feed route: the events after a cursor, for the systems downstream (no customer values)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from custodata.api.deps import CallerDep, ServicesDep
from custodata.changes.feed import MAX_LIMIT
from custodata.service import changes as change_service

router = APIRouter(tags=["changes"])

After = Annotated[int, Query(ge=0, le=2**62,
                             description="the cursor: the last seq already processed (0: from the start)")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many events")]


@router.get("/changes", response_model=dict[str, Any])
def list_changes(caller: CallerDep, svc: ServicesDep, after: After = 0, limit: Limit = 100) -> dict[str, Any]:
    """Change events with seq > ``after``, oldest first: kind, customer, version, field names, ids merged or split.

    Ask again with ``after=next``; ``more`` says a full page came back.  Each event's
    ``event_id`` is its idempotency key.
    """
    return change_service.read_changes(svc, caller, after=after, limit=limit).public()
