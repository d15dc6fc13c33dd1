"""``custodata retention report``: what the policy expires when, by rule and month, in local dates.

Customers already due are counted under 已到期 (due now, at the next run); later expiries by
the month they fall in, up to a horizon.  Held customers are counted apart: they are not
processed while their hold lasts.  Only counts and dates — never a customer's value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from custodata.engine.port import BatchEngine
from custodata.retention.expiry import Due, field_expiry, history_expiry, personal_expiry, record_customers
from custodata.retention.holds import held_customers
from custodata.retention.policy import ACTION_LABELS, CATEGORY_LABELS, RetentionPolicy

DUE_NOW = "已到期"


@dataclass(frozen=True)
class ReportLine:
    rule_id: str
    label: str
    category: str        # zh-CN label of the category
    action: str          # zh-CN label of the action
    keep: str            # the period, in zh-CN
    when: str            # 已到期, or the month YYYY-MM it falls in
    first_date: dt.date  # the earliest local date in this line
    customers: int
    records: int         # records (fields), history rows (history), records of the customers (personal)
    held: int            # customers of the line under a legal hold


def expiry_report(db: BatchEngine, policy: RetentionPolicy, as_of: dt.date, *, months: int = 24) -> list[ReportLine]:
    """Lines of the report for ``as_of``, ordered by rule as the policy lists them, then by date."""
    held = held_customers(db)
    horizon = dt.date(as_of.year + (as_of.month - 1 + months) // 12, (as_of.month - 1 + months) % 12 + 1, 1)
    fields = field_expiry(db, policy)
    owners = record_customers(db, [(str(d.source), str(d.record_key)) for d in fields])
    items: list[tuple[Due, set[str]]] = [(d, {str(d.customer_id)}) for d in personal_expiry(db, policy)]
    items += [(d, owners.get((str(d.source), str(d.record_key)), set())) for d in fields]
    items += [(d, {str(d.customer_id)}) for d in history_expiry(db, policy)]
    groups: dict[tuple[str, str], list[tuple[Due, set[str]]]] = {}
    for due, who in items:
        if due.expires_on >= horizon:
            continue
        when = DUE_NOW if due.expires_on <= as_of else f"{due.expires_on:%Y-%m}"
        groups.setdefault((due.rule_id, when), []).append((due, who))
    order = {r.id: i for i, r in enumerate(policy.rules)}
    rules = {r.id: r for r in policy.rules}
    lines = []
    for (rule_id, when), members in sorted(groups.items(), key=lambda g: (order[g[0][0]], g[0][1] != DUE_NOW,
                                                                           g[0][1])):
        rule = rules[rule_id]
        who = set().union(*(w for _, w in members))
        lines.append(ReportLine(
            rule_id, rule.label, CATEGORY_LABELS[rule.category], ACTION_LABELS[rule.action], rule.keep.describe(),
            when, min(d.expires_on for d, _ in members), len(who), sum(d.rows for d, _ in members),
            len(who & held.keys())))
    return lines


__all__ = ["DUE_NOW", "ReportLine", "expiry_report"]
