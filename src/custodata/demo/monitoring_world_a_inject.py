"""Injected insiders: each detection scenario acted out at a chosen strength, with its label.

Every case is planned before the days are generated (who, which days, how
strong) and its events are mixed into that person's ordinary activity of the
day, so a detector sees what it would see in a bank: the bad acts inside a
normal working day, never on their own.  Strengths differ in volume and in
what is touched (weak cases stay close to normal and touch ordinary
customers; strong ones touch many high-value customers).  The label says who,
when (a window of whole local days), how strong and when the first bad event
happened — the reference for detection rate and time to alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from custodata.demo.monitoring_world_a_calendar import is_workday, local_midnight_utc
from custodata.demo.monitoring_world_a_habits import UNMASK_PURPOSES, Day, SimEvent
from custodata.demo.monitoring_world_a_world import Customers, SimPerson, SimulationError

SCENARIOS: tuple[str, ...] = (
    "hoarding", "off_hours_bulk", "out_of_scope", "departing_exfiltration", "repeated_unmask",
    "failed_login_burst", "shared_customers", "multi_address", "new_data_kind", "identifier_enumeration",
)
STRENGTHS: tuple[str, ...] = ("weak", "medium", "strong")
LEVEL4_FIELDS = ("id_number", "card_no", "account_no")


@dataclass
class Case:
    """One planned injection; ``first_bad_event_at`` and ``events`` are filled in as its events are made."""

    scenario: str
    strength: str
    people: list[SimPerson]
    days: list[dt.date]
    params: dict[str, Any] = field(default_factory=dict)
    first_bad_event_at: dt.datetime | None = None
    events: int = 0

    @property
    def actor(self) -> str:
        return self.people[0].actor

    @property
    def start(self) -> dt.datetime:
        return local_midnight_utc(self.days[0])

    @property
    def end(self) -> dt.datetime:
        return local_midnight_utc(self.days[-1]) + dt.timedelta(days=1 + int(self.params.get("spill_days", 0)))

    def label(self) -> dict[str, Any]:
        """The ``labels.json`` entry (times ISO 8601 UTC with ``Z``, as in the events file)."""
        return {
            "scenario": self.scenario, "actor": self.actor, "actors": [p.actor for p in self.people],
            "start": _iso(self.start), "end": _iso(self.end), "strength": self.strength,
            "first_bad_event_at": _iso(self.first_bad_event_at) if self.first_bad_event_at else None,
            "events": self.events, "variant": self.params.get("variant"),
        }


def _iso(at: dt.datetime) -> str:
    return at.isoformat(timespec="microseconds") + "Z"


# scenario -> roles a case may be given to, in order of preference
_ELIGIBLE: dict[str, tuple[str, ...]] = {
    "hoarding": ("outsourced_agent", "front_desk"),
    "off_hours_bulk": ("front_desk", "marketer", "outsourced_agent"),
    "out_of_scope": ("front_desk", "outsourced_agent", "marketer"),
    "departing_exfiltration": ("front_desk", "marketer", "outsourced_agent"),
    "repeated_unmask": ("front_desk", "outsourced_agent"),
    "failed_login_burst": ("front_desk", "outsourced_agent", "marketer"),
    "shared_customers": ("front_desk", "outsourced_agent"),
    "multi_address": ("front_desk", "marketer", "outsourced_agent"),
    "new_data_kind": ("marketer", "outsourced_agent", "analyst"),
    "identifier_enumeration": ("front_desk", "outsourced_agent"),
}
_GROUP = {"weak": 4, "medium": 6, "strong": 10}  # shared_customers: accounts acting together
_SPAN = {  # consecutive working days a case lasts
    "hoarding": {"weak": 3, "medium": 2, "strong": 1},
    "out_of_scope": {"weak": 2, "medium": 2, "strong": 1},
    "departing_exfiltration": {"weak": 3, "medium": 4, "strong": 5},
    "repeated_unmask": {"weak": 2, "medium": 1, "strong": 1},
}


def plan_cases(scenarios: Sequence[str], per_scenario: int, people: list[SimPerson], days: list[dt.date],
               rng: np.random.Generator) -> list[Case]:
    """Choose people and days for ``per_scenario`` cases of each scenario, strengths cycling weak→strong.

    Each injected person carries one case only, so labels never overlap; cases
    start after the first third of the period so baselines have something to learn from.
    """
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise SimulationError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    earliest = min(len(days) - 1, max(1, round(len(days) * 0.35)))
    cases: list[Case] = []
    for scenario in scenarios:
        for k in range(per_scenario):
            strength = STRENGTHS[k % len(STRENGTHS)]
            count = _GROUP[strength] if scenario == "shared_customers" else 1
            chosen = _pick_people(scenario, count, people, rng)
            span = _SPAN.get(scenario, {}).get(strength, 1)
            variant = _variant(scenario, k)
            candidates = [d for d in days[earliest:] if is_workday(d) != (variant == "day_off")]
            if not candidates and variant == "day_off":  # no weekend or holiday left: a night session instead
                variant = "night"
                candidates = [d for d in days[earliest:] if is_workday(d)]
            if not candidates:
                raise SimulationError("the period has no working day after the warm-up to inject into; "
                                      "simulate more days")
            first = int(rng.integers(0, max(1, len(candidates) - span + 1)))
            case_days = candidates[first:first + span]
            case = Case(scenario, strength, chosen, case_days, {"variant": variant})
            if scenario == "off_hours_bulk":
                case.params["spill_days"] = 1  # a night session may run past midnight
            if scenario == "departing_exfiltration":
                person = chosen[0]
                person.status = "transferred" if k % 3 == 2 else "leaving"
                person.status_date = case_days[-1] + dt.timedelta(days=int(rng.integers(3, 11)))
            cases.append(case)
    return cases


def _variant(scenario: str, k: int) -> str | None:
    if scenario == "failed_login_burst":
        return "failed_logins" if k % 2 == 0 else "denied_burst"
    if scenario == "off_hours_bulk":
        return "night" if k % 2 == 0 else "day_off"
    return None


def _pick_people(scenario: str, count: int, people: list[SimPerson], rng: np.random.Generator) -> list[SimPerson]:
    free = [p for p in people if not p.injected and p.status == "active"]
    for role in _ELIGIBLE[scenario]:
        pool = [p for p in free if p.role == role and (scenario != "hoarding" or p.kind == "outsourced"
                                                        or role != "outsourced_agent")]
        if len(pool) >= count:
            break
    else:
        pool = [p for p in free if p.role in _ELIGIBLE[scenario]]
    if len(pool) < count:
        raise SimulationError(f"not enough people to inject {scenario}: need {count} more in roles "
                              f"{', '.join(_ELIGIBLE[scenario])}; simulate more people or fewer cases")
    picked = [pool[int(i)] for i in rng.choice(len(pool), size=count, replace=False)]
    for p in picked:
        p.injected = True
    return picked


# --- acting the cases out --------------------------------------------------------------------------

def _s(strength: str, weak: int, medium: int, strong: int) -> int:
    return {"weak": weak, "medium": medium, "strong": strong}[strength]


def _outside(day: Day, n: int, high_share: float) -> np.ndarray:
    """Customers outside the person's branch and portfolio, a share of them high-value."""
    customers, rng, p = day.customers, day.rng, day.p
    picks: list[int] = []
    own = set(p.portfolio)
    while len(picks) < n:
        pool = customers.high_value if rng.random() < high_share and len(customers.high_value) else None
        c = int(rng.choice(pool)) if pool is not None else int(rng.integers(0, len(customers)))
        if p.branch in customers.branches[c] or c in own:
            continue
        picks.append(c)
    return np.array(picks, dtype=np.int64)


def _in_scope(day: Day, n: int) -> np.ndarray:
    """Customers the person may well serve (portfolio, else branch, else anyone): the act itself is the signal."""
    rng, p, customers = day.rng, day.p, day.customers
    if p.portfolio:
        return rng.choice(np.array(p.portfolio, dtype=np.int64), size=n)
    pool = customers.by_branch.get(p.branch)
    if pool is not None and len(pool):
        return rng.choice(pool, size=n)
    return rng.integers(0, len(customers), size=n)


def _hoarding(case: Case, day: Day) -> None:
    n = _s(case.strength, 60, 150, 400)
    targets = _outside(day, n, {"weak": 0.05, "medium": 0.2, "strong": 0.4}[case.strength])
    fields = ("name", "mobile", "id_number", "address")
    for h, c in zip(day.work_hours(n).tolist(), targets.tolist(), strict=True):
        day.add(h, "read", ids=(day.customers.ids[c],), fields=fields)


def _off_hours(case: Case, day: Day) -> None:
    n = _s(case.strength, 30, 80, 250)
    start = float(day.rng.uniform(21.5, 23.0)) if case.params["variant"] == "night" else float(
        day.rng.uniform(10.0, 16.0))
    gaps = day.rng.uniform(10, 40, size=n) / 3600  # a look-up every 10–40 seconds
    hours = start + np.cumsum(gaps)
    targets = _outside(day, n, 0.3) if case.strength != "weak" else day.rng.integers(0, len(day.customers), n)
    day.add(start - 0.02, "login")
    for h, c in zip(hours.tolist(), targets.tolist(), strict=True):
        day.add(h, "read", ids=(day.customers.ids[c],), fields=("name", "mobile", "id_number", "address"))
    if case.strength == "strong":
        day.add(float(hours[-1]) + 0.01, "export_request", count=n * 10, fields=("name", "mobile"),
                purpose="customer review", detail={"request_id": "r-night", "rows": n * 10})


def _out_of_scope(case: Case, day: Day) -> None:
    n = _s(case.strength, 12, 30, 80)
    targets = _outside(day, n, {"weak": 0.2, "medium": 0.5, "strong": 0.8}[case.strength])
    for h, c in zip(day.work_hours(n).tolist(), targets.tolist(), strict=True):
        day.add(h, "read", ids=(day.customers.ids[c],), fields=("name", "mobile", "address"))


def _departing(case: Case, day: Day) -> None:
    n = _s(case.strength, 25, 50, 120)
    targets = _outside(day, n, 0.5)
    for h, c in zip(day.work_hours(n).tolist(), targets.tolist(), strict=True):
        day.add(h, "read", ids=(day.customers.ids[c],), fields=("name", "mobile", "address"))
    if day.day == case.days[-1]:
        rows = _s(case.strength, 300, 800, 3000)
        hour = day.p.shift_end - 1.0
        detail = {"request_id": f"r-{day.p.actor[:6]}", "rows": rows}
        day.add(hour, "export_request", count=rows, fields=("name", "mobile", "address"), purpose="client follow-up",
                detail=detail)
        if case.strength != "weak":
            day.add(hour + 0.5, "export", count=rows, fields=("name", "mobile", "address"), detail=detail)
            day.add(hour + 0.55, "download", count=rows, fields=("name", "mobile", "address"), detail=detail)


def _repeated_unmask(case: Case, day: Day) -> None:
    n = _s(case.strength, 12, 30, 90)
    targets = _in_scope(day, n)
    for h, c in zip(day.work_hours(n).tolist(), targets.tolist(), strict=True):
        field = ("mobile", "id_number", "card_no")[int(day.rng.integers(0, 3))]
        day.add(h, "unmask", ids=(day.customers.ids[c],), fields=(field,), purpose=UNMASK_PURPOSES[1])


def _failed_logins(case: Case, day: Day) -> None:
    start = float(day.work_hours(1)[0])
    if case.params["variant"] == "failed_logins":
        n, minutes = _s(case.strength, 6, 15, 40), _s(case.strength, 6, 10, 15)
        address = day.address if case.strength == "weak" else f"203.0.113.{int(day.rng.integers(2, 254))}"
        for h in np.sort(start + day.rng.random(n) * minutes / 60).tolist():
            day.add(h, "login", result="failed", reason="wrong password", address=address)
        return
    n = _s(case.strength, 8, 20, 60)
    targets = _outside(day, n, 0.3)
    for i, (h, c) in enumerate(zip(np.sort(start + day.rng.random(n) * 0.5).tolist(), targets.tolist(),
                                   strict=True)):
        action, reason = (("unmask", "field level 4 above role limit 3 (rule F-LEVEL)") if i % 2 else
                          ("read", "customer outside the person's branch (rule B-BRANCH)"))
        day.add(h, action, ids=(day.customers.ids[c],), fields=("id_number",), result="denied", reason=reason)


def _shared(case: Case, day: Day) -> None:
    targets: np.ndarray = case.params["targets"]
    for h, c in zip(day.work_hours(len(targets)).tolist(), targets.tolist(), strict=True):
        day.add(h, "read", ids=(day.customers.ids[c],), fields=("name", "mobile", "address"))


def _multi_address(case: Case, day: Day) -> None:
    k = _s(case.strength, 4, 7, 15)
    hours = day.work_hours(k)
    for h in hours.tolist():
        address = f"{int(day.rng.choice([172, 192, 203]))}.{int(day.rng.integers(0, 255))}." \
                  f"{int(day.rng.integers(0, 255))}.{int(day.rng.integers(2, 254))}"
        day.add(h, "login", address=address)
        for j, c in enumerate(_in_scope(day, int(day.rng.integers(2, 6))).tolist()):
            day.add(h + 0.01 * (j + 1), "read", ids=(day.customers.ids[c],), fields=("name", "mobile"),
                    address=address)


def _new_data_kind(case: Case, day: Day) -> None:
    n = _s(case.strength, 4, 12, 40)
    targets = _in_scope(day, n)
    for i, (h, c) in enumerate(zip(day.work_hours(n).tolist(), targets.tolist(), strict=True)):
        cid = day.customers.ids[c]
        if i % 3 == 2:
            day.add(h, "unmask", ids=(cid,), fields=(LEVEL4_FIELDS[i % 3],), purpose="verification")
        else:
            day.add(h, "read", ids=(cid,), fields=("name", *LEVEL4_FIELDS))


# as the service audits an exact-identifier search (kinds and outcome, never the number tried)
_ID_MISS = {"criteria": ["id_number"], "hits": 0, "outside_scope": 0, "identifiers": ["id_number"], "outcome": "miss"}
_ID_LOCKED = {"criteria": ["id_number"], "hits": 0, "outside_scope": 0, "identifiers": ["id_number"],
              "outcome": "refused", "limit": "identifier-miss"}
_MOBILE_MISS = {**_ID_MISS, "criteria": ["mobile"], "identifiers": ["mobile"]}
_MOBILE_LOCKED = {**_ID_LOCKED, "criteria": ["mobile"], "identifiers": ["mobile"]}
LOCKED_REASON = ("search by identifier is locked for the rest of the day: 5 searches by ID number or mobile "
                 "found no customer")
MISS_CAP = 5  # the shipped policy's identifier_misses_per_day


def _enumeration(case: Case, day: Day) -> None:
    """Candidates for a masked ID (or mobile) tried one a minute or faster: misses, then the day's lock.

    Weak: a few tries past the lock, spread over most of an hour; strong: all 32
    dates a 1+4 ID with birth year and district leaves, in a quarter of an hour.
    An outsourced agent, who may only unmask mobiles, tries the numbers a 3+4 mobile leaves.
    """
    n, minutes = _s(case.strength, 7, 15, 32), _s(case.strength, 50, 30, 15)
    mobile = day.p.role == "outsourced_agent"
    miss, locked = (_MOBILE_MISS, _MOBILE_LOCKED) if mobile else (_ID_MISS, _ID_LOCKED)
    field = "mobile" if mobile else "id_number"
    start = float(day.work_hours(1, end=day.p.shift_end - 1.0)[0])
    for i, h in enumerate(np.sort(start + day.rng.random(n) * minutes / 60).tolist()):
        if i < MISS_CAP:
            day.add(h, "search", fields=(field,), purpose="customer_service", detail=miss)
        else:
            day.add(h, "search", fields=(field,), purpose="customer_service", result="denied",
                    reason=LOCKED_REASON, detail=locked)


_ACT: dict[str, Callable[[Case, Day], None]] = {
    "hoarding": _hoarding, "off_hours_bulk": _off_hours, "out_of_scope": _out_of_scope,
    "departing_exfiltration": _departing, "repeated_unmask": _repeated_unmask,
    "failed_login_burst": _failed_logins, "shared_customers": _shared, "multi_address": _multi_address,
    "new_data_kind": _new_data_kind, "identifier_enumeration": _enumeration,
}


def act(case: Case, person: SimPerson, local_day: dt.date, customers: Customers,
        rng: np.random.Generator) -> list[SimEvent]:
    """The case's events of one day for one of its people (empty when the day is not one of the case's)."""
    if local_day not in case.days:
        return []
    if case.scenario == "shared_customers" and "targets" not in case.params:
        n = _s(case.strength, 10, 20, 40)
        case.params["targets"] = rng.choice(customers.high_value, size=min(n, len(customers.high_value)),
                                            replace=False) if len(customers.high_value) else np.arange(n)
    day = Day(person, local_day, customers, rng)
    _ACT[case.scenario](case, day)
    if day.events:
        first = min(e.at for e in day.events)
        case.first_bad_event_at = first if case.first_bad_event_at is None else min(first, case.first_bad_event_at)
        case.events += len(day.events)
    return day.events


__all__ = ["LEVEL4_FIELDS", "SCENARIOS", "STRENGTHS", "Case", "act", "plan_cases"]
