"""The identifier enumeration of issue 10 point 1, replayed end to end: it recovers nothing and alerts.

A front-desk clerk sees an ID as ``3*************2568`` with the birth year and
the district; the district gives the region code, and of the year's dates about
one in eleven passes the check character, so ~32 candidates are left.  Search by
exact ID used to confirm the right one in ~20 calls, unseen.  Now every such
search is an audited use of the ID (unmask rule, daily allowance, per-minute and
per-day caps), and after ``identifier_misses_per_day`` (5) searches that show no
customer, search by identifier is refused for the rest of the institution's day.

The bound, stated honestly: a clerk can test at most 5 candidates a day, so the
chance of confirming the real ID on a day is at most 5/32 (~16 %), and a
confirmation is then one audited use of the ID against the clerk's unmask
allowance — what the clerk's own unmask rule (``front-desk-identity``, purpose
``customer_service``) grants anyway.  Trying all 32 takes 7 days of lock-outs; the
enumeration detector alerts on the first.

Each test pins the service clock to a day of its own, so the per-person counters
it uses are untouched by the other tests sharing the session's deployment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import islice
from typing import Any

from custodata.access.limits import local_day, used
from custodata.audit.query import iter_events
from custodata.monitoring import Monitor, MonitorConfig, StaticCustomers, detect
from custodata.monitoring.events import MonitorEvent, from_stored
from custodata.service import AccessDenied, customers
from custodata.service.customers import IDENTIFIER_MISS
from tests.deployment import Clock, Deployment
from tests.test_trust_identifiers import FD, _caller, _candidates, _home_customer_with_id

TZ = "Asia/Shanghai"
MISS_CAP = 5          # the shipped policy's limits.identifier_misses_per_day
ID_RULE = "unmask:front-desk-identity"


def _last_seq(dep: Deployment) -> int:
    newest = dep.svc.audit.query(limit=1, newest_first=True)
    return newest[0].seq if newest else 0


def _followed(dep: Deployment, actor: str, after: int) -> Iterator[list[MonitorEvent]]:
    """The clerk's audit events since ``after`` as the live monitor reads the log: in pages, in chain order."""
    events = map(from_stored, iter_events(dep.svc.ops, after_seq=after, actor=actor))
    while page := list(islice(events, 7)):
        yield page


def _replay(dep: Deployment, clock: Clock, tries: list[str]) -> tuple[list[tuple[str, list[Any]]], list[str]]:
    caller = _caller(dep, FD)
    answered, refusals = [], []
    for candidate in tries:
        clock.tick(20)  # three a minute: under the per-minute cap, which is not what stops it
        try:
            answered.append((candidate, customers.search(dep.svc, caller, id_number=candidate)))
        except AccessDenied as exc:
            refusals.append(str(exc))
    return answered, refusals


def test_replayed_id_enumeration_recovers_nothing_and_raises_an_alert(deployment: Deployment, on_day: Any) -> None:
    """Issue 10 point 1 (the "Done when" replay): a clerk tries every candidate for a masked 1+4 ID —
    region code from the district, each date of the birth year that passes the check character.  Only
    5 get an answer (all misses); after them search by identifier is locked for the day, so the real ID,
    and every other candidate, is refused and nothing is confirmed.  Every try is audited with the kind
    of identifier and its outcome and never the number; run over the log as the live monitor follows it,
    the enumeration detector raises an ``identifier_enumeration`` alert for the clerk."""
    svc = deployment.svc
    clock = on_day(dt.datetime(2026, 12, 21, 2, 0))  # Monday 10:00 in Shanghai
    caller = _caller(deployment, FD)
    cid, true_id = _home_customer_with_id(deployment)
    masked = customers.view(svc, caller, cid)["profile"]["id_number"]
    assert masked[0] == true_id[0] and masked[-4:] == true_id[-4:] and masked.count("*") == 13
    candidates = _candidates(true_id)
    assert true_id in candidates and 25 <= len(candidates) <= 40, len(candidates)
    # in date order, the real one placed after the day's misses (27 in 32 times it is, by chance)
    tries = [c for c in candidates if c != true_id]
    tries.insert(MISS_CAP + 3, true_id)
    start = _last_seq(deployment)

    answered, refusals = _replay(deployment, clock, tries)

    assert len(answered) == MISS_CAP and all(hits == [] for _, hits in answered)   # five misses, nothing shown
    assert true_id not in {c for c, _ in answered}                                  # the real one never answered
    assert len(refusals) == len(tries) - MISS_CAP
    assert all(r.startswith("search by identifier is locked for the rest of the day: 5 searches") for r in refusals)
    day = local_day(clock(), TZ)
    assert used(svc.ops, caller.person_id, day, IDENTIFIER_MISS) == MISS_CAP
    assert used(svc.ops, caller.person_id, day, ID_RULE) == MISS_CAP                # refusals take nothing
    # audited: kinds and outcome, the lock named, never a number tried
    events = svc.audit.query(actor=caller.person_id, action="search", limit=len(tries), newest_first=True)
    outcomes = [(e.result, e.detail.get("outcome"), e.detail.get("limit")) for e in reversed(events)]
    assert outcomes == ([("ok", "miss", None)] * MISS_CAP
                        + [("denied", "refused", IDENTIFIER_MISS)] * (len(tries) - MISS_CAP))
    assert all(e.detail["identifiers"] == ["id_number"] and list(e.fields) == ["id_number"] for e in events)
    assert not any(c in repr(e) for e in events for c in tries)
    # the lock holds for identifier search only: the customer is still found by name, and served
    name = svc.served.get(cid)["profile"]["name"]
    assert cid in {h["customer_id"] for h in customers.search(svc, caller, name=name)}

    # the detector, fed the log the way the live monitor follows it (pages after a cursor) ...
    monitor = Monitor(MonitorConfig(), {}, StaticCustomers())
    live = [a for page in _followed(deployment, caller.person_id, start) for a in monitor.feed(page)]
    found = [a for a in live if a.scenario == "identifier_enumeration" and a.actor == caller.person_id]
    assert found, [(a.scenario, a.actor) for a in live]
    alert = found[0]
    assert alert.evidence["identifier"] == "id_number" and alert.evidence["misses"] == MISS_CAP
    assert alert.severity in ("medium", "high", "critical")
    assert "ID number" in alert.summary and "身份证号" in alert.summary_zh
    assert not any(c in repr(alert.to_dict()) for c in tries)
    # ... and in one batch, as `custodata detect` reads an exported file: the same alert
    batch = detect([e for page in _followed(deployment, caller.person_id, start) for e in page], {},
                   StaticCustomers())
    assert alert.alert_id in {a.alert_id for a in batch}
    # trying on past the lock escalates (in the live monitor, high freezes the account)
    later = [a for a in found if a.evidence.get("escalates")]
    assert later and later[0].evidence["locked"] and later[0].severity in ("high", "critical")
    assert "locked for the day" in later[0].summary and "锁定" in later[0].summary_zh


def test_within_the_days_misses_a_confirmation_is_one_audited_use_of_the_id(deployment: Deployment,
                                                                           on_day: Any) -> None:
    """Issue 10 point 1, the bound: when the real ID happens to be among the first 5 tried (5 in 32,
    ~16 %), the search shows the customer — the clerk's own branch customer, masked, as the clerk's
    unmask rule would show the ID in plain on asking.  What is recovered is exactly that: one audited
    use of the ID (outcome hit, counted against the daily unmask allowance, never free), the hit given
    back from the day's miss cap.  At most 5 candidates are tried a day, so 5/32 is the daily chance."""
    svc = deployment.svc
    clock = on_day(dt.datetime(2026, 12, 22, 2, 0))
    caller = _caller(deployment, FD)
    cid, true_id = _home_customer_with_id(deployment)
    candidates = _candidates(true_id)
    assert MISS_CAP / len(candidates) <= 0.2  # the daily chance of a confirmation, at most one in five
    tries = [c for c in candidates if c != true_id][:2] + [true_id]

    answered, refusals = _replay(deployment, clock, tries)

    assert not refusals and [bool(hits) for _, hits in answered] == [False, False, True]
    shown = answered[-1][1]
    assert [h["customer_id"] for h in shown] == [cid] and "*" in str(shown[0]["name"])
    day = local_day(clock(), TZ)
    assert used(svc.ops, caller.person_id, day, ID_RULE) == 3            # every try a use of the ID
    assert used(svc.ops, caller.person_id, day, IDENTIFIER_MISS) == 2    # the hit is no miss
    last = svc.audit.query(actor=caller.person_id, action="search", limit=1, newest_first=True)[0]
    assert last.detail["outcome"] == "hit" and list(last.customer_ids) == [cid] and true_id not in repr(last)
    # three more misses and the day's identifier search is over
    more = [c for c in candidates if c not in tries][:MISS_CAP - 2 + 1]
    answered, refusals = _replay(deployment, clock, more)
    assert len(answered) == MISS_CAP - 2 and len(refusals) == 1 and "locked" in refusals[0]


def test_honest_desk_searches_raise_no_enumeration_alert() -> None:
    """False positives: a clerk who searches by ID and mobile all day, nearly always finding the customer
    at the desk, with a walk-in who is no customer yet now and then, is not taken for an enumeration."""
    t0 = dt.datetime(2026, 12, 23, 1, 0)
    events = []
    for k in range(120):  # one every four minutes over the day
        outcome = "miss" if k % 25 == 7 else "hit"
        kind = "mobile" if k % 3 else "id_number"
        events.append(MonitorEvent(
            at=t0 + dt.timedelta(minutes=4 * k), actor="desk.honest", role="front_desk", branch="B1",
            action="search", customer_ids=() if outcome == "miss" else (f"C{k:04d}",), fields=(kind,),
            detail={"criteria": [kind], "identifiers": [kind], "outcome": outcome, "hits": int(outcome == "hit")}))
    assert not [a for a in detect(events, {}, StaticCustomers()) if a.scenario == "identifier_enumeration"]
