"""Customer routes: search before create, the masked 360° view, unmasking one field, lineage, domain counts.

Search is ``POST /customers/search`` with a JSON body and there is no ``GET``
variant: an ID number or a mobile in a query string ends up in proxy and server
access logs and browser history, which the bank's own log retention would then
have to treat as customer data.  Views and lineage take only a customer id
(custodata's own key, not personal data) and the purpose in the URL.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter

from custodata.api.deps import BEARER_SECURITY, CallerDep, ServicesDep, authenticate, bearer_token
from custodata.api.errors import error_response
from custodata.api.schemas import (
    ID_PATTERN,
    NAME_PATTERN,
    CreateIn,
    SearchHit,
    SearchIn,
    UnmaskIn,
    UnmaskOut,
    public,
)
from custodata.audit.log import PendingAppends
from custodata.service import Services
from custodata.service import create as create_service
from custodata.service import customers as customer_service

router = APIRouter(tags=["customers"])

_ANY_DICT = TypeAdapter(dict[str, Any])
CustomerId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64, description="custodata customer id")]
Purpose = Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=64, description="purpose of use")]


@router.post("/customers/search", response_model=list[SearchHit])
def search(body: SearchIn, caller: CallerDep, svc: ServicesDep) -> list[dict[str, Any]]:
    """Customers matching any criterion that the caller may see, names masked for the caller's role."""
    hits = customer_service.search(svc, caller, name=body.name, id_number=body.id_number, mobile=body.mobile,
                                   customer_id=body.customer_id, purpose=body.purpose, limit=body.limit)
    return [public(h) for h in hits]


def _create_answer(outcome: create_service.CreateOutcome) -> Response:
    """201 created, 409 likely duplicates (masked candidates, the one error shape), 202 pending or queued."""
    body: dict[str, Any] = public(outcome)
    if outcome.status == "created":
        return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=201,
                        media_type="application/json")
    if outcome.status == "duplicates":
        refused = error_response(409, "duplicates", f"{len(outcome.candidates) + outcome.outside_scope} likely "
                                 "duplicate(s) of an existing customer: create anyway with a reason (a data "
                                 "steward approves)")
        payload = json.loads(bytes(refused.body))
        payload.update(request_id=outcome.request_id, candidates=body["candidates"],
                       outside_scope=outcome.outside_scope)
        return Response(json.dumps(payload, ensure_ascii=False, default=str), status_code=409,
                        media_type="application/json")
    if outcome.status in ("failed", "rejected"):
        return error_response(422, "create_failed", outcome.error or outcome.status)
    return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=202,
                    media_type="application/json")


@router.post("/customers", status_code=201, response_model=dict[str, Any],
             responses={202: {"description": "queued, or a request a data steward decides"},
                        409: {"description": "likely duplicates, masked"}})
def create(body: CreateIn, caller: CallerDep, svc: ServicesDep) -> Response:
    """Create a customer after a search (search before create): checked for duplicates, or a request with a reason."""
    form = body.form.model_dump(exclude_none=True)
    return _create_answer(create_service.create_customer(svc, caller, form, purpose=body.purpose,
                                                         reason=body.reason))


@router.get("/customers/create/{request_id}", response_model=dict[str, Any])
def create_state(request_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=64)], caller: CallerDep,
                 svc: ServicesDep, wait: Annotated[float, Query(ge=0, le=30)] = 0) -> Response:
    """Where a create stands (after a 202): created, duplicates, pending or queued."""
    return _create_answer(create_service.create_outcome(svc, caller, request_id, wait=wait))


@router.get("/customers/{customer_id}", response_model=dict[str, Any], openapi_extra=BEARER_SECURITY)
async def view(request: Request, customer_id: CustomerId, purpose: Purpose = None) -> Response:
    """The 360° view, masked for the caller's role and purpose (``masked_for`` says which).

    The busiest route: the session is authenticated and the view read, masked and
    serialised in one go, and its audit event (or a refusal's) queued for the log's
    committer; the answer (or the refusal) is sent once that event is committed.
    The services and the bearer token are read here, not solved as dependencies.
    """
    svc: Services = request.app.state.services
    token = bearer_token(request)

    def answer() -> tuple[bytes | None, Exception | None, PendingAppends]:
        with svc.audit.deferred() as pending:
            try:
                caller = authenticate(request, svc, token)
                shown = public(customer_service.view(svc, caller, customer_id, purpose=purpose))
                try:
                    body = json.dumps(shown, ensure_ascii=False, allow_nan=False,
                                      separators=(",", ":")).encode("utf-8")
                except ValueError:  # a NaN or infinity: written as null, as the response model would
                    body = _ANY_DICT.dump_json(shown)
                return body, None, pending
            except Exception as exc:  # sent (by the error handlers) only once its audit event is committed
                return None, exc, pending

    body, error, pending = await run_in_threadpool(answer)
    await pending.wait()
    if error is not None:
        raise error
    return Response(body, media_type="application/json")


@router.post("/customers/{customer_id}/unmask", response_model=UnmaskOut)
def unmask(customer_id: CustomerId, body: UnmaskIn, caller: CallerDep, svc: ServicesDep) -> UnmaskOut:
    """One field in plain for a stated purpose; refused unless an unmask rule allows it, always audited."""
    shown = customer_service.unmask(svc, caller, customer_id, body.field, purpose=body.purpose)
    return UnmaskOut.model_validate(public(shown))


@router.get("/customers/{customer_id}/lineage", response_model=dict[str, Any])
def lineage(customer_id: CustomerId, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    result: dict[str, Any] = public(customer_service.lineage(svc, caller, customer_id))
    return result


@router.get("/domains", response_model=dict[str, Any])
def domains(caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    """Record counts per domain of the data flow; no customer values."""
    result: dict[str, Any] = public(customer_service.domain_counts(svc, caller))
    return result
