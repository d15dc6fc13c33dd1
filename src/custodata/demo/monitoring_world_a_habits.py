"""Normal working days per role: what each kind of person does with customer data on an ordinary day.

The point is a realistic background that detectors must not flag: front-desk
clerks search and read their branch's walk-in customers and now and then
unmask a field with a purpose; outsourced agents call their portfolio;
marketers search lists and export campaign files; stewards read widely;
batch-reporting analysts read hundreds of customers across all branches every
day, steadily — heavy but legitimate.  Activity follows the local working day
(start, lunch dip, end, some overtime), logins carry the odd typo, and a few
requests are denied as they are in any real bank.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from custodata.demo.monitoring_world_a_calendar import local_midnight_utc
from custodata.demo.monitoring_world_a_world import Customers, SimPerson

_NO_DETAIL: Mapping[str, Any] = {}
US_PER_HOUR = 3_600_000_000


class SimEvent(NamedTuple):
    """One simulated audit event; ``at`` naive UTC.  Field meanings as in docs/audit-events.md."""

    at: dt.datetime
    actor: str
    role: str | None
    branch: str | None
    action: str
    result: str
    customer_ids: tuple[str, ...]
    customer_count: int
    fields: tuple[str, ...]
    purpose: str | None
    source_address: str | None
    reason: str | None
    detail: Mapping[str, Any]
    system: str


FRONT_DESK_FIELDS = ("name", "gender", "birth_date", "mobile", "id_number", "address")
AGENT_FIELDS = ("name", "mobile", "policy_no")
MARKETER_FIELDS = ("name", "gender", "city", "birth_date")
ANALYST_FIELDS = ("name", "gender", "province", "city", "amount")
STEWARD_FIELDS = ("name", "gender", "birth_date", "mobile", "id_number", "address", "card_no", "account_no",
                  "policy_no", "email")
UNMASK_PURPOSES = ("account opening", "identity verification", "card replacement", "loan servicing")
LOGIN_FAILED = "wrong password"

# constant details (shared, never mutated): the events file renders each once
_CALL: Mapping[str, Any] = {"call": "outbound"}
_MARKETER_SEARCH: Mapping[str, Any] = {"criteria": ["city", "segment"]}
# a search before serving, by name and the mobile the customer gives: it shows them (an exact-identifier hit)
_DESK_SEARCH: Mapping[str, Any] = {"criteria": ["mobile", "name"], "identifiers": ["mobile"], "outcome": "hit"}
# now and then the one at the desk is not a customer yet (search before create): a miss
_DESK_NEW: Mapping[str, Any] = {"criteria": ["mobile", "name"], "identifiers": ["mobile"], "outcome": "miss"}
_AUDIT_BY_ACTOR: Mapping[str, Any] = {"filters": ["actor", "since"]}
_AUDIT_BY_CUSTOMER: Mapping[str, Any] = {"filters": ["customer"]}
_AUDIT_BY_RESULT: Mapping[str, Any] = {"filters": ["result"]}
_EDIT: Mapping[str, Any] = {"kind": "edit"}
_CATALOGUE: Mapping[str, Any] = {"operation": "catalogue_decision"}
_GRANT: Mapping[str, Any] = {"operation": "grant"}
_MASKING: Mapping[str, Any] = {"operation": "masking"}
_MARKETER_SEARCH0: Mapping[str, Any] = {"operation": "status"}
_REPORT: Mapping[str, Any] = {"report": "monthly-1104"}


class Day:
    """Builds one person's events of one local day; times are local hours, stored as UTC."""

    def __init__(self, person: SimPerson, day: dt.date, customers: Customers,
                 rng: np.random.Generator, address: str | None = None) -> None:
        self.p = person
        self.day = day
        self.midnight = local_midnight_utc(day)
        self.customers = customers
        self.rng = rng
        self.address = address or person.address
        self.system = "call-centre" if person.kind == "outsourced" else "custodata"
        self.events: list[SimEvent] = []

    def at(self, hour: float) -> dt.datetime:
        return self.midnight + dt.timedelta(microseconds=int(hour * US_PER_HOUR))

    def add(self, hour: float, action: str, *, ids: tuple[str, ...] = (), count: int | None = None,
            fields: tuple[str, ...] = (), purpose: str | None = None, result: str = "ok",
            reason: str | None = None, detail: Mapping[str, Any] = _NO_DETAIL,
            address: str | None = None) -> None:
        p = self.p
        if len(ids) > 1:  # the log keeps each customer once per event
            ids = tuple(dict.fromkeys(ids))
        actor_role = None if action == "login" and result == "failed" else p.role
        self.events.append(SimEvent(
            self.at(hour), p.actor, actor_role, p.branch if actor_role else None, action, result, ids,
            len(ids) if count is None else count, fields, purpose, address or self.address, reason, detail,
            self.system))

    def ids(self, indices: np.ndarray) -> tuple[str, ...]:
        all_ids = self.customers.ids
        return tuple(all_ids[i] for i in indices.tolist())

    def work_hours(self, n: int, *, end: float | None = None, lunch_weight: float = 0.15) -> np.ndarray:
        """``n`` sorted local hours over the shift with a lunch dip (12:00–13:30)."""
        start, stop = self.p.shift_start, end if end is not None else self.p.shift_end
        segments = [(start, min(12.0, stop), 1.0), (max(12.0, start), min(13.5, stop), lunch_weight),
                    (max(13.5, start), stop, 1.0)]
        segments = [(a, b, w) for a, b, w in segments if b > a]
        weights = np.array([(b - a) * w for a, b, w in segments])
        pick = self.rng.choice(len(segments), size=n, p=weights / weights.sum())
        lo = np.array([a for a, _, _ in segments])[pick]
        hi = np.array([b for _, b, _ in segments])[pick]
        return np.sort(lo + self.rng.random(n) * (hi - lo))

    def login(self, hour: float) -> None:
        if self.rng.random() < 0.04:  # a typo before the right password
            self.add(hour - 0.01, "login", result="failed", reason=LOGIN_FAILED)
        self.add(hour, "login")


def _branch_or_any(day: Day, n: int, local_share: float) -> np.ndarray:
    """Customer indices: mostly of the person's branch, the rest from anywhere."""
    rng, customers = day.rng, day.customers
    pool = customers.by_branch.get(day.p.branch)
    if pool is None or len(pool) == 0:
        return rng.integers(0, len(customers), size=n)
    local = rng.random(n) < local_share
    return np.where(local, rng.choice(pool, size=n), rng.integers(0, len(customers), size=n))


def front_desk(day: Day, hours: np.ndarray) -> None:
    rng = day.rng
    targets = _branch_or_any(day, len(hours), 0.96)
    searches = rng.random(len(hours)) < 0.55
    unmasks = rng.random(len(hours)) < 0.06
    extra_hits = rng.integers(0, 3, size=len(hours))
    for h, target, search, unmask, extra in zip(hours.tolist(), targets.tolist(), searches.tolist(),
                                                unmasks.tolist(), extra_hits.tolist(), strict=True):
        cid = day.customers.ids[target]
        if search:
            hits = (cid, *day.ids(_branch_or_any(day, extra, 0.9)))
            if target % 29 == 0:  # ~3 %, with no draw of its own so the rest of the day is unchanged
                day.add(h - 0.008, "search", detail=_DESK_NEW)
            day.add(h - 0.005, "search", ids=hits, detail=_DESK_SEARCH)
        day.add(h, "read", ids=(cid,), fields=FRONT_DESK_FIELDS)
        if unmask:
            field = "mobile" if rng.random() < 0.6 else "id_number"
            purpose = UNMASK_PURPOSES[int(rng.integers(0, len(UNMASK_PURPOSES)))]
            if rng.random() < 0.04:
                day.add(h + 0.01, "unmask", ids=(cid,), fields=(field,), result="denied",
                        reason="a purpose of use is required (rule F-PURPOSE)")
            else:
                day.add(h + 0.01, "unmask", ids=(cid,), fields=(field,), purpose=purpose)


def outsourced_agent(day: Day, hours: np.ndarray) -> None:
    rng, p = day.rng, day.p
    portfolio = np.array(p.portfolio, dtype=np.int64) if p.portfolio else None
    n = len(hours)
    if portfolio is None or len(portfolio) == 0:
        targets = _branch_or_any(day, n, 1.0)
        outside = np.zeros(n, dtype=bool)
    else:
        outside = rng.random(n) < 0.02  # a transferred call about a customer outside the portfolio
        targets = np.where(outside, _branch_or_any(day, n, 1.0), rng.choice(portfolio, size=n))
    unmask = rng.random(n) < 0.015
    for h, target, out, um in zip(hours.tolist(), targets.tolist(), outside.tolist(), unmask.tolist(), strict=True):
        cid = day.customers.ids[target]
        if out and day.system == "custodata":
            day.add(h, "read", ids=(cid,), fields=AGENT_FIELDS, result="denied",
                    reason="customer outside the agent's portfolio (rule P-PORTFOLIO)")
            continue
        day.add(h, "read", ids=(cid,), fields=AGENT_FIELDS, detail=_CALL)
        if um:
            day.add(h + 0.02, "unmask", ids=(cid,), fields=("mobile",), purpose="customer callback")


def marketer(day: Day, hours: np.ndarray) -> None:
    rng = day.rng
    for i, h in enumerate(hours.tolist()):
        if i % 3 == 0:
            hits = day.ids(np.unique(_branch_or_any(day, int(rng.integers(5, 26)), 0.97)))
            day.add(h, "search", ids=hits, fields=MARKETER_FIELDS, detail=_MARKETER_SEARCH)
        else:
            day.add(h, "read", ids=day.ids(_branch_or_any(day, 1, 0.97)), fields=MARKETER_FIELDS)
    if len(hours) and rng.random() < 0.12:
        _export(day, float(hours[len(hours) // 2]), int(rng.integers(200, 1500)), "marketing campaign",
                MARKETER_FIELDS)


def _export(day: Day, hour: float, rows: int, purpose: str, fields: tuple[str, ...]) -> None:
    request = f"r-{int(day.rng.integers(0, 16**6)):06x}"
    detail = {"request_id": request, "rows": rows}
    day.add(hour, "export_request", count=rows, fields=fields, purpose=purpose, detail=detail)
    later = min(hour + 0.5 + float(day.rng.random()) * 2, day.p.shift_end)
    day.add(later, "export", count=rows, fields=fields, purpose=purpose, detail=detail)
    day.add(later + 0.05, "download", count=rows, fields=fields, purpose=purpose, detail=detail)


def analyst(day: Day, hours: np.ndarray) -> None:
    # a batch report reads customers of every branch at a steady pace, lunch included
    targets = day.rng.integers(0, len(day.customers), size=len(hours))
    ids = day.customers.ids
    for h, target in zip(hours.tolist(), targets.tolist(), strict=True):
        day.add(h, "read", ids=(ids[target],), fields=ANALYST_FIELDS, purpose="regulatory reporting",
                detail=_REPORT)
    if len(hours) and day.day.weekday() == 0 and day.rng.random() < 0.8:  # the Monday extract
        _export(day, float(hours[0]) + 0.2, int(day.rng.integers(3000, 6000)), "regulatory reporting",
                ANALYST_FIELDS)


def data_steward(day: Day, hours: np.ndarray) -> None:
    rng = day.rng
    targets = rng.integers(0, len(day.customers), size=len(hours))
    for h, target in zip(hours.tolist(), targets.tolist(), strict=True):
        cid = day.customers.ids[target]
        day.add(h, "read", ids=(cid,), fields=STEWARD_FIELDS)
        r = rng.random()
        if r < 0.02:
            day.add(h + 0.02, "change_request", ids=(cid,), fields=("address",), detail=_EDIT)
        elif r < 0.03:
            day.add(h + 0.02, "approve", ids=(cid,), detail=_EDIT)
        elif r < 0.035:
            day.add(h + 0.02, "edit", ids=(cid,), fields=("address",))


def auditor(day: Day, hours: np.ndarray) -> None:
    for h in hours.tolist():
        if day.rng.random() < 0.3:
            day.add(h, "audit_query", ids=day.ids(day.rng.integers(0, len(day.customers), size=1)),
                    detail=_AUDIT_BY_CUSTOMER)
        else:
            day.add(h, "audit_query", detail=_AUDIT_BY_ACTOR)
    if len(hours) and day.rng.random() < 0.15:
        day.add(float(hours[-1]) + 0.1, "audit_verify")


def security_officer(day: Day, hours: np.ndarray) -> None:
    for h in hours.tolist():
        if day.rng.random() < 0.2:
            day.add(h, "identity_change", detail=_MARKETER_SEARCH0)
        else:
            day.add(h, "audit_query", detail=_AUDIT_BY_RESULT)


def administrator(day: Day, hours: np.ndarray) -> None:
    for h in hours.tolist():
        r = day.rng.random()
        if r < 0.03:
            day.add(h, "policy_change", detail=_MASKING)
        elif r < 0.3:
            day.add(h, "identity_change", detail=_GRANT)
        else:
            day.add(h, "admin", detail=_CATALOGUE)


# per role: (mean interactions per working day, the day's behaviour)
HABITS: dict[str, tuple[float, Any]] = {
    "front_desk": (30.0, front_desk),
    "outsourced_agent": (60.0, outsourced_agent),
    "marketer": (18.0, marketer),
    "analyst": (420.0, analyst),
    "data_steward": (60.0, data_steward),
    "auditor": (4.0, auditor),
    "security_officer": (3.0, security_officer),
    "administrator": (3.0, administrator),
}


def normal_day(person: SimPerson, local_day: dt.date, workday: bool, customers: Customers,
               rng: np.random.Generator) -> list[SimEvent]:
    """The person's ordinary events of one local day (unsorted); nothing on most days off."""
    mean, behave = HABITS[person.role]
    address = person.second_address if person.second_address and rng.random() < 0.15 else person.address
    day = Day(person, local_day, customers, rng, address)
    if workday:
        partner = 0.4 if person.kind == "partner" else 1.0
        n = int(rng.poisson(mean * person.pace * partner))
        end = person.shift_end + (float(rng.uniform(0.5, 2.0)) if rng.random() < 0.06 else 0.0)
        hours = day.work_hours(n, end=end, lunch_weight=1.0 if person.role == "analyst" else 0.15)
    else:
        if rng.random() >= (0.05 if person.role == "outsourced_agent" else 0.015):
            return []
        start = float(rng.uniform(10.0, 15.0))  # a short weekend session
        hours = np.sort(start + rng.random(int(rng.integers(1, 7))) * 0.5)
    if len(hours) == 0:
        return []
    first, last = float(hours[0]), float(hours[-1])
    day.login(first - float(rng.uniform(0.03, 0.2)))
    behave(day, hours)
    if workday and first < 12.0 < last and rng.random() < 0.5:
        day.login(float(rng.uniform(13.3, 13.6)))
    day.add(last + float(rng.uniform(0.05, 0.3)), "logout")
    return day.events


__all__ = ["ANALYST_FIELDS", "AGENT_FIELDS", "FRONT_DESK_FIELDS", "HABITS", "MARKETER_FIELDS", "STEWARD_FIELDS",
           "Day", "SimEvent", "normal_day"]
