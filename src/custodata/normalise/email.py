"""E-mail addresses.

Addresses are compared exactly, so they are folded to one form: no spaces,
half width (input methods type ＠ and 。), lower case.  Only plausible
addresses are kept; stand-ins such as ``none@none.com`` are dropped so that
they cannot link unrelated customers (``email_address`` keeps them: they are
still e-mail addresses).  Local parts are at most 64 characters; internationalised
domains are kept in their punycode form.
"""

from __future__ import annotations

import re
from functools import lru_cache

from custodata.normalise.text import HALFWIDTH_TABLE, is_placeholder

_FOLD = str.maketrans({"。": ".", "．": ".", "＠": "@", "，": "."})
_WHITESPACE = re.compile(r"\s+")
_EMAIL = re.compile(
    r"(?P<local>[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    # The top-level domain: letters, or an internationalised one in punycode (.中国 is xn--fiqs8s).
    r"(?:xn--[a-z0-9-]{0,58}[a-z0-9]|[a-z]{2,63}))"
)
_PLACEHOLDER_LOCALS: frozenset[str] = frozenset(
    {"test", "none", "null", "no", "na", "nil", "unknown", "noreply", "no-reply", "xxx", "abc"}
)
_PLACEHOLDER_DOMAINS: frozenset[str] = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "xxx.com", "none.com", "null.com"}
)
_MAX_LENGTH = 254  # RFC 5321 §4.5.3.1.3 (a path of 256 less the angle brackets)
_MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1
_MIN_REPEAT = 3  # aaa@qq.com is a stand-in, a@company.cn may be real


def _ascii_domain(domain: str) -> str | None:
    """A domain in its ASCII (punycode) form, so 例子.中国 and xn--fsqu00a.xn--fiqs8s compare equal."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


@lru_cache(maxsize=1 << 16)
def email_address(raw: str | None) -> str | None:
    """The folded address if it is one syntactically, stand-ins such as ``test@example.com`` included.

    Classification asks this question: a column of ``…@example.com`` holds
    e-mail addresses whatever they are worth.  Whether an address may link
    two customers is ``normalise_email``'s question.
    """
    if raw is None:
        return None
    s = _WHITESPACE.sub("", raw.translate(HALFWIDTH_TABLE).translate(_FOLD)).lower()
    s = s.removeprefix("mailto:")
    local, at, domain = s.rpartition("@")
    if not at or not local or len(local) > _MAX_LOCAL:
        return None
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        return None
    s = f"{local}@{ascii_domain}"
    if len(s) > _MAX_LENGTH or _EMAIL.fullmatch(s) is None:
        return None
    return s


@lru_cache(maxsize=1 << 16)
def normalise_email(raw: str | None) -> str | None:
    """The folded address if it is plausible and not a stand-in, else None."""
    s = email_address(raw)
    if s is None or is_placeholder(s):
        return None
    local, _, domain = s.rpartition("@")
    if (
        local in _PLACEHOLDER_LOCALS
        or domain in _PLACEHOLDER_DOMAINS
        or is_placeholder(local)
        or (len(local) >= _MIN_REPEAT and local.count(local[0]) == len(local))
    ):
        return None
    return s
