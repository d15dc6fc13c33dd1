"""How values read on a page: money with ¥ and separators, counts without ``.0``, local times, labels.

custodata keeps times in UTC and amounts as floats; people read them in their
own time zone (Asia/Shanghai unless the console is configured otherwise) and as
money.  Everything a template shows goes through one of these functions.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from custodata.console.i18n import Translator

DEFAULT_TIMEZONE = "Asia/Shanghai"
MONEY_FIELDS = frozenset({"deposit_balance", "premium_total", "credit_limit", "loan_total", "amount", "principal",
                          "premium", "balance"})
COUNT_FIELDS = frozenset({"n_records", "n_auto", "n_accident", "n_health", "n_policy_types", "n_deposit", "n_card",
                          "n_loan", "n_ticket", "n_complaint", "age"})
# profile fields whose value is a code with a label
CODED_FIELDS = {"kind": "custkind", "customer_type": "custtype", "gender": "gender", "sources": "source",
                "other_kind": "custkind", "business_type": "btype", "source": "source", "role": "partyrole"}
TIME_FIELDS = frozenset({"first_seen", "last_updated", "changed_at", "updated_at", "created_at", "at"})
_ISO = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$")
TOKEN_PREFIX = "tk1:"  # noqa: S105 - the prefix of keyed tokens, not a secret


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: Any) -> str:
    """``¥3,197.18``: two decimals rounded half up (no float noise), thousands separated."""
    d = _decimal(value)
    if d is None:
        return "" if value is None else str(value)
    d = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if d < 0 else ""
    return f"{sign}¥{abs(d):,.2f}"


def number(value: Any) -> str:
    """A count or measure: integers (also ``5718.0``) without decimals, others to at most 2 places."""
    d = _decimal(value)
    if d is None:
        return "" if value is None else str(value)
    if d == d.to_integral_value():
        return f"{int(d):,}"
    text = f"{d.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}".rstrip("0").rstrip(".")
    return text


def _parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO.match(value.strip()):
        try:
            return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def local(value: dt.datetime, zone: str = DEFAULT_TIMEZONE) -> dt.datetime:
    """A stored time (naive means UTC, as everywhere in custodata) in the console's time zone."""
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return aware.astimezone(ZoneInfo(zone))


def when(value: Any, zone: str = DEFAULT_TIMEZONE) -> str:
    """A time to the second in local time; a date stays a date; other text as it is."""
    at = _parse_time(value)
    if at is not None:
        return f"{local(at, zone):%Y-%m-%d %H:%M:%S}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def day(value: Any, zone: str = DEFAULT_TIMEZONE) -> str:
    at = _parse_time(value)
    return f"{local(at, zone):%Y-%m-%d}" if at is not None else when(value, zone)


def is_token(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def token_chip(t: Translator, value: str) -> Markup:
    """A keyed token (joins work on it, people cannot read it): a labelled chip, the token in its title."""
    return Markup('<span class="token" title="{title}">{label} <span translate="no">…{tail}</span></span>').format(
        title=value, label=t("value.token"), tail=value[-4:])


def age_from(profile: dict[str, Any], today: dt.date) -> int | None:
    """The stored age, else the age from the birth year (a masked birth date keeps the year)."""
    age = profile.get("age")
    if isinstance(age, int | float) and not isinstance(age, bool):
        return int(age)
    birth = profile.get("birth_date")
    text = birth.isoformat() if isinstance(birth, dt.date) else str(birth or "")
    m = re.match(r"^(\d{4})(?:-(\d\d)-(\d\d))?", text)
    if not m:
        return None
    year = int(m.group(1))
    if m.group(2) and m.group(3):
        try:
            born = dt.date(year, int(m.group(2)), int(m.group(3)))
        except ValueError:
            return today.year - year
        return today.year - year - ((today.month, today.day) < (born.month, born.day))
    return today.year - year


# values written in Latin letters that are data, not words: shown as they are, never translated
VERBATIM_FIELDS = frozenset({"email", "name_pinyin", "uscc", "id_number", "passport", "vehicle_plate",
                             "policy_number", "account_number", "record_key", "batch_id"})


class Shower:
    """Values as a page shows them, in one language and time zone (the templates' ``show``)."""

    def __init__(self, t: Translator, zone: str = DEFAULT_TIMEZONE) -> None:
        self.t = t
        self.zone = zone

    def __call__(self, value: Any, field: str | None = None) -> Markup | str:
        t = self.t
        if value is None or value == "":
            return Markup('<span class="empty-value" title="{0}">—</span>').format(t("value.empty"))
        if isinstance(value, list | tuple):
            if not value:
                return Markup('<span class="empty-value" title="{0}">—</span>').format(t("value.empty"))
            return Markup("、").join(self(v, field) for v in value)
        if isinstance(value, dict):
            name = value.get("name")
            if name is not None:
                return f"{name}：{value.get('value')}"
            return "、".join(f"{t.maybe(CODED_FIELDS.get(field or '', 'evidence'), k)}：{self(v)}"
                            for k, v in value.items())
        if is_token(value):
            return token_chip(t, str(value))
        if field in MONEY_FIELDS:
            return money(value)
        if field in COUNT_FIELDS or isinstance(value, int | float) and not isinstance(value, bool):
            return number(value)
        if field in CODED_FIELDS:
            return t.maybe(CODED_FIELDS[field], value)
        if isinstance(value, bool):
            return t("common.yes" if value else "common.no")
        if field in TIME_FIELDS or _parse_time(value) is not None:
            return when(value, self.zone)
        if field in VERBATIM_FIELDS:
            return Markup('<span translate="no">{0}</span>').format(value)
        return str(value)

    def when(self, value: Any) -> str:
        return when(value, self.zone)

    def day(self, value: Any) -> str:
        return day(value, self.zone)


def withheld_chip(t: Translator) -> Markup:
    return Markup('<span class="withheld" data-withheld="1" title="{0}">🔒 {1}</span>').format(
        t("value.withheld_title"), t("value.withheld"))


__all__ = ["DEFAULT_TIMEZONE", "Shower", "age_from", "day", "escape", "is_token", "local", "money", "number",
           "token_chip", "when", "withheld_chip"]
