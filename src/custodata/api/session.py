"""Logging in and out, and who am I: the only routes that take no token (login) or end one (logout)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from custodata.api.deps import CallerDep, ServicesDep, TokenDep, client_address
from custodata.api.schemas import (
    ActivateIn,
    LoginIn,
    LoginOut,
    MfaConfirmIn,
    MfaConfirmOut,
    MfaEnrolIn,
    MfaEnrolOut,
    PrincipalOut,
    principal_out,
)
from custodata.service import auth as auth_service

router = APIRouter(tags=["session"])


@router.post("/login", response_model=LoginOut, responses={401: {"description": "login failed (generic)"}})
def login(body: LoginIn, request: Request, svc: ServicesDep) -> LoginOut:
    """Exchange a login name and password for a bearer token acting in one role.

    Every cause of failure (unknown user, wrong password, lockout, inactive
    account, role not held) gives the same 401, so nobody can probe accounts.  An account with a
    second factor needs ``otp`` (a 401 that says so once the password was right).
    """
    session = auth_service.login(svc, body.person_id, body.password, role=body.role, otp=body.otp,
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


@router.post("/mfa/enrol", response_model=MfaEnrolOut,
             responses={401: {"description": "the password is wrong (generic)"},
                        409: {"description": "a second factor is enrolled already"}})
def mfa_enrol(body: MfaEnrolIn, request: Request, svc: ServicesDep) -> MfaEnrolOut:
    """Start a TOTP enrolment (RFC 6238): the seed is shown once; confirm it with the app's first code."""
    enrolment = auth_service.begin_mfa(svc, body.person_id, body.password, source_address=client_address(request))
    return MfaEnrolOut(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post("/mfa/confirm", response_model=MfaConfirmOut,
             responses={401: {"description": "the password or the code is wrong"}})
def mfa_confirm(body: MfaConfirmIn, request: Request, svc: ServicesDep) -> MfaConfirmOut:
    """Finish the enrolment; the recovery codes are in this answer only (custodata keeps their hashes)."""
    codes = auth_service.confirm_mfa(svc, body.person_id, body.password, body.code,
                                     source_address=client_address(request))
    return MfaConfirmOut(recovery_codes=codes)


@router.post("/logout/everywhere", status_code=204, response_class=Response)
def logout_everywhere(_caller: CallerDep, svc: ServicesDep, bearer_token: TokenDep) -> Response:
    """End every session of the caller (other browsers and devices too), this one included."""
    auth_service.logout_everywhere(svc, bearer_token)
    return Response(status_code=204)


@router.post("/logout", status_code=204, response_class=Response)
def logout(_caller: CallerDep, svc: ServicesDep, bearer_token: TokenDep) -> Response:
    """End this session; the token is refused from now on."""
    auth_service.logout(svc, bearer_token)
    return Response(status_code=204)


@router.get("/me", response_model=PrincipalOut)
def me(caller: CallerDep) -> PrincipalOut:
    return principal_out(caller.principal)
