"""``custodata serve``: the API and the web console over the operational store, with uvicorn.

On the embedded default the store is the SQLite file in the output folder, so
``custodata run … --out out && custodata serve --out out`` is a complete
deployment on one machine; ``--db`` (or ``CUSTODATA_DB_URL``) points it at
PostgreSQL instead.  Several workers each open their own services: uvicorn then
imports the application through :func:`custodata.api.app.create_app_from_env`,
with the folder and URL passed in the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from custodata.cli.common import DbOpt, _clean_errors, console

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the store and published files.")]
HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")]


def register(app: typer.Typer) -> None:
    """Attach ``serve`` to the main CLI."""
    app.command("serve")(serve)


def _display_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 — only naming, not binding
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def serve(out: OutOpt = Path("out"), db: DbOpt = None, host: HostOpt = "127.0.0.1", port: PortOpt = 8000,
          workers: WorkersOpt = 1) -> None:
    """Serve the API (spec at /api/openapi.json, docs at /api/docs) and the web console.

    With one worker the live insider-leak monitor runs inside the server; with several,
    run ``custodata alerts watch`` once beside them.
    """
    import uvicorn

    from custodata.api.app import OUT_ENV, create_app
    from custodata.ops.store import URL_ENV, default_url
    from custodata.service import Services

    with _clean_errors():
        out.mkdir(parents=True, exist_ok=True)
        url = db or default_url(out)
        base = _display_url(host, port)
        if workers == 1:
            application = create_app(Services.open(out, url=url), monitor=True)  # migrations run here
        console.print(f"console   {base}/")
        console.print(f"API docs  {base}/api/docs")
        console.print(f"OpenAPI   {base}/api/openapi.json")
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level="info", server_header=False)
        return
    os.environ[OUT_ENV] = str(out.resolve())
    os.environ[URL_ENV] = url
    uvicorn.run("custodata.api.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", server_header=False)
