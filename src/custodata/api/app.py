"""The FastAPI application: every route under ``/api/v1``, the OpenAPI spec at ``/api/openapi.json``.

Routes only translate HTTP to calls of :mod:`custodata.service` and back; the
service layer checks the policy, applies row rules, masks and audits, so the API
has no path to customer data that skips a check.  The web console (another
package) is mounted on the same application when it is installed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI

from custodata import __version__
from custodata.api import alerts, audit, customers, errors, people, policy, requests, session, system
from custodata.api.schemas import ErrorOut
from custodata.api.security import SecurityMiddleware
from custodata.service import Services

log = logging.getLogger("custodata.api")

API_PREFIX = "/api/v1"
OUT_ENV = "CUSTODATA_OUT"

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in ((401, "not logged in, or the session ended"), (403, "refused by policy: the rule says why"),
                       (404, "not found"), (409, "conflicts with the current state"), (422, "invalid input"))
}


def create_app(services: Services, *, monitor: bool = False) -> FastAPI:
    """The application bound to one set of services (one per process).

    ``monitor`` runs the live insider-leak monitor in a background thread for
    the application's lifetime (one per deployment; tests call it by hand).
    """
    app = FastAPI(
        title="custodata",
        version=__version__,
        description="Customer data control system (客户数据控制系统): look-ups masked per role and purpose, "
                    "maker-checker changes and exports, the hash-chained audit log, policy and identity "
                    "administration. Authenticate with POST /api/v1/login and send the token as a bearer token.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=alerts.monitor_lifespan(services) if monitor else None,
    )
    app.state.services = services
    errors.install(app)
    for module in (session, customers, requests, audit, policy, people, alerts, system):
        app.include_router(module.router, prefix=API_PREFIX, responses=_ERRORS)
    app.add_middleware(SecurityMiddleware)
    _mount_console(app, services)
    return app


def _mount_console(app: FastAPI, services: Services) -> None:
    """The web console if its package is present; the API stands on its own without it."""
    try:
        from custodata.console import mount
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("custodata.console"):
            log.info("custodata.console is not installed: serving the API only")
            return
        raise
    mount(app, services)


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers): the output folder from ``CUSTODATA_OUT``.

    The store URL comes from ``CUSTODATA_DB_URL`` or defaults to the SQLite file in that folder.
    """
    out = Path(os.environ.get(OUT_ENV, "out"))
    return create_app(Services.open(out))
