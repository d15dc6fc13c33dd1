"""The activity simulator: realistic distributions, consistent labels, exact export layout, real audit path.

Small worlds (tens of people, two to three weeks) keep this file fast; every
check looks at what a detector or an auditor would rely on: work happens in
work hours and on working days of the Chinese calendar, labels point at real
injected events, the file is byte for byte what ``custodata audit export``
writes and its hash chain is the log's own.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from custodata.audit.canonical import GENESIS, canonical, entry_hash
from custodata.audit.log import AuditLog
from custodata.audit.query import EXPORT_COLUMNS, export
from custodata.audit.signing import CheckpointSigner
from custodata.audit.verify import verify
from custodata.cli import simulate as simulate_cli
from custodata.demo.monitoring_world_a import (
    SCENARIOS,
    SimEvent,
    Simulation,
    SimulationConfig,
    SimulationError,
    parse_scenarios,
    simulate,
    write_outputs,
)
from custodata.demo.monitoring_world_a_calendar import is_workday, local_date, local_hour
from custodata.monitoring.events import Quarantine, read_events
from custodata.monitoring.people import read_people
from custodata.ops import open_ops
from custodata.ops.store import OpsStore

DATA_ACTIONS = {"read", "search", "unmask", "export_request", "export", "download"}


def _run(tmp: Path, **kw: object) -> tuple[Simulation, Path]:
    config = SimulationConfig(**{"people": 60, "days": 14, "seed": 3, **kw})  # type: ignore[arg-type]
    sim = simulate(config)
    write_outputs(sim, tmp)
    return sim, tmp


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulation, list[SimEvent], Path]:
    out = tmp_path_factory.mktemp("sim")
    sim = simulate(SimulationConfig(people=90, days=21, seed=11, inject=SCENARIOS, cases_per_scenario=1))
    write_outputs(sim, out)
    return sim, list(sim.events()), out


def test_world_has_the_roles_kinds_and_customers_of_a_bank() -> None:
    sim = simulate(SimulationConfig(people=200, days=1, seed=5))
    roles = Counter(p.role for p in sim.people)
    kinds = Counter(p.kind for p in sim.people)
    assert set(roles) >= {"front_desk", "outsourced_agent", "marketer", "analyst", "data_steward", "auditor"}
    assert roles["front_desk"] > roles["marketer"] > roles["analyst"]
    assert set(kinds) == {"employee", "outsourced", "partner"}
    values = Counter(sim.customers.value_class)
    assert values["individual"] / len(sim.customers) > 0.8
    assert 0 < values["high_net_worth"] < values["sme"]
    for p in sim.people:
        if p.role == "outsourced_agent":
            assert p.portfolio, p.actor
            assert all(p.branch in sim.customers.branches[c] for c in p.portfolio)
        else:
            assert not p.portfolio


def test_activity_follows_the_local_working_day(tmp_path: Path) -> None:
    sim, _ = _run(tmp_path)
    hours = [local_hour(e.at) for e in sim.events() if e.action in DATA_ACTIONS]
    in_hours = sum(7.5 <= h <= 22.0 for h in hours) / len(hours)
    assert in_hours > 0.99
    desk = [local_hour(e.at) for e in sim.events() if e.role == "front_desk" and e.action == "read"]
    morning = sum(10.0 <= h < 11.0 for h in desk)
    lunch = sum(12.25 <= h < 13.25 for h in desk)
    assert lunch < 0.4 * morning  # the lunch dip


def test_holidays_and_weekends_are_quiet_and_makeup_days_are_worked() -> None:
    # 2026-02-14 (Saturday) is worked to make up for the Spring Festival, 15–23 February are off
    sim = simulate(SimulationConfig(people=60, days=16, start=dt.date(2026, 2, 9), seed=4))
    per_day = Counter(local_date(e.at) for e in sim.events() if e.action in DATA_ACTIONS)
    workdays = [d for d in sim.dates if is_workday(d)]
    assert dt.date(2026, 2, 14) in workdays and dt.date(2026, 2, 16) not in workdays
    busy = sum(per_day[d] for d in workdays) / len(workdays)
    assert per_day[dt.date(2026, 2, 14)] > 0.7 * busy
    for day in sim.dates:
        if not is_workday(day):
            assert per_day[day] < 0.05 * busy, day


def test_the_batch_reporting_analyst_reads_hundreds_of_customers_every_working_day(tmp_path: Path) -> None:
    sim, _ = _run(tmp_path)
    analysts = {p.actor for p in sim.people if p.role == "analyst"}
    distinct: dict[tuple[str, dt.date], set[str]] = defaultdict(set)
    for e in sim.events():
        if e.actor in analysts and e.action == "read":
            distinct[(e.actor, local_date(e.at))].update(e.customer_ids)
    workdays = [d for d in sim.dates if is_workday(d)]
    counts = [len(distinct[(a, d)]) for a in analysts for d in workdays]
    assert analysts and min(counts) > 200


def test_labels_point_at_injected_events(injected: tuple[Simulation, list[SimEvent], Path]) -> None:
    sim, events, out = injected
    labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    assert {label["scenario"] for label in labels} == set(SCENARIOS)
    by_actor: dict[str, list[SimEvent]] = defaultdict(list)
    for e in events:
        by_actor[e.actor].append(e)
    for label in labels:
        start, end = (dt.datetime.fromisoformat(label[k].rstrip("Z")) for k in ("start", "end"))
        first = dt.datetime.fromisoformat(label["first_bad_event_at"].rstrip("Z"))
        assert start <= first < end, label
        assert label["events"] > 0 and label["strength"] in ("weak", "medium", "strong")
        assert any(e.at == first for a in label["actors"] for e in by_actor[a]), label
    people = read_people(out / "people.csv")
    for label in labels:
        if label["scenario"] == "departing_exfiltration":
            person = people[label["actor"]]
            assert person.status in ("leaving", "transferred")
            assert person.status_date is not None and person.status_date.isoformat() >= label["end"][:10]
        if label["scenario"] == "shared_customers":
            assert len(label["actors"]) >= 4
            readers: dict[str, set[str]] = defaultdict(set)
            for a in label["actors"]:
                for e in by_actor[a]:
                    if e.action == "read":
                        for c in e.customer_ids:
                            readers[c].add(a)
            assert sum(len(r) == len(label["actors"]) for r in readers.values()) >= 10


def test_injected_scenarios_differ_from_normal_days(injected: tuple[Simulation, list[SimEvent], Path]) -> None:
    sim, events, _ = injected
    case = {c.scenario: c for c in sim.cases}
    unmasks = Counter((e.actor, local_date(e.at)) for e in events if e.action == "unmask")
    c = case["repeated_unmask"]
    usual = max(n for (a, d), n in unmasks.items() if a != c.actor)
    assert unmasks[(c.actor, c.days[0])] >= 12 and unmasks[(c.actor, c.days[0])] > usual
    failed = Counter(e.actor for e in events if e.action == "login" and e.result == "failed")
    burst = case["failed_login_burst"]
    assert failed[burst.actor] >= 6 > max(n for a, n in failed.items() if a != burst.actor)
    night = case["off_hours_bulk"]
    late = [e for e in events if e.actor == night.actor and e.action == "read"
            and (not is_workday(local_date(e.at)) or not 7 <= local_hour(e.at) < 21)]
    assert len(late) >= 30


def test_file_is_the_audit_export_layout_with_the_logs_hash_chain(
        injected: tuple[Simulation, list[SimEvent], Path]) -> None:
    _, events, out = injected
    prev = GENESIS
    lines = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(events)
    for n, line in enumerate(lines[:3000], start=1):
        record = json.loads(line)
        assert tuple(record) == EXPORT_COLUMNS
        stored = {k: ("" if record[k] is None else record[k]) for k in EXPORT_COLUMNS}
        stored["at"] = dt.datetime.fromisoformat(record["at"].rstrip("Z"))
        for k in ("customer_ids", "fields"):
            stored[k] = json.dumps(record[k], ensure_ascii=False, separators=(",", ":"))
        stored["detail"] = json.dumps(record["detail"], ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        assert record["seq"] == n and record["prev_hash"] == prev
        assert record["hash"] == entry_hash(canonical(prev, stored))
        prev = record["hash"]
    times = [json.loads(line)["at"] for line in lines]
    assert times == sorted(times)
    quarantine = Quarantine()
    assert sum(1 for _ in read_events(out / "events.jsonl", quarantine)) == len(events)
    assert quarantine.rejected == 0 and quarantine.reconciles


def test_csv_events_read_back_the_same(tmp_path: Path) -> None:
    sim = simulate(SimulationConfig(people=20, days=3, seed=2))
    write_outputs(sim, tmp_path / "j")
    write_outputs(sim, tmp_path / "c", fmt="csv")
    from_json = list(read_events(tmp_path / "j" / "events.jsonl"))
    quarantine = Quarantine()
    from_csv = list(read_events(tmp_path / "c" / "events.csv", quarantine))
    assert quarantine.rejected == 0 and from_csv == from_json


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    kw = {"people": 30, "days": 10, "inject": ("hoarding", "multi_address"), "cases_per_scenario": 2}
    _run(tmp_path / "a", **kw)
    _run(tmp_path / "b", **kw)
    _run(tmp_path / "c", **{**kw, "seed": 99})
    for name in ("events.jsonl", "people.csv", "customers.csv", "labels.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "events.jsonl").read_bytes() != (tmp_path / "c" / "events.jsonl").read_bytes()


def test_a_customers_file_is_reused(tmp_path: Path) -> None:
    _run(tmp_path / "a", people=20, days=2)
    sim, _ = _run(tmp_path / "b", people=20, days=2, seed=8, customers_file=tmp_path / "a" / "customers.csv")
    assert (tmp_path / "a" / "customers.csv").read_bytes() == (tmp_path / "b" / "customers.csv").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,value_class,branches\nC1,royalty,北京朝阳支行\n", encoding="utf-8")
    with pytest.raises(SimulationError, match="line 2"):
        simulate(SimulationConfig(people=5, days=1, customers_file=bad))


def test_bad_requests_are_refused_clearly() -> None:
    with pytest.raises(SimulationError, match="unknown scenario 'hoard'"):
        parse_scenarios(["hoard"])
    assert parse_scenarios(["all"]) == SCENARIOS
    assert parse_scenarios(["hoarding,multi_address", "hoarding"]) == ("hoarding", "multi_address")
    with pytest.raises(SimulationError, match="not enough people"):
        simulate(SimulationConfig(people=8, days=10, inject=("shared_customers",), cases_per_scenario=3))
    with pytest.raises(SimulationError, match="days must be at least 1"):
        SimulationConfig(days=0)


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    store = open_ops(ops_url)
    yield store
    store.close()


def test_through_service_appends_a_verifiable_chain_identical_to_the_file(ops: OpsStore, tmp_path: Path) -> None:
    sim = simulate(SimulationConfig(people=14, days=3, seed=6, inject=("failed_login_burst",), cases_per_scenario=1))
    signer = CheckpointSigner.for_out_dir(tmp_path / "svc")
    log = AuditLog(ops, signer, checkpoint_every=500)
    result = write_outputs(sim, tmp_path / "through", log=log, batch=300)
    report = verify(ops, signer.public_key)
    assert report.ok, report.problem
    assert report.checked == result.events > 1000 and report.checkpoints >= 2
    write_outputs(sim, tmp_path / "direct")
    assert (tmp_path / "through" / "events.jsonl").read_bytes() == (tmp_path / "direct" / "events.jsonl").read_bytes()
    export(ops, tmp_path / "export.jsonl")
    assert (tmp_path / "export.jsonl").read_bytes() == (tmp_path / "direct" / "events.jsonl").read_bytes()


def test_cli_writes_the_four_files_and_refuses_bad_input(tmp_path: Path) -> None:
    app = typer.Typer()
    simulate_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps Typer from collapsing the group
    runner = CliRunner()
    res = runner.invoke(app, ["simulate-activity", "--people", "40", "--days", "9", "--inject",
                              "hoarding,repeated_unmask", "--cases", "2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"events.jsonl", "people.csv", "customers.csv",
                                                             "labels.json"}
    assert len(json.loads((tmp_path / "o" / "labels.json").read_text(encoding="utf-8"))) == 4
    assert len(read_people(tmp_path / "o" / "people.csv")) == 40
    res = runner.invoke(app, ["simulate-activity", "--inject", "teleport", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "unknown scenario 'teleport'" in res.output
    assert "Traceback" not in res.output
