"""Logging in and out, the home redirect, and the language switch."""

# No `from __future__ import annotations`: FastAPI must evaluate the Depends(console.…) annotations
# of the route functions, which refer to a local of routes().

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from custodata.console.web import Console, Ctx, _source, route_class
from custodata.identity.errors import AuthenticationError, PasswordChangeRequired, WeakPasswordError
from custodata.service import auth


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a phishing link land on a look-alike."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
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
                              logged_out=out, failed=False, person_id="")

    @router.post("/login")
    def login(request: Request, person_id: Annotated[str, Form(max_length=64)],
              password: Annotated[str, Form(max_length=256)], role: Annotated[str, Form(max_length=32)] = "",
              next: Annotated[str, Form(max_length=512)] = "/") -> Response:
        # No CSRF token before a session exists: SameSite=Strict on the cookie set here and the
        # password itself are what a forged login post lacks.
        ctx = console.anonymous(request)
        try:
            session = auth.login(console.svc, person_id.strip(), password, role=role or None,
                                 source_address=_source(request))
        except PasswordChangeRequired:
            return console.render(ctx, "login.html", status=401, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=False, must_change=True,
                                  person_id=person_id.strip())
        except AuthenticationError:
            return console.render(ctx, "login.html", status=401, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=True, person_id=person_id.strip())
        return _signed_in(session, next)

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

    @router.post("/logout")
    def logout(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        if ctx.token:
            auth.logout(console.svc, ctx.token)
        response = console.redirect("/login?out=1")
        console.clear_session(response)
        return response

    return router


def _roles() -> list[str]:
    from custodata.identity.roles import ROLES

    return list(ROLES)
