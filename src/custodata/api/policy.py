"""Policy routes: the current document as YAML, its versions, importing a new one, explaining a field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from custodata.api.deps import CallerDep, ServicesDep
from custodata.api.schemas import NAME_PATTERN, PolicyIn, public
from custodata.service import admin

router = APIRouter(tags=["policy"])

PolicyName = Annotated[str, Query(pattern=NAME_PATTERN, max_length=64)]


@router.get("/policy", response_class=PlainTextResponse,
            responses={200: {"content": {"application/yaml": {}}, "description": "the policy document"}})
def current(caller: CallerDep, svc: ServicesDep,
            version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> PlainTextResponse:
    """The policy document (access and masking) as YAML: the current version, or the one asked for."""
    text = admin.policy_export(svc, caller, version)
    return PlainTextResponse(text, media_type="application/yaml")


@router.get("/policy/versions", response_model=list[dict[str, Any]])
def versions(caller: CallerDep, svc: ServicesDep) -> list[dict[str, Any]]:
    return [public(v) for v in admin.policy_history(svc, caller)]


@router.put("/policy", status_code=202, response_model=dict[str, Any])
def replace(body: PolicyIn, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    """Propose a new version: validated in full now, in force once another security officer approves.

    The answer is the pending request, with the diff and what the new version widens.
    """
    result: dict[str, Any] = public(admin.policy_import(svc, caller, body.document, comment=body.comment))
    return result


@router.get("/policy/explain", response_model=dict[str, Any])
def explain(caller: CallerDep, svc: ServicesDep, role: PolicyName, field: PolicyName,
            purpose: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=64)] = None) -> dict[str, Any]:
    """How a field is shown to a role for a purpose, and which rule decides it."""
    return {"role": role, "field": field, "purpose": purpose,
            "explanation": admin.policy_explain(svc, caller, role, field, purpose)}
