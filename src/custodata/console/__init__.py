"""The web console: server-rendered pages in zh-CN (English on request) over the service layer.

No JavaScript build step and no client-side data: each page is rendered on the
server from :mod:`custodata.service` calls, so the console can show nothing the
service layer would not, and every view, unmask and refusal is in the audit log.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from custodata.console.security import ConsoleSettings
from custodata.console.web import Console
from custodata.service.context import Services

__all__ = ["Console", "ConsoleSettings", "mount"]

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, services: Services, settings: ConsoleSettings | None = None) -> Console:
    """Add the console's pages (``/``, ``/login``, ``/search`` …) and its stylesheet to ``app``."""
    from custodata.console import admin, alerts, approvals, customers, login, sso

    console = Console(services, settings)
    app.mount("/static/console", StaticFiles(directory=STATIC), name="console-static")
    for module in (login, sso, customers, approvals, admin, alerts):
        app.include_router(module.routes(console))
    _pages_for_unknown_paths(app, console)
    return console


def _pages_for_unknown_paths(app: FastAPI, console: Console) -> None:
    """A path nobody serves answers the API's JSON under ``/api``, the console's page everywhere else."""
    api_handler = app.exception_handlers.get(StarletteHTTPException)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
        path = request.url.path
        if exc.status_code in (404, 405) and not path.startswith(("/api", "/static")):
            return await run_in_threadpool(console.not_found, request, exc.status_code)
        if api_handler is not None:
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    app.add_exception_handler(StarletteHTTPException, on_http)
