"""World C's insiders: each scenario kind of the benchmark acted out at three strengths, with its label.

A case is planned before the days are made (who, which day, how strong), on people
who otherwise work normally, in the latter two thirds of the period; its events are
mixed into that person's ordinary day.  Strengths are this author's view of a careful,
an ordinary and a blatant insider of each kind, each with its own ``variant`` name;
``first_bad`` is the time of the case's first event.  Written, like the world, without
reading the detection code (see ``monitoring_world_c``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from custodata.demo.monitoring_world_c import Day, Staff, WorldC

STRENGTHS = ("weak", "medium", "strong")
KINDS = ("hoarding", "off_hours_bulk", "out_of_scope", "departing_exfiltration", "repeated_unmask",
         "failed_login_burst", "shared_customers", "multi_address", "new_data_kind", "identifier_enumeration")
EXTERNAL = "203.0.113."                  # documentation range: "from outside"


@dataclass
class Case:
    kind: str
    strength: str
    actors: list[Staff]
    days: list[int]
    variant: str
    first_bad: dt.datetime | None = None
    events: int = 0


def _candidates(w: WorldC, roles: Sequence[str], used: set[str]) -> list[Staff]:
    return [p for p in w.staff if p.role in roles and p.actor not in used and p.first_day == 0
            and p.handover_to is None and not p.inherit and p.status == "active" and not p.old_branch]


def _on_duty(w: WorldC, p: Staff, d: Day) -> bool:
    """At work by day (a call agent on a day shift; others on an office day)."""
    if not w._works(p, d):
        return False
    if p.role == "call_agent":
        return p.rota[(d.index + p.rota_offset) % len(p.rota)] == "D"
    return d.office


def _case_day(w: WorldC, p: Staff, taken: set[tuple[str, int]], *, rest: bool = False, span: int = 1) -> int:
    lo, hi = max(9, int(w.n_days * 0.35)), w.n_days - 1 - span
    days = [i for i in range(lo, hi + 1)
            if all((w._works(p, w.days[i + k]) and not w.days[i + k].office) if rest
                   else _on_duty(w, p, w.days[i + k]) for k in range(span))]
    days = [i for i in days if (p.actor, i) not in taken] or [hi]
    return w.rng.choice(days)


def plan_cases(w: WorldC) -> None:
    roles = {
        "hoarding": ("teller", "call_agent", "account_manager", "claims_adjuster", "collection_agent"),
        "off_hours_bulk": ("teller", "account_manager", "claims_adjuster", "underwriter", "marketing_analyst"),
        "out_of_scope": ("teller", "account_manager", "insurance_agent", "collection_agent"),
        "departing_exfiltration": ("account_manager", "teller", "marketing_analyst", "underwriter"),
        "repeated_unmask": ("teller", "call_agent", "claims_adjuster", "account_manager"),
        "failed_login_burst": ("teller", "account_manager", "underwriter", "compliance_officer", "call_agent"),
        "shared_customers": ("teller", "call_agent", "collection_agent", "account_manager"),
        "multi_address": ("teller", "account_manager", "claims_adjuster", "marketing_analyst", "call_agent"),
        "new_data_kind": ("marketing_analyst", "call_agent", "underwriter", "insurance_agent"),
        "identifier_enumeration": ("teller", "account_manager", "insurance_agent", "call_agent"),
    }
    used: set[str] = set()
    taken: set[tuple[str, int]] = set()
    for kind in KINDS:
        for k in range(w.cases_per_kind):
            strength = STRENGTHS[k % 3]
            pool = _candidates(w, roles[kind], used)
            if not pool:
                continue
            p = w.rng.choice(pool)
            used.add(p.actor)
            actors = [p]
            span = 3 if kind == "hoarding" and strength == "weak" else 1
            day = _case_day(w, p, taken, rest=kind == "off_hours_bulk" and strength == "weak", span=span)
            if kind == "shared_customers":
                mates = _candidates(w, roles[kind], used)
                mates = [q for q in mates if _on_duty(w, q, w.days[day]) and q.branch != p.branch]
                for q in w.rng.sample(mates, min(len(mates), 2 + k % 3)):
                    used.add(q.actor)
                    actors.append(q)
            if kind == "departing_exfiltration":
                p.status = "leaving"
                p.status_date = w.dates[day] + dt.timedelta(days=w.rng.randint(5, 25))
                p.last_day = min(p.last_day, (p.status_date - w.start).days)
            case = Case(kind, strength, actors, list(range(day, day + span)), "")
            w.cases.append(case)
            for i in case.days:
                taken.update((q.actor, i) for q in actors)
                w.hooks.setdefault(i, []).append(partial(_act, w, case))


def _act(w: WorldC, case: Case, d: Day) -> None:
    ACTS[case.kind](w, case, d, STRENGTHS.index(case.strength))


def _near(w: WorldC, p: Staff, d: Day) -> list[str]:
    """The customers a person's work is about (portfolio, branch, queue, list)."""
    if p.portfolio:
        return p.portfolio + w._branch_pool(p.post(d.index), d.index)
    if p.branch in w.by_branch:
        return w._branch_pool(p.post(d.index), d.index)
    return w.individuals


def _others(w: WorldC, p: Staff, d: Day, rich: bool) -> list[str]:
    """Customers of branches that are not the person's (the rich ones when ``rich``)."""
    mine = set(p.portfolio) | {p.post(d.index), p.branch}
    pool = [c for c in (w.rich if rich else w.all)
            if c not in mine and not set(w.branches[c]) & mine]
    return pool or w.rich


def _case_hoarding(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    near = _near(w, p, d)
    if s == 0:
        case.variant = "slow-3-days"
        picks = rng.sample(near, min(len(near), int(p.base * 1.2) + 5))
    elif s == 1:
        case.variant = "one-day"
        picks = rng.sample(near, min(len(near), int(p.base * 3) + 20)) + rng.sample(w.rich, 8)
    else:
        case.variant = "grab-and-extract"
        picks = rng.sample(near, min(len(near), 200)) + rng.sample(w.rich, 120)
    for cid in picks:
        w._read(p, w._at(d, rng.uniform(9.2, 17.0)), cid, purpose="客户维护", case=case)
    if s == 2:
        w._emit(p, w._at(d, 17.6), "export", count=2000, fields=("name", "mobile", "id_number", "amount"),
                   detail={"report": "客户清单"}, system="crm", case=case)


def _case_off_hours_bulk(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    vpn = f"172.20.{rng.randrange(64)}.{rng.randrange(2, 250)}"
    near = _near(w, p, d)
    start, n, rich = [(15.0, 24, 0), (22.6, 45, 8), (1.9, 110, 60)][s]
    case.variant = ["sunday-from-home", "late-night", "small-hours"][s]
    w._login(p, d, start - 0.05, vpn)
    picks = rng.sample(near, min(len(near), n)) + rng.sample(w.rich, rich)
    for t, cid in zip(w._times(len(picks), start, start + 1.0, lunch=False), picks, strict=True):
        w._read(p, w._at(d, t), cid, address=vpn, case=case)
    if s == 2:
        for cid in picks[-10:]:
            w._unmask(p, w._at(d, start + 1.05), cid, "mobile", "客户联系", address=vpn, case=case)


def _case_out_of_scope(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    n, rich = [(6, True), (22, False), (70, True)][s]
    case.variant = ["curious-wealthy", "browsing", "harvest"][s]
    picks = rng.sample(_others(w, p, d, rich), n)
    for cid in picks:
        w._read(p, w._at(d, rng.uniform(9.5, 16.8)), cid, case=case)
    if s == 2:
        for cid in picks[:10]:
            w._unmask(p, w._at(d, 16.9), cid, "mobile", "客户联系", case=case)


def _case_departing_exfiltration(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    near = _near(w, p, d)
    if s == 0:
        case.variant = "big-approved-export"
        rows = int(2.5 * max(w.exported.get(p.actor, [300])))   # well past their own largest
        w._export(p, d, 15.5, rows, "客户清单整理", case=case, approver=w._manager_of(p))
    elif s == 1:
        case.variant = "reads-everything"
        for cid in rng.sample(near, min(len(near), int(p.base * 2.5) + 30)):
            w._read(p, w._at(d, rng.uniform(9.2, 17.2)), cid, purpose="客户维护", case=case)
    else:
        case.variant = "unapproved-extract"
        for cid in rng.sample(near, min(len(near), 150)) + rng.sample(w.rich, 50):
            w._read(p, w._at(d, rng.uniform(9.2, 17.2)), cid, purpose="客户维护", case=case)
        w._emit(p, w._at(d, 17.4), "export", count=5000, fields=("name", "mobile", "amount"),
                   detail={"report": "客户资产清单"}, system="crm", case=case)
        w._emit(p, w._at(d, 17.45), "download", count=5000, detail={"report": "客户资产清单"},
                   system="crm", case=case)


def _case_repeated_unmask(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    near = _near(w, p, d)
    n, start, width = [(13, 9.5, 7.5), (15, 14.0, 0.6), (50, 10.0, 0.85)][s]
    case.variant = ["spread-over-day", "half-hour-burst", "dump"][s]
    picks = rng.sample(w.rich if s == 2 else near, n)
    for t, cid in zip(w._times(n, start, start + width, lunch=False), picks, strict=True):
        fld = rng.choice(("id_number", "mobile", "card_no") if s == 2 else ("id_number", "mobile"))
        w._unmask(p, w._at(d, t), cid, fld, "客户核验", case=case)


def _case_failed_login_burst(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    if s == 0:
        case.variant = "probing-denials"
        for t, cid in zip(w._times(7, 15.0, 15.4, lunch=False), rng.sample(_others(w, p, d, True), 7),
                          strict=True):
            w._emit(p, w._at(d, t), "read", ids=(cid,), result="denied", case=case,
                       reason="row rule: outside the person's branch (rule R-BRANCH)")
    elif s == 1:
        case.variant = "guessing-at-a-colleague's-desk"
        desk = f"10.{rng.randrange(1, 7)}.0.{rng.randrange(20, 200)}"
        for t in w._times(9, 12.3, 12.5, lunch=False):
            w._emit(p, w._at(d, t), "login", result="failed", reason="wrong password", address=desk,
                       case=case)
        w._emit(p, w._at(d, 12.52), "login", address=desk, case=case)
    else:
        case.variant = "credential-stuffing"
        ext = f"{EXTERNAL}{rng.randrange(2, 250)}"
        for t in w._times(35, 21.0, 21.13, lunch=False):
            w._emit(p, w._at(d, t), "login", result="failed", reason="wrong password", address=ext,
                       case=case)
        w._emit(p, w._at(d, 21.14), "login", address=ext, case=case)
        for cid in rng.sample(w.rich, 30):
            w._read(p, w._at(d, rng.uniform(21.15, 21.6)), cid, address=ext, case=case)


def _case_shared_customers(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng = w.rng
    n = [8, 16, 45][s]
    case.variant = ["pair-of-colleagues", "ring", "sold-list"][s]
    picks = rng.sample(w.rich if s == 2 else w.all, n)
    for q in case.actors:
        for cid in picks:
            w._read(q, w._at(d, rng.uniform(9.3, 17.0)), cid, case=case)


def _case_multi_address(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    inside, outside = [(3, 1), (4, 2), (6, 5)][s]
    case.variant = ["desk-and-vpn", "several-desks", "account-sold"][s]
    addresses = [f"10.{rng.randrange(1, 7)}.1.{rng.randrange(20, 200)}" for _ in range(inside)] + \
        [f"{EXTERNAL}{rng.randrange(2, 250)}" for _ in range(outside)]
    near = _near(w, p, d)
    for j, address in enumerate(addresses):
        t = 9.2 + j * 7.5 / len(addresses)
        w._login(p, d, t, address)
        for cid in rng.sample(near, 2 + 3 * s):
            w._read(p, w._at(d, t + rng.uniform(0.02, 0.4)), cid, address=address, case=case)


def _case_new_data_kind(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    fresh = [f for f in ("id_number", "card_no", "account_no") if f not in p.fields]
    n, k = [(3, 1), (12, 2), (40, 3)][s]
    case.variant = ["a-few-cards", "ids-and-cards", "everything"][s]
    fields = (*p.fields[:2], *fresh[:k])
    picks = rng.sample(_near(w, p, d), n)
    for cid in picks:
        w._read(p, w._at(d, rng.uniform(9.5, 16.5)), cid, fields=fields, case=case)
    if s == 2:
        for cid in picks[:10]:
            w._unmask(p, w._at(d, 16.7), cid, fresh[0], "客户核验", case=case)


def _case_identifier_enumeration(w: WorldC, case: Case, d: Day, s: int) -> None:
    rng, p = w.rng, case.actors[0]
    tries, width = [(6, 0.65), (14, 0.85), (45, 1.2)][s]
    case.variant = ["masked-id-candidates", "past-the-lock", "id-and-card-sweep"][s]
    target = rng.choice(w.rich)
    misses = 0
    for j, t in enumerate(w._times(tries, 14.2, 14.2 + width, lunch=False)):
        kind = "card_no" if s == 2 and j % 3 == 2 else "id_number"
        hit = target if s == 0 and j == tries - 1 else None
        refused = hit is None and misses >= 5
        misses += hit is None
        w._search(p, w._at(d, t), kind, hit, case=case, refused=refused)
    if s == 0:
        w._read(p, w._at(d, 14.2 + width + 0.02), target, case=case)


ACTS: dict[str, Callable[[WorldC, Case, Day, int], None]] = {
    "hoarding": _case_hoarding,
    "off_hours_bulk": _case_off_hours_bulk,
    "out_of_scope": _case_out_of_scope,
    "departing_exfiltration": _case_departing_exfiltration,
    "repeated_unmask": _case_repeated_unmask,
    "failed_login_burst": _case_failed_login_burst,
    "shared_customers": _case_shared_customers,
    "multi_address": _case_multi_address,
    "new_data_kind": _case_new_data_kind,
    "identifier_enumeration": _case_identifier_enumeration,
}
