"""The console's request plumbing: who is asking, in which language, rendering, and errors as pages.

Every page authenticates through :func:`custodata.service.auth.authenticate`
on every request, so a person who left or was frozen is thrown out at the next
click.  Errors never reach the API's JSON handlers: the console's routes catch
them and render a page in the person's language that says what refused them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from custodata.console import charts, display
from custodata.console.display import DEFAULT_TIMEZONE, Shower
from custodata.console.i18n import Translator, pick_lang
from custodata.console.labels import reason_zh
from custodata.console.security import (
    CSRF_FIELD,
    LANG_COOKIE,
    SEARCH_COOKIE,
    SEARCH_TTL_SECONDS,
    SESSION_COOKIE,
    ConsoleSettings,
    CsrfError,
    LoginRequired,
    check_csrf,
    csrf_token,
    open_search,
    seal_search,
)
from custodata.errors import ConfigError, CustodataError, NotFoundError, StateError
from custodata.service import auth
from custodata.service.context import AccessDenied, Caller, Services

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"

# (path, label key, actions any one of which shows the link): hiding is a courtesy, the service layer enforces.
NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/search", "nav.search", ("customer.search",)),
    ("/mine", "nav.mine", ("customer.search",)),  # only where the row rule knows a portfolio (Ctx.nav)
    ("/flow", "nav.flow", ("domains.read",)),
    ("/catalogue", "nav.catalogue", ("catalogue.read",)),
    ("/approvals", "nav.approvals", ("change.request", "change.approve", "export.request", "export.approve",
                                     "people.write", "policy.write")),
    ("/audit", "nav.audit", ("audit.read",)),
    ("/people", "nav.people", ("people.read",)),
    ("/policies", "nav.policies", ("policy.read",)),
    ("/alerts", "nav.alerts", ("alerts.read",)),
)


def when(value: object, zone: str = DEFAULT_TIMEZONE) -> str:
    """A time to the second in the console's time zone (stored times are UTC); microseconds help nobody."""
    return display.when(value, zone)


def shown(value: object) -> str:
    """A profile value as plain text: lists joined, tag records as ``name: value``, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, dict):
        name = value.get("name")
        return f"{name}: {value.get('value')}" if name is not None else ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "、".join(shown(v) for v in value)
    return when(value) if isinstance(value, dt.datetime) else str(value)


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass
class Ctx:
    """One request as the console sees it: the person (if signed in), the language, the session."""

    console: Console
    request: Request
    t: Translator
    caller: Caller | None = None
    token: str | None = None
    form: FormData = field(default_factory=FormData)

    @property
    def svc(self) -> Services:
        return self.console.svc

    @property
    def me(self) -> Caller:
        if self.caller is None:
            raise LoginRequired("not signed in")
        return self.caller

    @property
    def csrf(self) -> str:
        return csrf_token(self.console.settings.csrf_key, self.token or "")

    def can(self, *actions: str) -> bool:
        """Whether the policy would allow any of ``actions`` (for showing links and forms only)."""
        if self.caller is None:
            return False
        engine = self.svc.engine
        now = self.svc.clock()
        return any(engine.check(self.caller.principal, a, at=now).allowed for a in actions)

    def nav(self) -> list[tuple[str, str]]:
        return [(path, self.t(key)) for path, key, actions in NAV
                if self.can(*actions) and (path != "/mine" or self.has_portfolio_scope())]

    def has_portfolio_scope(self) -> bool:
        """Whether the person's row rule reaches customers by portfolio (an agent's, a clerk's own clients)."""
        scope = self.svc.engine.row_scope(self.me.principal, action="customer.read")
        return scope in ("portfolio", "branch")

    def field(self, name: str) -> str:
        """A form field as stripped text ('' when absent)."""
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def fields(self, name: str) -> list[str]:
        """Every value of a repeated form field (checkboxes), stripped, empties dropped."""
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]


class Console:
    """The console bound to one :class:`Services`; one per process."""

    def __init__(self, svc: Services, settings: ConsoleSettings | None = None) -> None:
        self.svc = svc
        self.settings = settings or ConsoleSettings()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.Undefined,
            trim_blocks=True, lstrip_blocks=True,
        )
        self.env.globals.update(bar_chart=charts.bar_chart, flow_chart=charts.flow_chart, CSRF_FIELD=CSRF_FIELD)
        zone = self.settings.timezone
        self.env.filters.update(shown=shown, money=display.money, number=display.number,
                                when=lambda v: display.when(v, zone), day=lambda v: display.day(v, zone))
        self.env.globals.update(withheld_chip=display.withheld_chip, is_token=display.is_token)

    # ---- request context ----------------------------------------------------------------------

    def translator(self, request: Request) -> Translator:
        return Translator(pick_lang(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)))

    def _authenticate(self, request: Request) -> Ctx:
        ctx = Ctx(self, request, self.translator(request))
        request.state.console_ctx = ctx
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise LoginRequired("no session")
        ctx.caller = auth.authenticate(self.svc, token, source_address=_source(request))
        ctx.token = token
        return ctx

    def page(self, request: Request) -> Ctx:
        """Dependency of GET pages: the signed-in person, or a redirect to the login page."""
        return self._authenticate(request)

    async def post(self, request: Request) -> Ctx:
        """Dependency of POST forms: signed in and carrying this session's CSRF token."""
        form = await request.form()
        ctx = await run_in_threadpool(self._authenticate, request)
        submitted = form.get(CSRF_FIELD)
        check_csrf(self.settings.csrf_key, ctx.token or "", submitted if isinstance(submitted, str) else None)
        ctx.form = form
        return ctx

    def anonymous(self, request: Request) -> Ctx:
        ctx = Ctx(self, request, self.translator(request))
        request.state.console_ctx = ctx
        return ctx

    # ---- responses ----------------------------------------------------------------------------

    def render(self, ctx: Ctx, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        show = Shower(ctx.t, self.settings.timezone)
        html = self.env.get_template(template).render(ctx=ctx, t=ctx.t, show=show, when=show.when, **values)
        response = HTMLResponse(html, status_code=status)
        self._remember_lang(ctx, response)
        return response

    def _remember_lang(self, ctx: Ctx, response: Response) -> None:
        asked = ctx.request.query_params.get("lang")
        if asked is not None:
            response.set_cookie(LANG_COOKIE, pick_lang(asked), max_age=365 * 24 * 3600, httponly=True,
                                samesite="strict", secure=self.settings.secure_cookies, path=self.settings.cookie_path)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def set_session(self, response: Response, token: str, max_age: int | None) -> None:
        response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
                            secure=self.settings.secure_cookies, path=self.settings.cookie_path)

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict",
                               secure=self.settings.secure_cookies, path=self.settings.cookie_path)
        self.clear_search(response)

    # ---- search criteria, kept out of URLs (see console.security.seal_search) -------------------

    def _search_path(self) -> str:
        return self.settings.cookie_path.rstrip("/") + "/search"

    def set_search(self, response: Response, ctx: Ctx, criteria: dict[str, str]) -> None:
        sealed = seal_search(self.settings.csrf_key, ctx.token or "", criteria)
        response.set_cookie(SEARCH_COOKIE, sealed, max_age=SEARCH_TTL_SECONDS, httponly=True, samesite="strict",
                            secure=self.settings.secure_cookies, path=self._search_path())

    def open_search(self, ctx: Ctx) -> dict[str, str] | None:
        return open_search(self.settings.csrf_key, ctx.token or "", ctx.request.cookies.get(SEARCH_COOKIE))

    def clear_search(self, response: Response) -> None:
        response.delete_cookie(SEARCH_COOKIE, httponly=True, samesite="strict",
                               secure=self.settings.secure_cookies, path=self._search_path())

    def error_response(self, request: Request, exc: Exception) -> Response:
        """An exception as a page: login again, a refusal that names its rule, or a plain error."""
        from custodata.identity.errors import AuthenticationError, SeparationOfDutiesError

        ctx: Ctx = getattr(request.state, "console_ctx", None) or self.anonymous(request)
        t = ctx.t
        if isinstance(exc, LoginRequired | AuthenticationError):
            expired = request.cookies.get(SESSION_COOKIE) is not None
            target = request.url.path if request.method == "GET" else "/"
            url = f"/login?next={quote(target, safe='/')}" + ("&expired=1" if expired else "")
            response = self.redirect(url)
            if expired:
                self.clear_session(response)
            return response
        ctx.caller = ctx.caller if ctx.token else None
        if isinstance(exc, CsrfError):
            return self._error(ctx, 403, t("error.403"), t("error.csrf"))
        if isinstance(exc, AccessDenied):
            return self._error(ctx, 403, t("error.403"), _refusal(t, exc), rule=_rule_of(exc))
        if isinstance(exc, SeparationOfDutiesError):
            return self._error(ctx, 409, t("error.409"), *_said(t, exc, "error.sod"))
        if isinstance(exc, PermissionError):  # e.g. deciding one's own request, another's export
            return self._error(ctx, 403, t("error.403"), *_said(t, exc, "error.403.generic"))
        if isinstance(exc, NotFoundError | LookupError):
            return self._error(ctx, 404, t("error.404"), *_said(t, exc, "error.404.generic"))
        if isinstance(exc, StateError):
            return self._error(ctx, 409, t("error.409"), *_said(t, exc, "error.409.generic"))
        if isinstance(exc, RequestValidationError):
            fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors())
            return self._error(ctx, 422, t("error.422"), t("error.422.fields"), detail=fields)
        if isinstance(exc, ValueError | ConfigError | CustodataError):
            return self._error(ctx, 422, t("error.422"), *_said(t, exc, "error.422.generic"))
        log.error("console %s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return self._error(ctx, 500, t("error.title"), t("error.500"))

    def _error(self, ctx: Ctx, status: int, title: str, message: str, detail: str | None = None, *,
               rule: str | None = None) -> HTMLResponse:
        return self.render(ctx, "error.html", status=status, title=title, message=message, detail=detail, rule=rule)

    def not_found(self, request: Request, status: int = 404) -> HTMLResponse:
        """A console path that does not exist, as a page in the person's language (never the API's JSON)."""
        try:
            ctx = self._authenticate(request)
        except Exception:  # noqa: BLE001 - not signed in (or no longer): the page without the menu
            ctx = self.anonymous(request)
        key = "error.404" if status == 404 else "error.405"
        return self._error(ctx, status, ctx.t(key), ctx.t(f"{key}.page"))


def _said(t: Translator, exc: Exception, generic: str) -> tuple[str, str | None]:
    """The message of a refusal or error for the page, and the recorded original when it is not Chinese.

    custodata's own messages are English sentences; in Chinese the page shows the
    Chinese of the ones the label table knows, else a Chinese summary with the
    original kept under 技术细节 (folded, for a call to the help desk).
    """
    text = str(exc.args[0]) if exc.args else str(exc)
    if t.lang != "zh":
        return text, None
    if re.search(r"[\u4e00-\u9fff]", text):
        return text, None
    translated = reason_zh(text)
    return (translated, None) if translated else (t(generic), text)


def _rule_of(exc: AccessDenied) -> str | None:
    rule = getattr(exc.decision, "rule", None)
    return str(rule) if rule else None


def _refusal(t: Translator, exc: AccessDenied) -> str:
    """The engine's own explanation of the refusal, in Chinese when the page is in Chinese."""
    decision = exc.decision
    if t.lang == "zh" and getattr(decision, "reason_zh", None):
        return str(decision.reason_zh)  # type: ignore[union-attr]
    return str(getattr(decision, "reason", None) or exc)


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


def route_class(console: Console) -> type[APIRoute]:
    """Routes whose every failure becomes a console page, never the API's JSON error."""

    class ConsoleRoute(APIRoute):
        def get_route_handler(self) -> Endpoint:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:  # noqa: BLE001 - every failure becomes a page
                    return await run_in_threadpool(console.error_response, request, exc)

            return handle

    return ConsoleRoute
