"""World B: a second, independent simulator of a bank's staff at work, with labelled insiders.

Written from the documented event schema (``docs/audit-events.md``) and the
people/customer file layouts alone, with its own assumptions about how people
work, so that the monitor can be measured on activity it was never tuned on.
Nothing here is imported from ``custodata.monitoring`` (the files it writes are
read back by the monitor's own readers).

What a bank's security officer would name as ordinary, and what the world has:

* branch tellers (walk-ins, search-before-serve by mobile or ID, some unmasks
  with a purpose), relationship managers with portfolios (Monday portfolio
  reviews, month-end reviews), branch marketers (list searches, approved
  campaign exports);
* a 24×7 outsourced call centre on a roster: day, evening and night shifts
  (22:00–06:00) on five days of seven, holidays included; half of them are on
  the roster file, half not (their hours must be learnt);
* vendor collections staff who work alternate Saturdays on an assigned list;
* branch weekend-rota tellers (Saturday/Sunday, two weekdays off);
* head-office report analysts, a few of them heavy (hundreds of customers a
  day, thousands more at month and quarter end) and stewards reading every
  branch; IT administrators on several jump hosts;
* the State Council's 2026 holidays and make-up Saturdays (the simulator keeps
  its own table), overtime, typos at login, the odd refusal;
* branch key-account reviews where a branch's managers and marketers all open
  the same key accounts on one day; staff transferred or leaving with normal
  behaviour; people on leave for a week.

Insider cases (the monitor's scenario names, three strengths each) are planned
on people who behave normally otherwise, after the first third of the period.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UTC_OFFSET = dt.timedelta(hours=8)
HEAD_OFFICE = "总部"
CALL_CENTRE = "客服中心"
VENDOR = "催收外包"
BRANCH_NAMES = ("城东支行", "城西支行", "高新支行", "滨江支行", "开发区支行", "老城支行", "新区支行", "港区支行")
# the State Council's 2026 schedule as this simulator's authors read it
HOLIDAYS = {
    dt.date(2026, 1, 1),
    dt.date(2026, 1, 2),
    dt.date(2026, 1, 3),
    *(dt.date(2026, 2, 15) + dt.timedelta(days=i) for i in range(9)),
    dt.date(2026, 4, 4),
    dt.date(2026, 4, 5),
    dt.date(2026, 4, 6),
    *(dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(5)),
}
MAKEUP_SATURDAYS = {dt.date(2026, 1, 4), dt.date(2026, 2, 14), dt.date(2026, 2, 28), dt.date(2026, 5, 9)}
KINDS = (
    "hoarding",
    "off_hours_bulk",
    "out_of_scope",
    "departing_exfiltration",
    "repeated_unmask",
    "failed_login_burst",
    "shared_customers",
    "multi_address",
    "new_data_kind",
    "identifier_enumeration",
)
STRENGTHS = ("weak", "medium", "strong")


def office_day(day: dt.date) -> bool:
    if day in MAKEUP_SATURDAYS:
        return True
    return day.weekday() < 5 and day not in HOLIDAYS


def last_office_days(day: dt.date, n: int) -> bool:
    """Whether ``day`` is one of the last ``n`` office days of its month."""
    d, seen = day, 0
    month = day.month
    while d.month == month:
        d += dt.timedelta(days=1)
    d -= dt.timedelta(days=1)
    while d >= day:
        if office_day(d):
            seen += 1
            if d == day:
                return seen <= n
        d -= dt.timedelta(days=1)
    return False


@dataclass
class Staff:
    actor: str
    kind: str
    role: str
    branch: str
    desk: str
    pattern: str  # office, call_day, call_evening, call_night, weekend_rota, alt_saturday, admin
    on_roster: bool = True  # the people file names their shift
    pace: float = 1.0
    portfolio: list[int] = field(default_factory=list)
    rest: tuple[int, int] = (5, 6)  # weekdays off for 5-of-7 rosters
    status: str = "active"
    status_date: dt.date | None = None
    leave: tuple[dt.date, dt.date] | None = None
    heavy: bool = False
    injected: bool = False


@dataclass
class Case:
    kind: str
    strength: str
    people: list[Staff]
    days: list[dt.date]
    variant: str = ""
    first_bad: dt.datetime | None = None
    targets: list[int] = field(default_factory=list)


class WorldB:
    """One seeded world: customers, staff and cases; :meth:`write` streams the files."""

    def __init__(
        self,
        *,
        people: int = 400,
        days: int = 60,
        seed: int = 1,
        start: dt.date = dt.date(2026, 1, 26),
        cases_per_kind: int = 6,
    ) -> None:
        self.rng = random.Random(seed * 7919 + 13)  # noqa: S311 - simulated activity, not secrets
        self.seed = seed
        self.dates = [start + dt.timedelta(days=i) for i in range(days)]
        self.n_customers = max(5_000, people * 50)
        self._customers()
        self._staff(people)
        self._plan(cases_per_kind)

    # --- the world ----------------------------------------------------------------------------------

    def _customers(self) -> None:
        r = self.rng
        self.value: list[str] = []
        self.home: list[tuple[str, ...]] = []
        for _ in range(self.n_customers):
            x = r.random()
            self.value.append(
                "high_net_worth" if x < 0.03 else "corporate" if x < 0.07 else "sme" if x < 0.17 else "individual"
            )
            b = r.choice(BRANCH_NAMES)
            self.home.append((b, r.choice(BRANCH_NAMES)) if r.random() < 0.08 else (b,))
        self.by_branch: dict[str, list[int]] = {b: [] for b in BRANCH_NAMES}
        for i, bs in enumerate(self.home):
            for b in bs:
                self.by_branch[b].append(i)
        self.valuable = [i for i, v in enumerate(self.value) if v in ("high_net_worth", "corporate")]
        self.key_accounts = {
            b: [i for i in ids if self.value[i] != "individual"][:40] for b, ids in self.by_branch.items()
        }

    def _staff(self, n: int) -> None:
        r = self.rng
        mix = (
            ("teller", "employee", 0.22),
            ("relationship_manager", "employee", 0.12),
            ("branch_marketer", "employee", 0.06),
            ("weekend_teller", "employee", 0.03),
            ("call_agent", "outsourced", 0.24),
            ("collections", "outsourced", 0.08),
            ("report_analyst", "employee", 0.09),
            ("data_steward", "employee", 0.05),
            ("compliance", "employee", 0.04),
            ("it_admin", "employee", 0.03),
            ("partner_agent", "partner", 0.04),
        )
        self.staff: list[Staff] = []
        counts = [max(1, round(share * n)) for _, _, share in mix]
        while sum(counts) > n:
            counts[counts.index(max(counts))] -= 1
        k = 0
        for (role, kind, _), count in zip(mix, counts, strict=True):
            for _ in range(count):
                k += 1
                actor = f"b{k:04d}"
                desk = f"10.{60 + k // 250}.{k % 250}.{r.randint(10, 250)}"
                branch = (
                    CALL_CENTRE
                    if role in ("call_agent", "partner_agent")
                    else VENDOR
                    if role == "collections"
                    else HEAD_OFFICE
                    if role in ("report_analyst", "data_steward", "compliance", "it_admin")
                    else r.choice(BRANCH_NAMES)
                )
                pattern = {
                    "call_agent": r.choice(("call_day", "call_day", "call_evening", "call_night")),
                    "partner_agent": "call_day",
                    "collections": "alt_saturday",
                    "weekend_teller": "weekend_rota",
                    "it_admin": "admin",
                }.get(role, "office")
                s = Staff(actor, kind, role, branch, desk, pattern, pace=r.lognormvariate(0, 0.35))
                if pattern.startswith("call_"):
                    first = r.randrange(7)
                    s.rest = (first, (first + 1) % 7)
                    s.on_roster = r.random() < 0.5
                elif pattern == "weekend_rota":
                    s.rest = (r.choice((0, 1, 2)), 3)
                    s.on_roster = r.random() < 0.5
                if role == "relationship_manager":
                    pool = self.by_branch[branch]
                    s.portfolio = r.sample(pool, min(len(pool), r.randint(40, 120)))
                elif role == "collections":
                    s.portfolio = r.sample(range(self.n_customers), r.randint(150, 300))
                if role == "report_analyst":
                    s.heavy = r.random() < 0.35
                if r.random() < 0.04 and len(self.dates) > 14:
                    first_day = r.choice(self.dates[5:-7])
                    s.leave = (first_day, first_day + dt.timedelta(days=r.randint(4, 9)))
                self.staff.append(s)
        # ordinary people who are transferring or leaving (scheduled beyond the period, or leaving within it)
        for s in self.staff:
            x = r.random()
            if x < 0.03:
                s.status, s.status_date = "transferred", self.dates[-1] + dt.timedelta(days=r.randint(3, 40))
            elif x < 0.05:
                s.status, s.status_date = "leaving", self.dates[-1] + dt.timedelta(days=r.randint(3, 40))

    def works(self, s: Staff, day: dt.date) -> bool:
        if s.leave is not None and s.leave[0] <= day <= s.leave[1]:
            return False
        if s.pattern.startswith("call_") or s.pattern == "weekend_rota":
            return day.weekday() not in s.rest
        if s.pattern == "alt_saturday":
            if day.weekday() == 5 and day not in HOLIDAYS:
                return (day.toordinal() // 7) % 2 == (self.seed % 2)
            return office_day(day)
        return office_day(day)

    def hours(self, s: Staff, day: dt.date) -> tuple[float, float]:
        r = self.rng
        if s.pattern == "call_day":
            return 8.0, 16.0
        if s.pattern == "call_evening":
            return 14.0, 22.0
        if s.pattern == "call_night":
            return 22.0, 30.0  # to 06:00 the next morning
        if s.pattern == "weekend_rota":
            return 9.0, 16.5
        start = r.uniform(8.3, 9.2)
        end = r.uniform(17.0, 18.2) if r.random() > 0.12 else r.uniform(18.5, 20.8)  # overtime now and then
        return start, end

    # --- the plan of cases ----------------------------------------------------------------------------

    def _plan(self, per_kind: int) -> None:
        r = self.rng
        earliest = len(self.dates) // 3
        eligible = {
            "hoarding": ("call_agent", "teller", "collections"),
            "off_hours_bulk": ("teller", "relationship_manager", "branch_marketer", "call_agent"),
            "out_of_scope": ("relationship_manager", "teller", "collections"),
            "departing_exfiltration": ("relationship_manager", "branch_marketer", "teller"),
            "repeated_unmask": ("teller", "call_agent"),
            "failed_login_burst": ("teller", "relationship_manager", "call_agent"),
            "shared_customers": ("call_agent", "teller"),
            "multi_address": ("call_agent", "teller", "relationship_manager"),
            "new_data_kind": ("branch_marketer", "call_agent", "teller"),
            "identifier_enumeration": ("teller", "call_agent"),
        }
        self.cases: list[Case] = []
        for kind in KINDS:
            for i in range(per_kind):
                strength = STRENGTHS[i % 3]
                size = {"weak": 3, "medium": 4, "strong": 6}[strength] if kind == "shared_customers" else 1
                pool = [
                    s
                    for s in self.staff
                    if s.role in eligible[kind] and not s.injected and s.status == "active" and s.leave is None
                ]
                if kind == "out_of_scope" and i % 2 == 0:
                    pool = [s for s in pool if s.portfolio and s.role == "relationship_manager"] or pool
                people = r.sample(pool, size)
                for p in people:
                    p.injected = True
                span = 4 if kind == "hoarding" and strength == "weak" else 3 if kind == "departing_exfiltration" else 1
                first = r.randrange(earliest, len(self.dates) - span - 1)
                days = [d for d in self.dates[first:] if self.works(people[0], d)][:span]
                if not days:
                    days = [self.dates[first]]
                case = Case(kind, strength, people, days)
                if kind == "off_hours_bulk":
                    case.variant = "night" if i % 2 == 0 else "rest_day"
                    if case.variant == "rest_day" and people[0].pattern == "office":
                        rest = [d for d in self.dates[earliest:] if not office_day(d)]
                        case.days = [r.choice(rest)] if rest else case.days
                if kind == "failed_login_burst":
                    case.variant = "guessing" if i % 2 == 0 else "probing"
                if kind == "departing_exfiltration":
                    p = people[0]
                    p.status = "leaving" if i % 3 else "transferred"
                    p.status_date = case.days[-1] + dt.timedelta(days=r.randint(2, 12))
                self.cases.append(case)

    # --- a day of work ------------------------------------------------------------------------------------

    def _at(self, day: dt.date, hour: float) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0)) + dt.timedelta(hours=hour) - UTC_OFFSET

    def _event(self, s: Staff, at: dt.datetime, action: str, ids: tuple[str, ...] = (), **kw: Any) -> dict[str, Any]:
        return {
            "at": at.isoformat(timespec="microseconds") + "Z",
            "actor": s.actor,
            "role": s.role,
            "branch": s.branch,
            "action": action,
            "result": kw.get("result", "ok"),
            "customer_ids": list(ids),
            "customer_count": kw.get("count", len(ids)),
            "fields": list(kw.get("fields", ())),
            "purpose": kw.get("purpose"),
            "source_address": kw.get("address", s.desk),
            "reason": kw.get("reason"),
            "detail": kw.get("detail", {}),
            "system": kw.get("system", "core-banking"),
        }

    def cid(self, i: int) -> str:
        return f"K{i:07d}"

    def _reads(
        self,
        s: Staff,
        day: dt.date,
        lo: float,
        hi: float,
        picks: list[int],
        fields: tuple[str, ...],
        out: list[tuple[dt.datetime, dict[str, Any]]],
        **kw: Any,
    ) -> None:
        for c in picks:
            at = self._at(day, self.rng.uniform(lo, hi))
            out.append((at, self._event(s, at, "read", (self.cid(c),), fields=fields, **kw)))

    def normal(self, s: Staff, day: dt.date) -> list[tuple[dt.datetime, dict[str, Any]]]:
        r = self.rng
        out: list[tuple[dt.datetime, dict[str, Any]]] = []
        if s.status == "leaving" and s.status_date is not None and day > s.status_date:
            return out
        if not self.works(s, day):
            if s.role == "relationship_manager" and r.random() < 0.03 and s.portfolio:  # a client calls on Sunday
                self._reads(s, day, 10, 17, r.sample(s.portfolio, 2), ("name", "mobile"), out)
            return out
        lo, hi = self.hours(s, day)
        pace = s.pace * (1.0 + 0.3 * r.random())
        peak = last_office_days(day, 2)
        quarter = peak and day.month in (3, 6, 9, 12)
        if r.random() < 0.15:
            at = self._at(day, lo - 0.05)
            out.append((at, self._event(s, at, "login", result="failed", reason="wrong password")))
        at = self._at(day, lo)
        out.append((at, self._event(s, at, "login")))
        second = f"10.99.{r.randint(0, 40)}.{r.randint(2, 250)}" if r.random() < 0.06 else None
        role = s.role
        if role in ("teller", "weekend_teller"):
            home = self.by_branch[s.branch]
            n = int(r.randint(10, 35) * pace)
            for c in r.sample(home, n):
                t = r.uniform(lo + 0.2, hi - 0.2)
                kinds = ["mobile"] if r.random() < 0.7 else ["id_number"]
                a1 = self._at(day, t)
                out.append(
                    (
                        a1,
                        self._event(
                            s,
                            a1,
                            "search",
                            (self.cid(c),),
                            fields=tuple(kinds),
                            detail={"criteria": kinds + ["name"], "identifiers": kinds, "outcome": "hit", "hits": 1},
                        ),
                    )
                )
                a2 = a1 + dt.timedelta(seconds=r.randint(5, 90))
                out.append(
                    (a2, self._event(s, a2, "read", (self.cid(c),), fields=("name", "mobile", "id_number", "address")))
                )
                if r.random() < 0.08:
                    a3 = a2 + dt.timedelta(seconds=40)
                    out.append(
                        (
                            a3,
                            self._event(
                                s,
                                a3,
                                "unmask",
                                (self.cid(c),),
                                fields=(r.choice(("mobile", "id_number")),),
                                purpose="identity verification",
                            ),
                        )
                    )
            for _ in range(r.choice((0, 0, 1, 2))):  # a walk-in who is not a customer yet
                a1 = self._at(day, r.uniform(lo, hi))
                out.append(
                    (
                        a1,
                        self._event(
                            s,
                            a1,
                            "search",
                            fields=("id_number",),
                            detail={
                                "criteria": ["id_number"],
                                "identifiers": ["id_number"],
                                "outcome": "miss",
                                "hits": 0,
                            },
                        ),
                    )
                )
        elif role == "relationship_manager":
            n = int(r.randint(5, 18) * pace * (2.5 if day.weekday() == 0 else 1) * (2 if peak else 1))
            self._reads(
                s, day, lo, hi, [r.choice(s.portfolio) for _ in range(n)], ("name", "mobile", "amount", "address"), out
            )
            if r.random() < 0.3:  # covering a colleague's client
                self._reads(
                    s, day, lo, hi, r.sample(self.by_branch[s.branch], r.randint(1, 4)), ("name", "mobile"), out
                )
            if r.random() < 0.1:
                c = r.choice(s.portfolio)
                a1 = self._at(day, r.uniform(lo, hi))
                out.append(
                    (a1, self._event(s, a1, "unmask", (self.cid(c),), fields=("mobile",), purpose="loan servicing"))
                )
        elif role == "branch_marketer":
            for _ in range(r.randint(2, 6)):
                hits = r.sample(self.by_branch[s.branch], r.randint(5, 25))
                a1 = self._at(day, r.uniform(lo, hi))
                out.append(
                    (
                        a1,
                        self._event(
                            s,
                            a1,
                            "search",
                            tuple(self.cid(c) for c in hits),
                            fields=("name", "city"),
                            detail={"criteria": ["segment", "city"]},
                        ),
                    )
                )
            if day.weekday() == 2 and r.random() < 0.7:  # the Wednesday campaign list, approved
                rows = r.randint(300, 1500)
                rid = f"rq-{s.actor}-{day:%m%d}"
                a1 = self._at(day, r.uniform(lo + 1, hi - 2))
                for j, action in enumerate(("export_request", "export", "download")):
                    a = a1 + dt.timedelta(minutes=40 * j)
                    out.append(
                        (
                            a,
                            self._event(
                                s,
                                a,
                                action,
                                count=rows,
                                fields=("name", "city", "segment"),
                                purpose="campaign",
                                detail={"request_id": rid, "rows": rows},
                            ),
                        )
                    )
        elif role in ("call_agent", "partner_agent"):
            n = int(r.randint(20, 55) * pace)
            for c in r.sample(range(self.n_customers), n):
                t = r.uniform(lo, hi)
                a1 = self._at(day, t)
                out.append(
                    (
                        a1,
                        self._event(
                            s,
                            a1,
                            "search",
                            (self.cid(c),),
                            fields=("mobile",),
                            system="call-centre",
                            detail={"criteria": ["mobile"], "identifiers": ["mobile"], "outcome": "hit", "hits": 1},
                        ),
                    )
                )
                a2 = a1 + dt.timedelta(seconds=r.randint(3, 30))
                out.append(
                    (
                        a2,
                        self._event(
                            s, a2, "read", (self.cid(c),), fields=("name", "mobile", "policy_no"), system="call-centre"
                        ),
                    )
                )
                if r.random() < 0.05:
                    a3 = a2 + dt.timedelta(seconds=60)
                    out.append(
                        (
                            a3,
                            self._event(
                                s,
                                a3,
                                "unmask",
                                (self.cid(c),),
                                fields=("mobile",),
                                purpose="callback",
                                system="call-centre",
                            ),
                        )
                    )
        elif role == "collections":
            n = int(r.randint(25, 60) * pace)
            self._reads(
                s,
                day,
                lo,
                hi,
                [r.choice(s.portfolio) for _ in range(n)],
                ("name", "mobile", "amount"),
                out,
                system="collections",
            )
        elif role == "report_analyst":
            n = int(
                (r.randint(250, 900) if s.heavy else r.randint(8, 60)) * pace * (3 if quarter else 2 if peak else 1)
            )
            self._reads(
                s,
                day,
                lo,
                hi,
                r.sample(range(self.n_customers), min(n, self.n_customers)),
                ("name", "province", "city", "amount"),
                out,
            )
            if s.heavy:
                rows = r.randint(3000, 9000) * (2 if peak else 1)
                rid = f"rpt-{s.actor}-{day:%m%d}"
                a1 = self._at(day, r.uniform(hi - 1.5, hi - 0.3))
                for j, action in enumerate(("export_request", "export", "download")):
                    a = a1 + dt.timedelta(minutes=15 * j)
                    out.append(
                        (
                            a,
                            self._event(
                                s,
                                a,
                                action,
                                count=rows,
                                fields=("name", "city", "amount"),
                                purpose="regulatory report",
                                detail={"request_id": rid, "rows": rows},
                            ),
                        )
                    )
        elif role == "data_steward":
            n = int(r.randint(30, 140) * pace)
            picks = r.sample(range(self.n_customers), n)
            self._reads(s, day, lo, hi, picks, ("name", "mobile", "id_number", "address", "email"), out)
            for c in picks[: r.randint(1, 6)]:
                a1 = self._at(day, r.uniform(lo, hi))
                out.append(
                    (
                        a1,
                        self._event(
                            s, a1, "change_request", (self.cid(c),), fields=("address",), detail={"kind": "edit"}
                        ),
                    )
                )
        elif role == "compliance":
            for _ in range(r.randint(1, 5)):
                a1 = self._at(day, r.uniform(lo, hi))
                out.append((a1, self._event(s, a1, "audit_query", detail={"filters": ["actor", "since"]})))
            self._reads(s, day, lo, hi, r.sample(range(self.n_customers), r.randint(0, 12)), ("name",), out)
        elif role == "it_admin":
            for h in range(r.randint(2, 5)):
                a1 = self._at(day, r.uniform(lo, hi))
                out.append((a1, self._event(s, a1, "login", address=f"10.250.0.{10 + h}")))
                out.append(
                    (
                        a1 + dt.timedelta(minutes=3),
                        self._event(
                            s,
                            a1 + dt.timedelta(minutes=3),
                            "admin",
                            address=f"10.250.0.{10 + h}",
                            detail={"operation": "maintenance"},
                        ),
                    )
                )
        if second is not None and len(out) > 3:  # a meeting room or VPN for part of the day
            for _, ev in out[len(out) // 2 :]:
                ev["source_address"] = second
        if r.random() < 0.02 and role != "it_admin":
            a1 = self._at(day, r.uniform(lo, hi))
            c = r.randrange(self.n_customers)
            out.append(
                (
                    a1,
                    self._event(
                        s, a1, "read", (self.cid(c),), result="denied", reason="customer outside the person's branch"
                    ),
                )
            )
        return out

    def joint_review(self, day: dt.date) -> list[tuple[dt.datetime, dict[str, Any]]]:
        """The monthly key-account review: a branch's managers and marketers open the same key accounts."""
        out: list[tuple[dt.datetime, dict[str, Any]]] = []
        if not (office_day(day) and day.weekday() == 3 and day.day <= 7):  # the first Thursday
            return out
        for branch in BRANCH_NAMES:
            team = [
                s
                for s in self.staff
                if s.branch == branch and s.role in ("relationship_manager", "branch_marketer") and self.works(s, day)
            ]
            accounts = self.key_accounts[branch][: self.rng.randint(12, 30)]
            for s in team:
                self._reads(s, day, 14.0, 16.5, accounts, ("name", "amount", "mobile"), out)
        return out

    # --- insider acts ----------------------------------------------------------------------------------

    def act(self, case: Case, s: Staff, day: dt.date) -> list[tuple[dt.datetime, dict[str, Any]]]:
        r = self.rng
        out: list[tuple[dt.datetime, dict[str, Any]]] = []
        st = case.strength
        pick = {"weak": 0, "medium": 1, "strong": 2}[st]
        lo, hi = self.hours(s, day) if self.works(s, day) else (10.0, 16.0)
        k = case.kind
        outside = [i for i in range(self.n_customers) if s.branch not in self.home[i]]
        if k == "hoarding":
            n = (70, 180, 500)[pick]
            self._reads(s, day, lo, hi, r.sample(outside, n), ("name", "mobile", "id_number"), out)
        elif k == "off_hours_bulk":
            n = (25, 70, 220)[pick]
            start = r.uniform(22.5, 23.5) if case.variant == "night" else r.uniform(13, 15)
            home = f"116.{r.randint(1, 250)}.{r.randint(1, 250)}.{r.randint(1, 250)}"
            at = self._at(day, start)
            out.append((at, self._event(s, at, "login", address=home)))
            t = start
            targets = r.sample(self.valuable, n) if st == "strong" else r.sample(range(self.n_customers), n)
            for c in targets:
                t += r.uniform(15, 50) / 3600
                a = self._at(day, t)
                out.append(
                    (a, self._event(s, a, "read", (self.cid(c),), fields=("name", "mobile", "address"), address=home))
                )
        elif k == "out_of_scope":
            n = (6, 12, 40)[pick]
            pool = [i for i in self.valuable if i not in set(s.portfolio)] if st != "strong" else outside
            self._reads(s, day, lo, hi, r.sample(pool, n), ("name", "mobile", "amount"), out)
        elif k == "departing_exfiltration":
            n = (20, 45, 110)[pick]
            pool = self.valuable if st != "weak" else outside
            self._reads(s, day, lo, hi, r.sample(pool, n), ("name", "mobile", "amount"), out)
            if day == case.days[-1]:
                rows = (400, 1200, 5000)[pick]
                rid = f"rq-{s.actor}-x"
                a1 = self._at(day, hi - 0.8)
                for j, action in enumerate(("export_request", "export", "download")[: 1 + pick]):
                    a = a1 + dt.timedelta(minutes=20 * j)
                    out.append(
                        (
                            a,
                            self._event(
                                s,
                                a,
                                action,
                                count=rows,
                                fields=("name", "mobile", "amount"),
                                purpose="client follow-up",
                                detail={"request_id": rid, "rows": rows},
                            ),
                        )
                    )
        elif k == "repeated_unmask":
            n = (14, 30, 80)[pick]
            pool = s.portfolio or self.by_branch.get(s.branch) or list(range(self.n_customers))
            t0 = r.uniform(lo, hi - 2)
            for j in range(n):
                a = self._at(day, t0 + j * (1.6 / n) * (3 if st == "weak" else 1))
                out.append(
                    (
                        a,
                        self._event(
                            s,
                            a,
                            "unmask",
                            (self.cid(r.choice(pool)),),
                            fields=(r.choice(("id_number", "mobile", "card_no")),),
                            purpose="identity verification",
                        ),
                    )
                )
        elif k == "failed_login_burst":
            t0 = r.uniform(lo, hi - 1)
            if case.variant == "guessing":
                n = (6, 14, 40)[pick]
                addr = f"10.{r.randint(1, 200)}.{r.randint(1, 200)}.{r.randint(2, 250)}"
                for j in range(n):
                    a = self._at(day, t0 + j * 0.4 / n)
                    out.append((a, self._event(s, a, "login", result="failed", reason="wrong password", address=addr)))
            else:
                n = (8, 18, 50)[pick]
                for j, c in enumerate(r.sample(outside, n)):
                    a = self._at(day, t0 + j * 0.5 / n)
                    out.append(
                        (
                            a,
                            self._event(
                                s,
                                a,
                                "read" if j % 2 else "unmask",
                                (self.cid(c),),
                                result="denied",
                                fields=("id_number",),
                                reason="customer outside the person's branch",
                            ),
                        )
                    )
        elif k == "shared_customers":
            if not case.targets:
                case.targets = r.sample(self.valuable, (8, 15, 30)[pick])
            shared_at = case.people[0].desk
            self._reads(
                s,
                day,
                lo,
                hi,
                case.targets,
                ("name", "mobile", "amount"),
                out,
                address=shared_at if st != "weak" else s.desk,
            )
        elif k == "multi_address":
            n = (3, 5, 8)[pick]
            addrs = [
                f"{r.choice((10, 172, 192))}.{r.randint(0, 250)}.{r.randint(0, 250)}.{r.randint(2, 250)}"
                for _ in range(n)
            ]
            t0 = r.uniform(lo, hi - 3)
            pool = s.portfolio or self.by_branch.get(s.branch) or list(range(self.n_customers))
            for j in range(n * 6):
                a = self._at(day, t0 + j * 0.05)
                addr = addrs[j % n]
                out.append(
                    (a, self._event(s, a, "read", (self.cid(r.choice(pool)),), fields=("name", "mobile"), address=addr))
                )
        elif k == "new_data_kind":
            n = (4, 10, 30)[pick]
            pool = self.by_branch.get(s.branch) or list(range(self.n_customers))
            self._reads(s, day, lo, hi, r.sample(pool, n), ("name", "card_no", "account_no"), out)
        elif k == "identifier_enumeration":
            n = (7, 16, 34)[pick]
            t0 = r.uniform(lo, hi - 1)
            kind = "id_number" if s.role == "teller" else "mobile"
            for j in range(n):
                a = self._at(day, t0 + j * (0.9 if st == "weak" else 0.4) / n)
                locked = j >= 5
                detail = {
                    "criteria": [kind],
                    "identifiers": [kind],
                    "hits": 0,
                    "outcome": "refused" if locked else "miss",
                }
                if locked:
                    detail["limit"] = "identifier-miss"
                out.append(
                    (
                        a,
                        self._event(
                            s,
                            a,
                            "search",
                            fields=(kind,),
                            result="denied" if locked else "ok",
                            reason="identifier search locked for the day" if locked else None,
                            detail=detail,
                        ),
                    )
                )
        if out:
            first = min(a for a, _ in out)
            case.first_bad = first if case.first_bad is None else min(first, case.first_bad)
        return out

    # --- output -----------------------------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        by_person: dict[str, list[Case]] = {}
        for case in self.cases:
            for p in case.people:
                by_person.setdefault(p.actor, []).append(case)
        carry: list[tuple[dt.datetime, dict[str, Any]]] = []
        for i, day in enumerate(self.dates):
            today = carry + self.joint_review(day)
            for s in self.staff:
                today += self.normal(s, day)
                for case in by_person.get(s.actor, ()):
                    if day in case.days:
                        today += self.act(case, s, day)
            today.sort(key=lambda x: x[0])
            carry = []
            if i + 1 < len(self.dates):  # night shifts run past midnight into the next day's file order
                cut = self._at(self.dates[i + 1], 0)
                split = bisect.bisect_left(today, cut, key=lambda x: x[0])
                today, carry = today[:split], today[split:]
            for _, ev in today:
                yield ev

    def write(self, folder: Path) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        n = 0
        with (folder / "events.jsonl").open("w", encoding="utf-8") as fh:
            for n, ev in enumerate(self.events(), start=1):
                ev["seq"] = n
                fh.write(json.dumps(ev, ensure_ascii=False) + "\n")
        with (folder / "people.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("actor", "kind", "role", "branch", "status", "status_date", "portfolio", "shift"))
            for s in self.staff:
                w.writerow(
                    (
                        s.actor,
                        s.kind,
                        s.role,
                        s.branch,
                        s.status,
                        s.status_date.isoformat() if s.status_date else "",
                        ";".join(self.cid(c) for c in sorted(set(s.portfolio))),
                        self.roster(s),
                    )
                )
        with (folder / "customers.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("customer_id", "value_class", "branches"))
            for i in range(self.n_customers):
                w.writerow((self.cid(i), self.value[i], ";".join(self.home[i])))
        labels = [self.label(c) for c in self.cases if c.first_bad is not None]
        (folder / "labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
        (folder / "meta.json").write_text(
            json.dumps(
                {
                    "simulator": "world_b",
                    "seed": self.seed,
                    "people": len(self.staff),
                    "days": len(self.dates),
                    "events": n,
                }
            ),
            encoding="utf-8",
        )
        return n

    def roster(self, s: Staff) -> str:
        if not s.on_roster:
            return ""
        return {
            "call_day": "08:00-16:00",
            "call_evening": "14:00-22:00",
            "call_night": "22:00-06:00",
            "weekend_rota": "09:00-16:30",
        }.get(s.pattern, "")

    def label(self, case: Case) -> dict[str, Any]:
        start = self._at(case.days[0], 0)
        late = case.kind == "off_hours_bulk" or any(p.pattern == "call_night" for p in case.people)
        end = self._at(case.days[-1], 24 + (24 if late else 0))  # a night session runs into the next day

        def iso(t: dt.datetime) -> str:
            return t.isoformat(timespec="microseconds") + "Z"

        return {
            "scenario": case.kind,
            "strength": case.strength,
            "actors": [p.actor for p in case.people],
            "actor": case.people[0].actor,
            "start": iso(start),
            "end": iso(end),
            "first_bad_event_at": iso(case.first_bad) if case.first_bad else None,
            "variant": case.variant or None,
        }


def simulate_b(folder: Path, *, people: int = 400, days: int = 60, seed: int = 1, cases_per_kind: int = 6) -> int:
    """Write world B's ``events.jsonl``, ``people.csv``, ``customers.csv``, ``labels.json``; returns events."""
    return WorldB(people=people, days=days, seed=seed, cases_per_kind=cases_per_kind).write(folder)


__all__ = ["KINDS", "STRENGTHS", "WorldB", "office_day", "simulate_b"]
