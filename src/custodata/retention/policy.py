"""The retention policy [数据存储期限] as data: how long each kind of data is kept once its purpose is served.

PIPL Art. 19 and 47 require personal information to be deleted or anonymised once the
purpose it was collected for is served.  The purpose ends at a date a record carries
(a policy's ``end_date``, a ticket's ``start_date``), so a rule says: for these business
types (optionally only records in these states), this category of data is kept this long
after that date, then handled so.  Categories and what happens to them:

* ``personal`` — the customer's personal information.  A customer expires when **every**
  record it has is expired under some ``personal`` rule (a record no rule covers, or
  without the date, keeps the customer: its purpose is still served); then the customer
  is erased through :mod:`custodata.erasure` (keys destroyed, business facts kept with
  the party blank).  Action: ``erase``.
* ``fields`` — named record fields (e.g. a ticket's ``remark``) are blanked in every
  version of the record.  Action: ``anonymise``.
* ``history`` — golden-record history older than the period moves to an encrypted
  Parquet archive.  Action: ``archive``.

The file is validated when loaded; every mistake names the file and the key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from custodata.fields import DATE_FIELDS, RECORD_FIELDS, BusinessType
from custodata.yamlconfig import load_yaml_model

POLICY_ENV = "CUSTODATA_RETENTION_POLICY"
DEFAULT_POLICY = Path(__file__).with_name("retention.yaml")
ACTIONS = {"personal": "erase", "fields": "anonymise", "history": "archive"}
CATEGORY_LABELS = {"personal": "个人信息", "fields": "记录字段", "history": "历史记录"}
ACTION_LABELS = {"erase": "删除（销毁密钥）", "anonymise": "匿名化", "archive": "归档（加密 Parquet）"}
# statuses are compared as text: a rule's `when` values must be written as the source system writes them
_STATE_FIELDS = ("status", "category", "product", "channel")


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_of_next = dt.date(year + (month == 11), (month + 1) % 12 + 1, 1)
    return dt.date(year, month + 1, min(day.day, (first_of_next - dt.timedelta(days=1)).day))


class Period(BaseModel):
    """How long data is kept after its date: years, months and days add up."""

    model_config = ConfigDict(extra="forbid")
    years: int = Field(0, ge=0, le=100)
    months: int = Field(0, ge=0, le=1200)
    days: int = Field(0, ge=0, le=36500)

    @model_validator(mode="after")
    def _not_zero(self) -> Period:
        if not (self.years or self.months or self.days):
            raise ValueError("a retention period must be longer than zero: give years, months or days")
        return self

    @property
    def total_months(self) -> int:
        return self.years * 12 + self.months

    def after(self, day: dt.date) -> dt.date:
        """``day`` plus the period (a month end clamps: 31 Jan + 1 month = 28/29 Feb)."""
        return _add_months(day, self.total_months) + dt.timedelta(days=self.days)

    def before(self, day: dt.date) -> dt.date:
        """``day`` less the period: data dated before it has run out by ``day`` (the cut-off for history)."""
        return _add_months(day, -self.total_months) - dt.timedelta(days=self.days)

    def describe(self) -> str:
        parts = [f"{n} {u}" for n, u in ((self.years, "年"), (self.months, "个月"), (self.days, "天")) if n]
        return " ".join(parts)


class Rule(BaseModel):
    """One line of the policy: which data, kept how long after which date, then what."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    label: str = Field(min_length=1, description="zh-CN name shown in the report")
    category: Literal["personal", "fields", "history"]
    action: Literal["erase", "anonymise", "archive"]
    business_types: list[BusinessType] = Field(default_factory=list)
    when: dict[str, list[str]] = Field(default_factory=dict)
    after: str | None = None
    keep: Period
    fields: list[str] = Field(default_factory=list)

    @field_validator("when")
    @classmethod
    def _when_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, states in value.items():
            if name not in _STATE_FIELDS:
                raise ValueError(f"'{name}' cannot select records; use one of {list(_STATE_FIELDS)}")
            if not states:
                raise ValueError(f"'{name}' needs at least one value")
        return value

    @field_validator("fields")
    @classmethod
    def _record_fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in RECORD_FIELDS or name in DATE_FIELDS:
                raise ValueError(f"'{name}' is not a record field that can be blanked; use one of "
                                 f"{[f for f in RECORD_FIELDS if f not in DATE_FIELDS]}")
        return value

    @field_validator("after")
    @classmethod
    def _date_field(cls, value: str | None) -> str | None:
        if value is not None and value not in DATE_FIELDS - {"birth_date"}:
            raise ValueError(f"'{value}' is not a record date; use one of {sorted(DATE_FIELDS - {'birth_date'})}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        if self.action != ACTIONS[self.category]:
            raise ValueError(f"category {self.category} is handled by action '{ACTIONS[self.category]}', "
                             f"not '{self.action}'")
        if self.category == "history":
            if self.business_types or self.when or self.after or self.fields:
                raise ValueError("a history rule takes only id, label, category, action and keep")
            return self
        if not self.business_types:
            raise ValueError("business_types is missing: name the business types the rule covers")
        if self.after is None:
            raise ValueError("after is missing: name the record date the period runs from (start_date, end_date)")
        if self.category == "fields" and not self.fields:
            raise ValueError("fields is missing: name the record fields to anonymise")
        if self.category == "personal" and self.fields:
            raise ValueError("a personal rule erases the whole customer: remove fields")
        return self


class RetentionPolicy(BaseModel):
    """The whole policy: its version and its rules (ids unique)."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    timezone: str = "Asia/Shanghai"
    rules: list[Rule] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a time zone name (e.g. Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> RetentionPolicy:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id '{rule.id}' appears twice")
            seen.add(rule.id)
        if len(self.of("history")) > 1:
            raise ValueError("only one history rule: the golden-record history has one period")
        return self

    def of(self, category: str) -> list[Rule]:
        return [r for r in self.rules if r.category == category]

    def today(self) -> dt.date:
        """Today in the policy's time zone: periods run in local dates, as the business dates are."""
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(self.timezone)).date()


def policy_path(path: Path | None = None) -> Path:
    import os

    return path or Path(os.environ.get(POLICY_ENV) or DEFAULT_POLICY)


def load_policy(path: Path | None = None) -> RetentionPolicy:
    """The policy from ``path``, ``CUSTODATA_RETENTION_POLICY`` or the shipped default, validated."""
    return load_yaml_model(RetentionPolicy, policy_path(path), "retention policy")


__all__ = ["ACTIONS", "ACTION_LABELS", "CATEGORY_LABELS", "DEFAULT_POLICY", "POLICY_ENV", "Period", "RetentionPolicy",
           "Rule", "load_policy", "policy_path"]
