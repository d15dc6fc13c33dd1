"""The change feed through the service layer: the policy decides who reads it, the audit log records each page.

An event names a customer and the names of the fields that changed, never a value,
so the feed is not masked; which customers changed is still worth knowing to an
insider, so each page read is recorded (``read`` with ``detail.target = "changes"``,
the cursor range and how many customers it named).
"""

from __future__ import annotations

from custodata.access.actions import CHANGES_READ
from custodata.audit.events import Action
from custodata.changes.feed import Page, read_page
from custodata.service.context import Caller, Services, audited


@audited(Action.READ, target="changes")
def read_changes(svc: Services, caller: Caller, *, after: int = 0, limit: int = 100) -> Page:
    """The change events after cursor ``after`` (at most ``limit``), for those the policy lets read the feed."""
    svc.require(caller, CHANGES_READ, Action.READ)
    page = read_page(svc.ops, after=after, limit=limit)
    named = {e.customer_id for e in page.events if e.customer_id is not None}
    svc.record(caller, Action.READ, customer_count=len(named),
               detail={"target": "changes", "after": after, "through": page.next, "returned": len(page.events)})
    return page
