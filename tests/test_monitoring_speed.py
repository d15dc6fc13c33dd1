"""The fast paths of a whole-file run give exactly what the checked paths give (issue 13 point 4).

``custodata detect`` reads records in the export's exact shape without the per-field
conversions, scores the anomaly model by walking the fitted trees itself, and judges
slow hoarding against a bar worked out once a day; each must agree with the slow path
it replaces, including on the near-misses that have to fall back to it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from custodata.cli.app import app
from custodata.monitoring import MonitorEvent, Quarantine, read_events, write_events, write_people
from custodata.monitoring.anomaly import AnomalyModel
from custodata.monitoring.config import AnomalySettings
from custodata.monitoring.events import BadEvent, _fast_event, event_from_record, parse_time
from custodata.monitoring.people import PersonInfo

GOOD: dict[str, Any] = {
    "seq": 7, "at": "2026-03-02T01:02:03.456789Z", "actor": "u1", "role": "teller", "branch": "B1",
    "action": "read", "result": "ok", "customer_ids": ["C1", "C2"], "customer_count": 2, "fields": ["name"],
    "purpose": "service", "source_address": "10.0.0.1", "reason": None, "detail": {"request_id": "r1"},
    "system": "custodata",
}
# each a record the fast path must hand to the checked one (which converts it or refuses it)
NEAR_MISSES: list[dict[str, Any]] = [
    {"action": "READ"}, {"action": "nonsense"}, {"action": ["read"]}, {"result": "OK"}, {"result": ""},
    {"result": "bad"}, {"actor": ""}, {"actor": "x" * 300}, {"actor": 42}, {"branch": 101}, {"role": "r" * 200},
    {"customer_ids": "C1;C2"}, {"customer_ids": ["C1", 2]}, {"customer_count": True}, {"customer_count": -1},
    {"customer_count": 3.0}, {"customer_count": "5"}, {"seq": "9"}, {"fields": "name;mobile"}, {"detail": "{}"},
    {"detail": "not json"}, {"detail": []}, {"at": " 2026-03-02T01:02:03z "}, {"at": "2026-03-02T09:02:03+08:00"},
    {"at": "2026-03-02T01:02:03"}, {"at": "2026-03-02T09:02:03+08:00Z"}, {"at": "0001-01-01T00:00:00+08:00"},
    {"at": "yesterday"}, {"at": None}, {"at": 1700000000}, {"system": ""}, {"purpose": ""}, {"customer_ids": None},
]


def checked(record: dict[str, Any]) -> MonitorEvent | str:
    try:
        return event_from_record(record)
    except BadEvent as exc:
        return f"error: {exc}"


def fast_or_checked(record: dict[str, Any]) -> MonitorEvent | str:
    try:
        return _fast_event(record) or event_from_record(record)
    except BadEvent as exc:
        return f"error: {exc}"


def test_a_record_in_the_exact_shape_takes_the_fast_path_and_gives_the_same_event() -> None:
    fast = _fast_event(GOOD)
    assert fast is not None
    assert fast == event_from_record(GOOD)
    assert fast.at == dt.datetime(2026, 3, 2, 1, 2, 3, 456789)
    assert _fast_event({"at": "2026-03-02T01:02:03Z", "actor": "u", "action": "login"}) == event_from_record(
        {"at": "2026-03-02T01:02:03Z", "actor": "u", "action": "login"})


@pytest.mark.parametrize("change", NEAR_MISSES, ids=lambda c: f"{next(iter(c))}={str(next(iter(c.values())))[:20]}")
def test_near_misses_fall_back_and_agree_with_the_checked_path(change: dict[str, Any]) -> None:
    record = {**GOOD, **change}
    assert fast_or_checked(record) == checked(record)


def test_times_in_utc_whatever_their_offset() -> None:
    assert parse_time("2026-03-02T09:02:03+08:00") == dt.datetime(2026, 3, 2, 1, 2, 3)
    assert parse_time("2026-03-01T20:02:03-05:00") == dt.datetime(2026, 3, 2, 1, 2, 3)
    assert parse_time("2026-03-02T01:02:03Z") == dt.datetime(2026, 3, 2, 1, 2, 3)
    with pytest.raises(BadEvent, match="out of range"):
        parse_time("0001-01-01T00:00:00+08:00")
    with pytest.raises(BadEvent, match="not an ISO 8601"):
        parse_time("2026-03-02T09:02:03+08:00Z")


def test_the_file_reader_counts_fast_and_checked_lines_alike(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(GOOD), json.dumps({**GOOD, "action": "READ"}), json.dumps({**GOOD, "actor": ""}),
             json.dumps({**GOOD, "customer_ids": "C3;C4"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    quarantine = Quarantine()
    events = list(read_events(path, quarantine))
    assert [e.customer_ids for e in events] == [("C1", "C2"), ("C1", "C2"), ("C3", "C4")]
    assert (quarantine.read, quarantine.accepted, quarantine.rejected) == (4, 3, 1)
    assert quarantine.lines == [(3, "actor: missing")]


def test_the_tree_walk_scores_exactly_as_the_forest_does() -> None:
    rng = np.random.default_rng(5)
    rows = (rng.normal(size=(1500, 12)) * rng.uniform(0.1, 3.0, size=12)).tolist()
    model = AnomalyModel(AnomalySettings(min_samples=100, n_estimators=60, seed=3))
    model.fit(rows)
    assert model.fitted and model._forest is None, "grown only when first asked for a score"
    probes = [*(rng.normal(size=(200, 12)) * 4).tolist(), *rows[:50], [0.0] * 12, [30.0] * 12]
    forest = model.forest
    assert forest is not None
    expected = -forest.score_samples(np.asarray(probes, dtype=float))
    got = np.array([model.score(p) for p in probes])
    assert np.max(np.abs(expected - got)) < 1e-12
    assert got.min() < 0.5 < got.max()  # the probes are not all alike: the comparison means something


def test_cli_detect_writes_alerts_grouped_by_person_and_day(tmp_path: Path) -> None:
    start = dt.datetime(2026, 3, 2, 1, 0)  # 09:00 in Shanghai on a Monday
    events = [MonitorEvent(at=start + dt.timedelta(seconds=10 * i), actor="u1", action="login", result="failed",
                           source_address="10.0.0.9") for i in range(8)]
    events += [MonitorEvent(at=start + dt.timedelta(hours=2, seconds=10 * i), actor="u1", action="login",
                            result="failed", source_address="10.0.0.9") for i in range(8)]
    write_events(tmp_path / "events.jsonl", events)
    write_people(tmp_path / "people.csv", [PersonInfo(actor="u1", role="teller", branch="B1")])
    result = CliRunner().invoke(app, ["detect", "--events", str(tmp_path / "events.jsonl"), "--people",
                                      str(tmp_path / "people.csv"), "--out", str(tmp_path / "alerts.json")])
    assert result.exit_code == 0, result.output
    body = json.loads((tmp_path / "alerts.json").read_text(encoding="utf-8"))
    assert len(body["alerts"]) == 2
    assert body["freeze_at"] == "high"
    [day] = body["by_person_day"]
    assert day["actor"] == "u1" and day["day"] == "2026-03-02"
    assert sorted(day["alerts"]) == sorted(a["alert_id"] for a in body["alerts"])
    assert day["scenarios"] == ["failed_login_burst"]
    assert "person-days to review" in result.output
