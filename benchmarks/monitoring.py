"""Insider-leak monitoring figures: detection rate per scenario, false-positive person-days, time to alert, speed.

    python benchmarks/monitoring.py [--people 500] [--days 60] [--cases 6] [--seed 7]
                                    [--chunk-minutes 1] [--data DIR] [--json FILE]

The activity simulator writes ``events.jsonl``, ``people.csv``, ``customers.csv``
and ``labels.json`` (each scenario injected ``--cases`` times, strengths cycling
weak/medium/strong); the events are then read back with the monitoring's own
reader and fed to :class:`custodata.monitoring.Monitor` in time order, one
``--chunk-minutes`` slice of event time per ``feed`` call, as the service feeds
it.  Only the ``feed`` calls are timed (events scored per second); reading
and parsing the file are not.

Counting:

* a case is **detected** when an alert of its scenario (and, reported apart,
  of any scenario) names one of its actors, its window overlaps the case's
  window and it was raised at or after the case's first bad event;
* **time to alert** is, in event time, the alert's ``detected_at`` (the time of
  the event that raised it; the end of its chunk if the monitor gives none)
  minus the case's first bad event;
* a **false-positive person-day** is a (person, local day) with an alert that
  matches no case of that person; the rate is over people × simulated days.

Targets (issue #5): ≥ 95 % detected, ≤ 0.5 % false-positive person-days,
≥ 1,000,000 events scored per minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custodata.monitoring import (
    Alert,
    Monitor,
    MonitorConfig,
    MonitorEvent,
    Quarantine,
    load_config,
    read_customers,
    read_events,
    read_people,
)
from custodata.monitoring.simulate import SCENARIOS, SimulationConfig, simulate, write_outputs
from custodata.monitoring.simulate_calendar import HOLIDAYS_2026, MAKEUP_WORKDAYS_2026, local_date

TARGET_DETECTION = 0.95
TARGET_FP_PERSON_DAYS = 0.005
TARGET_EVENTS_PER_MINUTE = 1_000_000


@dataclass(frozen=True)
class Label:
    scenario: str
    strength: str
    actors: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    first_bad: dt.datetime
    variant: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        return cls(data["scenario"], data["strength"], tuple(data["actors"]), _time(data["start"]),
                   _time(data["end"]), _time(data["first_bad_event_at"]), data.get("variant"))


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.rstrip("Z"))


@dataclass(frozen=True)
class Raised:
    """An alert and the event time at which the monitor returned it."""

    alert: Alert
    at: dt.datetime

    @property
    def detected(self) -> dt.datetime:
        return self.alert.detected_at or self.at


def chunks(events: Iterable[MonitorEvent], minutes: float) -> Iterator[list[MonitorEvent]]:
    """Consecutive slices of ``minutes`` of event time (the service feeds what arrived in the last minute)."""
    width = dt.timedelta(minutes=minutes)
    chunk: list[MonitorEvent] = []
    until: dt.datetime | None = None
    for event in events:
        if until is None:
            until = event.at + width
        elif event.at >= until:
            yield chunk
            chunk = []
            until = event.at + width
        chunk.append(event)
    if chunk:
        yield chunk


def run_monitor(monitor: Monitor, events: Iterable[MonitorEvent], minutes: float) -> tuple[list[Raised], int, float]:
    """Feed chunk by chunk; returns the alerts with their event time, events fed, and seconds inside ``feed``."""
    raised: list[Raised] = []
    n, seconds = 0, 0.0
    for chunk in chunks(events, minutes):
        started = time.perf_counter()
        alerts = monitor.feed(chunk)
        seconds += time.perf_counter() - started
        n += len(chunk)
        raised.extend(Raised(a, chunk[-1].at) for a in alerts)
    return raised, n, seconds


def _overlaps(alert: Alert, label: Label) -> bool:
    return alert.window_start < label.end and alert.window_end >= label.start


def _matches(r: Raised, label: Label, same_scenario: bool) -> bool:
    return (r.alert.actor in label.actors and _overlaps(r.alert, label) and r.detected >= label.first_bad
            and (not same_scenario or r.alert.scenario == label.scenario))


def evaluate(labels: Sequence[Label], raised: Sequence[Raised], people: int, days: int,
             roles: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Detection per scenario and strength, false-positive person-days and time to alert (see the module doc)."""
    per_scenario: dict[str, dict[str, Any]] = {}
    cases: list[dict[str, Any]] = []
    for label in labels:
        own = [r for r in raised if _matches(r, label, True)]
        anyone = [r for r in raised if _matches(r, label, False)]
        delay = min(((r.detected - label.first_bad).total_seconds() for r in own), default=None)
        delay_any = min(((r.detected - label.first_bad).total_seconds() for r in anyone), default=None)
        cases.append({"scenario": label.scenario, "strength": label.strength, "actor": label.actors[0],
                      "variant": label.variant, "detected": bool(own), "detected_any": bool(anyone),
                      "seconds_to_alert": delay, "seconds_to_any_alert": delay_any,
                      "other_scenarios": sorted({r.alert.scenario for r in anyone} - {label.scenario})})
    for scenario in dict.fromkeys(label.scenario for label in labels):
        mine = [c for c in cases if c["scenario"] == scenario]
        per_scenario[scenario] = {
            "cases": len(mine), "detected": sum(c["detected"] for c in mine),
            "detected_any": sum(c["detected_any"] for c in mine),
            "rate": sum(c["detected"] for c in mine) / len(mine),
            "rate_any": sum(c["detected_any"] for c in mine) / len(mine),
            "by_strength": {s: f"{sum(c['detected'] for c in mine if c['strength'] == s)}/"
                               f"{sum(1 for c in mine if c['strength'] == s)}"
                            for s in ("weak", "medium", "strong") if any(c["strength"] == s for c in mine)},
        }
    false_positive = [r for r in raised if not any(r.alert.actor in lb.actors and _overlaps(r.alert, lb)
                                                   for lb in labels)]
    fp_days = {(r.alert.actor, local_date(r.detected)) for r in false_positive}
    delays = [c["seconds_to_alert"] for c in cases if c["seconds_to_alert"] is not None]
    delays_any = [c["seconds_to_any_alert"] for c in cases if c["seconds_to_any_alert"] is not None]
    total = len(cases)
    return {
        "cases": total,
        "detection_rate": sum(c["detected"] for c in cases) / total if total else None,
        "detection_rate_any_scenario": sum(c["detected_any"] for c in cases) / total if total else None,
        "per_scenario": per_scenario,
        "alerts": len(raised),
        "alerts_by_scenario": dict(Counter(r.alert.scenario for r in raised)),
        "false_positive_alerts": len(false_positive),
        "false_positive_alerts_by_scenario": dict(Counter(r.alert.scenario for r in false_positive)),
        "false_positive_alerts_by_role": {f"{scenario}/{role}": n for (scenario, role), n in sorted(Counter(
            (r.alert.scenario, (roles or {}).get(r.alert.actor, "?")) for r in false_positive).items())},
        "false_positive_samples": [
            {"scenario": r.alert.scenario, "actor": r.alert.actor, "role": (roles or {}).get(r.alert.actor),
             "summary": r.alert.summary} for r in false_positive[:30]],
        "false_positive_person_days": len(fp_days),
        "person_days": people * days,
        "false_positive_rate": len(fp_days) / (people * days) if people * days else None,
        "median_seconds_to_alert": statistics.median(delays) if delays else None,
        "median_seconds_to_any_alert": statistics.median(delays_any) if delays_any else None,
        "missed": [c for c in cases if not c["detected"]],
    }


def monitor_config(first: dt.date, last: dt.date, base: MonitorConfig | None = None) -> MonitorConfig:
    """The shipped settings with the simulated period's public holidays and make-up workdays filled in."""
    config = base or load_config()
    holidays = tuple(sorted(d for d in HOLIDAYS_2026 if first <= d <= last))
    extra = tuple(sorted(d for d in MAKEUP_WORKDAYS_2026 if first <= d <= last))
    hours = config.work_hours.model_copy(update={
        "holidays": tuple(sorted({*config.work_hours.holidays, *holidays})),
        "extra_workdays": tuple(sorted({*config.work_hours.extra_workdays, *extra}))})
    return config.model_copy(update={"work_hours": hours})


def run(people: int, days: int, cases: int, seed: int, minutes: float, data: Path,
        say: Any = print) -> dict[str, Any]:
    sim = simulate(SimulationConfig(people=people, days=days, inject=SCENARIOS, cases_per_scenario=cases,
                                    seed=seed))
    say(f"simulating {people} people × {days} days, {len(sim.cases)} injected cases → {data}")
    written = write_outputs(sim, data)
    say(f"  {written.events:,} events in {written.seconds:.1f}s "
        f"({written.events / written.seconds:,.0f} events/s generated and written)")
    labels = [Label.from_dict(d) for d in json.loads((data / "labels.json").read_text(encoding="utf-8"))]
    config = monitor_config(sim.dates[0], sim.dates[-1])
    people_info = read_people(data / "people.csv")
    monitor = Monitor(config, people_info, read_customers(data / "customers.csv"))
    quarantine = Quarantine()
    say(f"detecting, fed in {minutes:g}-minute slices of event time …")
    started = time.perf_counter()
    raised, fed, seconds = run_monitor(monitor, read_events(data / "events.jsonl", quarantine), minutes)
    wall = time.perf_counter() - started
    result = evaluate(labels, raised, people, days, {a: p.role for a, p in people_info.items()})
    result.update({
        "people": people, "days": days, "seed": seed, "cases_per_scenario": cases, "chunk_minutes": minutes,
        "events": fed, "events_rejected": quarantine.rejected, "generate_seconds": round(written.seconds, 2),
        "detect_seconds": round(seconds, 2), "read_and_detect_seconds": round(wall, 2),
        "events_per_second": fed / seconds if seconds else None,
        "events_per_minute": 60 * fed / seconds if seconds else None,
    })
    result["targets"] = {
        "detection_rate>=0.95": (result["detection_rate"] or 0) >= TARGET_DETECTION,
        "false_positive_rate<=0.005": (result["false_positive_rate"] or 0) <= TARGET_FP_PERSON_DAYS,
        "events_per_minute>=1M": (result["events_per_minute"] or 0) >= TARGET_EVENTS_PER_MINUTE,
    }
    return result


def report(result: dict[str, Any]) -> str:
    lines = [f"{'scenario':<24} {'cases':>5} {'detected':>9} {'rate':>6} {'any':>6}  by strength (weak/medium/strong)"]
    for scenario, s in result["per_scenario"].items():
        strengths = " ".join(f"{k}={v}" for k, v in s["by_strength"].items())
        lines.append(f"{scenario:<24} {s['cases']:>5} {s['detected']:>9} {s['rate']:>6.0%} {s['rate_any']:>6.0%}  "
                     f"{strengths}")

    def pct(x: float | None, digits: int = 1) -> str:
        return "n/a" if x is None else f"{x:.{digits}%}"

    def mins(x: float | None) -> str:
        return "n/a" if x is None else f"{x / 60:.1f} min"

    lines += [
        f"detection rate            {pct(result['detection_rate'])} of {result['cases']} cases "
        f"(any scenario: {pct(result['detection_rate_any_scenario'])})  target ≥ 95%",
        f"false-positive person-days {result['false_positive_person_days']} of {result['person_days']:,} = "
        f"{pct(result['false_positive_rate'], 2)}  target ≤ 0.5%",
        f"  false-positive alerts by scenario/role: {result['false_positive_alerts_by_role']}",
        f"median time to alert       {mins(result['median_seconds_to_alert'])} after the first bad event "
        f"(any scenario: {mins(result['median_seconds_to_any_alert'])})",
        f"events scored              {result['events']:,} in {result['detect_seconds']:.1f}s = "
        f"{(result['events_per_minute'] or 0):,.0f}/min  target ≥ 1,000,000/min",
        "targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in result["targets"].items()),
    ]
    for miss in result["missed"]:
        other = f" (raised instead: {', '.join(miss['other_scenarios'])})" if miss["other_scenarios"] else ""
        lines.append(f"  missed: {miss['scenario']} {miss['strength']} {miss['variant'] or ''} "
                     f"{miss['actor']}{other}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--cases", type=int, default=6, help="cases per scenario (strengths cycle)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-minutes", type=float, default=1.0)
    parser.add_argument("--data", type=Path, help="keep the simulated files here (default: a scratch folder)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    scratch = None if args.data else Path(tempfile.mkdtemp(prefix="cd-bench-monitoring-"))
    data = args.data or scratch
    try:
        result = run(args.people, args.days, args.cases, args.seed, args.chunk_minutes, data)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
