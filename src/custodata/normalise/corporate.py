"""Company names and a comparison key for them.

Registered names carry noise that differs between systems for the same
company: full-width brackets, spaces, a legal-form suffix written in full or
abbreviated (有限公司 / 有限责任公司), a region prefix (深圳市腾讯… / 腾讯…(深圳)).
The stored name keeps all of it; the key drops it so two spellings of one
company agree.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from custodata.normalise.regions import gazetteer
from custodata.normalise.text import clean_text, is_placeholder

_BRACKETS = str.maketrans({"【": "(", "】": ")", "〔": "(", "〕": ")", "[": "(", "]": ")"})
# Spaces only separate Latin words; next to a Chinese character or a bracket they are noise.
_SPACE_AROUND = re.compile(r"\s*([^\x00-\x7f]|[()])\s*")

# Longest first, so 股份有限公司 is removed whole rather than leaving 股份.
_LEGAL_FORMS_ZH: tuple[str, ...] = (
    "(特殊普通合伙)",
    "(普通合伙)",
    "(有限合伙)",
    "(个人独资)",
    "集团股份有限公司",
    "集团有限责任公司",
    "集团有限公司",
    "股份有限公司",
    "有限责任公司",
    "股份合作公司",
    "有限公司",
    "总公司",
    "集团",
    "公司",
)
_LEGAL_FORMS_EN: tuple[str, ...] = (
    "CORPORATION",
    "COMPANY",
    "LIMITED",
    "CORP",
    "INC",
    "LLC",
    "LTD",
    "CO",
)
# (?<!分): a branch (深圳分公司) is a different party from its head office.
# (?<![A-Z]): TESCO does not end in the abbreviation CO.
_LEGAL_FORM = re.compile(
    "(?:(?<!分)(?:"
    + "|".join(re.escape(f) for f in _LEGAL_FORMS_ZH)
    + ")|(?<![A-Z])(?:"
    + "|".join(_LEGAL_FORMS_EN)
    + r"))[\s.,]*$"
)
_NOT_KEY = re.compile(r"[\W_]+")
# A region prefix is only dropped when enough name is left: 北京银行 must not become 银行.
_MIN_KEY_AFTER_REGION = 4


@lru_cache(maxsize=1 << 17)
def normalise_company_name(raw: str | None) -> str | None:
    """The registered name in one written form (half width, simplified, ASCII brackets)."""
    s = clean_text(raw)
    if s is None or is_placeholder(s):
        return None
    s = _SPACE_AROUND.sub(r"\1", s.translate(_BRACKETS))
    return s or None


@cache
def _region_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    gaz = gazetteer()
    names = sorted(set(gaz.province_by_name) | set(gaz.city_by_name), key=len, reverse=True)
    alternation = "|".join(re.escape(n) for n in names)
    leading = re.compile(rf"^(?:\((?:{alternation})\)|(?:{alternation}))")
    trailing = re.compile(rf"\((?:{alternation})\)$")
    return leading, trailing


def _strip_legal_forms(s: str) -> str:
    while True:
        stripped = _LEGAL_FORM.sub("", s)
        if stripped == s or not stripped:
            return s
        s = stripped


@lru_cache(maxsize=1 << 17)
def company_name_key(raw: str | None) -> str | None:
    """A key for comparing company names: no legal form, no region prefix, no punctuation.

    腾讯科技（深圳）有限公司 and 腾讯科技有限公司 share the key 腾讯科技, and
    深圳市腾讯计算机系统有限公司 keys as 腾讯计算机系统.
    """
    name = normalise_company_name(raw)
    if name is None:
        return None
    leading, trailing = _region_patterns()
    s = _strip_legal_forms(name.upper().rstrip(" .,"))
    while (m := trailing.search(s)) and m.start() > 0:
        s = _strip_legal_forms(s[: m.start()])
    while (m := leading.match(s)) and len(_NOT_KEY.sub("", s[m.end() :])) >= _MIN_KEY_AFTER_REGION:
        s = s[m.end() :]
    key = _NOT_KEY.sub("", s)
    return key or None
