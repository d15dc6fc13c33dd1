"""Plaintext identifiers obtained any way count as unmaskings (issue 10 points 1, 2, 4 and 13).

Each test pins the service clock to a day of its own, so the per-person counters
it uses are untouched by the other tests sharing the session's deployment.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from custodata.access import PolicyEngine, parse_document_yaml
from custodata.access.limits import Allowance, local_day, take, used
from custodata.ops import open_ops
from custodata.service import AccessDenied, Caller, Services, auth, customers
from tests.deployment import Deployment

FD, AG, MK, ST, SO = "front_desk", "outsourced_agent", "marketer", "data_steward", "security_officer"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _caller(dep: Deployment, role: str) -> Caller:
    login = dep.logins[role]
    session = auth.login(dep.svc, login.person_id, login.password, source_address="10.0.0.9")
    return auth.authenticate(dep.svc, session.token, source_address="10.0.0.9")


def _check_char(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _candidates(true_id: str) -> list[str]:
    """What a clerk who sees 1+4, the birth year and the district can list: every date of the year
    whose number ends in the four digits shown (the check character leaves about one in eleven)."""
    region, year, seq, last = true_id[:6], int(true_id[6:10]), true_id[14:17], true_id[17]
    out = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        first17 = f"{region}{day:%Y%m%d}{seq}"
        if _check_char(first17) == last:
            out.append(first17 + last)
        day += dt.timedelta(days=1)
    return out


def _home_customer_with_id(dep: Deployment) -> tuple[str, str]:
    from custodata.service.demo import branch_customers

    for cid in branch_customers(dep.svc)[dep.logins[FD].branch]:
        id_number = dep.svc.served.get(cid)["profile"].get("id_number")
        if id_number and len(id_number) == 18:
            return cid, str(id_number)
    raise AssertionError("no customer with an ID number in the front desk's branch")


def _engine_with(dep: Deployment, old: str, new: str) -> PolicyEngine:
    text = dep.svc.policies.export_yaml()
    assert old in text
    return PolicyEngine(parse_document_yaml(text.replace(old, new, 1), "test policy"))


# ---- point 1: exact-identifier search is a use of the identifier --------------------------------


def test_enumerating_id_candidates_is_stopped_by_the_daily_unmask_limit(
        deployment: Deployment, on_day: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 point 1: a clerk tried the ~32 IDs that fit a masked 1+4 one search each, unlimited and
    unseen, until one hit.  Each search is now a counted, audited use of the ID: misses cost what hits
    cost, so only 20 of the candidates get an answer in a day and the rest are refused.  (The day's
    miss cap, which stops it after 5, is turned off here: tests/test_trust_enumeration.py covers it.)"""
    svc = deployment.svc
    engine = _engine_with(deployment, "identifier_misses_per_day: 5", "identifier_misses_per_day: null")
    monkeypatch.setattr(Services, "engine", property(lambda self: engine))
    clock = on_day(dt.datetime(2026, 12, 9, 2, 0))  # Wednesday 10:00 in Shanghai
    caller = _caller(deployment, FD)
    cid, true_id = _home_customer_with_id(deployment)
    masked = customers.view(svc, caller, cid)["profile"]["id_number"]
    assert masked[0] == true_id[0] and masked[-4:] == true_id[-4:] and masked.count("*") == 13
    candidates = [c for c in _candidates(true_id) if c != true_id]
    assert len(candidates) >= 20, len(candidates)
    tries = [*candidates[:25], true_id]  # the right one comes after the day's allowance is spent
    answered, refusals = [], []
    for candidate in tries:
        clock.tick()  # one a minute: the per-minute cap is not what stops it
        try:
            answered.append(customers.search(svc, caller, id_number=candidate))
        except AccessDenied as exc:
            refusals.append(str(exc))
    assert len(answered) == 20 and all(hits == [] for hits in answered)  # misses counted too
    assert len(refusals) == len(tries) - 20
    assert all("daily unmask limit of 20 reached" in r for r in refusals)
    assert used(svc.ops, caller.person_id, local_day(clock(), "Asia/Shanghai"), "unmask:front-desk-identity") == 20
    events = svc.audit.query(actor=caller.person_id, action="search", limit=len(tries), newest_first=True)
    assert all(list(e.fields) == ["id_number"] and e.purpose == "customer_service" for e in events)
    answered_detail = {"criteria": ["id_number"], "hits": 0, "outside_scope": 0, "identifiers": ["id_number"]}
    assert [e.detail for e in events].count({**answered_detail, "outcome": "miss"}) == 20
    assert all(e.detail in ({**answered_detail, "outcome": "miss"},
                            {**answered_detail, "outcome": "refused", "limit": "unmask:front-desk-identity"})
               for e in events)
    assert not any(c in repr(e) for e in events for c in tries)  # never the numbers tried
    # and an unmask of the ID is refused the same day: it is one allowance
    with pytest.raises(AccessDenied, match="daily unmask limit of 20 reached"):
        customers.unmask(svc, caller, cid, "id_number", purpose="customer_service")


def test_identifier_searches_are_capped_per_minute(deployment: Deployment, on_day: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 point 1: 10,000 mobile candidates (3+4 shown) were tried as fast as the API answered;
    a person now gets 5 exact-identifier searches a minute (configurable), then a refusal."""
    svc = deployment.svc
    engine = _engine_with(deployment, "identifier_misses_per_day: 5", "identifier_misses_per_day: null")
    monkeypatch.setattr(Services, "engine", property(lambda self: engine))
    clock = on_day(dt.datetime(2026, 12, 10, 2, 0))
    caller = _caller(deployment, FD)
    for i in range(5):
        assert customers.search(svc, caller, mobile=f"1381234{i:04d}") == []
    with pytest.raises(AccessDenied, match="5 a minute"):
        customers.search(svc, caller, mobile="13812349999")
    clock.tick()
    customers.search(svc, caller, mobile="13812349999")
    assert customers.search(svc, caller, name="张三") is not None  # name search: no cap, no unmask right


def test_a_role_without_the_unmask_right_cannot_test_identifiers(deployment: Deployment, on_day: Any) -> None:
    """Issue 10 point 1: a marketer, who sees no ID at all, could test whether an ID is a customer's.
    Searching by ID now needs the unmask right for it; the refusal is audited with no number in it."""
    svc = deployment.svc
    on_day(dt.datetime(2026, 12, 11, 2, 0))
    _, true_id = _home_customer_with_id(deployment)
    for role in (MK, ST):
        caller = _caller(deployment, role)
        with pytest.raises(AccessDenied):
            customers.search(svc, caller, id_number=true_id)
        last = svc.audit.query(actor=caller.person_id, action="search", limit=1, newest_first=True)[0]
        assert last.result == "denied" and list(last.fields) == ["id_number"]
        assert last.detail == {"criteria": ["id_number"], "hits": 0, "outside_scope": 0,
                               "identifiers": ["id_number"], "outcome": "refused"}
        assert true_id not in repr(last)
    agent = _caller(deployment, AG)
    with pytest.raises(AccessDenied, match="no unmask rule"):
        customers.search(svc, agent, id_number=true_id)  # the agent may unmask mobiles only
    with pytest.raises(AccessDenied, match="may not state purpose"):
        customers.search(svc, _caller(deployment, FD), id_number=true_id, purpose="marketing")


# ---- point 2: a plain view of a protected field is an unmasking --------------------------------


def test_fraud_view_is_audited_as_an_unmask_and_counts_against_the_limit(
        deployment: Deployment, on_day: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 point 2: the fraud_investigation view showed every field in plain, audited as a read
    with no limit.  It is now an UNMASK of the protected fields shown, under the unmask rule's limit."""
    svc = deployment.svc
    on_day(dt.datetime(2026, 12, 14, 2, 0))
    caller = _caller(deployment, SO)
    cid, true_id = _home_customer_with_id(deployment)
    shown = customers.view(svc, caller, cid, purpose="fraud_investigation")
    assert shown["profile"]["id_number"] == true_id
    last = svc.audit.query(actor=caller.person_id, limit=1, newest_first=True)[0]
    assert last.action == "unmask" and last.result == "ok" and last.purpose == "fraud_investigation"
    assert "id_number" in last.fields
    engine = _engine_with(deployment, "max_level: 4\n      purposes: [fraud_investigation]\n",
                          "max_level: 4\n      purposes: [fraud_investigation]\n      max_per_day: 2\n")
    monkeypatch.setattr(Services, "engine", property(lambda self: engine))
    with pytest.raises(AccessDenied, match="daily unmask limit of 2 reached"):
        customers.view(svc, caller, cid, purpose="fraud_investigation")  # several protected fields: > 2
    assert svc.audit.query(actor=caller.person_id, limit=1, newest_first=True)[0].result == "denied"


@pytest.mark.parametrize(("role", "purpose"), [(SO, "customer_service"), (SO, "curiosity"),
                                               (MK, "fraud_investigation"), (FD, "fraud_investigation")])
def test_a_purpose_outside_the_role_is_refused_and_audited(deployment: Deployment, on_day: Any, role: str,
                                                           purpose: str) -> None:
    """Issue 10 point 2: any purpose was taken at its word; an unknown one, or one the role has no
    business with, is now refused and audited as a denied read."""
    svc = deployment.svc
    on_day(dt.datetime(2026, 12, 15, 2, 0))
    caller = _caller(deployment, role)
    with pytest.raises(AccessDenied, match="purpose"):
        customers.view(svc, caller, deployment.sample["in_branch"], purpose=purpose)
    last = svc.audit.query(actor=caller.person_id, action="read", limit=1, newest_first=True)[0]
    assert last.result == "denied"
    if purpose in svc.engine.masking.purposes:
        assert last.purpose == purpose
    else:  # a purpose the policy does not declare is recorded as such, never as typed (it may be a value)
        assert last.purpose is None and last.detail.get("purpose_stated") == "undeclared"


# ---- point 4: lineage and relationships in the 360° view --------------------------------------


def test_view_carries_lineage_only_for_the_lineage_permission(deployment: Deployment, on_day: Any) -> None:
    """Issue 10 point 4: roles refused by GET …/lineage got the same section inside the 360° view."""
    on_day(dt.datetime(2026, 12, 16, 2, 0))
    cid = deployment.sample["in_branch"]
    for role in (FD, MK):
        assert "lineage" not in customers.view(deployment.svc, _caller(deployment, role), cid)
    assert customers.view(deployment.svc, _caller(deployment, ST), cid)["lineage"]


def test_relationships_name_only_customers_the_caller_reaches(deployment: Deployment, on_day: Any) -> None:
    """Issue 10 point 4: a related customer outside the clerk's branch was named in the relationships."""
    from custodata.service.demo import branch_customers

    svc = deployment.svc
    on_day(dt.datetime(2026, 12, 16, 2, 0))
    branch = deployment.logins[FD].branch
    caller = _caller(deployment, FD)
    pairs = [(cid, str(r["other_id"])) for cid in branch_customers(svc)[branch]
             for r in svc.served.get(cid)["relationships"]
             if branch not in svc.served.branches_of(str(r["other_id"]))
             and not svc.directory.in_portfolio(caller.person_id, str(r["other_id"]))]
    assert pairs, "the deployment has no relationship leaving the front desk's branch"
    cid, outsider = pairs[0]
    shown = customers.view(svc, caller, cid)["relationships"]
    assert outsider not in {r["other_id"] for r in shown}
    steward = customers.view(svc, _caller(deployment, ST), cid)["relationships"]
    assert outsider in {r["other_id"] for r in steward}  # all rows: still there


# ---- point 13: the daily limit, atomic and by the institution's day ----------------------------


def test_parallel_unmasks_cannot_pass_the_daily_limit(deployment: Deployment, on_day: Any) -> None:
    """Issue 10 point 13: 60 parallel ID unmasks all counted the log before any was written, and 24
    passed a limit of 20.  The allowance is now taken by one conditional UPDATE: exactly 20 pass."""
    svc = deployment.svc
    on_day(dt.datetime(2026, 12, 17, 2, 0))
    caller = _caller(deployment, FD)
    cid, _ = _home_customer_with_id(deployment)

    def one(_: int) -> str:
        try:
            customers.unmask(svc, caller, cid, "id_number", purpose="customer_service")
            return "ok"
        except AccessDenied as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(one, range(60)))
    assert results.count("ok") == 20
    assert all("daily unmask limit of 20 reached" in r for r in results if r != "ok")
    logged = svc.audit.query(actor=caller.person_id, action="unmask", limit=60, newest_first=True)
    assert [e.result for e in logged].count("ok") == 20


def test_the_daily_limit_resets_at_the_institutions_midnight(deployment: Deployment, on_day: Any) -> None:
    """Issue 10 point 13: the day was the UTC day, so a Shanghai clerk's allowance reset at 08:00 local
    time and 00:30 still counted the previous evening.  The day is now Asia/Shanghai's (configurable)."""
    svc = deployment.svc
    clock = on_day(dt.datetime(2026, 12, 18, 15, 30))  # 23:30 in Shanghai
    caller = _caller(deployment, FD)
    cid, _ = _home_customer_with_id(deployment)
    for _ in range(20):
        customers.unmask(svc, caller, cid, "id_number", purpose="customer_service")
    with pytest.raises(AccessDenied, match="daily unmask limit of 20 reached"):
        customers.unmask(svc, caller, cid, "id_number", purpose="customer_service")
    clock.tick(3600)  # 00:30 in Shanghai, the same UTC day
    assert customers.unmask(svc, caller, cid, "id_number", purpose="customer_service")["value"]


def test_allowances_are_atomic_on_both_engines(ops_url: str) -> None:
    """Issue 10 point 13: many threads taking one allowance get exactly the limit, on SQLite and
    PostgreSQL; a request needing two allowances takes both or neither."""
    store = open_ops(ops_url)
    at = dt.datetime(2026, 12, 2, 3, 0)
    try:
        def one(_: int) -> bool:
            return take(store, "p1", [Allowance("unmask:r", "2026-12-02", 20, "limit")], at=at) is None

        with ThreadPoolExecutor(max_workers=20) as pool:
            assert sum(pool.map(one, range(60))) == 20
        assert used(store, "p1", "2026-12-02", "unmask:r") == 20
        both = [Allowance("a", "2026-12-02", 5, "a full"), Allowance("unmask:r", "2026-12-02", 20, "r full")]
        refused = take(store, "p1", both, at=at)
        assert refused is not None and refused.refusal == "r full"
        assert used(store, "p1", "2026-12-02", "a") == 0  # rolled back with the refusal
    finally:
        store.close()
    assert local_day(dt.datetime(2026, 12, 2, 16, 30), "Asia/Shanghai") == "2026-12-03"
