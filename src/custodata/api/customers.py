"""Customer routes: search before create, the masked 360° view, unmasking one field, lineage, domain counts.

Search is ``POST /customers/search`` with a JSON body and there is no ``GET``
variant: an ID number or a mobile in a query string ends up in proxy and server
access logs and browser history, which the bank's own log retention would then
have to treat as customer data.  Views and lineage take only a customer id
(custodata's own key, not personal data) and the purpose in the URL.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

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

# The 360° view reads its two parameters itself (see view): checked by the same patterns, and on a
# mismatch by pydantic with the same constraints, so the 422 names the same errors as a solved parameter.
_ID = re.compile(ID_PATTERN)
_NAME = re.compile(NAME_PATTERN)
_STRICT_ID: TypeAdapter[str] = TypeAdapter(Annotated[str, Path(pattern=ID_PATTERN, max_length=64)])
_STRICT_NAME: TypeAdapter[str] = TypeAdapter(Annotated[str, Query(pattern=NAME_PATTERN, max_length=64)])
_VIEW_PARAMETERS: dict[str, object] = {"parameters": [
    {"name": "customer_id", "in": "path", "required": True, "description": "custodata customer id",
     "schema": {"type": "string", "pattern": ID_PATTERN, "maxLength": 64, "title": "Customer Id",
                "description": "custodata customer id"}},
    {"name": "purpose", "in": "query", "required": False, "description": "purpose of use",
     "schema": {"anyOf": [{"type": "string", "pattern": NAME_PATTERN, "maxLength": 64}, {"type": "null"}],
                "title": "Purpose", "description": "purpose of use"}},
]}


def _view_parameters(request: Request) -> tuple[str, str | None]:
    """The view's customer id and purpose, validated as FastAPI would (422, same error shape) without solving them.

    Solving two declared parameters was a dependency walk and a pydantic call each on every
    view; a match of the same pattern is all a well-formed request needs.
    """
    customer_id = str(request.path_params.get("customer_id", ""))
    purpose = request.query_params.get("purpose")
    errors: list[Any] = []
    if _ID.fullmatch(customer_id) is None or len(customer_id) > 64:
        errors += _errors_at(_STRICT_ID, customer_id, ("path", "customer_id"))
    if purpose is not None and (_NAME.fullmatch(purpose) is None or len(purpose) > 64):
        errors += _errors_at(_STRICT_NAME, purpose, ("query", "purpose"))
    if errors:
        raise RequestValidationError(errors)
    return customer_id, purpose


def _errors_at(adapter: TypeAdapter[str], value: str, loc: tuple[str, ...]) -> list[Any]:
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return [{**err, "loc": (*loc, *err["loc"])} for err in exc.errors()]
    return [{"type": "string_pattern_mismatch", "loc": loc, "msg": "String should match the pattern",
             "input": value}]


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


@router.get("/customers/{customer_id}", response_model=dict[str, Any],
            openapi_extra={**BEARER_SECURITY, **_VIEW_PARAMETERS})
async def view(request: Request) -> Response:
    """The 360° view, masked for the caller's role and purpose (``masked_for`` says which).

    The busiest route: the session is authenticated and the view read, masked and
    serialised in one go, and its audit event (or a refusal's) queued for the log's
    committer; the answer (or the refusal) is sent once that event is committed.
    The services, the bearer token, the customer id and the purpose are read here, not
    solved as dependencies (the spec still names them).
    """
    customer_id, purpose = _view_parameters(request)
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
