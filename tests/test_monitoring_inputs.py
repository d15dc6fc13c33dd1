"""Event files, people files and settings: bad input is quarantined or refused clearly, counts reconcile."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from custodata.audit.query import StoredEvent
from custodata.cli import detect as detect_cli
from custodata.errors import ConfigError
from custodata.monitoring import (
    EventFileError,
    MonitorEvent,
    PeopleFileError,
    PersonInfo,
    Quarantine,
    from_stored,
    load_config,
    load_events,
    read_customers,
    read_events,
    read_people,
    write_events,
    write_people,
)

sys.path.insert(0, str(Path(__file__).parent))
from test_monitoring_detect import history, injections, people  # noqa: E402

GOOD = ('{"seq": 1, "at": "2026-12-01T08:15:02.120331Z", "actor": "wangxy", "role": "teller", "branch": "B1", '
        '"action": "unmask", "result": "ok", "customer_ids": ["C1"], "customer_count": 1, "fields": ["mobile"], '
        '"purpose": "account opening", "source_address": "10.20.3.17", "reason": null, "detail": {"r": 1}, '
        '"system": "custodata", "prev_hash": "00", "hash": "11"}')


def test_jsonl_bad_lines_are_quarantined_with_line_numbers_and_counts_reconcile(tmp_path: Path) -> None:
    lines = [
        GOOD,
        "not json",
        '{"at": "2026-12-01T08:15:02Z", "actor": "x", "action": "teleport"}',
        '{"at": "yesterday", "actor": "x", "action": "read"}',
        '{"at": "2026-12-01T08:15:02Z", "action": "read"}',
        "",
        '{"at": "2026-12-01T16:15:02+08:00", "actor": "y", "action": "export", "customer_count": 500}',
        '[1, 2]',
        '{"at": "2026-12-01T08:15:02Z", "actor": "x", "action": "read", "customer_count": -3}',
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events, q = load_events(path)
    assert q.read == 8 and q.accepted == 2 and q.rejected == 6 and q.reconciles
    assert [n for n, _ in q.lines] == [2, 3, 4, 5, 8, 9]
    reasons = dict(q.lines)
    assert "action" in reasons[3] and "at" in reasons[4] and "actor" in reasons[5]
    second, first = events  # load_events sorts by time
    assert first.seq == 1 and first.fields == ("mobile",) and first.detail == {"r": 1}
    assert first.at == dt.datetime(2026, 12, 1, 8, 15, 2, 120331)
    assert second.at == dt.datetime(2026, 12, 1, 8, 15, 2) and second.customer_count == 500 and second.seq is None


def test_csv_in_the_export_layout_is_read_and_its_formula_guard_undone(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "seq,at,actor,role,branch,action,result,customer_ids,customer_count,fields,purpose,source_address,reason,"
        "detail,system,prev_hash,hash\n"
        '18231,2026-12-01T08:15:02.120331Z,wangxy,teller,北京朝阳支行,unmask,ok,C000000042,1,mobile,'
        'account opening,10.20.3.17,,"{""request_id"":""r-81f2""}",custodata,9f2c,41ad\n'
        "18232,2026-12-01T08:15:09.004518Z,'-,,,login,failed,,0,,,203.0.113.9,wrong password,{},custodata,41ad,77b0\n"
        "18233,2026-12-01T08:15:09Z,short,row\n"
        "18234,2026-12-01T08:15:10Z,z,,,read,maybe,,0,,,,,{},custodata,a,b\n",
        encoding="utf-8")
    q = Quarantine()
    events = list(read_events(path, q))
    assert (q.read, q.accepted, q.rejected) == (4, 2, 2) and q.reconciles
    assert [n for n, _ in q.lines] == [4, 5]
    assert events[0].customer_ids == ("C000000042",) and events[0].detail == {"request_id": "r-81f2"}
    assert events[0].branch == "北京朝阳支行"
    assert events[1].actor == "-" and events[1].result == "failed"


def test_missing_file_and_bad_header_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match="not found"):
        read_events(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.csv"
    bad.write_text("when,who\n1,2\n", encoding="utf-8")
    with pytest.raises(EventFileError, match="'at'"):
        list(read_events(bad))


def test_round_trip_through_the_file_layout(tmp_path: Path) -> None:
    event = MonitorEvent(seq=7, at=dt.datetime(2026, 1, 2, 3, 4, 5, 6), actor="a", action="read",
                         customer_ids=("C1", "C2"), fields=("name",), detail={"k": "v"}, source_address="1.2.3.4")
    assert event.customer_count == 2
    write_events(tmp_path / "e.jsonl", [event])
    events, q = load_events(tmp_path / "e.jsonl")
    assert events == [event] and q.rejected == 0


def test_from_stored_keeps_the_chain_position() -> None:
    stored = StoredEvent(actor="a", action="export", customer_count=300, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                         seq=42, hash="h", prev_hash="p")
    event = from_stored(stored)
    assert event.seq == 42 and event.customer_count == 300 and event.at.tzinfo is None


def test_people_file_round_trip_and_errors(tmp_path: Path) -> None:
    who = [PersonInfo(actor="rm1", kind="employee", role="relationship_manager", branch="B2", status="leaving",
                      status_date=dt.date(2026, 3, 1), portfolio=frozenset({"C1", "C2"}))]
    write_people(tmp_path / "p.csv", who)
    assert read_people(tmp_path / "p.csv") == {"rm1": who[0]}
    bad = tmp_path / "bad.csv"
    bad.write_text("actor,kind,role,branch,status,status_date\nx,contractor,teller,B1,active,\n", encoding="utf-8")
    with pytest.raises(PeopleFileError, match=r"line 2: kind 'contractor'"):
        read_people(bad)
    bad.write_text("actor,kind,role,branch,status,status_date\nx,employee,teller,B1,active,1 March\n",
                   encoding="utf-8")
    with pytest.raises(PeopleFileError, match="status_date"):
        read_people(bad)
    cust = tmp_path / "c.csv"
    cust.write_text("customer_id,value_class,branches\nC1,high_net_worth,B1;B2\nC2,,\n", encoding="utf-8")
    facts = read_customers(cust)
    assert facts.value_of("C1") == "high_net_worth" and facts.branches_of("C1") == {"B1", "B2"}
    assert facts.value_of("C2") is None and facts.branches_of("C3") == frozenset()


def test_settings_errors_name_the_file_and_key(tmp_path: Path) -> None:
    assert load_config().scenarios.hoarding.min_count == 40
    path = tmp_path / "m.yaml"
    path.write_text("scenarios:\n  hoarding: {min_cont: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"m.yaml: key 'scenarios.hoarding.min_cont': unknown key"):
        load_config(path)
    path.write_text("severity: {medium: 5, high: 4, critical: 8}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="ascend"):
        load_config(path)
    path.write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="IANA"):
        load_config(path)


def test_cli_detect_writes_alerts_and_prints_a_summary(tmp_path: Path) -> None:
    who = people(leaving="t3")
    events, day = history(who)
    write_events(tmp_path / "events.jsonl", events + injections(day, who))
    with (tmp_path / "events.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("garbage line\n")
    write_people(tmp_path / "people.csv", who.values())
    rng = random.Random(1)
    with (tmp_path / "customers.csv").open("w", encoding="utf-8") as fh:
        fh.write("customer_id,value_class,branches\n")
        for i in range(3000):
            fh.write(f"C{i:06d},{rng.choice(['individual', 'high_net_worth'])},{'B1' if i < 1500 else 'B2'}\n")
    app = typer.Typer()
    detect_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the group
    result = CliRunner().invoke(app, ["detect", "--events", str(tmp_path / "events.jsonl"), "--people",
                                      str(tmp_path / "people.csv"), "--customers", str(tmp_path / "customers.csv"),
                                      "--out", str(tmp_path / "alerts.json")])
    assert result.exit_code == 0, result.output
    assert "hoarding" in result.output and "1 quarantined" in result.output
    body = json.loads((tmp_path / "alerts.json").read_text(encoding="utf-8"))
    assert {a["scenario"] for a in body["alerts"]} >= {"hoarding", "failed_login_burst", "departing_exfiltration"}
    assert body["input"]["read"] == body["input"]["accepted"] + body["input"]["rejected"]
    bad = CliRunner().invoke(app, ["detect", "--events", str(tmp_path / "nope.jsonl"), "--people",
                                   str(tmp_path / "people.csv"), "--out", str(tmp_path / "a.json")])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
