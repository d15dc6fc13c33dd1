"""One rule at a time (issue 13): calendars and rosters, baselines that do not lock in, scope, shared customers,
departing people, grouping by person and day.

Each test builds a tiny bank (a few people, a few weeks) where only the behaviour under test differs, so a
rule that regresses fails here by name; the anomaly model is off so each count rule alone decides.
"""

from __future__ import annotations

import datetime as dt
import random

from custodata.monitoring import (
    Alert,
    MonitorConfig,
    MonitorEvent,
    PersonInfo,
    StaticCustomers,
    by_person_day,
    detect,
)
from custodata.monitoring.baseline import Baselines
from custodata.monitoring.calendar import LearntHours, Shift, WorkCalendar
from custodata.monitoring.config import AnomalySettings, ShiftPattern
from custodata.monitoring.features import FEATURES, HISTORY_ONLY

UTC8 = dt.timedelta(hours=8)
START = dt.date(2026, 3, 2)  # a Monday
CONFIG = MonitorConfig(anomaly=AnomalySettings(enabled=False))


def utc(day: dt.date, hour: float) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0)) + dt.timedelta(hours=hour) - UTC8


def read(day: dt.date, hour: float, actor: str, cid: str) -> MonitorEvent:
    return MonitorEvent(at=utc(day, hour), actor=actor, action="read", customer_ids=(cid,), fields=("name",),
                        source_address=f"10.0.0.{abs(hash(actor)) % 200}")


def workdays(n: int, start: dt.date = START) -> list[dt.date]:
    cal = WorkCalendar()
    out, d = [], start
    while len(out) < n:
        if cal.workday(d):
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def bank() -> StaticCustomers:
    values = {f"C{i:05d}": ("high_net_worth" if i % 10 == 0 else "individual") for i in range(4000)}
    branches = {f"C{i:05d}": {"B1"} if i < 2000 else {"B2"} for i in range(4000)}
    return StaticCustomers(values, branches)


def b1(i: int) -> str:
    return f"C{i % 2000:05d}"


def b2(i: int) -> str:
    return f"C{2000 + i % 2000:05d}"


def tellers(n: int = 6, branch: str = "B1") -> dict[str, PersonInfo]:
    return {f"t{i}": PersonInfo(actor=f"t{i}", role="teller", branch=branch) for i in range(n)}


def ordinary(days: list[dt.date], who: dict[str, PersonInfo], rng: random.Random, per_day: int = 20
             ) -> list[MonitorEvent]:
    events = []
    for day in days:
        for actor, p in who.items():
            pick = b1 if p.branch == "B1" else b2
            for _ in range(per_day):
                events.append(read(day, 9 + rng.random() * 8, actor, pick(rng.randrange(2000))))
    return events


def run(events: list[MonitorEvent], who: dict[str, PersonInfo], config: MonitorConfig = CONFIG) -> list[Alert]:
    return detect(sorted(events, key=lambda e: e.at), who, bank(), config)


# --- calendar ------------------------------------------------------------------------------------------

def test_official_calendar_knows_holidays_and_makeup_workdays() -> None:
    cal = WorkCalendar()
    assert cal.workday(dt.date(2026, 2, 14))        # Saturday worked for the Spring Festival (调休)
    assert not cal.workday(dt.date(2026, 2, 17))    # Spring Festival
    assert not cal.workday(dt.date(2026, 10, 1))    # National Day
    assert not cal.workday(dt.date(2026, 3, 7))     # an ordinary Saturday
    assert cal.workday(dt.date(2026, 3, 9)) and cal.known(dt.date(2026, 3, 9))


def test_institution_overrides_the_official_calendar() -> None:
    cal = WorkCalendar(holidays=[dt.date(2026, 3, 9)], extra_workdays=[dt.date(2026, 2, 17), dt.date(2026, 3, 7)])
    assert not cal.workday(dt.date(2026, 3, 9)) and cal.workday(dt.date(2026, 2, 17))
    assert cal.workday(dt.date(2026, 3, 7))
    plain = WorkCalendar(official="none")
    assert not plain.workday(dt.date(2026, 2, 14)) and plain.workday(dt.date(2026, 2, 17))


def test_overnight_and_alternate_shifts() -> None:
    cal = WorkCalendar()
    night = Shift("night", ShiftPattern(start=dt.time(22), end=dt.time(6), days="every_day"), cal)
    assert night.covers(dt.date(2026, 3, 7), 23 * 60) and night.covers(dt.date(2026, 3, 8), 3 * 60)
    assert not night.covers(dt.date(2026, 3, 8), 12 * 60)
    alt = Shift("alt", ShiftPattern(start=dt.time(9), end=dt.time(17), days="workdays",
                                    alternate={"weekday": 5, "starting": dt.date(2026, 3, 7)}), cal)  # type: ignore[arg-type]
    assert alt.covers(dt.date(2026, 3, 7), 10 * 60) and not alt.covers(dt.date(2026, 3, 14), 10 * 60)
    assert alt.covers(dt.date(2026, 3, 21), 10 * 60) and alt.covers(dt.date(2026, 3, 9), 10 * 60)


def test_hours_are_learnt_after_enough_days() -> None:
    hours = LearntHours(days=42, min_days=3)
    for _ in range(2):
        hours.add_day(False, 1 << 23)
    assert not hours.usual(False, 23)
    hours.add_day(False, 1 << 23)
    assert hours.usual(False, 23) and not hours.usual(True, 23) and not hours.usual(False, 10)


def _night_world(shift: tuple[str, ...]) -> list[Alert]:
    rng = random.Random(3)
    who = tellers()
    who["n1"] = PersonInfo(actor="n1", role="agent", branch="B1", shift=shift)
    days = workdays(12)
    events = ordinary(days, tellers(), rng)
    for day in days[-2:]:  # two nights of 30 customers at 23:00
        events += [read(day, 23 + k / 60, "n1", b1(rng.randrange(2000))) for k in range(30)]
    for day in days[:-2]:
        events += [read(day, 10 + k / 10, "n1", b1(rng.randrange(2000))) for k in range(20)]
    return [a for a in run(events, who) if a.actor == "n1" and a.scenario == "off_hours_bulk"]


def test_a_rostered_night_shift_is_not_off_hours() -> None:
    assert _night_world(()), "without a roster the first nights are off hours"
    assert not _night_world(("22:00-06:00",))


# --- baselines -----------------------------------------------------------------------------------------

def test_a_heavy_worker_alerted_at_first_acquires_a_normal() -> None:
    rng = random.Random(5)
    who = tellers()
    who["heavy"] = PersonInfo(actor="heavy", role="teller", branch="B1")
    days = workdays(20)
    events = ordinary(days, tellers(), rng)
    for day in days:
        events += [read(day, 9 + rng.random() * 8, "heavy", b1(rng.randrange(2000))) for _ in range(300)]
    alerts = [a for a in run(events, who) if a.actor == "heavy" and a.scenario == "hoarding"]
    late = {a.window_start.date() for a in alerts if a.window_start >= utc(days[10], 0)}
    assert not late, f"still alerted on {sorted(late)}"


def test_one_wild_day_joins_the_history_capped() -> None:
    base = Baselines(CONFIG)
    zero = dict.fromkeys((*FEATURES, *HISTORY_ONLY), 0.0)
    for i in range(10):
        base.close_day("p", ("teller", "B1"), START + dt.timedelta(days=i), {**zero, "customers": 20.0 + i % 3}, (),
                       include=True)
    base.roll(START + dt.timedelta(days=10))
    base.close_day("p", ("teller", "B1"), START + dt.timedelta(days=10), {**zero, "customers": 5000.0}, (),
                   include=True)
    assert base.history["p"][-1][1]["customers"] <= 3 * 21 + 1
    base.roll(START + dt.timedelta(days=11))
    stat = base.person("p", "customers")
    assert stat is not None and stat.median <= 22


def _slow_hoarding(extra: list[int], actors: tuple[str, ...] = ("t0",)) -> list[Alert]:
    rng = random.Random(3)
    who = tellers()
    days = workdays(16)
    events = ordinary(days, who, rng)
    for day, n in zip(days[-len(extra):], extra, strict=True):
        for actor in actors:
            events += [read(day, 10 + k / 40 + rng.random() * 0.01, actor, b1(rng.randrange(2000)))
                       for k in range(n)]
    return [a for a in run(events, who) if a.actor in actors and a.scenario == "hoarding"]


def test_slow_hoarding_sums_the_last_days_and_its_bar_is_the_days_own() -> None:
    # three days at twice the usual 20 escape the daily threshold (3x) but not the three days' sum;
    # the bar is worked out once a day, so a day that starts slow and ends heavy still reaches it
    alerts = _slow_hoarding([22, 22, 22])
    assert [a.evidence.get("trigger") for a in alerts] == ["rolling"]
    assert all(n >= 38 for n in alerts[0].evidence["daily_counts"][:2])  # distinct customers, a few met twice
    assert not _slow_hoarding([22, 22, 0]), "two busy days and an ordinary one are a busy spell"
    assert not _slow_hoarding([0, 22, 22])


def test_slow_hoarding_needs_every_day_above_the_usual() -> None:
    # a Monday review at almost three times the usual day, an ordinary Tuesday, a busy Wednesday: together
    # 1.9x three usual days, but the person's own rhythm, not a sustained rise (each day must be 1.5x the usual)
    assert not _slow_hoarding([35, 0, 22])
    found = _slow_hoarding([35, 12, 22])
    assert [a.evidence.get("trigger") for a in found] == ["rolling"], "each day 1.6x or more: slow hoarding"


def _team_day(counts: dict[str, int]) -> list[Alert]:
    """Tellers of one branch on their usual 20 a day; on the last day each reads ``counts`` more, interleaved."""
    rng = random.Random(9)
    who = tellers(8)
    days = workdays(12)
    events = ordinary(days, who, rng)
    for actor, n in counts.items():
        events += [read(days[-1], 9 + k * 8 / n + rng.random() * 0.01, actor, b1(rng.randrange(2000)))
                   for k in range(n)]
    return [a for a in run(events, who) if a.scenario == "hoarding" and a.window_start >= utc(days[-1], 0)]


def test_what_the_team_does_the_same_day_is_the_days_work() -> None:
    # month-end: four tellers of the branch all read six times their usual day, through the day
    assert not _team_day({"t0": 120, "t1": 120, "t2": 120, "t3": 120})
    assert {a.actor for a in _team_day({"t0": 120})} == {"t0"}, "alone, the same day is hoarding"
    # one of them reads three times the team's day: past the team, alerted
    assert {a.actor for a in _team_day({"t0": 120, "t1": 120, "t2": 120, "t3": 400})} == {"t3"}
    # a quarter-end: the whole branch busier for three days is no slow hoarding either
    assert _slow_hoarding([22, 22, 22]), "alone, three busier days are"
    assert not _slow_hoarding([22, 22, 22], ("t0", "t1", "t2", "t3"))


# --- scope, shared customers, departing ----------------------------------------------------------------

def _scope_world(targets: list[str], who_extra: dict[str, PersonInfo], actor: str) -> list[Alert]:
    rng = random.Random(7)
    who = tellers() | who_extra
    days = workdays(12)
    events = ordinary(days, tellers(), rng)
    p = who_extra[actor]
    for day in days:
        pool = sorted(p.portfolio) or [b2(rng.randrange(2000)) for _ in range(50)]
        events += [read(day, 9 + rng.random() * 8, actor, rng.choice(pool)) for _ in range(10)]
    events += [read(days[-1], 14 + k / 30, actor, c) for k, c in enumerate(targets)]
    return [a for a in run(events, who) if a.actor == actor and a.scenario == "out_of_scope"]


def test_a_few_high_net_worth_lookups_outside_the_portfolio_alert_by_value() -> None:
    rm = {"rm": PersonInfo(actor="rm", role="relationship_manager", branch="B2",
                           portfolio=frozenset(b2(i) for i in range(1, 100, 3)))}
    assert _scope_world([b1(i * 10) for i in range(1, 7)], rm, "rm")          # 6 wealthy of another branch
    assert _scope_world([b2(i * 10) for i in range(20, 27)], rm, "rm")        # 7 wealthy of their branch, not theirs
    assert not _scope_world([b1(i * 10 + 1) for i in range(1, 7)], rm, "rm")  # 6 ordinary ones


def test_head_office_without_portfolio_is_not_out_of_scope() -> None:
    hq = {"hq": PersonInfo(actor="hq", role="steward", branch="总行")}
    assert not _scope_world([b1(i) for i in range(200)], hq, "hq")


def _shared_world(accounts: list[str], who: dict[str, PersonInfo], targets: list[str]) -> list[Alert]:
    rng = random.Random(11)
    days = workdays(12)
    events = ordinary(days, who, rng)
    for actor in accounts:
        events += [read(days[-1], 15 + k / 60, actor, c) for k, c in enumerate(targets)]
    return [a for a in run(events, who) if a.scenario == "shared_customers"]


def test_shared_customers_count_the_others_not_the_person() -> None:
    # 30 tellers make the day's universe of customers large enough that 10 in common is beyond chance
    who = tellers(30, "B1") | {f"u{i}": PersonInfo(actor=f"u{i}", role="agent", branch="CC") for i in range(4)}
    targets = [b2(i * 7) for i in range(10)]
    three = _shared_world(["u0", "u1", "u2"], who, targets)       # credential sharing by three accounts
    assert {a.actor for a in three} == {"u0", "u1", "u2"}
    assert all(a.actor not in a.evidence["accounts"] for a in three)
    assert not _shared_world(["u0", "u1"], who, targets)          # the person and one other: not 'shared'


def test_a_shared_customer_met_again_counts_at_once() -> None:
    # three call agents on one credential read the same 8 customers; two colleagues happened to open the
    # last of them first, so it was already 'shared' before the third account came: it must still count,
    # then and there, not at the next recount of a tenth more customers
    who = tellers(30, "B1") | {f"u{i}": PersonInfo(actor=f"u{i}", role="agent", branch="CC") for i in range(3)}
    rng = random.Random(11)
    days = workdays(12)
    events = ordinary(days, who, rng)
    targets = [b2(i * 7) for i in range(8)]
    events += [read(days[-1], 13 + k / 60, actor, targets[-1]) for k, actor in enumerate(("t0", "t1"))]
    for n, actor in enumerate(("u0", "u1", "u2")):
        events += [read(days[-1], 14 + n + k / 60, actor, c) for k, c in enumerate(targets)]
    found = [a for a in run(events, who) if a.scenario == "shared_customers"]
    assert {a.actor for a in found} >= {"u0", "u1"}
    assert all(a.evidence["count"] >= 5 for a in found)


def test_a_branch_joint_review_of_its_key_accounts_is_normal() -> None:
    who = tellers(30, "B1") | {f"m{i}": PersonInfo(actor=f"m{i}", role="manager", branch="B2") for i in range(5)}
    assert not _shared_world([f"m{i}" for i in range(5)], who, [b2(i * 7) for i in range(20)])


def _departing_world(spike: int) -> list[Alert]:
    rng = random.Random(13)
    who = tellers()
    who["d"] = PersonInfo(actor="d", role="teller", branch="B1", status="transferred",
                          status_date=START + dt.timedelta(days=60))
    days = workdays(25)
    events = ordinary(days, tellers(), rng)
    for day in days:
        n = 60 if day.weekday() == 0 else 20  # the Monday review: three times an ordinary day
        events += [read(day, 9 + rng.random() * 8, "d", b1(rng.randrange(2000))) for _ in range(n)]
    events += [read(days[-1], 10 + k / 60, "d", b1(rng.randrange(2000))) for k in range(spike)]
    return [a for a in run(events, who) if a.actor == "d" and a.scenario == "departing_exfiltration"]


def test_departing_judges_only_what_is_unusual_for_the_person() -> None:
    assert not _departing_world(0), "their own Monday review is no departure"
    assert _departing_world(120)


# --- grouping ------------------------------------------------------------------------------------------

def test_alerts_group_by_person_and_day() -> None:
    t = utc(START, 10)

    def alert(aid: str, actor: str, severity: str, at: dt.datetime, score: float) -> Alert:
        return Alert(alert_id=aid, scenario="hoarding" if aid < "b" else "out_of_scope", severity=severity,
                     actor=actor, window_start=at, window_end=at, score=score, summary=aid, summary_zh=aid,
                     detected_at=at)

    rows = by_person_day([alert("a1", "p", "medium", t, 2.5), alert("b1", "p", "high", t, 5.0),
                          alert("a2", "p", "medium", t + dt.timedelta(days=1), 2.2), alert("a3", "q", "low", t, 1)])
    assert [(r["actor"], r["severity"], len(r["alerts"])) for r in rows] == [
        ("p", "high", 2), ("p", "medium", 1), ("q", "low", 1)]
    assert rows[0]["scenarios"] == ["hoarding", "out_of_scope"] and rows[0]["day"] == START.isoformat()
