"""World C: a third simulator of a bank-and-insurer's staff at work, with labelled insiders.

Written by an engineer who did not tune the detection rules, from the documented
inputs: the event schema (``docs/audit-events.md``), ``docs/monitoring.md`` (read whole:
its inputs, rosters and calendar, and its prose description of the rules and default
thresholds — documentation, not code), the README's monitoring section, the file formats
in ``monitoring/events.py`` and ``monitoring/people.py``, the field grades
(``classification/grading.yaml``), the roster names of ``monitoring.yaml`` and how
``benchmarks/monitoring.py`` plugs a world in and scores its labels (the label layout
and scenario names as world A writes them).  **The detection code was not read**
(``detectors.py``, ``features.py``, ``baseline.py``, ``anomaly.py``, ``risk.py``,
``alerts.py``, ``calendar.py``), nor world A's or world B's modelling code (only B's
module docstring and entry point); nothing is imported from ``custodata.monitoring``:
the files written here are read back by the monitor's own readers, so a format mistake
shows as rejected lines.  Its assumptions were not adjusted to the monitor's results.

The institution (a city bank with a bancassurance arm), as its security officer would
describe an ordinary quarter:

* **branches** (six, one absorbed by another mid-period — 南站支行 into 西城支行 — its staff
  moved over on the merger Monday, a tenth of its customers not yet migrated in the
  master data); **tellers** serving walk-ins of any branch (通存通兑), search-before-serve
  by ID, mobile or card, unmasks for verification, new customers created at the desk;
  two branches open at weekends on a teller rota (half of it on the roster file) and
  every branch opens on alternate days of the National Day holiday with volunteers;
* **account managers** with portfolios (80–260 customers), prospects of their branch,
  Monday key-account reviews with the branch manager, client visits on a tablet over VPN
  (a new address each session), the odd Saturday visit, monthly portfolio reports
  through the approval flow, quarter-end AUM reviews, **covering** a colleague's
  portfolio while they are on leave, and **hand-overs**: a leaving or transferring
  manager walks the receiver through the whole portfolio in their last week;
* **branch managers** approving changes and reading their key accounts; **bancassurance
  partner staff** (kind ``partner``) at the branches;
* **claims adjusters** with case queues (a claim re-read for days, payout unmasks of the
  account number), a **typhoon** that triples new claims for four days with overtime and a
  weekend worked, **underwriters** drafted in to help (touching payout fields they never
  use) and a quarter-end sales push;
* a 24×7 **call centre** (mostly outsourced) on rotas of day, evening and night shifts
  (22:00–06:30) regardless of weekends and holidays, hot-desking (a new seat each shift),
  caller-ID searches that miss for prospects and wrong numbers — many more on the two days
  the holiday campaign's **SMS** goes out (before the first public holiday of the window)
  and during the typhoon; a third of the roster is not on
  the roster file;
* outsourced **collection agents** working early or late weeks (until 20:30) and
  alternate Saturdays, on a monthly assignment list (the people file holds the current
  month's; a quarter of last month's customers were cured and are not on it), reading the
  new month's list on its first day;
* head office: **compliance** (daily AML alerts; at quarter end KYC reviews of hundreds of
  customers a day, the high-risk list read by every officer), **internal audit** sampling
  days (a team reading the same 120–240 sampled customers of every branch),
  **marketing analysts** (segment checks, approved campaign exports of thousands, a
  campaign weekend from home before the holiday), **DBAs** (data fixes, regulatory report
  extracts, holiday on-call from VPN), **IT administrators** (accounts, resets, policy
  changes), and **service accounts** (a nightly warehouse extract without a request id,
  a CRM sync reading changed customers every six hours);
* **new joiners** starting mid-period (a first-login struggle, training, ramping up),
  people **on leave** (a week, or bridging the National Day holiday) who catch up on
  return, a **teller transferred** between branches mid-period (the people file, a
  snapshot of the last day, names the new branch), **leavers** on their last weeks;
* the official calendar from ``chinesecalendar`` (Mid-Autumn, National Day, the 调休
  Sunday 2026-09-20 and Saturday 2026-10-10; a year it does not know falls back to
  Monday–Friday), month and **quarter end** (and **year end** when the window holds it),
  a **core-system outage** (10:00–13:30: errors, then the morning's backlog in the
  afternoon with overtime, the batch re-run by day), forgotten passwords on the first day
  after a long holiday, password expiry, typos.

Insiders of the benchmark's scenario kinds (``KINDS``) are acted out at three strengths
on people who otherwise work normally, in the latter two thirds of the period, each with
its own variant (``monitoring_world_c_cases``).  ``labels.json`` has the benchmark's label layout.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]

from custodata.demo.monitoring_world_c_cases import KINDS, STRENGTHS, Case, plan_cases

LOCAL = dt.timedelta(hours=8)            # Asia/Shanghai, no summer time
DEFAULT_START = dt.date(2026, 9, 7)      # a Monday: Mid-Autumn, quarter end, National Day, two 调休 days
BRANCHES = ("江北支行", "江南支行", "新港支行", "东湖支行", "西城支行", "南站支行")
MERGED, SURVIVOR = "南站支行", "西城支行"
WEEKEND_BRANCHES = ("江北支行", "东湖支行")
CALL_CENTRE, COLLECTION, CLAIMS = "客服中心", "催收外包", "理赔中心"
IT_DEPT = "信息科技部"

# role: (home: "branch" or a head-office department, system, fields of its usual screen, share of staff)
ROLES: dict[str, tuple[str, str, tuple[str, ...], float]] = {
    "teller": ("branch", "core-banking", ("name", "id_number", "mobile", "account_no", "address"), 0.21),
    "account_manager": ("branch", "crm", ("name", "mobile", "amount", "account_no", "address", "email"), 0.13),
    "insurance_agent": ("branch", "crm", ("name", "mobile", "birth_date", "gender", "amount"), 0.03),
    "claims_adjuster": (CLAIMS, "claims", ("name", "id_number", "policy_no", "amount", "vehicle_plate", "phone"),
                        0.08),
    "underwriter": ("核保部", "underwriting", ("name", "birth_date", "gender", "id_number", "policy_no", "remark"),
                    0.05),
    "call_agent": (CALL_CENTRE, "call-centre", ("name", "mobile", "card_no", "address"), 0.19),
    "collection_agent": (COLLECTION, "collection", ("name", "mobile", "phone", "amount", "address"), 0.07),
    "compliance_officer": ("合规部", "custodata", ("name", "id_number", "uscc", "account_no", "amount", "address"),
                           0.05),
    "auditor": ("审计部", "custodata", ("name", "id_number", "account_no", "card_no", "amount", "policy_no"), 0.03),
    "marketing_analyst": ("总行营销部", "custodata", ("name", "gender", "birth_date", "city", "amount"), 0.05),
    "dba": (IT_DEPT, "custodata", ("name", "mobile", "account_no", "amount"), 0.02),
    "it_admin": (IT_DEPT, "custodata", ("name",), 0.02),
}
INSTITUTION_SCOPE = ("compliance_officer", "auditor")   # head office reading every branch, by office
OFFICE_ROLES = ("teller", "account_manager", "insurance_agent", "claims_adjuster", "underwriter",
                "compliance_officer", "auditor", "marketing_analyst", "dba", "it_admin", "branch_manager")
OUTAGE_SYSTEMS = ("core-banking", "crm", "call-centre", "claims", "collection", "underwriting")


# ---------------------------------------------------------------- calendar


def office_day(day: dt.date) -> bool:
    """A working day of the official schedule (调休 included); Monday–Friday for a year the package lacks."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def public_holiday(day: dt.date) -> bool:
    """A statutory holiday (not a mere weekend)."""
    try:
        on, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(on and name)


def _stable(text: str) -> int:
    """A number from a text that is the same in every process (``hash`` is salted)."""
    return zlib.crc32(text.encode("utf-8"))


def utc(day: dt.date, hour: float) -> dt.datetime:
    """Naive UTC of ``hour`` (may pass 24) local time on ``day``."""
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hour) - LOCAL


def period_end(day: dt.date) -> str:
    """'year', 'quarter' or 'month' on the last three office days of one; else ''."""
    if not office_day(day):
        return ""
    left, d = 0, day
    while d.month == day.month:
        left += office_day(d)
        d += dt.timedelta(days=1)
    if left > 3:
        return ""
    return "year" if day.month == 12 else "quarter" if day.month % 3 == 0 else "month"


# ---------------------------------------------------------------- the world


@dataclass(eq=False)
class Staff:
    actor: str
    kind: str
    role: str
    branch: str                      # as the people file says (the last day's post)
    system: str
    fields: tuple[str, ...]
    pace: float
    desk: str
    scope: str = ""
    status: str = "active"
    status_date: dt.date | None = None
    portfolio: list[str] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)   # collection: last month's list
    roster: tuple[str, ...] = ()     # what the people file lists
    rota: str = ""                   # call centre D/E/N cycle, weekend/saturday rotas, holiday volunteer
    rota_offset: int = 0
    first_day: int = 0
    last_day: int = 10 ** 6
    leave: set[int] = field(default_factory=set)
    old_branch: str = ""             # the branch events name before ``switch_day``
    switch_day: int = 0
    queue: list[tuple[str, int]] = field(default_factory=list)   # claims: (customer, last day)
    inherit: list[str] = field(default_factory=list)             # hand-over receiver: portfolio taken on
    handover_to: Staff | None = None
    handover_days: tuple[int, ...] = ()
    expiry_day: int = -1
    base: float = 0.0                # usual customers a day (for cases)

    def post(self, day: int) -> str:
        return self.old_branch if self.old_branch and day < self.switch_day else self.branch


@dataclass
class Day:
    index: int
    date: dt.date
    office: bool
    holiday: bool
    period: str
    outage: bool
    typhoon: int               # 0, or 1.. counting the typhoon's days (4 of them, then the weekend)
    after_break: bool          # the first office day after three or more days off
    sms: bool                  # the campaign's SMS went out: prospects call the centre


class WorldC:
    """Build people, customers and a calendar of events; ``write`` produces the benchmark's files."""

    def __init__(self, *, people: int = 300, days: int = 45, seed: int = 1, cases_per_kind: int = 3,
                 start: dt.date = DEFAULT_START) -> None:
        if people < 40 or days < 12:
            raise ValueError("world C needs at least 40 people and 12 days")
        self.seed = seed
        self.rng = random.Random(seed * 104729 + 3)  # noqa: S311 - simulated activity, not secrets
        self.n_days, self.start, self.cases_per_kind = days, start, cases_per_kind
        self.dates = [start + dt.timedelta(days=i) for i in range(days)]
        self.buffer: list[tuple[dt.datetime, int, dict[str, Any]]] = []
        self.tick = 0
        self.today = 0
        self.request_no = 0
        self.exported: dict[str, list[int]] = {}
        self._customers(max(2500, people * 70))
        self._staff(people)
        self._plan_calendar()
        self._plan_lives()
        self.cases: list[Case] = []
        self.hooks: dict[int, list[Callable[[Day], None]]] = {}
        plan_cases(self)

    # ------------------------------------------------------------ customers

    def _customers(self, n: int) -> None:
        rng = self.rng
        self.value: dict[str, str] = {}
        self.branches: dict[str, tuple[str, ...]] = {}
        self.by_branch: dict[str, list[str]] = {b: [] for b in BRANCHES}
        self.wealthy: dict[str, list[str]] = {b: [] for b in BRANCHES}
        weights = (0.2, 0.2, 0.17, 0.15, 0.16, 0.12)
        for k in range(n):
            cid = f"CU{k + 1:07d}"
            value = rng.choices(("individual", "sme", "corporate", "high_net_worth"), (0.84, 0.08, 0.04, 0.04))[0]
            home = rng.choices(BRANCHES, weights)[0]
            served = {home}
            if rng.random() < 0.08:
                served.add(rng.choice(BRANCHES))
            if home == MERGED and rng.random() < 0.9:   # migrated to the surviving branch; a tenth lags
                served.add(SURVIVOR)
            self.value[cid] = value
            self.branches[cid] = tuple(sorted(served))
            self.by_branch[home].append(cid)
            if value in ("high_net_worth", "corporate"):
                self.wealthy[home].append(cid)
        self.all = list(self.value)
        self.individuals = [c for c in self.all if self.value[c] == "individual"]
        self.rich = [c for c in self.all if self.value[c] in ("high_net_worth", "corporate")]
        self.business = [c for c in self.all if self.value[c] != "individual"]
        self.new_customers = 0

    def _branch_pool(self, branch: str, day: int) -> list[str]:
        """Customers a branch serves on ``day`` (after the merger the absorbed branch's too)."""
        if branch == SURVIVOR and day >= self.merger_day:
            return self.by_branch[SURVIVOR] + self.by_branch[MERGED]
        return self.by_branch.get(branch, self.all)

    # ------------------------------------------------------------ staff

    def _staff(self, n: int) -> None:
        rng = self.rng
        self.staff: list[Staff] = []
        counts = {role: max(1, round(share * n)) for role, (_, _, _, share) in ROLES.items()}
        managers = min(len(BRANCHES), max(2, n // 50))
        counts["teller"] += n - sum(counts.values()) - managers - 2   # two service accounts
        serial = 0

        def add(role: str, branch: str, kind: str, system: str, fields: tuple[str, ...]) -> Staff:
            nonlocal serial
            serial += 1
            net = BRANCHES.index(branch) + 1 if branch in BRANCHES else 20 + len(branch) % 7
            p = Staff(actor=f"u{serial:04d}", kind=kind, role=role, branch=branch, system=system, fields=fields,
                      pace=rng.lognormvariate(0.0, 0.33), desk=f"10.{net}.{serial // 200}.{serial % 200 + 20}")
            self.staff.append(p)
            return p

        for k in range(managers):
            add("branch_manager", BRANCHES[k], "employee", "crm", ("name", "mobile", "amount", "account_no"))
        for role, (home, system, fields, _) in ROLES.items():
            for k in range(counts[role]):
                branch = BRANCHES[k % len(BRANCHES)] if home == "branch" else home
                kind = "outsourced" if role == "collection_agent" or (role == "call_agent" and rng.random() < 0.6) \
                    else "partner" if role == "insurance_agent" else "employee"
                p = add(role, branch, kind, system, fields)
                if role in INSTITUTION_SCOPE:
                    p.scope = "institution"
        for name in ("svc.dwload", "svc.crmsync"):
            p = add("batch_job", IT_DEPT, "employee", "dw-etl" if name == "svc.dwload" else "crm", ("name", "mobile"))
            p.actor = name
        self.by_role: dict[str, list[Staff]] = {}
        for p in self.staff:
            self.by_role.setdefault(p.role, []).append(p)
        self._rotas()
        self._portfolios()

    def _rotas(self) -> None:
        rng = self.rng
        for p in self.by_role["call_agent"]:
            p.rota = rng.choices(("DDDDDOO", "DDEENNOO", "EEEEEOO", "NNNNOOO"), (0.35, 0.35, 0.15, 0.15))[0]
            p.rota_offset = rng.randrange(len(p.rota))
            listed = {"DDDDDOO": ("seven_days",), "DDEENNOO": ("seven_days", "evening", "night"),
                      "EEEEEOO": ("evening",), "NNNNOOO": ("night",)}[p.rota]
            p.roster = listed if rng.random() < 0.65 else ()      # a third not on the roster export
        for p in self.by_role["teller"]:
            if p.branch in WEEKEND_BRANCHES and rng.random() < 0.45:
                p.rota, p.rota_offset = "weekend", rng.randrange(2)
                p.roster = ("weekend_rota",) if rng.random() < 0.5 else ()
            elif rng.random() < 0.25:
                p.rota = "holiday"                                # volunteers for holiday banking
        for p in self.by_role["collection_agent"]:
            p.rota_offset = rng.randrange(2)
            if rng.random() < 0.5:
                p.rota = "saturday"
                p.roster = ("saturdays",) if rng.random() < 0.7 else ()

    def _portfolios(self) -> None:
        rng = self.rng
        for p in self.by_role["account_manager"]:
            pool = self.by_branch[p.branch]
            size = min(len(pool) // 2, int(rng.uniform(80, 260)))
            rich = [c for c in pool if self.value[c] != "individual"]
            p.portfolio = rng.sample(rich, min(len(rich), size // 3)) + rng.sample(pool, size - size // 3)
            p.portfolio = list(dict.fromkeys(p.portfolio))
        for p in self.by_role["collection_agent"]:
            size = int(rng.uniform(60, 140))
            p.previous = rng.sample(self.individuals, size)
            keep = [c for c in p.previous if rng.random() < 0.75]
            p.portfolio = keep + rng.sample(self.individuals, size - len(keep))
        for p in self.staff:
            p.base = {"teller": 40, "account_manager": 18, "insurance_agent": 10, "claims_adjuster": 14,
                      "underwriter": 13, "call_agent": 45, "collection_agent": 32, "compliance_officer": 14,
                      "auditor": 4, "marketing_analyst": 12, "dba": 3, "it_admin": 1, "branch_manager": 14,
                      "batch_job": 0}[p.role] * p.pace

    # ------------------------------------------------------------ calendar of the period

    def _plan_calendar(self) -> None:
        rng, n = self.rng, self.n_days
        offices = [i for i in range(n) if office_day(self.dates[i])]
        mondays = [i for i in offices if self.dates[i].weekday() == 0 and n * 0.4 <= i <= n * 0.6]
        self.merger_day = mondays[0] if mondays else offices[len(offices) // 2]
        candidates = [i for i in offices if n * 0.55 <= i <= n * 0.75 and i != self.merger_day]
        self.outage_day = rng.choice(candidates) if candidates else -1
        self.typhoon_day = next((i for i in offices if i >= max(6, n // 6)), -1)
        breaks = {i for i in offices if i >= 3 and not any(office_day(self.dates[i] - dt.timedelta(days=k))
                                                           for k in (1, 2, 3))}
        holiday_start = next((i for i in range(n) if public_holiday(self.dates[i]) and i > 0), n)
        launch = max((i for i in offices if i < holiday_start - 1), default=offices[-1])
        self.sms_days = {launch, launch + 1} if holiday_start < n else {offices[min(len(offices) - 1, 10)]}
        self.campaign_day = max((i for i in offices if i <= launch - 4), default=offices[0])
        self.breaks = breaks
        typhoon = {self.typhoon_day + k: k + 1 for k in range(4)} if self.typhoon_day >= 0 else {}
        # the weekend after it is worked by claims too
        k = self.typhoon_day + 4
        while 0 <= k < n and not office_day(self.dates[k]):
            typhoon[k] = 5
            k += 1
        self.days = [Day(i, d, office_day(d), public_holiday(d), period_end(d), i == self.outage_day,
                         typhoon.get(i, 0), i in breaks, i in self.sms_days) for i, d in enumerate(self.dates)]
        self.audit_days = sorted(rng.sample(offices[3:], min(3, len(offices) - 3)))

    def _plan_lives(self) -> None:
        rng, n = self.rng, self.n_days
        offices = [i for i in range(n) if self.days[i].office]
        holiday = [i for i in range(n) if self.days[i].holiday]
        for p in self.staff:
            p.expiry_day = rng.randrange(n * 2)            # half expire inside the period
            if p.role in OFFICE_ROLES and rng.random() < 0.1:
                s = rng.randrange(n)
                p.leave |= set(range(s, s + rng.randint(3, 9)))
            elif holiday and p.role in OFFICE_ROLES and rng.random() < 0.12:   # bridging the long holiday
                p.leave |= {holiday[0] - k for k in range(1, 4)} | {holiday[-1] + k for k in range(1, 3)}
        # the absorbed branch's staff move over on the merger Monday
        for p in self.staff:
            if p.branch == MERGED:
                p.old_branch, p.switch_day, p.branch = MERGED, self.merger_day, SURVIVOR
        # new joiners
        for role in ("teller", "call_agent", "claims_adjuster", "account_manager"):
            group = self.by_role.get(role, [])
            for p in rng.sample(group, max(1, len(group) // 25)):
                p.first_day = rng.choice([i for i in offices if n * 0.2 <= i <= n * 0.6] or offices[:1])
                p.leave.clear()
                if role == "account_manager":
                    p.portfolio = p.portfolio[: max(20, len(p.portfolio) // 4)]
        # a teller transferred mid-period: the file names the new branch
        movers = [p for p in self.by_role["teller"] if p.branch in BRANCHES[:4] and not p.rota and p.first_day == 0]
        if movers:
            p = movers[0]
            p.old_branch, p.switch_day = p.branch, offices[len(offices) // 3]
            p.branch = BRANCHES[(BRANCHES.index(p.branch) + 2) % 4]
        # account managers handing over: one leaving inside the period, one transferring after it
        managers = [p for p in self.by_role["account_manager"] if p.first_day == 0]
        for which, p in enumerate(managers[:2]):
            mates = [q for q in managers if q.branch == p.branch and q is not p]
            if not mates:
                continue
            receiver = mates[0]
            if which == 0:
                last = offices[int(len(offices) * 0.7)]
                p.status, p.status_date, p.last_day = "leaving", self.dates[last], last
            else:
                last = offices[-1]
                p.status, p.status_date = "transferred", self.dates[-1] + dt.timedelta(days=14)
            p.handover_to = receiver
            p.handover_days = tuple(i for i in offices if last - 7 < i <= last)
            p.leave.clear()
            receiver.leave -= set(p.handover_days)
            receiver.inherit = list(p.portfolio)
            receiver.portfolio = list(dict.fromkeys(receiver.portfolio + p.portfolio))   # assigned ahead
        # leavers without a portfolio: ordinary last weeks
        for role in ("teller", "call_agent", "underwriter"):
            for p in rng.sample(self.by_role[role], max(1, len(self.by_role[role]) // 30)):
                if p.status == "active" and p.first_day == 0 and not p.old_branch:
                    last = rng.choice([i for i in offices if i >= n * 0.6])
                    p.status, p.status_date, p.last_day = "leaving", self.dates[last], last
        # claims: the first queue
        for p in self.by_role["claims_adjuster"]:
            p.queue = [(c, rng.randint(0, 5)) for c in rng.sample(self.all, rng.randint(15, 30))]

    # ------------------------------------------------------------ events

    def _emit(self, p: Staff, at: dt.datetime, action: str, *, ids: Sequence[str] = (), count: int | None = None,
              fields: Sequence[str] = (), purpose: str | None = None, result: str = "ok",
              reason: str | None = None, detail: dict[str, Any] | None = None, system: str | None = None,
              address: str | None = None, case: Case | None = None) -> None:
        self.tick += 1
        record = {"actor": p.actor, "role": p.role, "branch": p.post(self.today), "action": action, "result": result,
                  "customer_ids": list(ids), "customer_count": count if count is not None else len(ids),
                  "fields": list(fields), "purpose": purpose, "source_address": address or p.desk,
                  "reason": reason, "detail": detail or {}, "system": system or p.system}
        self.buffer.append((at, self.tick, record))
        if case is not None:
            case.events += 1
            case.first_bad = at if case.first_bad is None else min(case.first_bad, at)

    def _times(self, n: int, start: float, end: float, *, lunch: bool = True) -> list[float]:
        rng, out = self.rng, list[float]()
        while len(out) < n:
            t = rng.uniform(start, end)
            if lunch and 12.0 <= t % 24 < 13.4 and rng.random() < 0.7:
                continue
            out.append(t)
        return sorted(out)

    def _count(self, base: float, factor: float = 1.0) -> int:
        return max(0, round(base * factor * self.rng.gammavariate(7.0, 1 / 7.0)))

    def _at(self, d: Day, hour: float) -> dt.datetime:
        return utc(d.date, hour) + dt.timedelta(seconds=self.rng.random() * 20)

    def _login(self, p: Staff, d: Day, hour: float, address: str | None = None) -> None:
        rng = self.rng
        fails = 0
        if d.after_break and p.role in OFFICE_ROLES and rng.random() < 0.12:
            fails = rng.randint(2, 5) if rng.random() < 0.8 else rng.randint(6, 8)   # forgot over the holiday
        elif d.index == p.expiry_day:
            fails = rng.randint(1, 3)
        elif rng.random() < 0.03:
            fails = 1
        reason = "password expired" if d.index == p.expiry_day else "wrong password"
        t = hour - 0.02 * fails
        for _ in range(fails):
            self._emit(p, self._at(d, t), "login", result="failed", reason=reason, address=address)
            t += rng.uniform(0.004, 0.02)
        if fails >= 6:   # locked: the service desk resets it
            admin = rng.choice(self.by_role["it_admin"])
            t += 0.25
            self._emit(admin, self._at(d, t), "identity_change", detail={"operation": "password_reset",
                                                                        "person": p.actor})
        self._emit(p, self._at(d, t + 0.01), "login", address=address)

    def _read(self, p: Staff, at: dt.datetime, cid: str, *, purpose: str | None = None,
              fields: Sequence[str] | None = None, address: str | None = None, case: Case | None = None,
              system: str | None = None) -> None:
        self._emit(p, at, "read", ids=(cid,), fields=fields or p.fields, purpose=purpose, address=address,
                   case=case, system=system)

    def _search(self, p: Staff, at: dt.datetime, kind: str, hit: str | None, *, address: str | None = None,
                case: Case | None = None, refused: bool = False) -> None:
        if p.system == "custodata" or case is not None:
            outcome = "refused" if refused else "hit" if hit else "miss"
            detail: dict[str, Any] = {"criteria": [kind], "hits": 1 if hit else 0, "outside_scope": 0,
                                      "identifiers": [kind], "outcome": outcome}
            if refused:
                detail["limit"] = "identifier-miss"
            self._emit(p, at, "search", ids=(hit,) if hit else (), fields=(kind,), result="denied" if refused
                       else "ok", reason="identifier search locked for the day" if refused else None,
                       detail=detail, system="custodata", address=address, case=case)
        else:
            self._emit(p, at, "search", ids=(hit,) if hit else (), fields=(kind,),
                       detail={"criteria": [kind], "hits": 1 if hit else 0}, address=address)

    def _unmask(self, p: Staff, at: dt.datetime, cid: str, fld: str, purpose: str, *, address: str | None = None,
                case: Case | None = None) -> None:
        self._emit(p, at, "unmask", ids=(cid,), fields=(fld,), purpose=purpose, system="custodata",
                   address=address, case=case)

    def _export(self, p: Staff, d: Day, hour: float, rows: int, purpose: str, *, case: Case | None = None,
                approver: Staff | None = None) -> None:
        """An approved export: request, approval, file, download, one request id."""
        self.request_no += 1
        self.exported.setdefault(p.actor, []).append(rows)
        rid = f"R{self.request_no:06d}"
        detail = {"request_id": rid, "kind": "export"}
        self._emit(p, self._at(d, hour), "export_request", count=rows, purpose=purpose, detail=detail,
                   system="custodata", case=case)
        if approver is not None:
            self._emit(approver, self._at(d, hour + 0.4), "approve", count=rows, detail=detail, system="custodata")
        self._emit(p, self._at(d, hour + 0.5), "export", count=rows, purpose=purpose,
                   detail={**detail, "format": "csv"}, system="custodata", case=case)
        self._emit(p, self._at(d, hour + 0.55), "download", count=rows, detail=detail, system="custodata", case=case)

    def _works(self, p: Staff, d: Day) -> bool:
        return p.first_day <= d.index <= p.last_day and d.index not in p.leave

    def _ramp(self, p: Staff, d: Day) -> float:
        k = d.index - p.first_day
        return 1.0 if p.first_day == 0 or k > 8 else 0.15 + 0.1 * k

    def _office_hours(self, p: Staff, d: Day) -> tuple[float, float] | None:
        """Start and end of the person's working day, or None when they are off."""
        rng = self.rng
        if not self._works(p, d):
            return None
        if p.rota == "weekend":
            week = d.date.isocalendar()[1]
            if not d.office and not d.holiday and (week + p.rota_offset) % 2 == 0:
                return rng.uniform(8.3, 8.8), rng.uniform(17.0, 17.6)
            if d.office and d.date.weekday() == 2 and (week + p.rota_offset) % 2 == 0:
                return None                               # the weekday off in lieu
        if p.rota == "holiday" and d.holiday and d.index % 2 == (BRANCHES.index(p.branch) if p.branch in BRANCHES
                                                                 else 0) % 2:
            return rng.uniform(8.8, 9.2), rng.uniform(15.5, 16.5)
        if not d.office:
            return None
        start, end = rng.uniform(8.2, 8.9), rng.uniform(17.2, 17.9)
        if rng.random() < 0.15:
            end += rng.uniform(0.8, 3.0)                   # overtime runs on from the day
        if d.period and p.role in ("account_manager", "compliance_officer", "marketing_analyst", "dba"):
            end += rng.uniform(1.0, 2.5)
        if d.outage and p.system in OUTAGE_SYSTEMS:
            end = max(end, rng.uniform(19.5, 21.0))
        if d.typhoon and p.role == "claims_adjuster":
            end = max(end, rng.uniform(19.0, 21.5))
        return start, end

    def _tasks(self, p: Staff, d: Day, n: int, start: float, end: float) -> list[float]:
        """Task times; during an outage the branch systems' tasks wait for the afternoon."""
        times = self._times(n, start + 0.1, end - 0.1)
        if d.outage and p.system in OUTAGE_SYSTEMS:
            moved = [t if not 10.0 <= t < 13.5 else self.rng.uniform(13.6, end - 0.1) for t in times]
            for t in self._times(self.rng.randint(1, 3), 10.0, 13.4, lunch=False):
                self._emit(p, self._at(d, t), "read", ids=(self.rng.choice(self.all),), fields=p.fields[:2],
                           result="error", reason="核心系统超时")
            times = sorted(moved)
        return times

    # ------------------------------------------------------------ a day of each role

    def _teller(self, p: Staff, d: Day) -> None:
        hours = self._office_hours(p, d)
        if hours is None:
            return
        rng, (start, end) = self.rng, hours
        self._login(p, d, start)
        factor = (1.15 if d.date.weekday() == 0 else 1.0) * (1.5 if d.after_break else 1.0) * self._ramp(p, d)
        if not d.office:
            factor *= 0.6
        home = self._branch_pool(p.post(d.index), d.index)
        for t in self._tasks(p, d, self._count(p.base, factor), start, min(end, 17.5)):
            at = self._at(d, t)
            r = rng.random()
            if r < 0.035:                                  # a new customer: search, then created at the desk
                self._search(p, at, "id_number", None)
                self.new_customers += 1
                cid = f"CN{self.new_customers:07d}"
                self._emit(p, at + dt.timedelta(minutes=4), "change_request", ids=(cid,), fields=("name", "id_number",
                           "mobile", "address"), purpose="开户", detail={"kind": "create"})
                continue
            other = r < 0.12
            cid = rng.choice(self.all if other else home)
            self._search(p, at, rng.choices(("id_number", "mobile", "card_no"), (0.6, 0.25, 0.15))[0], cid)
            if other and self.value[cid] == "high_net_worth" and rng.random() < 0.3:
                self._emit(p, at + dt.timedelta(seconds=30), "read", ids=(cid,), result="denied",
                           reason="row rule: another branch's private-banking customer (rule R-BRANCH-VIP)")
                continue
            self._read(p, at + dt.timedelta(seconds=rng.uniform(10, 60)), cid, purpose="柜面业务")
            if rng.random() < 0.22:
                self._unmask(p, at + dt.timedelta(seconds=90), cid, rng.choice(("id_number", "mobile")), "柜面业务核验")
            if rng.random() < 0.04:
                self._emit(p, at + dt.timedelta(minutes=3), "change_request", ids=(cid,), fields=("address",),
                           purpose="信息变更", detail={"kind": "update"})
        self._emit(p, self._at(d, end), "logout")

    def _account_manager(self, p: Staff, d: Day) -> None:
        rng = self.rng
        if not self._works(p, d):
            return
        if not d.office:
            if not d.holiday and rng.random() < 0.06 and p.portfolio:    # a Saturday client visit
                vpn = f"172.20.{rng.randrange(64)}.{rng.randrange(2, 250)}"
                self._login(p, d, 10.2, vpn)
                for t in self._times(rng.randint(4, 12), 10.3, 15.5):
                    self._read(p, self._at(d, t), rng.choice(p.portfolio), purpose="客户拜访", address=vpn)
            return
        hours = self._office_hours(p, d)
        if hours is None:
            return
        start, end = hours
        self._login(p, d, start)
        factor = (1.4 if d.date.weekday() == 0 else 1.0) * (1.3 if d.after_break else 1.0) * self._ramp(p, d)
        pool = self._branch_pool(p.post(d.index), d.index)
        visit = rng.random() < 0.3
        vpns = [f"172.20.{rng.randrange(64)}.{rng.randrange(2, 250)}" for _ in range(rng.randint(1, 2))]
        for t in self._tasks(p, d, self._count(p.base, factor), start, end):
            r = rng.random()
            cid = (rng.choice(p.portfolio) if r < 0.72 and p.portfolio else rng.choice(pool) if r < 0.93
                   else rng.choice(self.all))
            address = rng.choice(vpns) if visit and 14.0 <= t <= 16.5 else None
            if r >= 0.93:
                self._search(p, self._at(d, t), "mobile", cid, address=address)
            self._read(p, self._at(d, t), cid, purpose="客户维护", address=address)
            if rng.random() < 0.05:
                self._unmask(p, self._at(d, t + 0.02), cid, "mobile", "客户联系", address=address)
        if d.period and p.portfolio:                       # quarter/month-end AUM review
            share = {"month": 0.08, "quarter": 0.2, "year": 0.3}[d.period]
            for cid in rng.sample(p.portfolio, int(len(p.portfolio) * share)):
                self._read(p, self._at(d, rng.uniform(start, end)), cid, purpose="季末资产检视",
                           fields=("name", "amount", "account_no"))
        for mate in self.by_role["account_manager"]:      # covering a colleague on leave
            if mate is not p and mate.branch == p.branch and d.index in mate.leave and mate.portfolio \
                    and self.by_role["account_manager"].index(p) == self._cover_of(mate):
                for t in self._times(self._count(mate.base * 0.5), start + 0.5, end - 0.2):
                    self._read(p, self._at(d, t), rng.choice(mate.portfolio), purpose="代岗客户维护")
        if p.handover_to is not None and d.index in p.handover_days:   # walking the receiver through
            chunk = p.portfolio[int(len(p.portfolio) * p.handover_days.index(d.index) / len(p.handover_days)):
                                int(len(p.portfolio) * (p.handover_days.index(d.index) + 1) / len(p.handover_days))]
            for cid in chunk:
                t = rng.uniform(9.5, 16.5)
                self._read(p, self._at(d, t), cid, purpose="客户移交")
                if self._works(p.handover_to, d):
                    self._read(p.handover_to, self._at(d, t + 0.05), cid, purpose="客户移交")
        if p.inherit and d.index > max((q.last_day for q in self.by_role["account_manager"] if q.handover_to is p),
                                       default=10 ** 6):
            for cid in rng.sample(p.inherit, min(len(p.inherit), self._count(len(p.inherit) * 0.08))):
                self._read(p, self._at(d, rng.uniform(9.0, 17.0)), cid, purpose="接手客户维护")
        first_of_month = d.office and all(not self.days[k].office or self.dates[k].month != d.date.month
                                          for k in range(max(0, d.index - 6), d.index))
        if first_of_month and d.index > 0 and p.portfolio:
            self._export(p, d, 10.0, len(p.portfolio), "月度客户报告", approver=self._manager_of(p))
        self._emit(p, self._at(d, end), "logout")

    def _cover_of(self, mate: Staff) -> int:
        """Index (in the account managers) of the colleague who covers ``mate``'s portfolio."""
        group = self.by_role["account_manager"]
        mates = [k for k, q in enumerate(group) if q.branch == mate.branch and q is not mate]
        return mates[_stable(mate.actor) % len(mates)] if mates else -1

    def _manager_of(self, p: Staff) -> Staff | None:
        return next((m for m in self.by_role["branch_manager"] if m.branch == p.branch), None)

    def _branch_manager(self, p: Staff, d: Day) -> None:
        hours = self._office_hours(p, d)
        if hours is None:
            return
        rng, (start, end) = self.rng, hours
        self._login(p, d, start)
        pool = self._branch_pool(p.branch, d.index)
        rich = self.wealthy[p.branch] or pool
        for t in self._tasks(p, d, self._count(p.base), start, end):
            self._read(p, self._at(d, t), rng.choice(rich if rng.random() < 0.5 else pool), purpose="经营管理")
        for t in self._times(self._count(6), start + 0.3, end):
            self._emit(p, self._at(d, t), "approve", ids=(rng.choice(pool),), detail={"kind": "update"},
                       system="custodata")
        if d.date.weekday() == 0 and rich:                  # Monday key-account review with the managers
            accounts = rich[: rng.randint(12, 20)]
            team = [q for q in self.by_role["account_manager"] if q.branch == p.branch and self._works(q, d)]
            for q in [p, *rng.sample(team, min(len(team), rng.randint(2, 4)))]:
                for cid in accounts:
                    self._read(q, self._at(d, rng.uniform(10.0, 11.5)), cid, purpose="重点客户检视")
        self._emit(p, self._at(d, end), "logout")

    def _insurance_agent(self, p: Staff, d: Day) -> None:
        hours = self._office_hours(p, d)
        if hours is None:
            return
        rng, (start, end) = self.rng, hours
        self._login(p, d, start + 0.5)
        pool = self._branch_pool(p.branch, d.index)
        for t in self._tasks(p, d, self._count(p.base, 1.6 if d.period == "quarter" else 1.0), start + 0.6, end):
            self._read(p, self._at(d, t), rng.choice(pool), purpose="保险产品推荐")
        self._emit(p, self._at(d, end), "logout")

    def _claims_adjuster(self, p: Staff, d: Day) -> None:
        rng = self.rng
        hours = self._office_hours(p, d)
        if hours is None and d.typhoon == 5 and self._works(p, d) and rng.random() < 0.6:
            hours = (rng.uniform(8.8, 9.5), rng.uniform(15.5, 17.0))    # the weekend after the typhoon
        if hours is None:
            return
        start, end = hours
        self._login(p, d, start)
        new = self._count(7 * p.pace, (3.5 if 0 < d.typhoon < 5 else 1.0) * self._ramp(p, d))
        fresh = [(rng.choice(self.all), d.index + rng.randint(0, 7)) for _ in range(new)]
        p.queue = [(c, until) for c, until in p.queue if until >= d.index] + fresh
        work = [(c, until) for c, until in p.queue if (c, until) in fresh or rng.random() < 0.55]
        for (cid, until), t in zip(work, self._tasks(p, d, len(work), start, end), strict=True):
            at = self._at(d, t)
            if (cid, until) in fresh:
                self._search(p, at, "policy_no", cid)
            self._read(p, at + dt.timedelta(seconds=40), cid, purpose="理赔审核")
            if rng.random() < 0.15:
                self._read(p, at + dt.timedelta(minutes=2), rng.choice(self.all), purpose="理赔审核(关联人)")
            if until == d.index and rng.random() < 0.6:
                self._unmask(p, at + dt.timedelta(minutes=3), cid, "account_no", "理赔支付")
        self._emit(p, self._at(d, end), "logout")

    def _underwriter(self, p: Staff, d: Day) -> None:
        hours = self._office_hours(p, d)
        if hours is None:
            return
        rng, (start, end) = self.rng, hours
        self._login(p, d, start)
        push = 1.7 if d.office and self.dates[d.index].month % 3 == 0 and self.dates[d.index].day >= 22 else 1.0
        for t in self._tasks(p, d, self._count(p.base, push), start, end):
            cid = rng.choice(self.all)
            self._search(p, self._at(d, t), "id_number", cid)
            self._read(p, self._at(d, t + 0.01), cid, purpose="核保")
        if d.typhoon in (2, 3) and _stable(p.actor) % 2 == 0:  # drafted in to help with the typhoon's claims
            for t in self._times(rng.randint(8, 15), 13.5, end):
                cid = rng.choice(self.all)
                self._read(p, self._at(d, t), cid, purpose="理赔协助",
                           fields=("name", "policy_no", "vehicle_plate", "account_no", "amount"))
        self._emit(p, self._at(d, end), "logout")

    def _call_agent(self, p: Staff, d: Day) -> None:
        rng = self.rng
        if not self._works(p, d):
            return
        shift = p.rota[(d.index + p.rota_offset) % len(p.rota)]
        if shift == "O":
            return
        start, end, base = {"D": (8.0, 16.5, 1.0), "E": (14.0, 22.0, 0.85), "N": (22.0, 30.5, 0.3)}[shift]
        start += rng.uniform(-0.2, 0.1)
        seat = rng.randrange(160)
        addresses = [f"10.40.{seat // 100}.{seat % 100 + 10}"]
        if rng.random() < 0.1:
            seat = rng.randrange(160)
            addresses.append(f"10.40.{seat // 100}.{seat % 100 + 10}")
        self._login(p, d, start, addresses[0])
        factor = base * (1.4 if d.sms else 1.0) * (1.3 if 0 < d.typhoon < 5 else 1.0) * self._ramp(p, d) \
            * (1.2 if d.holiday else 1.0)
        miss = 0.35 if d.sms else 0.25 if 0 < d.typhoon < 5 else 0.14
        for t in self._tasks(p, d, self._count(p.base, factor), start, end):
            at = self._at(d, t)
            address = addresses[-1] if t > (start + end) / 2 else addresses[0]
            if rng.random() < miss:
                self._search(p, at, "mobile", None, address=address)
                continue
            cid = rng.choice(self.individuals if rng.random() < 0.8 else self.all)
            self._search(p, at, "mobile", cid, address=address)
            if rng.random() < 0.6:
                self._read(p, at + dt.timedelta(seconds=rng.uniform(15, 90)), cid, purpose="客户来电", address=address)
            if rng.random() < 0.08:
                self._unmask(p, at + dt.timedelta(seconds=120), cid, "mobile", "来电身份核实", address=address)
            if rng.random() < 0.03:
                self._emit(p, at + dt.timedelta(minutes=4), "change_request", ids=(cid,), fields=("address",),
                           purpose="信息变更", detail={"kind": "update"}, address=address)
        self._emit(p, self._at(d, end), "logout", address=addresses[-1])

    def _collection_agent(self, p: Staff, d: Day) -> None:
        rng = self.rng
        if not self._works(p, d):
            return
        week = d.date.isocalendar()[1]
        if d.office:
            start, end = (9.0, 17.5) if (week + p.rota_offset) % 2 else (12.0, 20.5)
        elif p.rota == "saturday" and d.date.weekday() == 5 and not d.holiday and (week + p.rota_offset) % 2:
            start, end = 9.0, 17.0
        else:
            return
        self._login(p, d, start)
        month = (d.date.year, d.date.month)
        current = p.portfolio if month >= (self.dates[-1].year, self.dates[-1].month) else p.previous
        first = d.office and not any(self.days[k].office and (self.dates[k].year, self.dates[k].month) == month
                                     for k in range(max(0, d.index - 7), d.index))
        for t in self._tasks(p, d, self._count(p.base), start, end):
            cid = rng.choice(current)
            if rng.random() < 0.3:
                self._search(p, self._at(d, t), "mobile", cid)
            self._read(p, self._at(d, t + 0.005), cid, purpose="贷后催收")
            if rng.random() < 0.05:
                denied = rng.random() < 0.1
                self._emit(p, self._at(d, t + 0.01), "unmask", ids=(cid,), fields=("mobile",), purpose="催收联系",
                           system="custodata", result="denied" if denied else "ok",
                           reason="daily unmask limit reached (rule U-OUTSOURCED)" if denied else None)
        if first and d.index > 0:                          # the new month's list arrives
            for cid in rng.sample(current, int(len(current) * 0.4)):
                self._read(p, self._at(d, rng.uniform(start + 0.3, start + 3)), cid, purpose="新分案",
                           fields=("name", "amount"))
        self._emit(p, self._at(d, end), "logout")

    def _compliance_officer(self, p: Staff, d: Day) -> None:
        hours = self._office_hours(p, d)
        if hours is None:
            return
        rng, (start, end) = self.rng, hours
        self._login(p, d, start)
        for t in self._tasks(p, d, self._count(p.base), start, end):
            cid = rng.choice(self.business if rng.random() < 0.5 else self.all)
            self._read(p, self._at(d, t), cid, purpose="反洗钱预警处理")
            if rng.random() < 0.15:
                self._unmask(p, self._at(d, t + 0.02), cid, "id_number", "反洗钱尽职调查")
        if d.period in ("quarter", "year"):                 # periodic KYC review
            for cid in self.rich[:40]:                       # the high-risk list, read by every officer
                self._read(p, self._at(d, rng.uniform(9.0, 11.0)), cid, purpose="高风险客户定期审查")
            for t in self._times(self._count(180 * p.pace), start, end):
                self._read(p, self._at(d, t), rng.choice(self.all), purpose="客户身份定期审查")
        self._emit(p, self._at(d, end), "logout")

    def _auditor(self, p: Staff, d: Day) -> None:
        hours = self._office_hours(p, d)
        if hours is None:
            return
        rng, (start, end) = self.rng, hours
        self._login(p, d, start)
        team = self.by_role["auditor"]
        if d.index in self.audit_days and team.index(p) % 2 == self.audit_days.index(d.index) % 2:
            sample = random.Random(self.seed * 31 + d.index).sample(self.all, 120 + 40 * self.audit_days.index(d.index))  # noqa: S311
            for cid in sample:
                if rng.random() < 0.7:
                    self._read(p, self._at(d, rng.uniform(start, end)), cid, purpose="内部审计抽样")
            for cid in rng.sample(sample, rng.randint(5, 10)):
                self._emit(p, self._at(d, rng.uniform(start, end)), "audit_query", ids=(cid,),
                           detail={"filters": ["customer"]})
        else:
            for t in self._tasks(p, d, self._count(p.base), start, end):
                self._read(p, self._at(d, t), rng.choice(self.all), purpose="审计核查")
            self._emit(p, self._at(d, rng.uniform(start, end)), "audit_query", detail={"filters": ["actor"]})
        self._emit(p, self._at(d, end), "logout")

    def _marketing_analyst(self, p: Staff, d: Day) -> None:
        rng = self.rng
        group = self.by_role["marketing_analyst"]
        k = group.index(p)
        if not d.office:                                    # the campaign weekend, the holiday check from home
            before = d.index + 1 in self.sms_days or d.index + 2 in self.sms_days
            if self._works(p, d) and ((before and k < 2) or (d.holiday and k == 0 and d.index % 3 == 0)):
                vpn = f"172.20.{rng.randrange(64)}.{rng.randrange(2, 250)}"
                self._login(p, d, 20.0 if d.holiday else 10.0, vpn)
                for t in self._times(rng.randint(8, 20), 20.1 if d.holiday else 10.1, 21.5 if d.holiday else 15.0):
                    self._read(p, self._at(d, t), rng.choice(self.all), purpose="营销活动效果", address=vpn)
            return
        hours = self._office_hours(p, d)
        if hours is None:
            return
        start, end = hours
        self._login(p, d, start)
        for t in self._tasks(p, d, self._count(p.base), start + 0.5, end):
            self._read(p, self._at(d, t), rng.choice(self.all), purpose="客群分析")
        if rng.random() < 0.3:
            hits = rng.sample(self.all, rng.randint(5, 25))
            self._emit(p, self._at(d, rng.uniform(10, 16)), "search", ids=hits, fields=("name", "city"),
                       detail={"criteria": ["city", "name"], "hits": len(hits)})
        approver = None if len(group) == 1 else group[0] if k else group[-1]
        if (d.index + 3 * k) % 9 == 0:
            self._export(p, d, rng.uniform(10, 15), int(rng.uniform(2000, 15000)), "营销活动", approver=approver)
        if d.index == self.campaign_day and k == 0:
            self._export(p, d, 11.0, int(len(self.individuals) * rng.uniform(0.5, 0.8)), "国庆营销活动",
                         approver=approver)
        self._emit(p, self._at(d, end), "logout")

    def _dba(self, p: Staff, d: Day) -> None:
        rng = self.rng
        k = self.by_role["dba"].index(p)
        if d.holiday and k == d.index % len(self.by_role["dba"]) and self._works(p, d):   # on call from home
            vpn = f"172.20.{rng.randrange(64)}.{rng.randrange(2, 250)}"
            self._login(p, d, 9.5, vpn)
            for t in self._times(rng.randint(2, 5), 9.6, 10.5, lunch=False):
                self._emit(p, self._at(d, t), "admin", detail={"operation": "batch_check"}, address=vpn)
            for cid in rng.sample(self.all, 2):
                self._read(p, self._at(d, 10.6), cid, purpose="数据核查", address=vpn)
            return
        hours = self._office_hours(p, d)
        if hours is None:
            return
        start, end = hours
        self._login(p, d, start)
        for t in self._tasks(p, d, self._count(p.base), start, end):
            cid = rng.choice(self.all)
            self._read(p, self._at(d, t), cid, purpose="数据修复")
            if rng.random() < 0.3:
                self._emit(p, self._at(d, t + 0.1), "edit", ids=(cid,), fields=("address",),
                           detail={"ticket": f"T{d.index:03d}{k}"})
        for t in self._times(rng.randint(1, 4), start, end):
            self._emit(p, self._at(d, t), "admin", detail={"operation": "maintenance"})
        if d.outage:
            for t in self._times(rng.randint(6, 12), 10.0, 13.5, lunch=False):
                self._emit(p, self._at(d, t), "admin", detail={"operation": "incident"})
        if d.period and k == 0:                             # the regulator's report (EAST / 1104)
            self._export(p, d, 15.0, int(len(self.all) * rng.uniform(0.2, 0.5)), "监管报送",
                         approver=self.by_role["it_admin"][0])
        self._emit(p, self._at(d, end), "logout")

    def _it_admin(self, p: Staff, d: Day) -> None:
        hours = self._office_hours(p, d)
        if hours is None:
            return
        rng, (start, end) = self.rng, hours
        jump = [f"10.99.0.{10 + j}" for j in range(3)]
        self._login(p, d, start, jump[0])
        if self.by_role["it_admin"].index(p) == 0:
            self._emit(p, self._at(d, start + 0.2), "audit_verify", address=jump[0])
        for t in self._times(self._count(10), start, end):
            self._emit(p, self._at(d, t), "admin", detail={"operation": "maintenance"}, address=rng.choice(jump))
        for q in self.staff if self.by_role["it_admin"].index(p) == 0 else ():   # joiners' and leavers' accounts
            if q.first_day == d.index and d.index > 0:
                self._emit(p, self._at(d, 8.9), "identity_change", detail={"operation": "create", "person": q.actor},
                           address=jump[1])
            if q.last_day == d.index:
                self._emit(p, self._at(d, 17.0), "identity_change",
                           detail={"operation": "status", "person": q.actor}, address=jump[1])
        if rng.random() < 0.1:
            self._emit(p, self._at(d, rng.uniform(start, end)), "policy_change", detail={"policy": "access"},
                       address=jump[2])
        for cid in rng.sample(self.all, rng.randint(0, 2)):
            self._read(p, self._at(d, rng.uniform(start, end)), cid, purpose="系统支持", address=jump[1])
        self._emit(p, self._at(d, end), "logout", address=jump[0])

    def _batch_job(self, p: Staff, d: Day) -> None:
        rng = self.rng
        if p.actor == "svc.dwload":
            hour = 14.0 if d.outage else 1.5 + rng.random() * 0.3       # re-run by day after the outage
            rows = int(len(self.all) * rng.uniform(0.3, 0.45) * (1.8 if d.period else 1.0))
            self._emit(p, self._at(d, hour), "login", address="10.99.1.5")
            self._emit(p, self._at(d, hour + 0.6), "export", count=rows, fields=("name", "mobile", "account_no"),
                       detail={"job": "dw_nightly_load"}, address="10.99.1.5")
            return
        for run in (0.5, 6.5, 12.5, 18.5):                  # CRM sync of changed customers
            changed = rng.sample(self.all, min(len(self.all), self._count(60 * (2 if d.period else 1))))
            for j in range(0, len(changed), 50):
                self._emit(p, self._at(d, run + j / 2000), "read", ids=changed[j:j + 50],
                           fields=("name", "mobile", "address"), purpose="系统同步", detail={"job": "crm_sync"},
                           address="10.99.1.6")

    # ------------------------------------------------------------ output

    def _flush(self, fh: Any, until: dt.datetime | None) -> int:
        self.buffer.sort(key=lambda e: (e[0], e[1]))
        cut = len(self.buffer) if until is None else next(
            (k for k, e in enumerate(self.buffer) if e[0] >= until), len(self.buffer))
        for at, _, record in self.buffer[:cut]:
            self.seq += 1
            fh.write(json.dumps({"seq": self.seq, "at": at.isoformat(timespec="microseconds") + "Z", **record},
                                ensure_ascii=False) + "\n")
        del self.buffer[:cut]
        return cut

    def write(self, folder: Path) -> int:
        """Write ``events.jsonl``, ``people.csv``, ``customers.csv`` and ``labels.json``; returns the events."""
        folder.mkdir(parents=True, exist_ok=True)
        self.seq = 0
        written = 0
        roles = {"branch_manager": self._branch_manager, "teller": self._teller,
                 "account_manager": self._account_manager, "insurance_agent": self._insurance_agent,
                 "claims_adjuster": self._claims_adjuster, "underwriter": self._underwriter,
                 "call_agent": self._call_agent, "collection_agent": self._collection_agent,
                 "compliance_officer": self._compliance_officer, "auditor": self._auditor,
                 "marketing_analyst": self._marketing_analyst, "dba": self._dba, "it_admin": self._it_admin,
                 "batch_job": self._batch_job}
        with (folder / "events.jsonl").open("w", encoding="utf-8") as fh:
            for d in self.days:
                self.today = d.index
                for p in self.staff:
                    roles[p.role](p, d)
                for hook in self.hooks.get(d.index, []):
                    hook(d)
                written += self._flush(fh, utc(d.date + dt.timedelta(days=1), 0.0))
            written += self._flush(fh, None)
        self._write_people(folder / "people.csv")
        with (folder / "customers.csv").open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["customer_id", "value_class", "branches"])
            for cid in self.all:
                out.writerow([cid, self.value[cid], ";".join(self.branches[cid])])
        labels = [{"scenario": c.kind, "actor": c.actors[0].actor, "actors": [q.actor for q in c.actors],
                   "strength": c.strength, "variant": c.variant, "roles": [q.role for q in c.actors],
                   "start": utc(self.dates[c.days[0]], 0.0).isoformat(timespec="microseconds") + "Z",
                   "end": utc(self.dates[c.days[-1]], 24.0).isoformat(timespec="microseconds") + "Z",
                   "first_bad_event_at": c.first_bad.isoformat(timespec="microseconds") + "Z" if c.first_bad
                   else None, "events": c.events} for c in self.cases]
        (folder / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return written

    def _write_people(self, path: Path) -> None:
        with path.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["actor", "kind", "role", "branch", "status", "status_date", "portfolio", "shift", "scope"])
            for p in self.staff:
                out.writerow([p.actor, p.kind, p.role, p.branch, p.status,
                              p.status_date.isoformat() if p.status_date else "", ";".join(p.portfolio),
                              ";".join(p.roster), p.scope])


def simulate_c(folder: Path, *, people: int = 300, days: int = 45, seed: int = 1, cases_per_kind: int = 3,
               start: dt.date = DEFAULT_START) -> int:
    """Write world C's ``events.jsonl``, ``people.csv``, ``customers.csv``, ``labels.json``; returns events."""
    return WorldC(people=people, days=days, seed=seed, cases_per_kind=cases_per_kind, start=start).write(folder)


__all__ = ["KINDS", "STRENGTHS", "WorldC", "office_day", "period_end", "public_holiday", "simulate_c"]
