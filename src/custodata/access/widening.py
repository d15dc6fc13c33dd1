"""What a new policy version widens and narrows: the difference a second security officer decides on.

A text diff of two YAML documents shows what changed but not what it means: a
moved line looks like a removal, and "max_per_day" deleted reads as tidying.
The checker of a policy import needs the meaning — who may now do more — so
each change is stated as a sentence, widening first.  The comparison is
deliberately conservative: a change whose effect is not obviously narrowing
(any change to the masking rules, a window moved) is listed as a widening, so
nothing that opens access reaches the checker under "narrows".
"""

from __future__ import annotations

from typing import Any

from custodata.access.policy_document import PolicyDocument

# row scopes from narrowest to widest
_SCOPE_ORDER = ("none", "portfolio", "branch", "all")


def _scope_rank(scope: str | None) -> int:
    return _SCOPE_ORDER.index(scope) if scope in _SCOPE_ORDER else 0


def _by_id(rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in rules}


def _limit(value: Any) -> float:
    """A missing limit is no limit: the widest."""
    return float("inf") if value is None else float(value)


def compare(old: PolicyDocument, new: PolicyDocument) -> tuple[list[str], list[str]]:
    """``(widens, narrows)``: sentences a checker reads before approving ``new`` over ``old``."""
    widens: list[str] = []
    narrows: list[str] = []
    a, b = old.access, new.access

    for role in sorted(set(a.permissions) | set(b.permissions)):
        before, after = set(a.permissions.get(role, [])), set(b.permissions.get(role, []))
        if after - before:
            widens.append(f"role {role} gains {', '.join(sorted(after - before))}")
        if before - after:
            narrows.append(f"role {role} loses {', '.join(sorted(before - after))}")
    for role in sorted(set(a.rows) | set(b.rows)):
        before_s, after_s = a.rows.get(role, "none"), b.rows.get(role, "none")
        if _scope_rank(after_s) > _scope_rank(before_s):
            widens.append(f"role {role} reaches {after_s} customers instead of {before_s}")
        elif _scope_rank(after_s) < _scope_rank(before_s):
            narrows.append(f"role {role} reaches {after_s} customers instead of {before_s}")
    for role in sorted(set(a.purposes) | set(b.purposes)):
        before, after = set(a.purposes.get(role, [])), set(b.purposes.get(role, []))
        if after - before:
            widens.append(f"role {role} may state the purposes {', '.join(sorted(after - before))}")
        if before - after:
            narrows.append(f"role {role} may no longer state {', '.join(sorted(before - after))}")

    _compare_unmask(old, new, widens, narrows)
    deny_a = _by_id(a.model_dump(mode="json")["deny"])
    deny_b = _by_id(b.model_dump(mode="json")["deny"])
    for rid in sorted(deny_a.keys() - deny_b.keys()):
        widens.append(f"deny rule {rid} is removed")
    for rid in sorted(deny_b.keys() - deny_a.keys()):
        narrows.append(f"deny rule {rid} is added")
    for rid in sorted(deny_a.keys() & deny_b.keys()):
        if deny_a[rid] != deny_b[rid]:
            widens.append(f"deny rule {rid} is changed (review what it still refuses)")
    win_a = _by_id(a.model_dump(mode="json", by_alias=True)["windows"])
    win_b = _by_id(b.model_dump(mode="json", by_alias=True)["windows"])
    for rid in sorted(win_a.keys() - win_b.keys()):
        widens.append(f"time window {rid} is removed")
    for rid in sorted(win_b.keys() - win_a.keys()):
        # windows are alternatives: a person covered by any window may work in any of them, so a
        # window for people another window already covers adds hours; only one for people no
        # window covered before restricts them
        added = win_b[rid]
        if any(_same_people(added, w) for w in win_a.values()):
            widens.append(f"time window {rid} is added: people already held to another window may also work "
                          f"{'/'.join(added['days'])} {added['from']}-{added['to']}")
        else:
            narrows.append(f"time window {rid} is added (people with no window before)")
    for rid in sorted(win_a.keys() & win_b.keys()):
        if win_a[rid] != win_b[rid]:
            widens.append(f"time window {rid} is changed (review its days and hours)")

    for key in ("identifier_searches_per_minute", "identifier_searches_per_day", "identifier_misses_per_day"):
        before_l, after_l = getattr(a.limits, key), getattr(b.limits, key)
        if _limit(after_l) > _limit(before_l):
            widens.append(f"limit {key} goes from {before_l} to {after_l if after_l is not None else 'no limit'}")
        elif _limit(after_l) < _limit(before_l):
            narrows.append(f"limit {key} goes from {before_l if before_l is not None else 'no limit'} to {after_l}")
    if a.limits.timezone != b.limits.timezone:
        widens.append(f"daily limits reset at midnight in {b.limits.timezone} instead of {a.limits.timezone}")

    masking_a = old.masking.config.model_dump(mode="json")
    masking_b = new.masking.config.model_dump(mode="json")
    for section in sorted(set(masking_a) | set(masking_b)):
        if masking_a.get(section) != masking_b.get(section):
            widens.append(f"masking section {section} is changed (review what each role now sees)")
    return widens, narrows


def _same_people(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two windows can match one person (empty roles or kinds: everyone)."""
    roles = not a["roles"] or not b["roles"] or bool(set(a["roles"]) & set(b["roles"]))
    kinds = not a["kinds"] or not b["kinds"] or bool(set(a["kinds"]) & set(b["kinds"]))
    return roles and kinds


def _unmask_grants(doc: PolicyDocument) -> dict[tuple[str, str, str], float]:
    """What the unmask rules allow, as (role, field, purpose) -> the most generous daily limit.

    Compared on what the rules *cover* on the graded fields, not on their keys: a rule can be
    widened in steps that each look harmless (a level range added, then its field list emptied,
    which makes it cover every field in the range); the covered set shows the sum of them.
    """
    from custodata.access.engine import _covers
    from custodata.access.policy_document import never_unmasked

    grading = doc.masking.grading
    grants: dict[tuple[str, str, str], float] = {}
    for field, type_ in grading.fields.items():
        if type_ not in grading.types or never_unmasked(grading, type_):
            continue
        level = grading.grade(type_).level
        for rule in doc.access.unmask:
            if not _covers(rule, field, type_, level):
                continue
            for role in rule.roles:
                for purpose in rule.purposes:
                    key = (role, field, purpose)
                    grants[key] = max(grants.get(key, 0.0), _limit(rule.max_per_day))
    return grants


def _compare_unmask(old: PolicyDocument, new: PolicyDocument, widens: list[str], narrows: list[str]) -> None:
    before, after = _unmask_grants(old), _unmask_grants(new)
    gained: dict[str, set[str]] = {}
    for role, field, purpose in sorted(after.keys() - before.keys()):
        gained.setdefault(role, set()).add(f"{field} for {purpose}")
    for role, what in sorted(gained.items()):
        widens.append(f"role {role} may now unmask {', '.join(sorted(what))}")
    lost: dict[str, set[str]] = {}
    for role, field, purpose in sorted(before.keys() - after.keys()):
        lost.setdefault(role, set()).add(f"{field} for {purpose}")
    for role, what in sorted(lost.items()):
        narrows.append(f"role {role} may no longer unmask {', '.join(sorted(what))}")
    raised: dict[tuple[str, str, str], tuple[float, float]] = {
        k: (before[k], after[k]) for k in before.keys() & after.keys() if after[k] != before[k]}
    for (role, field, purpose), (was, now) in sorted(raised.items()):
        shown = ("no limit" if now == float("inf") else f"{int(now)} a day",
                 "no limit" if was == float("inf") else f"{int(was)} a day")
        line = f"role {role} unmasking {field} for {purpose}: daily limit goes from {shown[1]} to {shown[0]}"
        (widens if now > was else narrows).append(line)
