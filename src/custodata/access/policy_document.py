"""The policy document [策略文件]: masking and access rules as one versioned YAML file.

``{version: 1, masking: …, access: …}``: the masking section is exactly the
masking policy's schema (``custodata/masking/policy.yaml``) and declares the
roles and purposes; the access section (``custodata/access/access.yaml``) says
which actions a role may take, which customers it reaches, when, and who may
unmask what for which purpose.  Keeping both in one document makes a policy
version one reviewable, audited unit: a display rule and the permission that
exposes it cannot change apart.

Everything is checked when loaded — shape by pydantic (unknown keys refused),
names against the masking section, the grading table and the action list — so
a typo fails at import with the key and the allowed values, never as a silent
grant at request time.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from custodata.access.actions import ACTIONS, CUSTOMER_DATA_ACTIONS, expand
from custodata.classification.grading import Grading
from custodata.errors import ConfigError
from custodata.masking.policy import DEFAULT_PATH as MASKING_DEFAULT_PATH
from custodata.masking.policy import MaskingPolicy, _suggest, parse_policy
from custodata.people_vocabulary import PERSON_KINDS, PERSON_STATUSES, PersonKind, PersonStatus
from custodata.yamlconfig import validation_lines

# The roles that run the system or check it: a policy giving them a customer-data action is refused,
# whoever imports it (an auditor reading customers could audit their own reading).
NO_CUSTOMER_DATA_ROLES: frozenset[str] = frozenset({"administrator", "auditor"})

ACCESS_DEFAULT_PATH = Path(__file__).with_name("access.yaml")

Kind = PersonKind
Status = PersonStatus
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RowScope = Literal["all", "branch", "portfolio", "none"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KINDS: tuple[Kind, ...] = PERSON_KINDS
STATUSES: tuple[Status, ...] = PERSON_STATUSES
# narrower scopes sort first: a person's effective scope is the narrowest that applies
SCOPE_ORDER: dict[str, int] = {"none": 0, "portfolio": 1, "branch": 2, "all": 3}

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SECTIONS = ("version", "masking", "access")


def _time_zone(value: str) -> str:
    """An IANA time zone name, or a clear error (windows and daily limits both take one)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone, e.g. Asia/Shanghai") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class UnmaskRule(_Strict):
    """Who may see which fields in plain, for which stated purposes."""

    id: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    roles: list[str] = Field(min_length=1, description="roles the rule lets unmask")
    fields: list[str] = Field(default_factory=list, description="canonical field names")
    types: list[str] = Field(default_factory=list, description="sensitive types")
    min_level: int | None = Field(default=None, ge=1, le=5)
    max_level: int | None = Field(default=None, ge=1, le=5)
    purposes: list[str] = Field(min_length=1, description="one of these must be stated")
    max_per_day: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _shape(self) -> UnmaskRule:
        if self.min_level is not None and self.max_level is not None and self.min_level > self.max_level:
            raise ValueError(f"min_level {self.min_level} is above max_level {self.max_level}")
        if not (self.fields or self.types or self.min_level is not None or self.max_level is not None):
            raise ValueError("name what may be unmasked: 'fields', 'types' or a level range (min_level/max_level)")
        return self


class WindowRule(_Strict):
    """When the people it matches may touch customer data."""

    id: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    roles: list[str] = Field(default_factory=list, description="empty with empty kinds: everyone")
    kinds: list[Kind] = Field(default_factory=list)
    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    start: str = Field(alias="from", description="HH:MM, inclusive")
    end: str = Field(alias="to", description="HH:MM, exclusive; before 'from' runs past midnight")
    timezone: str = "Asia/Shanghai"

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        if _TIME.fullmatch(value) is None:
            raise ValueError(f"'{value}' is not a time of day; write HH:MM, e.g. \"08:00\" (quoted)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _time_zone(value)

    @model_validator(mode="after")
    def _shape(self) -> WindowRule:
        if not self.days:
            raise ValueError("'days' is empty: the window would never open; list at least one day")
        if self.start == self.end:
            raise ValueError(f"'from' and 'to' are both {self.start}: the window would never open")
        return self


class DenyRule(_Strict):
    """Refuses actions to the people it matches, whatever their permissions."""

    id: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    roles: list[str] = Field(default_factory=list)
    kinds: list[Kind] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)
    actions: list[str] = Field(min_length=1, description="actions, groups like export.*, or *")
    outside: Literal["branch", "portfolio"] | None = Field(
        default=None, description="set: not a refusal but a narrowing of the rows reached to this scope"
    )


class LimitsConfig(_Strict):
    """Per-person allowances, counted in the operational store by the institution's day.

    A day that starts at UTC midnight would hand a clerk in Shanghai a fresh
    allowance at 08:00 local time, in the middle of the working day.
    """

    timezone: str = Field(default="Asia/Shanghai",
                          description="the institution's day: daily limits reset at its midnight")
    identifier_searches_per_minute: int | None = Field(
        default=5, ge=1, description="exact-identifier searches (ID, mobile …) per person and minute; null: no cap")
    identifier_searches_per_day: int | None = Field(
        default=40, ge=1, description="exact-identifier searches per person and day; null: no cap")
    identifier_misses_per_day: int | None = Field(
        default=5, ge=1,
        description="exact-identifier searches per person and day that show no customer; after them search "
                    "by identifier is refused for the rest of the day (fewer than the candidates a masked "
                    "ID or mobile leaves); null: no cap")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _time_zone(value)


class AccessConfig(_Strict):
    """The access section of a policy document."""

    permissions: dict[str, list[str]] = Field(description="role -> actions it may take")
    rows: dict[str, RowScope] = Field(default_factory=dict, description="role -> customers it reaches")
    purposes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="role -> purposes of use its people may state (the first: assumed for an identifier search); "
                    "a role not listed may state none")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    unmask: list[UnmaskRule] = Field(default_factory=list)
    windows: list[WindowRule] = Field(default_factory=list)
    deny: list[DenyRule] = Field(default_factory=list)


@dataclass(frozen=True)
class PolicyDocument:
    """A validated policy document: the masking policy and the access rules it binds to."""

    masking: MaskingPolicy
    access: AccessConfig
    origin: str = "<policy>"

    def sections(self) -> dict[str, Any]:
        """Comparable content per section (``masking.rules``, ``access.deny`` …), comments dropped."""
        out: dict[str, Any] = {}
        for name, value in self.masking.config.model_dump(mode="json").items():
            out[f"masking.{name}"] = value
        for name, value in self.access.model_dump(mode="json", by_alias=True).items():
            out[f"access.{name}"] = value
        return out


def changed_sections(old: PolicyDocument | None, new: PolicyDocument) -> list[str]:
    """Which sections differ (all of them against no previous document)."""
    after = new.sections()
    if old is None:
        return sorted(after)
    before = old.sections()
    return sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))


def parse_document(data: Any, origin: str = "<policy>", grading: Grading | None = None) -> PolicyDocument:
    """Validate a parsed policy document; ``origin`` names it in every error message."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a policy document must be a YAML mapping with keys "
                          f"{', '.join(_SECTIONS)}, got {type(data).__name__}")
    problems = [f"{origin}: key '{k}': unknown key; the document has only {', '.join(_SECTIONS)}"
                for k in data if k not in _SECTIONS]
    problems += [f"{origin}: key '{k}': required key is missing; add it" for k in _SECTIONS if k not in data]
    if problems:
        raise ConfigError("\n".join(problems))
    if data["version"] != 1:
        raise ConfigError(f"{origin}: key 'version': '{data['version']}' is not allowed; use 1")
    masking = parse_policy(data["masking"], f"{origin}: masking", grading)
    access_data = data["access"]
    if not isinstance(access_data, dict):
        raise ConfigError(f"{origin}: key 'access': must be a mapping (permissions, rows, unmask, windows, deny), "
                          f"got {type(access_data).__name__}")
    try:
        access = AccessConfig.model_validate(access_data)
    except ValidationError as exc:
        raise ConfigError(validation_lines(exc, f"{origin}: access")) from None
    _check(access, masking, f"{origin}: access")
    return PolicyDocument(masking=masking, access=access, origin=origin)


def _check(access: AccessConfig, masking: MaskingPolicy, origin: str) -> None:
    """Cross-checks: every name against the masking section, the grading table and the action list."""
    grading = masking.grading
    roles = masking.roles
    purposes = masking.purposes
    problems: list[str] = []

    def bad(key: str, message: str) -> None:
        problems.append(f"{origin}: key '{key}': {message}")

    def known(key: str, values: list[str], allowed: tuple[str, ...] | dict[str, Any], declared: str | None) -> None:
        for j, value in enumerate(values):
            if value not in allowed:
                bad(f"{key}[{j}]", _suggest(value, allowed, declared))

    for role, actions in access.permissions.items():
        if role not in roles:
            bad(f"permissions.{role}", _suggest(role, roles, "masking.roles"))
        known(f"permissions.{role}", actions, ACTIONS, None)
        if role in NO_CUSTOMER_DATA_ROLES:
            for j, action in enumerate(actions):
                if action in CUSTOMER_DATA_ACTIONS:
                    bad(f"permissions.{role}[{j}]", f"'{action}' reaches customer data, which the {role} never "
                        "does (separation of duties: 三员分立)")
    for role in access.rows:
        if role not in roles:
            bad(f"rows.{role}", _suggest(role, roles, "masking.roles"))
    for role, stated in access.purposes.items():
        if role not in roles:
            bad(f"purposes.{role}", _suggest(role, roles, "masking.roles"))
        known(f"purposes.{role}", stated, purposes, "masking.purposes")
    seen: dict[str, str] = {}

    def unique(rule_id: str, where: str) -> None:
        # ids appear in every decision's reason, so one id must mean one rule
        if rule_id in seen:
            bad(f"{where}.id", f"'{rule_id}' is already the id of {seen[rule_id]}; ids must be unique")
        seen.setdefault(rule_id, where)

    for i, u in enumerate(access.unmask):
        where = f"unmask[{i}]"
        unique(u.id, where)
        known(f"{where}.roles", u.roles, roles, "masking.roles")
        known(f"{where}.purposes", u.purposes, purposes, "masking.purposes")
        known(f"{where}.fields", u.fields, grading.fields, None)
        known(f"{where}.types", u.types, grading.types, None)
        for key, names in (("fields", u.fields), ("types", u.types)):
            for j, name in enumerate(names):
                type_ = grading.field_type(name) if key == "fields" else name
                if type_ is not None and type_ in grading.types and never_unmasked(grading, type_):
                    g = grading.grade(type_)
                    bad(f"{where}.{key}[{j}]", f"'{name}' is {g.category} level {g.level}: "
                        "C3 authentication data and level-5 data are never unmasked")
    for i, w in enumerate(access.windows):
        unique(w.id, f"windows[{i}]")
        known(f"windows[{i}].roles", w.roles, roles, "masking.roles")
    for i, d in enumerate(access.deny):
        where = f"deny[{i}]"
        unique(d.id, where)
        known(f"{where}.roles", d.roles, roles, "masking.roles")
        for j, pattern in enumerate(d.actions):
            if not expand(pattern):
                bad(f"{where}.actions[{j}]", _suggest(pattern, ACTIONS) + " (or a group like export.*, or *)")
    if problems:
        raise ConfigError("\n".join(problems))


def never_unmasked(grading: Grading, type_: str) -> bool:
    """C3 authentication data and level-5 data stay masked whatever a policy says."""
    g = grading.grade(type_)
    return g.category == "C3" or g.level >= 5


def parse_document_yaml(text: str, origin: str = "<policy>", grading: Grading | None = None) -> PolicyDocument:
    """A policy document from YAML text; a syntax error names the line and column."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{origin}: not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    return parse_document(data, origin, grading)


def _indent(text: str) -> str:
    return "".join(f"  {line}" if line.strip() else line for line in text.splitlines(keepends=True))


def default_document_yaml() -> str:
    """The shipped defaults as one document, comments kept (what ``seed_default`` stores)."""
    masking = MASKING_DEFAULT_PATH.read_text(encoding="utf-8")
    access = ACCESS_DEFAULT_PATH.read_text(encoding="utf-8")
    return (
        "# custodata policy document: masking (display rules) and access (who may do what, when).\n"
        "version: 1\n\n"
        f"masking:\n{_indent(masking)}\n"
        f"access:\n{_indent(access)}"
    )


@cache
def default_document() -> PolicyDocument:
    """The shipped default document (masking/policy.yaml + access/access.yaml), validated."""
    return parse_document_yaml(default_document_yaml(), "default policy")
