"""What the identity tests read back from the audit log: one action's events, detail unfolded."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from custodata.audit import tables as audit_tables
from custodata.service import Services


def events(svc: Services, action: str) -> list[dict[str, Any]]:
    a = audit_tables.audit_event
    with svc.ops.read() as con:
        rows = con.execute(sa.select(a.c.actor, a.c.result, a.c.reason, a.c.detail).where(a.c.action == action)
                           .order_by(a.c.seq)).all()
    out = []
    for r in rows:
        detail = json.loads(r.detail) if isinstance(r.detail, str) else (r.detail or {})
        out.append({"actor": r.actor, "result": r.result, "reason": r.reason, **detail})
    return out
