"""Audit routes: query the hash-chained log, verify it, export it (auditors)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from custodata.api.deps import CallerDep, ServicesDep
from custodata.api.schemas import ID_PATTERN, VerifyOut, public
from custodata.audit.events import Action
from custodata.service import admin

router = APIRouter(tags=["audit"])


def _naive_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """The log stores naive UTC; an aware time from a client is converted, not misread."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


@router.get("/audit/events", response_model=list[dict[str, Any]])
def events(
    caller: CallerDep, svc: ServicesDep,
    actor: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
    customer_id: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
    action: Action | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Events matching every filter given, oldest first; the query itself is audited."""
    found = admin.audit_query(svc, caller, actor=actor, customer_id=customer_id,
                              action=action.value if action else None, since=_naive_utc(since),
                              until=_naive_utc(until), limit=limit, offset=offset)
    return [public(e) for e in found]


@router.get("/audit/verify", response_model=VerifyOut)
def verify(caller: CallerDep, svc: ServicesDep) -> VerifyOut:
    """Recompute the hash chain and check the signed checkpoints; names the first bad entry."""
    report = admin.audit_verify(svc, caller)
    return VerifyOut(ok=bool(report.ok), checked=int(report.checked), first_bad_seq=report.first_bad_seq,
                     problem=getattr(report, "problem", None), trust_anchor=getattr(report, "trust_anchor", None),
                     anchored=int(getattr(report, "anchored", 0)), warnings=list(getattr(report, "warnings", ())))


@router.get("/audit/export", response_class=FileResponse,
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}})
def export(caller: CallerDep, svc: ServicesDep, format: Literal["jsonl", "csv"] = "jsonl") -> FileResponse:  # noqa: A002
    """The whole log as JSON lines or CSV for the auditor's own tools; the export is audited."""
    folder = Path(tempfile.mkdtemp(prefix="custodata-audit-"))
    path = folder / f"audit.{format}"
    try:
        admin.audit_export(svc, caller, path, fmt=format)
    except BaseException:
        _remove(folder)
        raise
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return FileResponse(path, media_type=media, filename=path.name, background=BackgroundTask(_remove, folder))


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
