"""The web console: server-rendered pages in zh-CN (English on request) over the service layer.

No JavaScript build step and no client-side data: each page is rendered on the
server from :mod:`custodata.service` calls, so the console can show nothing the
service layer would not, and every view, unmask and refusal is in the audit log.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from custodata.console.security import ConsoleSettings
from custodata.console.web import Console
from custodata.service.context import Services

__all__ = ["Console", "ConsoleSettings", "mount"]

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, services: Services, settings: ConsoleSettings | None = None) -> Console:
    """Add the console's pages (``/``, ``/login``, ``/search`` …) and its stylesheet to ``app``."""
    from custodata.console import admin, alerts, approvals, customers, login

    console = Console(services, settings)
    app.mount("/static/console", StaticFiles(directory=STATIC), name="console-static")
    for module in (login, customers, approvals, admin, alerts):
        app.include_router(module.routes(console))
    return console
