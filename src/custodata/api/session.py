"""Logging in and out, and who am I: the only routes that take no token (login) or end one (logout)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from custodata.api.deps import CallerDep, ServicesDep, TokenDep, client_address
from custodata.api.schemas import ActivateIn, LoginIn, LoginOut, PrincipalOut, principal_out
from custodata.service import auth as auth_service

router = APIRouter(tags=["session"])


@router.post("/login", response_model=LoginOut, responses={401: {"description": "login failed (generic)"}})
def login(body: LoginIn, request: Request, svc: ServicesDep) -> LoginOut:
    """Exchange a login name and password for a bearer token acting in one role.

    Every cause of failure (unknown user, wrong password, lockout, inactive
    account, role not held) gives the same 401, so nobody can probe accounts.
    """
    session = auth_service.login(svc, body.person_id, body.password, role=body.role,
                                 source_address=client_address(request))
    person = principal_out(session.principal)
    return LoginOut(token=session.token, expires_at=session.expires_at, person=person, role=person.role)


@router.post("/activate", status_code=204, response_class=Response,
             responses={401: {"description": "the current password is wrong (generic)"}})
def activate(body: ActivateIn, request: Request, svc: ServicesDep) -> Response:
    """Replace a password (a one-time password an administrator set, or one's own) with a new one.

    A one-time password opens no session; this is the only thing it can do.
    """
    auth_service.activate(svc, body.person_id, body.password, body.new_password,
                          source_address=client_address(request))
    return Response(status_code=204)


@router.post("/logout", status_code=204, response_class=Response)
def logout(_caller: CallerDep, svc: ServicesDep, bearer_token: TokenDep) -> Response:
    """End this session; the token is refused from now on."""
    auth_service.logout(svc, bearer_token)
    return Response(status_code=204)


@router.get("/me", response_model=PrincipalOut)
def me(caller: CallerDep) -> PrincipalOut:
    return principal_out(caller.principal)
