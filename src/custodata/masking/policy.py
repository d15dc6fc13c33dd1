"""The masking policy engine [脱敏策略]: who sees how much of which field, as data.

Display rules are a business decision that differs per institution, per role
and per purpose of use, so they live in YAML (``policy.yaml``) and are checked
against the grading table and the operator registry when loaded: a rule that
names an unknown role, field, type, operator or parameter fails at load, not
when a customer's data is first shown.

Decision order for one field, role and purpose:

1. Candidates are the rules whose ``roles``, ``purposes``, level range
   (``min_level``/``max_level``) and selectors (``fields``, ``types``) match.
2. A matching ``effect: deny`` rule wins over every allow: the field is withheld.
3. Otherwise the most specific allow wins: a rule that matched by field name,
   then by sensitive type, then by level range, then a catch-all; ties go to the
   rule naming a purpose, then the rule naming roles, then the earlier rule.
4. No rule: the ``default`` — ``mask_all`` at or above ``mask_from_level`` (3),
   ``plain`` below it.  Levels 1–2 (gender, region, USCC) are low-risk internal
   data; anything from 3 up hides by default so a forgotten rule fails closed.

The engine only decides how a value is *displayed*.  Whether a user may obtain
the plaintext at all (decryption, approval, audit) is the access layer's job.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from custodata.classification.grading import Grading, load_grading
from custodata.errors import ConfigError
from custodata.masking.operators import (
    FreeTextParams,
    MaskingContext,
    Operator,
    OperatorParams,
    ParamsError,
    get_operator,
    operator_names,
)
from custodata.yamlconfig import read_yaml, validation_lines

DEFAULT_PATH = Path(__file__).with_name("policy.yaml")

Effect = Literal["allow", "deny"]
FieldOf = Callable[[str], str | None] | Mapping[str, str | None]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleConfig(_Strict):
    """One rule as written in the policy file."""

    id: str = Field(pattern=_ID_PATTERN, description="unique name, shown in every decision it makes")
    description: str = ""
    effect: Effect = "allow"
    roles: list[str] = Field(default_factory=list, description="empty: every role")
    purposes: list[str] = Field(default_factory=list, description="empty: with or without a purpose")
    fields: list[str] = Field(default_factory=list, description="canonical field names (grading fields)")
    types: list[str] = Field(default_factory=list, description="sensitive types (grading types)")
    min_level: int | None = Field(default=None, ge=1, le=5)
    max_level: int | None = Field(default=None, ge=1, le=5)
    operator: str | None = Field(default=None, description="required for allow rules; deny rules withhold")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> RuleConfig:
        if self.effect == "allow" and self.operator is None:
            raise ValueError(f"an allow rule needs 'operator' (one of: {', '.join(operator_names())})")
        if self.effect == "deny" and (self.operator is not None or self.params):
            raise ValueError("a deny rule withholds the field; remove 'operator' and 'params'")
        if self.min_level is not None and self.max_level is not None and self.min_level > self.max_level:
            raise ValueError(f"min_level {self.min_level} is above max_level {self.max_level}")
        return self


class DefaultConfig(_Strict):
    """What applies when no rule matches."""

    mask_from_level: int = Field(default=3, ge=1, le=6, description="levels at or above use `operator`")
    operator: str = "mask_all"
    params: dict[str, Any] = Field(default_factory=dict)


class PolicyConfig(_Strict):
    """The whole policy file."""

    version: Literal[1] = 1
    roles: dict[str, str] = Field(description="role -> label; the only roles rules and callers may name")
    purposes: dict[str, str] = Field(default_factory=dict, description="purpose of use -> label")
    default: DefaultConfig = Field(default_factory=DefaultConfig)
    rules: list[RuleConfig] = Field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    """How one field is shown to one role for one purpose, and why."""

    field: str | None
    sensitive_type: str | None
    level: int
    role: str
    purpose: str | None
    effect: Effect
    operator: str
    params: Mapping[str, Any]
    rule_id: str | None
    explanation: str
    _op: Operator[Any] = dataclass_field(repr=False, compare=False)
    # Parsed once here rather than per value: apply() runs for every value of a row.
    _parsed: OperatorParams = dataclass_field(init=False, repr=False, compare=False)
    _context: MaskingContext = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parsed", self._op.parse(self.params))
        object.__setattr__(self, "_context", MaskingContext(sensitive_type=self.sensitive_type))

    def apply(self, value: object, context: MaskingContext | None = None) -> object:
        """The value as this decision shows it (None when withheld)."""
        if self.effect == "deny" or value is None:
            return None
        if context is None:
            ctx = self._context
        elif context.sensitive_type != self.sensitive_type and self.sensitive_type is not None:
            ctx = replace(context, sensitive_type=self.sensitive_type)
        else:
            ctx = context
        return self._op.operate(value, self._parsed, ctx)


@dataclass(frozen=True)
class _Rule:
    """A validated rule, with its selectors as sets for per-value matching."""

    index: int
    config: RuleConfig
    roles: frozenset[str]
    purposes: frozenset[str]
    fields: frozenset[str]
    types: frozenset[str]

    def rank(self, field_name: str | None, type_: str, level: int, role: str, purpose: str | None) -> int | None:
        """How specifically the rule matches (3 field, 2 type, 1 level, 0 catch-all); None: no match."""
        c = self.config
        if self.roles and role not in self.roles:
            return None
        if self.purposes and purpose not in self.purposes:
            return None
        if (c.min_level is not None and level < c.min_level) or (c.max_level is not None and level > c.max_level):
            return None
        if self.fields or self.types:
            if field_name is not None and field_name in self.fields:
                return 3
            return 2 if type_ in self.types else None
        return 1 if (c.min_level is not None or c.max_level is not None) else 0

    def tiebreak(self) -> tuple[int, int, int]:
        return (bool(self.purposes), bool(self.roles), -self.index)


def _suggest(value: str, allowed: Iterable[str], declared_under: str | None = None) -> str:
    allowed = list(allowed)
    if not allowed:
        return f"'{value}' is not declared; the policy declares no {declared_under or 'values'}"
    close = difflib.get_close_matches(value, allowed, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    where = f" (declare it under '{declared_under}')" if declared_under else ""
    return f"'{value}' is not one of: {', '.join(allowed)}.{hint}{where}"


_Match = tuple[int, tuple[int, int, int], "_Rule"]


def _specificity(match: _Match) -> tuple[int, tuple[int, int, int]]:
    return match[0], match[1]


class MaskingPolicy:
    """A loaded, validated policy bound to a grading table; immutable, decisions cached."""

    def __init__(self, config: PolicyConfig, grading: Grading | None = None, *, origin: str = "<policy>") -> None:
        self.config = config
        self.grading = grading or load_grading()
        self.origin = origin
        _check(config, self.grading, origin)
        self._rules = tuple(
            _Rule(
                index=i,
                config=r,
                roles=frozenset(r.roles),
                purposes=frozenset(r.purposes),
                fields=frozenset(r.fields),
                types=frozenset(r.types),
            )
            for i, r in enumerate(config.rules)
        )
        self._cache: dict[tuple[str | None, str, str, str | None], Decision] = {}

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.config.roles)

    @property
    def purposes(self) -> tuple[str, ...]:
        return tuple(self.config.purposes)

    def _check_caller(self, role: str, purpose: str | None) -> None:
        # An unknown role is a bug in the caller; masking it with defaults would hide the bug.
        if role not in self.config.roles:
            raise ConfigError(f"{self.origin}: unknown role: {_suggest(role, self.config.roles)}")
        if purpose is not None and purpose not in self.config.purposes:
            raise ConfigError(f"{self.origin}: unknown purpose: {_suggest(purpose, self.config.purposes)}")

    def decide(self, field: str, role: str, purpose: str | None = None) -> Decision:
        """How a canonical field is shown; fields outside the grading table are not sensitive."""
        type_ = self.grading.field_type(field)
        if type_ is None:
            self._check_caller(role, purpose)
            plain = get_operator("plain")
            return Decision(
                field=field,
                sensitive_type=None,
                level=1,
                role=role,
                purpose=purpose,
                effect="allow",
                operator=plain.name,
                params=MappingProxyType({}),
                rule_id=None,
                explanation=f"shown in plain because '{field}' is not a graded field",
                _op=plain,
            )
        return self._decide(field, type_, role, purpose)

    def decide_typed(self, type_: str, role: str, purpose: str | None = None) -> Decision:
        """How a value of a sensitive type is shown, e.g. a scan's evidence (field rules do not apply)."""
        self.grading.grade(type_)  # unknown type -> ConfigError naming the known ones
        return self._decide(None, type_, role, purpose)

    def _decide(self, field_name: str | None, type_: str, role: str, purpose: str | None) -> Decision:
        key = (field_name, type_, role, purpose)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        self._check_caller(role, purpose)
        level = self.grading.grade(type_).level
        denies: list[_Match] = []
        allows: list[_Match] = []
        for rule in self._rules:
            rank = rule.rank(field_name, type_, level, role, purpose)
            if rank is not None:
                (denies if rule.config.effect == "deny" else allows).append((rank, rule.tiebreak(), rule))
        because = f"because level {level} ({type_}) and role {role}"
        if purpose is not None:
            because += f" for purpose {purpose}"
        effect: Effect = "allow"
        rule_id: str | None = None
        params: Mapping[str, Any] = MappingProxyType({})
        if denies:
            effect, rule_id = "deny", max(denies, key=_specificity)[2].config.id
            op = get_operator("redact")
            explanation = f"withheld {because}; rule {rule_id}"
        elif allows:
            chosen = max(allows, key=_specificity)[2].config
            rule_id, op = chosen.id, get_operator(chosen.operator or "plain")
            params = MappingProxyType(dict(chosen.params))
            explanation = f"{_verb(op, params)} {because}; rule {rule_id}"
        else:
            d = self.config.default
            if level >= d.mask_from_level:
                op, params = get_operator(d.operator), MappingProxyType(dict(d.params))
                why = f"no rule matched, default for level >= {d.mask_from_level}"
            else:
                op = get_operator("plain")
                why = f"no rule matched, default below level {d.mask_from_level}"
            explanation = f"{_verb(op, params)} {because}; {why}"
        if effect == "allow" and op.name == "free_text":
            params = self._bounded_free_text(params, role, purpose)
            explanation += "; values inside shown no further than their own types' rules for this role"
        decision = Decision(
            field=field_name,
            sensitive_type=type_,
            level=level,
            role=role,
            purpose=purpose,
            effect=effect,
            operator=op.name,
            params=params,
            rule_id=rule_id,
            explanation=explanation,
            _op=op,
        )
        self._cache[key] = decision
        return decision

    def _bounded_free_text(self, params: Mapping[str, Any], role: str, purpose: str | None) -> Mapping[str, Any]:
        """Free-text parameters narrowed to what the role may see of each embedded type.

        A note quoting an ID number or a street address must not show more of it than the ID
        or address field would (issue 10 point 3): the free-text rule alone cannot know that
        this role sees IDs as 1+4 or addresses only to the district.
        """
        base = FreeTextParams.model_validate(dict(params))
        bounded: dict[str, Any] = dict(params)
        for kind in ("mobile", "id_number", "bank_card"):
            first, last = getattr(base, kind)
            d = self.decide_typed(kind, role, purpose)
            if d.effect == "deny" or d.operator not in ("keep", "plain"):
                first, last = 0, 0
            elif d.operator == "keep":
                first = min(first, int(d.params.get("first", 0)))
                last = min(last, int(d.params.get("last", 0)))
            bounded[kind] = (first, last)
        if not (self.decide_typed("email", role, purpose).operator == "plain" and not base.email):
            bounded["email"] = True
        a = self.decide_typed("address", role, purpose)
        levels = ["label", "province", "city", "district", "plain"]
        if a.effect == "deny":
            allowed = "label"
        elif a.operator == "plain":
            allowed = "plain"
        elif a.operator == "generalise" and a.params.get("to") in ("province", "city", "district"):
            allowed = str(a.params["to"])
        else:
            allowed = "label"
        address = levels[min(levels.index(base.address or "plain"), levels.index(allowed))]
        bounded["address"] = address
        return MappingProxyType(bounded)

    def mask_value(
        self, field: str, value: object, role: str, purpose: str | None = None, *, context: MaskingContext | None = None
    ) -> object:
        """One value of a canonical field as ``role`` may see it."""
        return self.decide(field, role, purpose).apply(value, context)

    def mask_typed(
        self, type_: str, value: object, role: str, purpose: str | None = None, *, context: MaskingContext | None = None
    ) -> object:
        """One value known only by its sensitive type (scan evidence) as ``role`` may see it."""
        return self.decide_typed(type_, role, purpose).apply(value, context)

    def mask_record(
        self,
        record: Mapping[str, Any],
        role: str,
        purpose: str | None = None,
        field_of: FieldOf | None = None,
        *,
        context: MaskingContext | None = None,
    ) -> dict[str, Any]:
        """A row with every graded field masked; other keys pass through unchanged.

        ``field_of`` names the canonical field (or sensitive type) behind a key
        when the row's keys are not canonical, as a mapping (keys it lacks are
        taken as they are) or a callable; ``None`` from either means "not
        sensitive".
        """
        self._check_caller(role, purpose)
        out: dict[str, Any] = {}
        for key, value in record.items():
            if field_of is None:
                name: str | None = key
            elif isinstance(field_of, Mapping):
                name = field_of.get(key, key)
            else:
                name = field_of(key)
            if name is None:
                out[key] = value
            elif name in self.grading.fields:
                out[key] = self.decide(name, role, purpose).apply(value, context)
            elif name in self.grading.types:
                out[key] = self.decide_typed(name, role, purpose).apply(value, context)
            else:
                out[key] = value
        return out

    def to_yaml(self) -> str:
        """The policy as YAML that ``load_policy`` reads back to an equal policy (comments are not kept)."""
        data = {"version": self.config.version, **self.config.model_dump(mode="json", exclude_defaults=True)}
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120, default_flow_style=None)


def _verb(op: Operator[Any], params: Mapping[str, Any]) -> str:
    if op.name == "plain":
        return "shown in plain"
    return f"masked with {op.describe(params)}"


def _check(config: PolicyConfig, grading: Grading, origin: str) -> None:
    """Cross-checks pydantic cannot make alone: names against the grading and the operator registry."""
    problems: list[str] = []

    def bad(key: str, message: str) -> None:
        problems.append(f"{origin}: key '{key}': {message}")

    for key, names in (("roles", config.roles), ("purposes", config.purposes)):
        for name in names:
            if re.fullmatch(_NAME_PATTERN, name) is None:
                bad(f"{key}.{name}", "use lower-case letters, digits and underscores, starting with a letter")
    _check_operator("default", config.default.operator, config.default.params, bad)
    seen: dict[str, int] = {}
    for i, rule in enumerate(config.rules):
        where = f"rules[{i}]"
        if rule.id in seen:
            bad(f"{where}.id", f"'{rule.id}' is already the id of rules[{seen[rule.id]}]; ids must be unique")
        seen.setdefault(rule.id, i)
        for key, values, allowed, declared_under in (
            ("roles", rule.roles, config.roles, "roles"),
            ("purposes", rule.purposes, config.purposes, "purposes"),
            ("fields", rule.fields, grading.fields, None),
            ("types", rule.types, grading.types, None),
        ):
            for j, value in enumerate(values):
                if value not in allowed:
                    bad(f"{where}.{key}[{j}]", _suggest(value, allowed, declared_under))
        if rule.operator is not None:
            _check_operator(where, rule.operator, rule.params, bad)
    if problems:
        raise ConfigError("\n".join(problems))


def _check_operator(where: str, name: str, params: Mapping[str, Any], bad: Callable[[str, str], None]) -> None:
    if name not in operator_names():
        bad(f"{where}.operator", _suggest(name, operator_names()))
        return
    try:
        get_operator(name).validate(params)
    except ParamsError as exc:
        bad(f"{where}.params" + (f".{exc.key}" if exc.key else ""), f"{name}: {exc.reason}")


def parse_policy(data: Any, origin: str = "<policy>", grading: Grading | None = None) -> MaskingPolicy:
    """Validate policy data (parsed YAML); ``origin`` names the file in error messages."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a masking policy must be a YAML mapping (key: value), got {type(data).__name__}")
    try:
        config = PolicyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_lines(exc, origin)) from None
    return MaskingPolicy(config, grading, origin=origin)


def _read(path: Path, grading: Grading | None) -> MaskingPolicy:
    return parse_policy(read_yaml(path, "masking policy file"), str(path), grading)


@cache
def _default_policy() -> MaskingPolicy:
    return _read(DEFAULT_PATH, None)


def load_policy(path: Path | None = None, grading: Grading | None = None) -> MaskingPolicy:
    """The masking policy at ``path``, or the shipped default; checked against ``grading``."""
    if path is None and grading is None:
        return _default_policy()
    return _read(path or DEFAULT_PATH, grading)
