"""Logging in and out, the home redirect, and the language switch."""

# No `from __future__ import annotations`: FastAPI must evaluate the Depends(console.…) annotations
# of the route functions, which refer to a local of routes().

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from custodata.console.web import Console, Ctx, _source, route_class
from custodata.errors import StateError
from custodata.identity.errors import (
    AuthenticationError,
    MfaEnrolmentRequired,
    MfaRequired,
    PasswordChangeRequired,
    WeakPasswordError,
)
from custodata.service import auth


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a phishing link land on a look-alike.

    Browsers drop tab and newline from a URL before reading it, so ``/<tab>/evil.example`` would go to
    ``//evil.example``: a target with any control character is refused.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    return target


def routes(console: Console) -> APIRouter:
    router = APIRouter(route_class=route_class(console), include_in_schema=False)

    @router.get("/")
    def home(ctx: Annotated[Ctx, Depends(console.page)]) -> Response:
        links = ctx.nav()
        if not links:
            return console.render(ctx, "home.html")
        return console.redirect(links[0][0])

    @router.get("/login")
    def login_form(request: Request, next: str = "/", expired: bool = False, out: bool = False) -> Response:
        ctx = console.anonymous(request)
        return console.render(ctx, "login.html", next=_safe_next(next), roles=_roles(), expired=expired,
                              logged_out=out, failed=False, person_id="", sso=_sso(console))

    @router.post("/login")
    def login(request: Request, person_id: Annotated[str, Form(max_length=64)],
              password: Annotated[str, Form(max_length=256)], role: Annotated[str, Form(max_length=32)] = "",
              next: Annotated[str, Form(max_length=512)] = "/",
              otp: Annotated[str, Form(max_length=24)] = "") -> Response:
        # No CSRF token before a session exists: SameSite=Strict on the cookie set here and the
        # password itself are what a forged login post lacks.
        ctx = console.anonymous(request)
        try:
            session = auth.login(console.svc, person_id.strip(), password, role=role or None,
                                 source_address=_source(request), otp=otp.strip() or None)
        except (MfaRequired, MfaEnrolmentRequired) as exc:
            flag = "need_otp" if isinstance(exc, MfaRequired) else "need_enrol"
            return console.render(ctx, "login.html", status=401, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=False, person_id=person_id.strip(),
                                  sso=_sso(console), **{flag: True})
        except PasswordChangeRequired:
            return console.render(ctx, "login.html", status=401, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=False, must_change=True,
                                  person_id=person_id.strip())
        except AuthenticationError:
            return console.render(ctx, "login.html", status=401, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=True, person_id=person_id.strip(),
                                  sso=_sso(console))
        return _signed_in(session, next)

    @router.get("/mfa/enrol")
    def mfa_form(request: Request) -> Response:
        return console.render(console.anonymous(request), "mfa.html", person_id="")

    @router.post("/mfa/enrol")
    def mfa_enrol(request: Request, person_id: Annotated[str, Form(max_length=64)],
                  password: Annotated[str, Form(max_length=256)]) -> Response:
        """Start a TOTP enrolment proven by the password (no session yet: a role held to MFA opens none)."""
        ctx = console.anonymous(request)
        pid = person_id.strip()
        try:
            enrolment = auth.begin_mfa(console.svc, pid, password, source_address=_source(request))
        except AuthenticationError:
            return console.render(ctx, "mfa.html", status=401, failed=True, person_id=pid)
        except StateError:
            return console.render(ctx, "mfa.html", status=409, already=True, person_id=pid)
        return console.render(ctx, "mfa.html", secret=enrolment.secret, uri=enrolment.uri, person_id=pid)

    @router.post("/mfa/confirm")
    def mfa_confirm(request: Request, person_id: Annotated[str, Form(max_length=64)],
                    password: Annotated[str, Form(max_length=256)],
                    code: Annotated[str, Form(max_length=12)]) -> Response:
        """Finish the enrolment; the recovery codes are on this page only."""
        ctx = console.anonymous(request)
        pid = person_id.strip()
        try:
            codes = auth.confirm_mfa(console.svc, pid, password, code.strip(), source_address=_source(request))
        except (AuthenticationError, StateError):
            return console.render(ctx, "mfa.html", status=401, failed=True, person_id=pid)
        return console.render(ctx, "mfa.html", codes=codes, person_id=pid)

    @router.post("/activate")
    def activate(request: Request, person_id: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=256)],
                 new_password: Annotated[str, Form(max_length=256)], role: Annotated[str, Form(max_length=32)] = "",
                 next: Annotated[str, Form(max_length=512)] = "/") -> Response:
        """Replace a one-time password, then log in with the new one (no CSRF token: no session yet)."""
        ctx = console.anonymous(request)
        source = _source(request)
        try:
            auth.activate(console.svc, person_id.strip(), password, new_password, source_address=source)
            session = auth.login(console.svc, person_id.strip(), new_password, role=role or None,
                                 source_address=source)
        except AuthenticationError:
            return console.render(ctx, "login.html", status=401, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=True, person_id=person_id.strip())
        except WeakPasswordError as exc:
            return console.render(ctx, "login.html", status=422, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=False, must_change=True,
                                  weak=str(exc), person_id=person_id.strip())
        return _signed_in(session, next)

    def _signed_in(session: Any, next: str) -> Response:
        response: RedirectResponse = console.redirect(_safe_next(next))
        expires = getattr(session, "expires_at", None)
        max_age = None
        if isinstance(expires, dt.datetime):
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            max_age = max(0, int((expires.replace(tzinfo=None) - now).total_seconds()))
        console.set_session(response, session.token, max_age)
        return response

    @router.post("/logout/everywhere")
    def logout_everywhere(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        if ctx.token:
            auth.logout_everywhere(console.svc, ctx.token)
        response = console.redirect("/login?out=1")
        console.clear_session(response)
        return response

    @router.post("/logout")
    def logout(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        if ctx.token:
            auth.logout(console.svc, ctx.token)
        response = console.redirect("/login?out=1")
        console.clear_session(response)
        return response

    return router


def _sso(console: Console) -> bool:
    """Whether the login page offers the institution's single sign-on (an OIDC provider is configured)."""
    return console.svc.identity_settings.oidc is not None


def _roles() -> list[str]:
    from custodata.identity.roles import ROLES

    return list(ROLES)
