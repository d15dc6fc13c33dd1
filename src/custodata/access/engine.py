"""The one access-decision engine [访问决策]: every path (API, console, exports, CLI) asks it.

Why our own engine rather than Casbin: an access decision here is not only
allow/deny.  For every field it also picks *which masking operator* applies by
the field's grade, role and purpose, on top of the masking policy custodata
already has (``custodata.masking.policy``, with its own deny-wins and
most-specific-allow order), and it must explain itself in words a bank's staff
and auditors read ("masked (keep first 3, last 4) because level 4 and role
marketer").  Casbin would decide allow/deny from its model and leave the
masking choice, the purpose-of-use check, branch/portfolio rows and time
windows to a second engine beside it: two engines, two policy files, two
explanations that can disagree.  The rules we need — permissions per role,
deny rules that win, row scopes, time windows, unmask rules — are a few
hundred lines of plain, typed code over validated data, loaded from the same
versioned document as the masking rules.  Casbin would be the better choice
if policies needed arbitrary user-defined models (ABAC expressions, RBAC with
domains and role hierarchies); they do not today.

Decision order for :meth:`PolicyEngine.check`: deny rules win, then the role's
permissions, then time windows for customer-data actions.  Row and unmask
checks start from ``check`` and narrow further; no path grants what ``check``
refuses.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from custodata.access.actions import ACTIONS, CUSTOMER_DATA_ACTIONS, CUSTOMER_UNMASK, expand
from custodata.access.policy_document import (
    DAYS,
    SCOPE_ORDER,
    AccessConfig,
    Day,
    DenyRule,
    LimitsConfig,
    PolicyDocument,
    UnmaskRule,
    WindowRule,
    never_unmasked,
)
from custodata.errors import ConfigError
from custodata.masking.operators import get_operator
from custodata.masking.policy import Decision, MaskingPolicy, _suggest

NEVER_UNMASK_RULE = "never-unmask-secrets"


class Subject(Protocol):
    """Whoever acts: an identity's principal, a test double, a mapped user of another system."""

    @property
    def person_id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def branch(self) -> str | None: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class AccessDecision:
    """One answer with its reason: the rule id is what an auditor looks up in the policy version."""

    allowed: bool
    action: str
    rule: str | None
    reason: str
    reason_zh: str
    max_per_day: int | None = None  # unmask: the caller takes one of the rule's daily allowance


def _allow(
    action: str, rule: str | None, reason: str, reason_zh: str, max_per_day: int | None = None
) -> AccessDecision:
    return AccessDecision(True, action, rule, f"allowed by {rule}: {reason}" if rule else f"allowed: {reason}",
                          f"允许（{rule}）：{reason_zh}" if rule else f"允许：{reason_zh}", max_per_day)


def _deny(action: str, rule: str | None, reason: str, reason_zh: str) -> AccessDecision:
    return AccessDecision(False, action, rule, f"denied by {rule}: {reason}" if rule else f"denied: {reason}",
                          f"拒绝（{rule}）：{reason_zh}" if rule else f"拒绝：{reason_zh}")


@dataclass(frozen=True)
class _Deny:
    config: DenyRule
    actions: frozenset[str]

    def matches(self, subject: Subject, action: str | None) -> bool:
        c = self.config
        return ((not c.roles or subject.role in c.roles)
                and (not c.kinds or subject.kind in c.kinds)
                and (not c.statuses or subject.status in c.statuses)
                and (action is None or action in self.actions))

    def who(self, subject: Subject) -> tuple[str, str]:
        """The person's attributes this rule matched on, in English and Chinese."""
        c = self.config
        en: list[str] = []
        zh: list[str] = []
        if c.statuses:
            en.append(f"status {subject.status}")
            zh.append(f"状态 {subject.status}")
        if c.kinds:
            en.append(f"kind {subject.kind}")
            zh.append(f"人员类别 {subject.kind}")
        if c.roles:
            en.append(f"role {subject.role}")
            zh.append(f"角色 {subject.role}")
        return (" and ".join(en) or "everyone"), ("、".join(zh) or "所有人")


@dataclass(frozen=True)
class _Window:
    config: WindowRule
    zone: zoneinfo.ZoneInfo

    def matches(self, subject: Subject) -> bool:
        c = self.config
        if not c.roles and not c.kinds:
            return True
        return subject.role in c.roles or subject.kind in c.kinds

    def local(self, at: dt.datetime) -> tuple[Day, str]:
        here = at.astimezone(self.zone)
        return DAYS[here.weekday()], here.strftime("%H:%M")

    def open_at(self, at: dt.datetime) -> bool:
        c = self.config
        day, now = self.local(at)
        if c.start < c.end:
            return day in c.days and c.start <= now < c.end
        # past midnight: the evening belongs to the listed day, the small hours to the day before
        yesterday = DAYS[(DAYS.index(day) - 1) % 7]
        return (day in c.days and now >= c.start) or (yesterday in c.days and now < c.end)

    def span(self) -> str:
        c = self.config
        days = ",".join(c.days) if len(c.days) < 7 else "every day"
        return f"{days} {c.start}–{c.end} {c.timezone}"


def _utc(at: dt.datetime | None) -> dt.datetime:
    """Naive datetimes are UTC, as the operational store keeps them."""
    if at is None:
        return dt.datetime.now(dt.UTC)
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


class PolicyEngine:
    """A loaded policy version: immutable, cheap to ask, safe to share between requests."""

    def __init__(self, document: PolicyDocument, *, version: int = 0) -> None:
        self.document = document
        self.version = version
        self.masking: MaskingPolicy = document.masking
        access: AccessConfig = document.access
        self._permissions = {role: frozenset(a) for role, a in access.permissions.items()}
        self._rows: dict[str, str] = dict(access.rows)
        self._deny = tuple(_Deny(d, frozenset(a for p in d.actions for a in expand(p))) for d in access.deny)
        self._windows = tuple(_Window(w, zoneinfo.ZoneInfo(w.timezone)) for w in access.windows)
        self._unmask: tuple[UnmaskRule, ...] = tuple(access.unmask)
        self._purposes = {role: tuple(p) for role, p in access.purposes.items()}
        self.limits: LimitsConfig = access.limits

    # ---- actions ------------------------------------------------------------------------------

    def check(self, subject: Subject, action: str, *, at: dt.datetime | None = None) -> AccessDecision:
        """May ``subject`` take ``action`` at ``at`` (default now): deny rules, permissions, time windows."""
        if action not in ACTIONS:
            raise ConfigError(f"unknown action: {_suggest(action, ACTIONS)}")
        role = subject.role
        if role not in self.masking.config.roles:
            return _deny(action, None, f"role {role} is not declared in policy version {self.version}",
                         f"角色 {role} 未在策略版本 {self.version} 中定义")
        for rule in self._deny:
            if rule.config.outside is None and rule.matches(subject, action):
                en, zh = rule.who(subject)
                desc = f" ({rule.config.description})" if rule.config.description else ""
                return _deny(action, rule.config.id, f"{en} may not {action}{desc}", f"{zh} 不得执行 {action}")
        if action not in self._permissions.get(role, frozenset()):
            return _deny(action, f"permissions.{role}", f"role {role} has no permission {action}",
                         f"角色 {role} 无 {action} 权限")
        window = ""
        if action in CUSTOMER_DATA_ACTIONS:
            windows = [w for w in self._windows if w.matches(subject)]
            if windows:
                when = _utc(at)
                opened = next((w for w in windows if w.open_at(when)), None)
                if opened is None:
                    w = windows[0]
                    day, now = w.local(when)
                    return _deny(action, w.config.id,
                                 f"{action} outside {w.span()} (it is {day} {now} there)",
                                 f"{action} 不在允许时段 {w.span()} 内（当地时间 {day} {now}）")
                window = f" within window {opened.config.id}"
        return _allow(action, f"permissions.{role}", f"role {role} may {action}{window}",
                      f"角色 {role} 有 {action} 权限")

    def roles_with_any(self, actions: Iterable[str]) -> frozenset[str]:
        """The roles granted at least one of ``actions`` (which roles policy holds to a second factor)."""
        wanted = frozenset(actions)
        return frozenset(role for role, granted in self._permissions.items() if granted & wanted)

    def allowed_actions(self, subject: Subject, *, at: dt.datetime | None = None) -> frozenset[str]:
        """Every action ``check`` allows now: what a console shows in its menu."""
        return frozenset(a for a in ACTIONS if self.check(subject, a, at=at).allowed)

    # ---- rows ---------------------------------------------------------------------------------

    def _scope(self, subject: Subject, action: str | None) -> tuple[str, str]:
        role = subject.role
        scope, rule = self._rows.get(role, "none"), f"rows.{role}"
        for d in self._deny:
            outside = d.config.outside
            if outside is not None and d.matches(subject, action) and SCOPE_ORDER[outside] < SCOPE_ORDER[scope]:
                scope, rule = outside, d.config.id
        return scope, rule

    def row_scope(self, subject: Subject, *, action: str | None = None) -> str:
        """Which customers ``subject`` reaches: all | branch | portfolio | none.

        Deny rules with ``outside`` narrow the role's scope; without ``action``
        every such rule matching the person narrows it (the narrowest wins), so
        a search filter built from this never reaches more than any action may.
        """
        return self._scope(subject, action)[0]

    def check_row(
        self,
        subject: Subject,
        action: str,
        *,
        customer_branches: Collection[str],
        in_portfolio: bool,
        at: dt.datetime | None = None,
    ) -> AccessDecision:
        """``check`` plus the row rule for one customer (its branches, and whether it is in the portfolio)."""
        decision = self.check(subject, action, at=at)
        if not decision.allowed:
            return decision
        scope, rule = self._scope(subject, action)
        narrowed = "" if rule.startswith("rows.") else f" (narrowed to {scope} by status {subject.status})"
        narrowed_zh = "" if rule.startswith("rows.") else f"（状态 {subject.status} 收窄为 {scope}）"
        if scope == "all":
            return _allow(action, rule, f"role {subject.role} reaches all customers",
                          f"角色 {subject.role} 可访问全部客户")
        if scope == "none":
            return _deny(action, rule, f"role {subject.role} reaches no customer rows",
                         f"角色 {subject.role} 不可访问任何客户数据")
        if in_portfolio:
            return _allow(action, rule, f"customer is in the portfolio of {subject.person_id}{narrowed}",
                          f"客户在 {subject.person_id} 名下{narrowed_zh}")
        if scope == "branch":
            if subject.branch is None:
                return _deny(action, rule, f"{subject.person_id} has no branch and the customer is not in their "
                             "portfolio", f"{subject.person_id} 无所属机构，客户也不在其名下")
            if subject.branch in customer_branches:
                return _allow(action, rule, f"customer has a record in branch {subject.branch}",
                              f"客户在本机构 {subject.branch} 有记录")
            return _deny(action, rule, f"customer outside branch {subject.branch} and not in the portfolio of "
                         f"{subject.person_id}{narrowed}",
                         f"客户不属于本机构 {subject.branch}，也不在 {subject.person_id} 名下{narrowed_zh}")
        return _deny(action, rule, f"customer not in the portfolio of {subject.person_id}{narrowed}",
                     f"客户不在 {subject.person_id} 名下{narrowed_zh}")

    # ---- purposes of use -----------------------------------------------------------------------

    def purposes_for(self, role: str) -> tuple[str, ...]:
        """The purposes ``role`` may state (the ``purposes`` section; a role not listed: none)."""
        return self._purposes.get(role, ())

    def default_purpose(self, role: str) -> str | None:
        """The purpose assumed for an exact-identifier search that states none: the role's first."""
        listed = self.purposes_for(role)
        return listed[0] if listed else None

    def check_purpose(self, subject: Subject, purpose: str | None, action: str) -> AccessDecision:
        """May ``subject`` state ``purpose`` for ``action``: declared by the policy and listed for the role.

        A purpose widens what a view shows (fraud investigation shows identities in
        plain), so claiming one the role has no business with is refused, not ignored.
        No purpose at all is always allowed: the view is then masked for the role alone.
        """
        role = subject.role
        if not purpose:
            return _allow(action, None, "no purpose stated", "未说明使用目的")
        declared = self.masking.purposes
        if purpose not in declared:
            return _deny(action, "purposes", f"unknown purpose {purpose} (the policy declares: {', '.join(declared)})",
                         f"未知的使用目的 {purpose}（策略定义：{'、'.join(declared)}）")
        listed = self.purposes_for(role)
        if purpose not in listed:
            accepted = ", ".join(listed) or "none"
            return _deny(action, f"purposes.{role}", f"role {role} may not state purpose {purpose} "
                         f"(accepted: {accepted})",
                         f"角色 {role} 不得以 {purpose} 为使用目的（可选：{'、'.join(listed) or '无'}）")
        return _allow(action, f"purposes.{role}", f"role {role} may state purpose {purpose}",
                      f"角色 {role} 可以 {purpose} 为使用目的")

    # ---- unmasking ----------------------------------------------------------------------------

    def check_unmask(
        self, subject: Subject, field: str, purpose: str | None, *, at: dt.datetime | None = None
    ) -> AccessDecision:
        """May ``subject`` see ``field`` of one customer in plain for ``purpose``.

        The caller still applies :meth:`check_row` for the customer, takes one of
        the rule's ``max_per_day`` (:func:`custodata.access.limits.take`, keyed by
        the rule id) and records the unmasking with its purpose; this decides the
        policy part only.
        """
        decision = self.check(subject, CUSTOMER_UNMASK, at=at)
        if not decision.allowed:
            return decision
        grading = self.masking.grading
        type_ = grading.field_type(field)
        if type_ is None:
            raise ConfigError(f"cannot unmask '{field}': {_suggest(field, grading.fields)} "
                              "(only graded fields are masked; others are shown in plain already)")
        grade = grading.grade(type_)
        what = f"{field} (level {grade.level}, {type_})"
        what_zh = f"{field}（{grade.level} 级，{type_}）"
        if never_unmasked(grading, type_):
            return _deny(CUSTOMER_UNMASK, NEVER_UNMASK_RULE,
                         f"{what} is {grade.category}: C3 authentication data and level-5 data are never unmasked",
                         f"{what_zh} 属于 {grade.category}，鉴别信息与 5 级数据一律不得显示明文")
        role = subject.role
        rules = [r for r in self._unmask if role in r.roles and _covers(r, field, type_, grade.level)]
        if not rules:
            return _deny(CUSTOMER_UNMASK, None, f"no unmask rule lets role {role} unmask {what}",
                         f"没有规则允许角色 {role} 查看 {what_zh} 的明文")
        accepted = sorted({p for r in rules for p in r.purposes})
        if not purpose:
            return _deny(CUSTOMER_UNMASK, rules[0].id,
                         f"unmasking {what} needs a stated purpose of use (one of: {', '.join(accepted)})",
                         f"查看 {what_zh} 明文须说明使用目的（可选：{'、'.join(accepted)}）")
        chosen = next((r for r in rules if purpose in r.purposes), None)
        if chosen is None:
            return _deny(CUSTOMER_UNMASK, rules[0].id,
                         f"purpose {purpose} does not allow role {role} to unmask {what}; "
                         f"accepted: {', '.join(accepted)}",
                         f"使用目的 {purpose} 不允许角色 {role} 查看 {what_zh} 的明文；可选：{'、'.join(accepted)}")
        limit = f", at most {chosen.max_per_day} a day" if chosen.max_per_day else ""
        limit_zh = f"，每日最多 {chosen.max_per_day} 次" if chosen.max_per_day else ""
        return _allow(CUSTOMER_UNMASK, chosen.id, f"role {role} may unmask {what} for purpose {purpose}{limit}",
                      f"角色 {role} 可因 {purpose} 查看 {what_zh} 的明文{limit_zh}", chosen.max_per_day)

    # ---- display ------------------------------------------------------------------------------

    def decide_field(self, field: str, role: str, purpose: str | None = None) -> Decision:
        """The masking decision for a field (the masking section of this same policy version)."""
        return self.masking.decide(field, role, purpose)

    def explain_field(self, field: str, role: str, purpose: str | None = None) -> str:
        """Why ``role`` sees ``field`` the way it does, e.g. "masked (keep first 3, last 4) because …"."""
        d = self.masking.decide(field, role, purpose)
        if d.sensitive_type is None:
            return f"shown in plain because '{field}' is not a graded field"
        because = f"because level {d.level} ({d.sensitive_type}) and role {role}"
        if purpose is not None:
            because += f" for purpose {purpose}"
        if d.rule_id is not None:
            source = f"rule {d.rule_id}"
        else:
            source = f"no rule matched: default for level >= {self.masking.config.default.mask_from_level}" \
                if d.operator != "plain" else "no rule matched: default below the masking level"
        if d.effect == "deny":
            shown = "withheld"
        elif d.operator == "plain":
            shown = "shown in plain"
        else:
            shown = f"masked ({_describe(d.operator, d.params)})"
        return f"{shown} {because} ({source})"


def _covers(rule: UnmaskRule, field: str, type_: str, level: int) -> bool:
    if rule.min_level is not None and level < rule.min_level:
        return False
    if rule.max_level is not None and level > rule.max_level:
        return False
    if rule.fields or rule.types:
        return field in rule.fields or type_ in rule.types
    return True


def _describe(operator: str, params: Any) -> str:
    op = get_operator(operator)
    if operator == "keep":
        p = op.parse(params).model_dump()
        return f"keep first {p['first']}, last {p['last']}"
    return op.describe(params)

