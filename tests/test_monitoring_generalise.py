"""Rules that generalise to activity they were not tuned on (issue 13): one test per rule, each with its contrast.

A team's rise over each one's own usual day, misses a whole desk shares on a campaign day, an
office working its list together, a first export through the approval flow, a job that keeps the
same hours every day, failed logins on the first day back after a break, covering an away colleague's
clients and the branch's own key accounts, a leaving manager's hand-over, an hour's unmasks against the
usual busiest hour, clients the person worked with before.  Tiny banks from
``test_monitoring_rules``; the anomaly model is off so each count rule alone decides.
"""

from __future__ import annotations

import datetime as dt
import random

from custodata.monitoring import Alert, MonitorEvent, PersonInfo
from custodata.monitoring.calendar import LearntHours
from tests.test_monitoring_rules import CONFIG, START, b1, b2, ordinary, read, run, tellers, utc, workdays


def _rise_world(rise: dict[str, int]) -> list[Alert]:
    """A heavy teller (60 a day), light ones (15) of one branch; on the last day each reads ``rise`` × usual."""
    rng = random.Random(5)
    heavy, light = tellers(1), {f"l{i}": PersonInfo(actor=f"l{i}", role="teller", branch="B1") for i in range(4)}
    days = workdays(12)
    events = ordinary(days[:-1], heavy, rng, per_day=60) + ordinary(days[:-1], light, rng, per_day=15)
    usual = {"t0": 60} | {a: 15 for a in light}
    for actor, times in rise.items():
        n = usual[actor] * times
        events += [read(days[-1], 9 + k * 8 / n + rng.random() * 0.01, actor, b1(rng.randrange(2000)))
                   for k in range(n)]
    return [a for a in run(events, heavy | light) if a.scenario == "hoarding" and a.window_start >= utc(days[-1], 0)]


def test_a_team_wide_rise_over_each_ones_own_day_is_the_season() -> None:
    # quarter-end: everyone reads five times their own usual day; the heavy one's count is far above the others'
    assert not _rise_world({"t0": 5, "l0": 5, "l1": 5, "l2": 5})
    assert {a.actor for a in _rise_world({"t0": 5, "l0": 1, "l1": 1, "l2": 1})} == {"t0"}, "alone it is hoarding"


def _search(day: dt.date, hour: float, actor: str, kind: str, hit: bool) -> MonitorEvent:
    return MonitorEvent(at=utc(day, hour), actor=actor, action="search", customer_ids=(b2(int(hour * 97)),) if hit
                        else (), detail={"identifiers": [kind], "outcome": "hit" if hit else "miss"},
                        source_address="10.1.0.1")


def _desk(campaign_miss: float, prober: bool) -> list[Alert]:
    """Six call agents searching callers' mobiles (10 % miss); on the last day ``campaign_miss`` of them miss."""
    rng = random.Random(3)
    who = {f"a{i}": PersonInfo(actor=f"a{i}", role="agent", branch="CC") for i in range(6)}
    days = workdays(12)
    events = []
    for day in days:
        share, n = (campaign_miss, 120) if day == days[-1] else (0.1, 40)
        for actor in who:
            events += [_search(day, 9 + k * 8 / n, actor, "mobile", rng.random() >= share) for k in range(n)]
    if prober:  # one agent tries 12 ID-number candidates in 20 minutes, each a miss
        events += [_search(days[-1], 15 + k / 36, "a0", "id_number", False) for k in range(12)]
    return [a for a in run(events, who) if a.scenario == "identifier_enumeration"]


def test_misses_the_whole_desk_shares_are_chance_candidates_tried_are_not() -> None:
    # the day the SMS campaign goes out, every agent's callers are mostly no customer: 60 % misses for everyone
    assert not _desk(0.6, prober=False)
    assert {a.actor for a in _desk(0.6, prober=True)} == {"a0"}
    assert {a.evidence.get("identifier") for a in _desk(0.6, prober=True)} == {"id_number"}


def test_an_office_working_its_list_together_is_not_shared_credentials() -> None:
    from tests.test_monitoring_rules import _shared_world

    def office(scope: str) -> dict[str, PersonInfo]:
        return tellers(30, "B1") | {f"k{i}": PersonInfo(actor=f"k{i}", role="compliance", branch="总行", scope=scope)
                                    for i in range(4)}
    targets = [b2(i * 7) for i in range(20)]  # the quarter's high-risk KYC list, read by every officer
    assert not _shared_world([f"k{i}" for i in range(4)], office("institution"), targets)
    assert _shared_world([f"k{i}" for i in range(4)], office(""), targets), "undeclared, it is judged as shared"


def _export_world(request_id: str | None) -> list[Alert]:
    rng = random.Random(2)
    who = tellers() | {"dba": PersonInfo(actor="dba", role="dba", branch="总行", scope="institution")}
    days = workdays(12)
    events = ordinary(days, tellers(), rng)
    events += [read(d, 10, "dba", b1(i)) for i, d in enumerate(days)]
    detail = {"request_id": request_id} if request_id else {}
    events.append(MonitorEvent(at=utc(days[-1], 15), actor="dba", action="export", customer_count=50_000,
                               detail=detail, source_address="10.2.0.1"))
    return [a for a in run(events, who) if a.actor == "dba" and a.scenario == "hoarding"]


def test_a_first_export_through_the_approval_flow_waits_for_the_officer() -> None:
    approved = _export_world("REQ-1")
    assert approved and all(a.severity in ("low", "medium") for a in approved)
    assert approved[0].evidence["approval_flow"] is True
    outside = _export_world(None)
    assert any(a.severity in ("high", "critical") for a in outside), "outside the approval flow it may freeze"


def test_a_job_that_keeps_the_same_hours_every_day_learns_its_rest_days_sooner() -> None:
    hours = LearntHours(days=42, min_days=3)
    for _ in range(3):
        hours.add_day(True, 1 << 2)
    hours.add_day(False, 1 << 2)
    assert not hours.usual(False, 2)
    hours.add_day(False, 1 << 2)
    assert hours.usual(False, 2), "usual on working days and seen on two rest days"
    rest_only = LearntHours(days=42, min_days=3)
    for _ in range(2):
        rest_only.add_day(False, 1 << 23)
    assert not rest_only.usual(False, 23), "an hour seen only on rest days needs min_days of them"


def test_config_defaults_are_the_documented_ones() -> None:
    rule = CONFIG.scenarios.identifier_enumeration
    assert (rule.chance_share, rule.chance_min_searches, rule.chance_alpha) == (0.05, 20, 1e-5)
    assert CONFIG.scenarios.hoarding.first_approved_export_severity == "medium"


def _failed_logins(fails: int, back_from_leave: bool) -> list[Alert]:
    """Tellers at work for three weeks; t0 is away for a week before the last day when ``back_from_leave``."""
    rng = random.Random(4)
    who = tellers()
    days = workdays(16)
    events = ordinary(days, {a: p for a, p in who.items() if a != "t0"}, rng)
    away = set(days[-6:-1]) if back_from_leave else set()
    events += ordinary([d for d in days if d not in away], {"t0": who["t0"]}, rng)
    events += [MonitorEvent(at=utc(days[-1], 8.5 + k / 120), actor="t0", action="login", result="failed",
                            reason="wrong password", source_address="10.0.0.9") for k in range(fails)]
    return [a for a in run(events, who) if a.scenario == "failed_login_burst"]


def test_failed_logins_on_the_first_day_back_are_a_forgotten_password() -> None:
    assert _failed_logins(6, back_from_leave=False), "six failures on an ordinary morning"
    assert not _failed_logins(6, back_from_leave=True), "the same after a week of leave: forgotten"
    found = _failed_logins(12, back_from_leave=True)
    assert found and found[0].evidence["back_after_days"] >= 3, "guessing goes far past a forgotten password"


def _colleagues_clients(colleague_away: bool, reviewed_before: bool = False) -> list[Alert]:
    """rm reads 7 wealthy clients of their own branch that are in colleague rm2's portfolio, not in theirs."""
    rng = random.Random(6)
    theirs = [b2(i * 10) for i in range(40, 47)]  # high net worth (every tenth customer), branch B2
    who = tellers() | {
        "rm": PersonInfo(actor="rm", role="relationship_manager", branch="B2",
                         portfolio=frozenset(b2(i) for i in range(1, 100, 3))),
        "rm2": PersonInfo(actor="rm2", role="relationship_manager", branch="B2", portfolio=frozenset(theirs)),
        "bm": PersonInfo(actor="bm", role="branch_manager", branch="B2")}
    days = workdays(14)
    events = ordinary(days, tellers(), rng)
    for day in days:
        events += [read(day, 9 + rng.random() * 8, "rm", rng.choice(sorted(who["rm"].portfolio))) for _ in range(10)]
        if not (colleague_away and day >= days[-3]):
            events += [read(day, 9 + rng.random() * 8, "rm2", c) for c in theirs[:2]]
    if reviewed_before:  # the branch's Monday review of those accounts a week before: rm and the branch manager
        events += [read(days[-6], 10 + k / 30, actor, c) for actor in ("bm", "rm") for k, c in enumerate(theirs)]
    events += [read(days[-1], 14 + k / 30, "rm", c) for k, c in enumerate(theirs)]
    return [a for a in run(events, who) if a.actor == "rm" and a.scenario == "out_of_scope"
            and a.window_start >= utc(days[-1], 0)]


def test_covering_an_away_colleagues_clients_or_the_branchs_key_accounts_is_not_curiosity() -> None:
    assert _colleagues_clients(colleague_away=False), "the colleague is at work: curiosity"
    assert not _colleagues_clients(colleague_away=True), "the colleague is on leave: covering"
    assert not _colleagues_clients(colleague_away=False, reviewed_before=True), "the branch's reviewed key accounts"


def _hand_over(with_receiver: bool) -> list[Alert]:
    """A leaving manager reads 20 of their 120 clients a day; on the last day 80 of them, the receiver alongside."""
    rng = random.Random(8)
    book = [b1(i) for i in range(300, 420)]
    who = tellers() | {
        "d": PersonInfo(actor="d", role="relationship_manager", branch="B1", status="leaving",
                        status_date=START + dt.timedelta(days=40), portfolio=frozenset(book)),
        "r": PersonInfo(actor="r", role="relationship_manager", branch="B1")}
    days = workdays(14)
    events = ordinary(days, tellers(), rng)
    for day in days[:-1]:
        events += [read(day, 9 + rng.random() * 8, "d", c) for c in rng.sample(book, 20)]
    for k, c in enumerate(book[:80]):
        events.append(read(days[-1], 9 + k / 12, "d", c))
        if with_receiver:
            events.append(read(days[-1], 9 + k / 12 + 0.001, "r", c))
    return [a for a in run(events, who) if a.actor == "d" and a.scenario in ("departing_exfiltration", "hoarding")]


def test_a_hand_over_of_the_own_portfolio_is_no_departure_nor_hoarding() -> None:
    alone = _hand_over(with_receiver=False)
    assert {a.scenario for a in alone} == {"departing_exfiltration", "hoarding"}, "alone, four times their day"
    assert not _hand_over(with_receiver=True), "the receiver opens each client with them: the hand-over"


def _unmask(day: dt.date, hour: float, actor: str, cid: str) -> MonitorEvent:
    return MonitorEvent(at=utc(day, hour), actor=actor, action="unmask", customer_ids=(cid,), fields=("id_number",),
                        source_address="10.0.0.7")


def test_an_hours_unmasks_are_judged_against_the_usual_busiest_hour() -> None:
    rng = random.Random(12)
    who = tellers()
    days = workdays(12)
    events = ordinary(days, who, rng)
    for day in days[:-1]:  # ten unmasks a day each, one or two an hour
        events += [_unmask(day, 9 + k * 0.8 + rng.random() * 0.1, a, b1(rng.randrange(2000)))
                   for a in who for k in range(10)]
    quiet = [a for a in run(events, who) if a.scenario == "repeated_unmask"]
    assert not quiet
    burst = events + [_unmask(days[-1], 14 + k / 30, "t0", b1(rng.randrange(2000))) for k in range(15)]
    found = [a for a in run(burst, who) if a.scenario == "repeated_unmask"]
    assert {a.actor for a in found} == {"t0"} and found[0].evidence.get("trigger") != "day"



def _again(same: bool) -> list[Alert]:
    """A collector reads 6 wealthy debtors of another branch (last month's list) 5 days before the last day."""
    rng = random.Random(15)
    who = tellers() | {"c": PersonInfo(actor="c", role="collector", branch="B2",
                                       portfolio=frozenset(b2(i) for i in range(1, 100, 3)))}
    days = workdays(14)
    events = ordinary(days, tellers(), rng)
    for day in days:
        events += [read(day, 9 + rng.random() * 8, "c", rng.choice(sorted(who["c"].portfolio))) for _ in range(10)]
    first = [b1(i * 10) for i in range(1, 7)]
    events += [read(days[-6], 14 + k / 30, "c", cid) for k, cid in enumerate(first)]
    today = first if same else [b1(i * 10) for i in range(11, 17)]
    events += [read(days[-1], 14 + k / 30, "c", cid) for k, cid in enumerate(today)]
    return [a for a in run(events, who) if a.actor == "c" and a.scenario == "out_of_scope"
            and a.window_start >= utc(days[-1], 0)]


def test_clients_worked_with_on_an_earlier_day_are_the_persons_own() -> None:
    assert _again(same=False), "six wealthy clients of another branch, new to them"
    assert not _again(same=True), "the same ones they worked on last week"
