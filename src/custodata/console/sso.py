"""The console's single sign-on: ``/login/sso`` to the institution's OpenID provider and back.

The authorization request's secrets (state, nonce, PKCE verifier) and where to go afterwards
travel in one short-lived cookie, encrypted under the console's key, so any server process
that shares the key can finish the login and nothing of it is in a URL.  That cookie is
``SameSite=Lax``: it must come back on the provider's top-level redirect, which a Strict
cookie would not.  The session cookie set at the end is Strict, as for a password login, so
the last hop is a page of this site moving on to the target (a redirect straight from the
callback would still be the provider's navigation, and the browser would withhold it).
"""

# No `from __future__ import annotations`: FastAPI must evaluate the route annotations.

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import secrets
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from custodata.audit.events import Result
from custodata.console.login import _roles, _safe_next
from custodata.console.web import Console, _source, route_class
from custodata.identity.errors import AuthenticationError
from custodata.identity.oidc import ProviderUnavailable
from custodata.service import sso

SSO_COOKIE = "custodata_sso"
SSO_PATH = "/login/sso"
SSO_TTL_SECONDS = 600


def _aead(key: bytes) -> AESGCM:
    return AESGCM(hmac.new(key, b"custodata console sso v1", hashlib.sha256).digest())


def seal_flow(key: bytes, flow: dict[str, str], *, now: float | None = None) -> str:
    """One login's state, nonce, verifier, target and role, encrypted, valid for ``SSO_TTL_SECONDS``."""
    plain = json.dumps({**flow, "exp": int((time.time() if now is None else now) + SSO_TTL_SECONDS)}).encode()
    nonce = secrets.token_bytes(12)
    return base64.urlsafe_b64encode(nonce + _aead(key).encrypt(nonce, plain, b"sso")).decode().rstrip("=")


def open_flow(key: bytes, sealed: str | None, *, now: float | None = None) -> dict[str, str] | None:
    """The flow :func:`seal_flow` sealed, or None (absent, altered, another deployment's, expired)."""
    if not sealed or len(sealed) > 4096:
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        data = json.loads(_aead(key).decrypt(raw[:12], raw[12:], b"sso"))
        expired = int(data.get("exp", 0)) < (time.time() if now is None else now)
    except (ValueError, TypeError, AttributeError, InvalidTag):
        return None
    if expired or not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items() if k != "exp"}


def _moving_on(target: str, label: str) -> HTMLResponse:
    """A same-site page that goes on to ``target``: the browser then sends the Strict session cookie."""
    url = html.escape(target, quote=True)
    body = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0;url={url}"><title>custodata</title></head>'
            f'<body><p><a href="{url}">{html.escape(label)}</a></p></body></html>')
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


def routes(console: Console) -> APIRouter:
    router = APIRouter(route_class=route_class(console), include_in_schema=False)

    def _failed(request: Request, next: str, status: int = 401) -> Response:
        ctx = console.anonymous(request)
        response = console.render(ctx, "login.html", status=status, next=_safe_next(next), roles=_roles(),
                                  expired=False, logged_out=False, failed=False, person_id="", sso=True,
                                  sso_failed=True)
        _clear_flow(response)
        return response

    def _clear_flow(response: Response) -> None:
        response.delete_cookie(SSO_COOKIE, httponly=True, samesite="lax", secure=console.settings.secure_cookies,
                               path=SSO_PATH)

    @router.get("/login/sso")
    def start(request: Request, next: str = "/", role: str = "") -> Response:
        """Send the browser to the provider with a fresh state, nonce and PKCE challenge."""
        if console.svc.identity_settings.oidc is None:
            return console.redirect("/login")
        try:
            auth = sso.start(console.svc)
        except ProviderUnavailable:
            return _failed(request, next, status=503)
        flow = {"state": auth.state, "nonce": auth.nonce, "verifier": auth.code_verifier,
                "next": _safe_next(next), "role": role[:32]}
        response = console.redirect(auth.url)
        response.set_cookie(SSO_COOKIE, seal_flow(console.settings.csrf_key, flow), max_age=SSO_TTL_SECONDS,
                            httponly=True, samesite="lax", secure=console.settings.secure_cookies, path=SSO_PATH)
        return response

    @router.get("/login/sso/callback")
    def callback(request: Request, code: str = "", state: str = "", error: str = "", iss: str = "") -> Response:
        """The provider's answer: state checked against this browser's flow, then the code traded and judged."""
        if console.svc.identity_settings.oidc is None:
            return console.redirect("/login")
        gate = sso.admission(console.svc)
        address = _source(request)
        flow = open_flow(console.settings.csrf_key, request.cookies.get(SSO_COOKIE))
        reason = None
        if flow is None:
            reason = "no login in progress in this browser (or it expired)"
        elif not state or not hmac.compare_digest(state.encode()[:256], flow["state"].encode()):
            reason = "state does not match this browser's login"
        elif iss and iss != gate.settings.issuer:  # RFC 9207: the answer names who sent it
            reason = "iss of the answer is not the configured issuer"
        elif error:
            reason = "the provider refused: " + "".join(c for c in error[:64] if c.isalnum() or c in "_-")
        elif not code:
            reason = "no authorization code"
        target = flow["next"] if flow else "/"
        if reason is not None or flow is None:
            gate.refuse(Result.FAILED, reason or "no login in progress", via="console", source_address=address)
            return _failed(request, target)
        try:
            session = sso.finish(console.svc, code, code_verifier=flow["verifier"], nonce=flow["nonce"],
                                 role=flow.get("role") or None, source_address=address)
        except AuthenticationError:
            return _failed(request, target)
        except ProviderUnavailable:
            return _failed(request, target, status=503)
        response = _moving_on(_safe_next(target), console.translator(request)("login.submit"))
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # the store's expiry is naive UTC
        max_age = max(0, int((session.expires_at - now).total_seconds()))
        console.set_session(response, session.token, max_age)
        _clear_flow(response)
        return response

    return router
