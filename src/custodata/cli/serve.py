"""``custodata serve``: the API and the web console over the operational store, with uvicorn.

On the embedded default the store is the SQLite file in the output folder, so
``custodata run … --out out && custodata serve --out out`` is a complete
deployment on one machine; ``--db`` (or ``CUSTODATA_DB_URL``) points it at
PostgreSQL instead.  Several workers each open their own services: uvicorn then
imports the application through :func:`custodata.api.app.create_app_from_env`,
with the folder, the URL and the web settings passed in the environment, and
all of them share the console key from the key folder (created here first).

uvicorn's own ``X-Forwarded-For`` handling is off (it trusts 127.0.0.1 by
default): the application trusts the header only from ``--forwarded-allow-ips``.
The access log never shows query strings.  Run the application through this
command, not through ``uvicorn`` directly, or those two guarantees are the
caller's to set up.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from custodata.cli.common import DbOpt, _clean_errors, console

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the store and published files.")]
HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")]
ProxiesOpt = Annotated[str | None, typer.Option(
    "--forwarded-allow-ips", envvar="CUSTODATA_TRUSTED_PROXIES",
    help="Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client; "
         "from anyone else the header is ignored. Default: none.")]
CertOpt = Annotated[Path | None, typer.Option("--ssl-certfile", help="TLS certificate (PEM): serve HTTPS.")]
KeyOpt = Annotated[Path | None, typer.Option("--ssl-keyfile", help="TLS private key (PEM) of --ssl-certfile.")]
SecureOpt = Annotated[bool | None, typer.Option(
    "--secure-cookies/--no-secure-cookies",
    help="Send the console's cookies over HTTPS only. Default: on with --ssl-certfile; give it when a proxy "
         "terminates TLS.")]


def register(app: typer.Typer) -> None:
    """Attach ``serve`` to the main CLI."""
    app.command("serve")(serve)


def _display_url(host: str, port: int, *, tls: bool = False) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 — only naming, not binding
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def serve(out: OutOpt = Path("out"), db: DbOpt = None, host: HostOpt = "127.0.0.1", port: PortOpt = 8000,
          workers: WorkersOpt = 1, forwarded_allow_ips: ProxiesOpt = None, ssl_certfile: CertOpt = None,
          ssl_keyfile: KeyOpt = None, secure_cookies: SecureOpt = None) -> None:
    """Serve the API (spec at /api/openapi.json, docs at /api/docs) and the web console.

    With one worker the live insider-leak monitor runs inside the server; with several,
    run ``custodata alerts watch`` once beside them.  Every process also runs the job
    worker that applies approved changes (one job at a time across all of them).
    """
    import uvicorn

    from custodata.api.app import OUT_ENV, create_app
    from custodata.api.settings import SECURE_COOKIES_ENV, TRUSTED_PROXIES_ENV, WebSettings, parse_proxies
    from custodata.console.security import console_key
    from custodata.ops.store import URL_ENV, default_url
    from custodata.service import Services

    with _clean_errors():
        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise typer.BadParameter("give both --ssl-certfile and --ssl-keyfile, or neither")
        settings = WebSettings(secure_cookies=ssl_certfile is not None if secure_cookies is None else secure_cookies,
                               trusted_proxies=parse_proxies(forwarded_allow_ips, source="--forwarded-allow-ips"))
        out.mkdir(parents=True, exist_ok=True)
        url = db or default_url(out)
        console_key(out)  # one key for every worker, created before any of them starts
        base = _display_url(host, port, tls=ssl_certfile is not None)
        if workers == 1:
            application = create_app(Services.open(out, url=url), monitor=True, worker=True,
                                     settings=settings)  # migrations here
        console.print(f"console   {base}/")
        console.print(f"API docs  {base}/api/docs")
        console.print(f"OpenAPI   {base}/api/openapi.json")
    options = uvicorn_options(host=host, port=port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    if workers == 1:
        uvicorn.run(application, **options)
        return
    os.environ[OUT_ENV] = str(out.resolve())
    os.environ[URL_ENV] = url
    os.environ[SECURE_COOKIES_ENV] = "1" if settings.secure_cookies else "0"
    os.environ[TRUSTED_PROXIES_ENV] = ",".join(str(n) for n in settings.trusted_proxies)
    uvicorn.run("custodata.api.app:create_app_from_env", factory=True, workers=workers, **options)


def uvicorn_options(*, host: str, port: int, ssl_certfile: Path | None = None,
                    ssl_keyfile: Path | None = None) -> dict[str, Any]:
    """What ``serve`` gives uvicorn: no proxy headers of its own (the app decides whom to trust), no queries logged."""
    from custodata.api.security import DropQueryString

    options: dict[str, Any] = {
        "host": host, "port": port, "log_level": "info", "server_header": False,
        "proxy_headers": False, "forwarded_allow_ips": "",
        "log_config": _log_config(DropQueryString),
    }
    if ssl_certfile is not None and ssl_keyfile is not None:
        options.update(ssl_certfile=str(ssl_certfile), ssl_keyfile=str(ssl_keyfile))
    return options


def _log_config(query_filter: type) -> dict[str, Any]:
    """uvicorn's own logging configuration with the access handler filtered (applied in every worker)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["drop_query"] = {"()": f"{query_filter.__module__}.{query_filter.__qualname__}"}
    config["handlers"]["access"]["filters"] = ["drop_query"]
    return config
