"""Identity administration routes: people, status, roles, portfolios (administrators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from custodata.api.deps import CallerDep, ServicesDep
from custodata.api.schemas import (
    ID_PATTERN,
    NAME_PATTERN,
    PersonIn,
    PersonOut,
    PortfolioIn,
    PortfolioOut,
    RoleIn,
    StatusIn,
    person_out,
    public,
)
from custodata.service import admin

router = APIRouter(tags=["people"])

PersonId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64, description="login name")]
RoleName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]


@router.get("/people", response_model=list[PersonOut])
def people(caller: CallerDep, svc: ServicesDep) -> list[PersonOut]:
    return [person_out(p) for p in admin.people(svc, caller)]


@router.post("/people", status_code=201, response_model=PersonOut)
def create(body: PersonIn, caller: CallerDep, svc: ServicesDep) -> PersonOut:
    """Create a person with a one-time password; the roles given become a request a security officer decides.

    Separation of duties is checked on the roles now (409 if violated); ``pending_request`` names
    the role-grant request.  The password opens no session until its holder replaces it
    (``POST /activate``).
    """
    person, request = admin.create_person(svc, caller, body.person_id, body.display_name, body.kind, body.branch,
                                          password=body.password, roles=body.roles, valid_to=body.valid_to)
    out = person_out(person)
    out.pending_request = request.request_id if request is not None else None
    return out


@router.post("/people/{person_id}/status", response_model=PersonOut | dict[str, Any],
             responses={202: {"description": "making a person active again is a request a security officer decides"}})
def set_status(person_id: PersonId, body: StatusIn, caller: CallerDep, svc: ServicesDep,
               response: Response) -> PersonOut | dict[str, Any]:
    """Left or frozen ends the person's live sessions at once; a return to active is a request (202)."""
    result = admin.set_status(svc, caller, person_id, body.status, reason=body.reason)
    if hasattr(result, "request_id"):
        response.status_code = 202
        filed: dict[str, Any] = public(result)
        return filed
    return person_out(result)


@router.post("/people/{person_id}/roles", status_code=202, response_model=dict[str, Any])
def grant(person_id: PersonId, body: RoleIn, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    """Ask for a role for someone else (202: a security officer decides; never for oneself)."""
    result: dict[str, Any] = public(admin.grant_role(svc, caller, person_id, body.role))
    return result


@router.delete("/people/{person_id}/roles/{role}", response_model=PersonOut)
def revoke(person_id: PersonId, role: RoleName, caller: CallerDep, svc: ServicesDep) -> PersonOut:
    """Sessions acting in the revoked role end on their next request."""
    return person_out(admin.revoke_role(svc, caller, person_id, role))


@router.delete("/people/{person_id}/mfa", status_code=204, response_class=Response)
def reset_mfa(person_id: PersonId, caller: CallerDep, svc: ServicesDep) -> Response:
    """Remove a person's second factor and recovery codes (a lost phone); their sessions end at once."""
    admin.reset_mfa(svc, caller, person_id)
    return Response(status_code=204)


@router.put("/people/{person_id}/portfolio", response_model=PortfolioOut)
def set_portfolio(person_id: PersonId, body: PortfolioIn, caller: CallerDep, svc: ServicesDep) -> PortfolioOut:
    """Replace the customers assigned to the person (what an outsourced agent may reach).

    Removals are at once; customers added become a request a security officer decides
    (``pending_request``), since they widen what the person reaches.
    """
    kept, request = admin.set_portfolio(svc, caller, person_id, body.customer_ids)
    return PortfolioOut(person_id=person_id, customer_ids=kept,
                        pending_request=request.request_id if request is not None else None)
