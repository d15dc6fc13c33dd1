"""Swagger UI from this server: the assets of the pinned ``fastapi-offline`` package, no CDN.

A bank's internal network usually cannot reach a public CDN, and a page that
loads a stranger's JavaScript next to a bearer token is a risk of its own.  The
page's one inline script is allowed by its hash in the page's CSP, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/static/swagger"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def assets() -> Path:
    """The folder of ``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``favicon.png``."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def _csp(html: str) -> str:
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
                      for m in _INLINE_SCRIPT.findall(html))
    # Swagger UI sets styles from its own script, and shows inline SVG/data: icons
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


def install(app: FastAPI, *, openapi_url: str, docs_url: str) -> None:
    """Serve Swagger UI at ``docs_url`` for the spec at ``openapi_url``, its assets under ``/static/swagger``."""
    app.mount(STATIC_URL, StaticFiles(directory=assets()), name="swagger-static")
    page = bytes(get_swagger_ui_html(
        openapi_url=openapi_url, title=f"{app.title} API", swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_URL}/swagger-ui.css", swagger_favicon_url=f"{STATIC_URL}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the public validator
    ).body).decode()
    csp = _csp(page)

    @app.get(docs_url, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"content-security-policy": csp})
