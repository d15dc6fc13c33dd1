"""Dates as source systems write them.

Birth dates and policy dates arrive as ``2020-01-02``, ``2020/1/2``,
``20200102``, ``2020年1月2日`` or timestamps, depending on the system and the
clerk.  A date that cannot exist (2023-02-30) is reported as INVALID rather
than silently shifted, because a wrong birth date is a wrong match key.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache

from custodata.normalise.text import HALFWIDTH_TABLE, is_placeholder


class DateStatus(StrEnum):
    OK = "ok"
    EMPTY = "empty"
    INVALID = "invalid"


MIN_YEAR = 1900
MAX_YEAR = 2100

# Year, month, day with -, /, . or 年月日; an optional time part is accepted and dropped.
_SEPARATED = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*\d{1,2}[:时]\d{1,2}(?:[:分]\d{0,2}(?:\.\d+)?秒?)?\s*(?:Z|[+-]\d{2}:?\d{2})?)?"
)
# 20200102 and 20200102134500 (compact timestamps exported by older systems).
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\d{6})?")


def _make(year: int, month: int, day: int) -> tuple[dt.date | None, DateStatus]:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None, DateStatus.INVALID
    try:
        return dt.date(year, month, day), DateStatus.OK
    except ValueError:
        return None, DateStatus.INVALID


@lru_cache(maxsize=1 << 18)
def _parse(raw: str, formats: tuple[str, ...]) -> tuple[dt.date | None, DateStatus]:
    s = raw.translate(HALFWIDTH_TABLE).strip()
    if is_placeholder(s):
        return None, DateStatus.EMPTY
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
        return _make(parsed.year, parsed.month, parsed.day)
    match = _SEPARATED.fullmatch(s) or _COMPACT.fullmatch(s)
    if match is None:
        return None, DateStatus.INVALID
    year, month, day = (int(g) for g in match.groups())
    return _make(year, month, day)


def parse_date(
    raw: str | dt.date | None, formats: Sequence[str] = ()
) -> tuple[dt.date | None, DateStatus]:
    """Parse one date value; explicit strptime ``formats`` are tried before the built-in ones.

    Blank and placeholder values (``无``, ``0000-00-00``) are EMPTY, not
    INVALID: "unknown" is not a data-entry error.
    """
    if raw is None:
        return None, DateStatus.EMPTY
    if isinstance(raw, dt.datetime):
        return _make(raw.year, raw.month, raw.day)
    if isinstance(raw, dt.date):
        return _make(raw.year, raw.month, raw.day)
    return _parse(raw, tuple(formats))
