"""Transport hygiene for every response: body-size limit, security headers, and an access log without queries.

Every response but a static asset is ``Cache-Control: no-store`` (console pages
and API answers carry customer data or session tokens: never kept by a browser
or a proxy) and carries a CSP that allows only this site's own scripts and
styles and no framing at all; a route that needs another CSP (the Swagger UI
page's one inline script) sets its own and it is kept.

Written as plain ASGI middleware (not ``BaseHTTPMiddleware``) so a streamed
export download is not buffered and the size limit also bites on chunked bodies
that carry no Content-Length.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_048_576  # the largest legitimate body is a policy document (<< 1 MiB)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
)
# everything dynamic: console pages and API answers carry customer data or session tokens
NO_STORE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
)
STATIC_PREFIX = "/static/"


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when a body exceeds the limit mid-stream."""


def _too_large_body() -> bytes:
    return json.dumps({"error": {"code": "too_large",
                                 "message": f"request body larger than {MAX_BODY_BYTES} bytes"}}).encode()


class SecurityMiddleware:
    """Refuse oversized bodies with 413 and add the security headers to every response."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY_BYTES, static_prefix: str = STATIC_PREFIX) -> None:
        self.app = app
        self.max_body = max_body
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                too_big = True
            if too_big:
                await self._refuse(send)
                return
        cacheable = str(scope.get("path", "")).startswith(self.static_prefix)
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        async def secured_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [h for h in SECURITY_HEADERS + (() if cacheable else NO_STORE_HEADERS) if h[0] not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = _too_large_body()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *SECURITY_HEADERS, *NO_STORE_HEADERS]})
        await send({"type": "http.response.body", "body": body})


class DropQueryString(logging.Filter):
    """Cut the query string from uvicorn's access-log lines.

    Query strings of customer pages can hold customer identifiers or a purpose
    tied to one customer; the log keeps the method, the path and the status,
    which is what operating the service needs.  (uvicorn passes the request
    line as the third argument of the record: client, method, path, version, status.)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def quiet_access_log() -> None:
    """Install :class:`DropQueryString` on uvicorn's access logger (once per process)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQueryString) for f in logger.filters):
        logger.addFilter(DropQueryString())
