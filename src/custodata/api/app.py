"""The FastAPI application: every route under ``/api/v1``, the OpenAPI spec at ``/api/openapi.json``.

Routes only translate HTTP to calls of :mod:`custodata.service` and back; the
service layer checks the policy, applies row rules, masks and audits, so the API
has no path to customer data that skips a check.  The web console (another
package) is mounted on the same application when it is installed.  Swagger UI
is served from this application (assets of the pinned ``fastapi-offline``
package), never from a CDN a bank's offline network cannot reach.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI

from custodata import __version__
from custodata.api import (
    alerts,
    audit,
    changes,
    customers,
    docs,
    errors,
    jobs,
    people,
    policy,
    requests,
    scim,
    session,
    system,
)
from custodata.api.proxies import TrustedProxyMiddleware
from custodata.api.schemas import ErrorOut
from custodata.api.security import SecurityMiddleware, quiet_access_log
from custodata.api.settings import WebSettings
from custodata.errors import ConfigError
from custodata.service import Services

log = logging.getLogger("custodata.api")
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

API_PREFIX = "/api/v1"
OUT_ENV = "CUSTODATA_OUT"

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in ((401, "not logged in, or the session ended"), (403, "refused by policy: the rule says why"),
                       (404, "not found"), (409, "conflicts with the current state"), (422, "invalid input"))
}


THREADS_ENV = "CUSTODATA_API_THREADS"
DEFAULT_THREADS = 12


def api_threads() -> int:
    """Worker threads for the blocking route bodies (``CUSTODATA_API_THREADS``, default 12).

    Every route body waits on the database, so a few threads keep the cores busy; the
    default 40 of the thread pool made 50 concurrent clients fight over the GIL (p95 of
    the 360° view ~25-40 % lower with 12 on the 2-core benchmark machine).  Requests
    beyond it wait in the event loop, unchanged in what they do.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_THREADS
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ConfigError(f"{THREADS_ENV} must be a whole number from 1 to 1000, not {raw!r}")
    return int(raw)


def _bounded_threads(inner: Lifespan | None) -> Lifespan:
    """The application's lifespan with the thread pool bounded first (then ``inner``, if any)."""
    threads = api_threads()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        if inner is None:
            yield
        else:
            async with inner(app):
                yield

    return lifespan


def _together(*lifespans: Lifespan | None) -> Lifespan | None:
    """The given lifespans nested (the first outermost); None when none is given."""
    chosen = [ls for ls in lifespans if ls is not None]
    if len(chosen) <= 1:
        return chosen[0] if chosen else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for inner in chosen:
                await stack.enter_async_context(inner(app))
            yield

    return lifespan


def create_app(services: Services, *, monitor: bool = False, worker: bool = False,
               settings: WebSettings | None = None) -> FastAPI:
    """The application bound to one set of services (one per process).

    ``monitor`` runs the live insider-leak monitor in a background thread for
    the application's lifetime (one per deployment; tests call it by hand);
    ``worker`` likewise runs the job worker that applies approved changes.
    ``settings`` (default: none trusted, cookies without ``Secure``) must be the
    same for every process of a deployment; the console's key comes from the
    services' key folder, so processes over one output folder share it.
    """
    settings = settings or WebSettings()
    quiet_access_log()
    app = FastAPI(
        title="custodata",
        version=__version__,
        description="Customer data control system (客户数据控制系统): look-ups masked per role and purpose, "
                    "maker-checker changes and exports, the hash-chained audit log, policy and identity "
                    "administration. Authenticate with POST /api/v1/login and send the token as a bearer token.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below from local assets
        redoc_url=None,
        lifespan=_bounded_threads(_together(alerts.monitor_lifespan(services) if monitor else None,
                                            jobs.worker_lifespan(services) if worker else None)),
    )
    app.state.services = services
    errors.install(app)
    for module in (session, customers, requests, jobs, changes, audit, policy, people, alerts, system):
        app.include_router(module.router, prefix=API_PREFIX, responses=_ERRORS)
    app.include_router(scim.router)  # /scim/v2, for the institution's IdP only (404 unless configured)
    docs.install(app, openapi_url="/api/openapi.json", docs_url="/api/docs")
    app.add_middleware(SecurityMiddleware)
    # added last, so outermost: the client is settled before anything reads it
    app.add_middleware(TrustedProxyMiddleware, proxies=settings.trusted_proxies)
    _mount_console(app, services, settings)
    return app


def _mount_console(app: FastAPI, services: Services, settings: WebSettings) -> None:
    """The web console if its package is present; the API stands on its own without it."""
    try:
        from custodata.console import mount
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("custodata.console"):
            log.info("custodata.console is not installed: serving the API only")
            return
        raise
    from custodata.console.security import ConsoleSettings, console_key

    mount(app, services, ConsoleSettings(secure_cookies=settings.secure_cookies,
                                         csrf_key=console_key(services.out_dir)))


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers): the output folder from ``CUSTODATA_OUT``.

    The store URL comes from ``CUSTODATA_DB_URL`` or defaults to the SQLite file in that folder;
    cookies and trusted proxies from :meth:`WebSettings.from_env`, the same in every worker.
    """
    out = Path(os.environ.get(OUT_ENV, "out"))
    settings = WebSettings.from_env()
    return create_app(Services.open(out), worker=True, settings=settings)
