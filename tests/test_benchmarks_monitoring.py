"""benchmarks/monitoring.py: the counting is right, and a tiny end-to-end run produces every figure.

No timing or detection-rate threshold is asserted (that is what the benchmark
reports); the counting rules are checked on hand-made alerts so a wrong
match (other person, window elsewhere, alert before the first bad event)
cannot pass unnoticed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from benchmarks import monitoring as bench

from custodata.demo.monitoring_world_a import SCENARIOS
from custodata.monitoring import Alert

T0 = dt.datetime(2026, 3, 20, 16, 0)  # local midnight, 21 March 2026


def _label(scenario: str = "hoarding", actors: tuple[str, ...] = ("ann",)) -> bench.Label:
    return bench.Label(scenario, "medium", actors, T0, T0 + dt.timedelta(days=1), T0 + dt.timedelta(hours=11),
                       None)


def _raised(scenario: str, actor: str, start: dt.datetime, detected: dt.datetime) -> bench.Raised:
    alert = Alert(alert_id=f"{scenario}-{actor}-{start:%j%H}", scenario=scenario, severity="high", actor=actor,
                  window_start=start, window_end=start + dt.timedelta(days=1), score=5.0, summary="s",
                  summary_zh="s", detected_at=detected)
    return bench.Raised(alert, detected)


def test_counting_of_detections_false_positives_and_delay() -> None:
    labels = [_label(), _label("shared_customers", ("bob", "cid", "dan", "eve"))]
    raised = [
        _raised("hoarding", "ann", T0, T0 + dt.timedelta(hours=11, minutes=30)),       # detected, 30 min
        _raised("out_of_scope", "dan", T0, T0 + dt.timedelta(hours=12)),               # shared: other scenario
        _raised("hoarding", "ann", T0 - dt.timedelta(days=5), T0 - dt.timedelta(days=4, hours=20)),  # FP: before
        _raised("hoarding", "zed", T0, T0 + dt.timedelta(hours=12)),                   # FP: nobody injected
        _raised("off_hours_bulk", "zed", T0, T0 + dt.timedelta(hours=14)),             # same FP person-day
    ]
    result = bench.evaluate(labels, raised, people=10, days=20, roles={"zed": "analyst"})
    assert result["per_scenario"]["hoarding"]["detected"] == 1
    assert result["per_scenario"]["shared_customers"]["detected"] == 0
    assert result["per_scenario"]["shared_customers"]["detected_any"] == 1
    assert result["detection_rate"] == 0.5 and result["detection_rate_any_scenario"] == 1.0
    assert result["median_seconds_to_alert"] == 30 * 60
    assert result["false_positive_alerts"] == 3
    assert result["false_positive_person_days"] == 2          # ann on 16 March, zed on 21 March
    assert result["false_positive_rate"] == 2 / 200
    assert result["false_positive_alerts_by_role"] == {"hoarding/?": 1, "hoarding/analyst": 1,
                                                       "off_hours_bulk/analyst": 1}
    assert [m["scenario"] for m in result["missed"]] == ["shared_customers"]


def test_chunks_are_slices_of_event_time() -> None:
    from custodata.monitoring import MonitorEvent

    times = [T0 + dt.timedelta(seconds=s) for s in (0, 10, 59, 60, 61, 200)]
    events = [MonitorEvent(at=t, actor="a", action="read") for t in times]
    sizes = [len(c) for c in bench.chunks(events, 1.0)]
    assert sizes == [3, 2, 1] and sum(sizes) == len(events)


def test_tiny_run_reports_every_figure(tmp_path: Path) -> None:
    result = bench.run(people=70, days=14, cases=1, seed=5, minutes=5.0, data=tmp_path, say=lambda _: None)
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").count("\n")
    assert result["events"] == lines and result["events_rejected"] == 0
    assert result["cases"] == len(SCENARIOS) and set(result["per_scenario"]) == set(SCENARIOS)
    assert all(s["detected"] <= s["detected_any"] <= s["cases"] for s in result["per_scenario"].values())
    assert 0 <= result["false_positive_rate"] <= 1 and result["person_days"] == 70 * 14
    assert result["events_per_second"] > 0
    text = bench.report(result)
    assert "detection rate" in text and "false-positive person-days" in text and "events/min CLI path" in text
    assert "freeze severity" in text and result["held_out"]
    assert 0 <= result["false_positive_rate_freeze"] <= result["false_positive_rate_medium"] \
        <= result["false_positive_rate"]
    json.dumps(result, default=str)  # the --json output is serialisable


def test_tiny_run_of_world_b(tmp_path: Path) -> None:
    result = bench.run(people=80, days=16, cases=1, seed=3, minutes=5.0, data=tmp_path, say=lambda _: None,
                       simulator="b")
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").count("\n")
    assert result["simulator"] == "b" and result["events"] == lines and result["events_rejected"] == 0
    assert set(result["per_scenario"]) <= set(SCENARIOS) and result["cases"] >= 8
    assert result["person_days"] == result["people"] * 16 and result["cli_path_events_per_minute"] > 0


def test_tiny_run_of_world_c(tmp_path: Path) -> None:
    result = bench.run(people=60, days=14, cases=1, seed=4, minutes=5.0, data=tmp_path, say=lambda _: None,
                       simulator="c")
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").count("\n")
    assert result["simulator"] == "c" and result["events"] == lines and result["events_rejected"] == 0
    assert set(result["per_scenario"]) == set(SCENARIOS) and result["cases"] == len(SCENARIOS)
    assert result["person_days"] == 60 * 14 and result["people"] == 60
    labels = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    assert {lb["strength"] for lb in labels} == {"weak"} and all(lb["first_bad_event_at"] for lb in labels)


def test_world_c_follows_the_official_calendar_and_is_reproducible(tmp_path: Path) -> None:
    from custodata.demo.monitoring_world_c import office_day, period_end, simulate_c

    assert office_day(dt.date(2026, 9, 20)) and not office_day(dt.date(2026, 10, 2))   # 调休 Sunday, National Day
    assert period_end(dt.date(2026, 9, 30)) == "quarter" and period_end(dt.date(2026, 9, 21)) == ""
    n = simulate_c(tmp_path / "one", people=50, days=12, seed=9, cases_per_kind=1, start=dt.date(2026, 9, 14))
    again = simulate_c(tmp_path / "two", people=50, days=12, seed=9, cases_per_kind=1, start=dt.date(2026, 9, 14))
    first = (tmp_path / "one" / "events.jsonl").read_text(encoding="utf-8")
    assert n == again and first == (tmp_path / "two" / "events.jsonl").read_text(encoding="utf-8")
    people = {row.split(",")[0]: row.split(",")[2] for row in
              (tmp_path / "one" / "people.csv").read_text(encoding="utf-8").splitlines()[1:]}
    by_day: dict[str, set[str]] = {}
    for line in first.splitlines():
        event = json.loads(line)
        local = dt.datetime.fromisoformat(event["at"].rstrip("Z")) + dt.timedelta(hours=8)
        if event["customer_ids"]:
            by_day.setdefault(local.date().isoformat(), set()).add(people[event["actor"]])
    assert "teller" in by_day["2026-09-20"] and "account_manager" in by_day["2026-09-20"]   # worked like a Monday
    assert "account_manager" not in by_day["2026-09-25"]        # Mid-Autumn: only rota and holiday banking
    assert "call_agent" in by_day["2026-09-25"]


def test_production_monitoring_imports_no_demo_code() -> None:
    import custodata.monitoring

    folder = Path(custodata.monitoring.__file__).parent
    importing = [p.name for p in sorted(folder.glob("*.py")) if "custodata.demo" in p.read_text(encoding="utf-8")]
    assert importing == [], f"production monitoring modules import demo code: {importing}"
