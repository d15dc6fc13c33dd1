"""The console's session cookie and the CSRF token bound to it.

The session token from :func:`custodata.service.auth.login` lives only in an
HttpOnly, SameSite=Strict cookie, so page scripts cannot read it and other
sites' forms do not carry it.  Every POST form also carries an HMAC of the
session token under a per-deployment key: a forged form from elsewhere cannot
know it, and it changes with every login, so a token seen once is worthless
after logout.

The key is the deployment's, not the process's: ``CUSTODATA_CONSOLE_KEY`` (64
hex digits) or a key file created once (0600) in the key folder, so every
worker of ``serve --workers N`` accepts the forms every other one rendered.
The same key seals the console's search criteria (:func:`seal_search`) so an
ID number or mobile typed into the search never travels in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.errors import ConfigError, CustodataError

SESSION_COOKIE = "custodata_session"
LANG_COOKIE = "custodata_lang"
SEARCH_COOKIE = "custodata_search"
CSRF_FIELD = "csrf_token"
KEY_ENV = "CUSTODATA_CONSOLE_KEY"
KEY_FILE_ENV = "CUSTODATA_CONSOLE_KEY_FILE"
KEY_FILE_NAME = "console.key"
TIMEZONE_ENV = "CUSTODATA_CONSOLE_TIMEZONE"
SEARCH_TTL_SECONDS = 600


class CsrfError(PermissionError, CustodataError):
    """A form post without the CSRF token of the current session (forged, stale, or from another tab's login)."""


class LoginRequired(PermissionError, CustodataError):
    """No session cookie: the person has to log in first."""


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console sets its cookies.

    ``secure_cookies`` must be on wherever the console is served over HTTPS (any
    deployment but a developer's own machine); ``csrf_key`` must be the
    deployment's (:func:`console_key`) when several processes serve one console,
    so a form rendered by one is accepted by another.  The random default is
    for a single process that keeps nothing across restarts (tests).
    """

    secure_cookies: bool = False
    csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    cookie_path: str = "/"
    timezone: str = field(default_factory=lambda: os.environ.get(TIMEZONE_ENV) or "Asia/Shanghai")
    """The time zone pages show times in (``CUSTODATA_CONSOLE_TIMEZONE``; stored times stay UTC)."""

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{TIMEZONE_ENV}: unknown time zone {self.timezone!r} (an IANA name such as "
                              "Asia/Shanghai)") from None


def csrf_token(key: bytes, session_token: str) -> str:
    return hmac.new(key, session_token.encode(), hashlib.sha256).hexdigest()


def check_csrf(key: bytes, session_token: str, submitted: str | None) -> None:
    """Refuse a post whose token is not this session's (constant-time compare)."""
    if not submitted or not hmac.compare_digest(csrf_token(key, session_token), submitted):
        raise CsrfError("CSRF token missing or not for this session")


def console_key_file(out_dir: Path) -> Path:
    """``CUSTODATA_CONSOLE_KEY_FILE``, else ``console.key`` in the folder of the KEK file (the key folder)."""
    from custodata.crypto.kek import default_key_file

    configured = os.environ.get(KEY_FILE_ENV)
    return Path(configured) if configured else default_key_file(out_dir).parent / KEY_FILE_NAME


def console_key(out_dir: Path) -> bytes:
    """The deployment's console key: ``CUSTODATA_CONSOLE_KEY`` or the key file, created once if absent.

    Workers starting together may race to create the file: each writes its own
    candidate to a private temp file and links it into place, which only one
    can do; the others read the winner's, so all of them end with the same key.
    """
    configured = os.environ.get(KEY_ENV)
    if configured is not None:
        try:
            key = bytes.fromhex(configured.strip())
        except ValueError:
            key = b""
        if len(key) < 32:
            raise ConfigError(f"{KEY_ENV} must be at least 64 hex digits (32 random bytes)")
        return key
    path = console_key_file(out_dir)
    if not path.exists():
        _create_key_file(path)
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a usable console key file ({type(exc).__name__})") from None
    if len(key) < 32:
        raise ConfigError(f"{path}: the console key must be at least 64 hex digits")
    return key


def _create_key_file(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".console-", dir=path.parent)  # 0600, O_EXCL
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if another worker got there first: theirs is kept
            except FileExistsError:
                pass
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the console key file ({exc.strerror})") from None


# ---- search criteria kept out of URLs ---------------------------------------------------------


def _search_aead(key: bytes) -> AESGCM:
    return AESGCM(hmac.new(key, b"custodata console search v1", hashlib.sha256).digest())


def _bound_to(session_token: str) -> bytes:
    return hashlib.sha256(b"search:" + session_token.encode()).digest()


def seal_search(key: bytes, session_token: str, criteria: dict[str, str], *, now: float | None = None) -> str:
    """Criteria of one search, encrypted and bound to the session, valid for ``SEARCH_TTL_SECONDS``.

    The result page is reached by a redirect whose URL carries nothing; the
    criteria travel in a short-lived HttpOnly cookie that only this session and
    this deployment can open, so they are in no URL, history entry or access log.
    """
    expires = int((time.time() if now is None else now) + SEARCH_TTL_SECONDS)
    plain = json.dumps({"c": criteria, "exp": expires}, ensure_ascii=False).encode()
    nonce = secrets.token_bytes(12)
    sealed = nonce + _search_aead(key).encrypt(nonce, plain, _bound_to(session_token))
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_search(key: bytes, session_token: str, sealed: str | None, *,
                now: float | None = None) -> dict[str, str] | None:
    """The criteria sealed by :func:`seal_search` for this session, or None (absent, expired, another session's)."""
    if not sealed or len(sealed) > 2048:
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        plain = _search_aead(key).decrypt(raw[:12], raw[12:], _bound_to(session_token))
        data = json.loads(plain)
        expired = int(data.get("exp", 0)) < (time.time() if now is None else now)
    except (ValueError, TypeError, AttributeError, InvalidTag):
        return None
    if expired:
        return None
    criteria = data.get("c")
    if not isinstance(criteria, dict):
        return None
    return {str(k): str(v) for k, v in criteria.items()}
