"""Maker-checker routes: change and export requests, the approvals inbox, decisions, export downloads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.responses import FileResponse

from custodata.api.deps import CallerDep, ServicesDep
from custodata.api.schemas import ID_PATTERN, DecisionIn, RequestIn, public
from custodata.service import governance

router = APIRouter(tags=["requests"])

RequestId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
ExportId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


@router.post("/requests", status_code=201, response_model=dict[str, Any])
def create_request(body: RequestIn, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    """Ask for a change or an export; another person with the right role decides."""
    result: dict[str, Any] = public(governance.request(svc, caller, body.kind, dict(body.payload),
                                                       reason=body.reason))
    return result


@router.get("/requests/inbox", response_model=list[dict[str, Any]])
def inbox(caller: CallerDep, svc: ServicesDep) -> list[dict[str, Any]]:
    """Pending requests the caller may decide (never their own)."""
    return [public(r) for r in governance.inbox(svc, caller)]


@router.get("/requests/mine", response_model=list[dict[str, Any]])
def mine(caller: CallerDep, svc: ServicesDep) -> list[dict[str, Any]]:
    return [public(r) for r in governance.mine(svc, caller)]


@router.post("/requests/{request_id}/approve", response_model=dict[str, Any],
             responses={202: {"description": "a change: approved and queued; follow its job at /jobs/{job_id}"}})
def approve(request_id: RequestId, body: DecisionIn, caller: CallerDep, svc: ServicesDep,
            response: Response) -> dict[str, Any]:
    """Approve: a change is queued as a job (202, with the job), an export is produced for the requester."""
    decided = governance.decide(svc, caller, request_id, approve=True, note=body.note)
    if isinstance(decided, governance.Queued):
        response.status_code = 202
        queued: dict[str, Any] = {**public(decided.request), "job": public(decided.job.summary())}
        return queued
    result: dict[str, Any] = public(decided)
    return result


@router.post("/requests/{request_id}/reject", response_model=dict[str, Any])
def reject(request_id: RequestId, body: DecisionIn, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    result: dict[str, Any] = public(governance.decide(svc, caller, request_id, approve=False, note=body.note))
    return result


@router.get("/exports/{export_id}/download", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the watermarked file"}})
def download(export_id: ExportId, caller: CallerDep, svc: ServicesDep) -> FileResponse:
    """The approved export file, only for its recipient and before it expires."""
    path = governance.download(svc, caller, export_id)
    media = "text/csv" if path.suffix == ".csv" else "application/octet-stream"
    return FileResponse(path, media_type=media, filename=path.name)
