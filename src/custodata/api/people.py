"""Identity administration routes: people, status, roles, portfolios (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

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
    """Create a person; separation of duties is enforced on the roles given (409 if violated)."""
    person = admin.create_person(svc, caller, body.person_id, body.display_name, body.kind, body.branch,
                                 password=body.password, roles=body.roles, valid_to=body.valid_to)
    return person_out(person)


@router.post("/people/{person_id}/status", response_model=PersonOut)
def set_status(person_id: PersonId, body: StatusIn, caller: CallerDep, svc: ServicesDep) -> PersonOut:
    """Left or frozen ends the person's live sessions at once."""
    return person_out(admin.set_status(svc, caller, person_id, body.status, reason=body.reason))


@router.post("/people/{person_id}/roles", response_model=PersonOut)
def grant(person_id: PersonId, body: RoleIn, caller: CallerDep, svc: ServicesDep) -> PersonOut:
    return person_out(admin.grant_role(svc, caller, person_id, body.role))


@router.delete("/people/{person_id}/roles/{role}", response_model=PersonOut)
def revoke(person_id: PersonId, role: RoleName, caller: CallerDep, svc: ServicesDep) -> PersonOut:
    """Sessions acting in the revoked role end on their next request."""
    return person_out(admin.revoke_role(svc, caller, person_id, role))


@router.put("/people/{person_id}/portfolio", response_model=PortfolioOut)
def set_portfolio(person_id: PersonId, body: PortfolioIn, caller: CallerDep, svc: ServicesDep) -> PortfolioOut:
    """Replace the customers assigned to the person (what an outsourced agent may reach)."""
    kept = admin.set_portfolio(svc, caller, person_id, body.customer_ids)
    return PortfolioOut(person_id=person_id, customer_ids=kept)
