"""E-mail addresses.

Addresses are compared exactly, so they are folded to one form: no spaces,
half width (input methods type ＠ and 。), lower case.  Only plausible
addresses are kept; stand-ins such as ``none@none.com`` are dropped so that
they cannot link unrelated customers.
"""

from __future__ import annotations

import re
from functools import lru_cache

from custodata.normalise.text import HALFWIDTH_TABLE, is_placeholder

_FOLD = str.maketrans({"。": ".", "．": ".", "＠": "@", "，": "."})
_WHITESPACE = re.compile(r"\s+")
_EMAIL = re.compile(
    r"(?P<local>[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})"
)
_PLACEHOLDER_LOCALS: frozenset[str] = frozenset(
    {"test", "none", "null", "no", "na", "nil", "unknown", "noreply", "no-reply", "xxx", "abc"}
)
_PLACEHOLDER_DOMAINS: frozenset[str] = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "xxx.com", "none.com", "null.com"}
)
_MAX_LENGTH = 254
_MIN_REPEAT = 3  # aaa@qq.com is a stand-in, a@company.cn may be real


@lru_cache(maxsize=1 << 16)
def normalise_email(raw: str | None) -> str | None:
    """The folded address if it is plausible and not a stand-in, else None."""
    if raw is None:
        return None
    s = _WHITESPACE.sub("", raw.translate(HALFWIDTH_TABLE).translate(_FOLD)).lower()
    s = s.removeprefix("mailto:")
    if not s or len(s) > _MAX_LENGTH or is_placeholder(s):
        return None
    match = _EMAIL.fullmatch(s)
    if match is None:
        return None
    local, domain = match["local"], match["domain"]
    if (
        local in _PLACEHOLDER_LOCALS
        or domain in _PLACEHOLDER_DOMAINS
        or is_placeholder(local)
        or (len(local) >= _MIN_REPEAT and local.count(local[0]) == len(local))
    ):
        return None
    return s
