"""One error shape for every failure, and the mapping from custodata's errors to HTTP statuses.

Every error body is ``{"error": {"code", "message", "rule"?, "fields"?}}``.  A
refusal by policy says which rule refused (403); a failed login or a dead
session says nothing more than the generic message (401).  Validation errors
name the offending fields but never echo the submitted value: an ID number or a
password typed into the wrong box must not come back in a response or a log.
Anything unexpected is a 500 with a generic message; the traceback goes to the
server log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from custodata.audit.events import Action, Result
from custodata.audit.log import AuditDamagedError
from custodata.errors import ConfigError, CryptoError, CustodataError, NotFoundError, StateError
from custodata.identity.errors import AuthenticationError
from custodata.service import AccessDenied
from custodata.service import auth as auth_service

log = logging.getLogger("custodata.api")

INTERNAL_ERROR = "internal error: the request could not be completed; it has been logged"


def error_response(status: int, code: str, message: str, *, rule: str | None = None,
                   fields: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if rule is not None:
        body["rule"] = rule
    if fields is not None:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _is_conflict(exc: BaseException) -> bool:
    """Separation of duties and existing login names: the request is valid but clashes with the state."""
    return any(t.__name__ in {"SeparationOfDutiesError", "PersonExistsError"} for t in type(exc).__mro__)


def to_response(exc: Exception) -> JSONResponse:
    """The HTTP answer for an exception raised by the service layer."""
    if isinstance(exc, AccessDenied):
        decision = exc.decision
        return error_response(403, "denied", str(decision.reason if decision is not None else exc),
                              rule=getattr(decision, "rule", None))
    if isinstance(exc, AuthenticationError):
        return error_response(401, "unauthenticated", str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, NotFoundError):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, AuditDamagedError):  # nothing can be audited, so nothing is served: say why
        return error_response(503, "audit_unavailable", str(exc), headers={"Retry-After": "300"})
    if _is_conflict(exc) or isinstance(exc, StateError):
        return error_response(409, "conflict", str(exc))
    if isinstance(exc, ConfigError | ValueError):
        return error_response(422, "invalid", str(exc))
    if isinstance(exc, PermissionError):
        return error_response(403, "denied", str(exc))
    if isinstance(exc, CryptoError):
        log.error("crypto failure serving a request: %s", type(exc).__name__)
        return error_response(500, "internal", INTERNAL_ERROR)
    if isinstance(exc, CustodataError):
        return error_response(400, "refused", str(exc))
    log.exception("unexpected error serving a request", exc_info=exc)
    return error_response(500, "internal", INTERNAL_ERROR)


def _validation_fields(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why, never the input itself (pydantic's ``input`` and ``ctx`` may hold it)."""
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        out.append({"loc": loc, "message": str(err.get("msg", "invalid")), "type": str(err.get("type", ""))})
    return out


# what a refused request was trying to do, by its path (the audit action of the refusal)
_PATH_ACTIONS: tuple[tuple[str, Action], ...] = (
    ("/customers/search", Action.SEARCH), ("/unmask", Action.UNMASK), ("/lineage", Action.READ),
    ("/customers/", Action.READ), ("/requests", Action.CHANGE_REQUEST), ("/people", Action.IDENTITY_CHANGE),
    ("/policy", Action.POLICY_CHANGE), ("/audit", Action.AUDIT_QUERY), ("/alerts", Action.AUDIT_QUERY),
)


def _audit_invalid(request: Request, fields: list[dict[str, Any]]) -> None:
    """A malformed request from a logged-in person is an audited refusal too (issue 10 point 21).

    Schema validation runs before the route's dependencies, so the caller is found here from
    the bearer token; an anonymous or expired one is not recorded (nobody to name).  The event
    names the fields that were wrong, never the values sent.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    svc = getattr(request.app.state, "services", None)
    if scheme.lower() != "bearer" or not token or len(token) > 512 or svc is None:
        return
    try:
        caller = auth_service.authenticate(svc, token.strip(), source_address=request.client.host
                                           if request.client else None)
    except AuthenticationError:
        return
    path = request.url.path
    route = request.scope.get("route")
    action = next((a for key, a in _PATH_ACTIONS if key in path), Action.ADMIN)
    svc.record(caller, action, Result.FAILED, reason="the request is not valid",
               detail={"operation": f"{request.method} {getattr(route, 'path', 'unknown route')}",
                       "fields": [".".join(f["loc"]) for f in fields][:20]})


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 — registered for this type only
        fields = _validation_fields(exc)
        await run_in_threadpool(_audit_invalid, request, fields)
        return error_response(422, "invalid", "the request is not valid: see fields", fields=fields)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 — registered for this type only
        code = {401: "unauthenticated", 403: "denied", 404: "not_found", 405: "method_not_allowed",
                413: "too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))

    async def on_error(_request: Request, exc: Exception) -> JSONResponse:
        return to_response(exc)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(CustodataError, on_error)
    app.add_exception_handler(ValueError, on_error)
    app.add_exception_handler(LookupError, on_error)
    app.add_exception_handler(PermissionError, on_error)
    app.add_exception_handler(Exception, on_error)
