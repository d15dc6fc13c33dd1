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

from custodata.access.document import PolicyDocument

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

    _compare_unmask(_by_id(a.model_dump(mode="json")["unmask"]), _by_id(b.model_dump(mode="json")["unmask"]),
                    widens, narrows)
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
        narrows.append(f"time window {rid} is added")
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


def _compare_unmask(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
                    widens: list[str], narrows: list[str]) -> None:
    for rid in sorted(after.keys() - before.keys()):
        r = after[rid]
        what = ", ".join([*r.get("fields", []), *r.get("types", [])]) or "a level range"
        per_day = "no daily limit" if r.get("max_per_day") is None else f"{r['max_per_day']} a day"
        widens.append(f"unmask rule {rid} is added: {', '.join(r['roles'])} may unmask {what} ({per_day})")
    for rid in sorted(before.keys() - after.keys()):
        narrows.append(f"unmask rule {rid} is removed")
    for rid in sorted(before.keys() & after.keys()):
        old, new = before[rid], after[rid]
        if _limit(new.get("max_per_day")) > _limit(old.get("max_per_day")):
            limit = new.get("max_per_day")
            widens.append(f"unmask rule {rid}: daily limit goes from {old.get('max_per_day')} to "
                          f"{'no limit' if limit is None else limit}")
        elif _limit(new.get("max_per_day")) < _limit(old.get("max_per_day")):
            narrows.append(f"unmask rule {rid}: daily limit goes from {old.get('max_per_day') or 'no limit'} "
                           f"to {new.get('max_per_day')}")
        rest_old = {k: v for k, v in old.items() if k not in ("max_per_day", "description")}
        rest_new = {k: v for k, v in new.items() if k not in ("max_per_day", "description")}
        if rest_old != rest_new:
            gained = [f"{k} +{', '.join(sorted(set(new[k]) - set(old.get(k) or [])))}"
                      for k in ("roles", "fields", "types", "purposes")
                      if isinstance(new.get(k), list) and set(new[k]) - set(old.get(k) or [])]
            if gained or any(rest_old.get(k) != rest_new.get(k) for k in ("min_level", "max_level")):
                widens.append(f"unmask rule {rid} is changed: {'; '.join(gained) or 'its level range'}")
            else:
                narrows.append(f"unmask rule {rid} covers less")
