"""The console's session cookie and the CSRF token bound to it.

The session token from :func:`custodata.service.auth.login` lives only in an
HttpOnly, SameSite=Strict cookie, so page scripts cannot read it and other
sites' forms do not carry it.  Every POST form also carries an HMAC of the
session token under a per-deployment key: a forged form from elsewhere cannot
know it, and it changes with every login, so a token seen once is worthless
after logout.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from custodata.errors import CustodataError

SESSION_COOKIE = "custodata_session"
LANG_COOKIE = "custodata_lang"
CSRF_FIELD = "csrf_token"


class CsrfError(PermissionError, CustodataError):
    """A form post without the CSRF token of the current session (forged, stale, or from another tab's login)."""


class LoginRequired(PermissionError, CustodataError):
    """No session cookie: the person has to log in first."""


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console sets its cookies.

    ``secure_cookies`` must be on wherever the console is served over HTTPS (any
    deployment but a developer's own machine); ``csrf_key`` should be set when
    several processes serve one console so a form rendered by one is accepted
    by another — otherwise each process draws its own.
    """

    secure_cookies: bool = False
    csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    cookie_path: str = "/"


def csrf_token(key: bytes, session_token: str) -> str:
    return hmac.new(key, session_token.encode(), hashlib.sha256).hexdigest()


def check_csrf(key: bytes, session_token: str, submitted: str | None) -> None:
    """Refuse a post whose token is not this session's (constant-time compare)."""
    if not submitted or not hmac.compare_digest(csrf_token(key, session_token), submitted):
        raise CsrfError("CSRF token missing or not for this session")
