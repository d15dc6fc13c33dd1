"""Issue 10, points 15, 16, 19, 20: the web layer of a deployment with several workers, behind a proxy, over TLS.

Each test's docstring names the attack or failure it stops.  The ``served`` fixture
runs the real ``custodata serve --workers 2`` on the deployment's SQLite store.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from custodata.api import create_app
from custodata.api.proxies import forwarded_client
from custodata.api.security import DropQueryString
from custodata.api.settings import WebSettings, parse_proxies
from custodata.audit.events import Action
from custodata.cli.app import app as cli_app
from custodata.console.security import (
    KEY_ENV,
    KEY_FILE_ENV,
    SEARCH_COOKIE,
    SEARCH_TTL_SECONDS,
    console_key,
    open_search,
    seal_search,
)
from custodata.errors import ConfigError
from tests.deployment import Deployment

with __import__("warnings").catch_warnings():
    __import__("warnings").simplefilter("ignore")
    from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def console_login(client: TestClient | httpx.Client, dep: Deployment, role: str = "front_desk") -> str:
    """Log in through the console's form; returns the CSRF token of a page rendered for the session."""
    login = dep.logins[role]
    r = client.post("/login", data={"person_id": login.person_id, "password": login.password},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/search", follow_redirects=False)
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def search_events(dep: Deployment, role: str = "front_desk") -> int:
    return len(dep.svc.audit.query(actor=dep.logins[role].person_id, action=Action.SEARCH.value))


@pytest.fixture(scope="module")
def app_client(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment.svc)) as client:
        yield client


# ---- point 15: one CSRF key per deployment ------------------------------------------------------


def test_two_workers_over_one_deployment_accept_each_others_forms(deployment: Deployment) -> None:
    """Stops half of all form posts failing "form has expired" under ``serve --workers 2``.

    Before, each process drew its own random CSRF key, so a form rendered by one
    worker was refused by the other; now both read the deployment's console key.
    """
    first, second = create_app(deployment.svc), create_app(deployment.svc)
    with TestClient(first) as a, TestClient(second) as b:
        token = console_login(a, deployment)
        b.cookies.update(a.cookies)
        r = b.post("/search", data={"csrf_token": token, "customer_id": deployment.sample["in_branch"]},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        forged = b.post("/search", data={"csrf_token": "0" * 64, "customer_id": "x"}, follow_redirects=False)
        assert forged.status_code == 403


def test_console_key_is_created_once_private_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stops a per-process key (workers disagree) and a key file others can read (forms forgeable)."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "keys" / "console.key"))
    key = console_key(tmp_path)
    assert console_key(tmp_path) == key and len(key) == 32
    assert stat.S_IMODE((tmp_path / "keys" / "console.key").stat().st_mode) == 0o600
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    assert console_key(tmp_path) == bytes.fromhex("ab" * 32)
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ConfigError, match=KEY_ENV):
        console_key(tmp_path)


# ---- point 16: search by POST, no identifier in a URL or the access log ------------------------


def test_console_search_is_a_post_and_the_identifier_stays_out_of_every_url(
        app_client: TestClient, deployment: Deployment) -> None:
    """Stops ID numbers and mobiles landing in URLs, browser history and the server log via GET /search.

    The form posts; the redirect and the results page carry no criteria; a GET with
    criteria in its query string searches nothing.
    """
    token = console_login(app_client, deployment)
    form = app_client.get("/search").text
    assert re.search(r'<form method="post" action="/search"', form)
    target = deployment.sample["in_branch"]
    before = search_events(deployment)
    assert app_client.get(f"/search?customer_id={target}").status_code == 200
    assert search_events(deployment) == before  # criteria in a URL are ignored, not searched
    r = app_client.post("/search", data={"csrf_token": token, "customer_id": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/search/results"
    assert target not in r.headers["location"]
    results = app_client.get("/search/results", follow_redirects=False)
    assert results.status_code == 200 and f'href="/customers/{target}"' in results.text
    assert search_events(deployment) == before + 1
    # the sealed criteria are not readable in the cookie either
    assert target not in (app_client.cookies.get(SEARCH_COOKIE) or "")


def test_sealed_search_opens_only_for_its_session_and_only_briefly() -> None:
    """Stops a search cookie copied to another session (or replayed later) re-running someone's search."""
    key = os.urandom(32)
    sealed = seal_search(key, "session-a", {"id_number": "110101199003070017"})
    assert "110101199003070017" not in sealed
    assert open_search(key, "session-a", sealed) == {"id_number": "110101199003070017"}
    assert open_search(key, "session-b", sealed) is None
    assert open_search(os.urandom(32), "session-a", sealed) is None
    assert open_search(key, "session-a", sealed, now=time.time() + SEARCH_TTL_SECONDS + 1) is None
    assert open_search(key, "session-a", sealed[:-4] + "AAAA") is None
    assert open_search(key, "session-a", "not base64 at all!") is None


def test_access_log_lines_lose_their_query_string() -> None:
    """Stops identifiers or purposes in query strings being written to the server's access log."""
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/customers/C1?purpose=customer_service&x=13800000000",
                                "1.1", 200), None)
    assert DropQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /customers/C1 HTTP/1.1" 200'


# ---- point 19: headers, Secure cookies, Swagger UI served locally ------------------------------


def test_console_pages_are_not_cached_framed_or_sniffed(app_client: TestClient, deployment: Deployment) -> None:
    """Stops customer pages staying in the browser's or a proxy's cache, clickjacking, and script injection."""
    console_login(app_client, deployment)
    for path in ("/search", f"/customers/{deployment.sample['in_branch']}", "/login"):
        r = app_client.get(path, follow_redirects=False)
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    css = app_client.get("/static/console/console.css")
    assert css.status_code == 200 and "no-store" not in css.headers.get("cache-control", "")


def test_session_cookie_is_secure_when_the_deployment_uses_tls(deployment: Deployment) -> None:
    """Stops the session cookie being sent over plain HTTP on a TLS deployment (a network sniffer takes it)."""
    login = deployment.logins["front_desk"]
    with TestClient(create_app(deployment.svc, settings=WebSettings(secure_cookies=True)),
                    base_url="https://testserver") as client:
        r = client.post("/login", data={"person_id": login.person_id, "password": login.password},
                        follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "custodata_session=" in cookie and "secure" in cookie.lower() and "httponly" in cookie.lower()


def _fake_run(calls: list[dict[str, Any]]) -> Any:
    def run(app: Any, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs, "env": dict(os.environ)})
    return run


def test_serve_turns_on_secure_cookies_with_tls_and_trusts_no_proxy_by_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stops a TLS deployment sending cookies without Secure, and uvicorn trusting X-Forwarded-For from 127.0.0.1."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", _fake_run(calls))
    for name in ("CUSTODATA_SECURE_COOKIES", "CUSTODATA_TRUSTED_PROXIES", "CUSTODATA_OUT", "CUSTODATA_DB_URL"):
        monkeypatch.setenv(name, "")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    r = CliRunner().invoke(cli_app, ["serve", "--out", str(tmp_path / "out"), "--workers", "2",
                                     "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)])
    assert r.exit_code == 0, r.output
    call = calls[-1]
    assert call["proxy_headers"] is False and call["ssl_certfile"] == str(cert)
    assert call["env"]["CUSTODATA_SECURE_COOKIES"] == "1" and call["env"]["CUSTODATA_TRUSTED_PROXIES"] == ""
    assert "https://" in r.output
    r = CliRunner().invoke(cli_app, ["serve", "--out", str(tmp_path / "out"), "--workers", "2",
                                     "--forwarded-allow-ips", "10.0.0.5, 10.1.0.0/16"])
    assert r.exit_code == 0, r.output
    assert calls[-1]["env"]["CUSTODATA_SECURE_COOKIES"] == "0"
    assert calls[-1]["env"]["CUSTODATA_TRUSTED_PROXIES"] == "10.0.0.5/32,10.1.0.0/16"
    r = CliRunner().invoke(cli_app, ["serve", "--out", str(tmp_path / "out"), "--forwarded-allow-ips", "*"])
    assert r.exit_code == 1 and "any client" in r.output


def test_swagger_ui_loads_nothing_from_a_cdn(app_client: TestClient) -> None:
    """Stops the API docs pulling JavaScript from a public CDN (unreachable offline, and a stranger's code)."""
    page = app_client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text
    assert 'src="/static/swagger/swagger-ui-bundle.js"' in page.text
    assert "'sha256-" in page.headers["content-security-policy"]
    js = app_client.get("/static/swagger/swagger-ui-bundle.js")
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text
    assert app_client.get("/static/swagger/swagger-ui.css").status_code == 200


# ---- point 20: X-Forwarded-For only from configured proxies -------------------------------------


@pytest.mark.parametrize(("peer", "header", "expected"), [
    ("203.0.113.9", "6.6.6.6", "203.0.113.9"),                   # not a proxy: header ignored
    ("10.0.0.5", "6.6.6.6", "6.6.6.6"),                          # the proxy names the client
    ("10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),      # the client's own entry is not believed
    ("10.0.0.5", "198.51.100.7, 10.1.2.3", "198.51.100.7"),     # a chain of trusted proxies is walked
    ("10.0.0.5", "not-an-ip", "10.0.0.5"),
    ("10.0.0.5", None, "10.0.0.5"),
])
def test_forwarded_for_is_believed_only_from_trusted_proxies(peer: str, header: str | None, expected: str) -> None:
    """Stops any client writing an address of its choosing (6.6.6.6) into the audit log."""
    assert forwarded_client(peer, header, parse_proxies("10.0.0.5, 10.1.0.0/16")) == expected


def test_audit_source_address_is_the_peer_unless_a_trusted_proxy_forwards(deployment: Deployment) -> None:
    """Stops X-Forwarded-For from an untrusted client reaching the audit log's source_address."""
    login = deployment.logins["front_desk"]
    body = {"person_id": login.person_id, "password": login.password}

    def last_login_source(app: Any, client: tuple[str, int]) -> str | None:
        with TestClient(app, client=client) as c:
            assert c.post("/api/v1/login", json=body, headers={"X-Forwarded-For": "6.6.6.6"}).status_code == 200
        events = deployment.svc.audit.query(actor=login.person_id, action=Action.LOGIN.value)
        return max(events, key=lambda e: e.seq).source_address

    assert last_login_source(create_app(deployment.svc), ("10.0.0.5", 1)) == "10.0.0.5"
    trusting = create_app(deployment.svc, settings=WebSettings(trusted_proxies=parse_proxies("10.0.0.5")))
    assert last_login_source(trusting, ("10.0.0.5", 1)) == "6.6.6.6"
    assert last_login_source(trusting, ("10.0.0.9", 1)) == "10.0.0.9"


# ---- the real thing: custodata serve --workers 2 -----------------------------------------------


@dataclass
class Served:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not deployment.url.startswith("sqlite"):
        pytest.skip("serve is exercised once, on the SQLite store")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in ("CUSTODATA_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS")}
    with log.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "custodata.cli", "serve", "--out", str(deployment.out), "--db", deployment.url,
             "--port", str(port), "--workers", "2"], stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text()}")
        else:
            raise RuntimeError(f"serve did not start: {log.read_text()}")
        yield Served(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_serve_with_two_workers_accepts_every_form_and_logs_no_queries(served: Served, deployment: Deployment) -> None:
    """Stops "form has expired" on half the posts under ``serve --workers 2``, and query strings in its log.

    Each request opens a new connection, so the two workers share the posts.
    """
    target = deployment.sample["in_branch"]
    with httpx.Client(base_url=served.url, headers={"Connection": "close"}, timeout=20) as client:
        token = console_login(client, deployment)
        statuses = [client.post("/search", data={"csrf_token": token, "customer_id": target},
                                follow_redirects=False).status_code for _ in range(16)]
        assert statuses == [303] * 16
        assert client.get(f"/customers/{target}?purpose=customer_service").status_code in (200, 403)
        assert client.get("/search?mobile=13912345678").status_code == 200
    time.sleep(0.5)
    text = served.log.read_text(errors="replace")
    assert '"POST /search HTTP/1.1" 303' in text
    assert "?" not in "".join(line for line in text.splitlines() if "HTTP/1.1" in line)
    assert "13912345678" not in text and "purpose=" not in text


def test_serve_records_the_socket_peer_not_a_forged_forwarded_for(served: Served, deployment: Deployment) -> None:
    """Stops a local client writing 6.6.6.6 into the audit log through uvicorn's default trust of 127.0.0.1."""
    login = deployment.logins["front_desk"]
    r = httpx.post(f"{served.url}/api/v1/login", json={"person_id": login.person_id, "password": login.password},
                   headers={"X-Forwarded-For": "6.6.6.6"}, timeout=20)
    assert r.status_code == 200, r.text
    events = deployment.svc.audit.query(actor=login.person_id, action=Action.LOGIN.value)
    assert max(events, key=lambda e: e.seq).source_address == "127.0.0.1"
