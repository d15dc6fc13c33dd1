"""Routes about the system rather than a customer: health and the catalogue of sensitive fields."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from custodata import __version__
from custodata.api.deps import CallerDep, ServicesDep
from custodata.api.errors import error_response
from custodata.api.schemas import ErrorOut, Health, public
from custodata.service import admin

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health, responses={503: {"model": ErrorOut}})
def health(svc: ServicesDep) -> Any:
    """Liveness for load balancers: no login, no data, only whether the operational store answers."""
    try:
        with svc.ops.read() as con:
            con.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return error_response(503, "unavailable", "the operational store does not answer")
    return Health(status="ok", version=__version__)


@router.get("/catalogue", response_model=list[dict[str, Any]])
def catalogue(caller: CallerDep, svc: ServicesDep) -> list[dict[str, Any]]:
    """Where the sensitive fields are: column, type, category and level (no values)."""
    return [public(e) for e in admin.catalogue(svc, caller)]
