"""Insider-leak monitoring figures on held-out seeds of three simulators written apart.

    python benchmarks/monitoring.py [--simulators a,b,c] [--seeds 11] [--people 300] [--days 45]
                                    [--cases 3] [--chunk-minutes 1] [--cli] [--data DIR] [--json FILE]

The rules were tuned on seed 7 of simulator A (``custodata.demo.monitoring_world_a``);
the figures are for other seeds of A and of world B (``custodata.demo.monitoring_world_b``,
its own code and assumptions, by the engineer who tuned the rules) and world C
(``custodata.demo.monitoring_world_c``, by an engineer who never read the detection
code, from the documented inputs only).  Each simulator writes ``events.jsonl``, ``people.csv``,
``customers.csv`` and ``labels.json`` (each scenario injected ``--cases`` times,
strengths cycling weak/medium/strong); the events are read back with the
monitoring's own reader and fed to :class:`custodata.monitoring.Monitor` in time
order, one ``--chunk-minutes`` slice of event time per ``feed`` call, as the
service feeds it.  Two speeds: **in-process** (only the ``feed`` calls timed) and
the **CLI path** (reading and parsing the file and detecting, wall clock; with
``--cli`` the real ``custodata detect`` process on the same file, writing its JSON).

Counting:

* a case is **detected** when an alert of its scenario (and, reported apart,
  of any scenario) names one of its actors, its window overlaps the case's
  window and it was raised at or after the case's first bad event;
* **time to alert** is, in event time, the alert's ``detected_at`` (the time of
  the event that raised it; the end of its chunk if the monitor gives none)
  minus the case's first bad event;
* a **false-positive person-day** is a (person, local day) with an alert that
  matches no case of that person; the rate is over people × simulated days,
  counted for alerts of any severity, of *medium* or more (what the officer's
  queue shows) and at the freeze severity (``actions.freeze_at``);
* **false freezes per 1,000 staff per month** = false-positive person-days at the
  freeze severity / people × 1,000 × 30 / days.

Targets (issue #13): ≥ 95 % detected, ≤ 0.5 % false-positive person-days, ≤ 0.05 % at
the freeze severity, ≥ 1,000,000 events per minute on the CLI path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custodata.demo.monitoring_world_a import SCENARIOS, SimulationConfig, write_outputs
from custodata.demo.monitoring_world_a import simulate as simulate_a
from custodata.demo.monitoring_world_a_calendar import local_date
from custodata.demo.monitoring_world_b import simulate_b
from custodata.demo.monitoring_world_c import simulate_c
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
from custodata.monitoring.alerts import severity_rank

TARGET_DETECTION = 0.95
TARGET_FP_PERSON_DAYS = 0.005
TARGET_FP_FREEZE = 0.0005
TARGET_EVENTS_PER_MINUTE = 1_000_000
TUNED_ON = ("a", 7)  # the one simulator seed the rules were tuned on: never reported as held out


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
             roles: Mapping[str, str] | None = None, freeze_at: str | None = "high") -> dict[str, Any]:
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
            "by_strength_any": {s: f"{sum(c['detected_any'] for c in mine if c['strength'] == s)}/"
                                   f"{sum(1 for c in mine if c['strength'] == s)}"
                                for s in ("weak", "medium", "strong") if any(c["strength"] == s for c in mine)},
        }
    false_positive = [r for r in raised if not any(r.alert.actor in lb.actors and _overlaps(r.alert, lb)
                                                   for lb in labels)]
    fp_days = {(r.alert.actor, local_date(r.detected)) for r in false_positive}
    freeze = freeze_at if freeze_at is not None else "high"
    fp_medium = {(r.alert.actor, local_date(r.detected)) for r in false_positive
                 if severity_rank(r.alert.severity) >= severity_rank("medium")}
    fp_freeze = {(r.alert.actor, local_date(r.detected)) for r in false_positive
                 if severity_rank(r.alert.severity) >= severity_rank(freeze)}
    true_days = {(r.alert.actor, local_date(r.detected)) for r in raised
                 if any(r.alert.actor in lb.actors and _overlaps(r.alert, lb) for lb in labels)}
    precision = {}
    for severity in ("medium", "high", "critical"):
        fp_n = len({(r.alert.actor, local_date(r.detected)) for r in false_positive
                    if severity_rank(r.alert.severity) >= severity_rank(severity)})
        tp_n = len({(r.alert.actor, local_date(r.detected)) for r in raised if severity_rank(r.alert.severity)
                    >= severity_rank(severity)} & true_days)
        precision[severity] = {"true_person_days": tp_n, "false_person_days": fp_n,
                               "precision": tp_n / (tp_n + fp_n) if tp_n + fp_n else None,
                               "false_per_1000_staff_month": fp_n / people * 1000 * 30 / days if people else None}
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
        "false_positive_person_days_medium": len(fp_medium),
        "false_positive_rate_medium": len(fp_medium) / (people * days) if people * days else None,
        "freeze_at": freeze,
        "false_positive_person_days_freeze": len(fp_freeze),
        "false_positive_rate_freeze": len(fp_freeze) / (people * days) if people * days else None,
        "false_freezes_per_1000_staff_month": len(fp_freeze) / people * 1000 * 30 / days if people else None,
        "precision_by_severity": precision,
        "false_positive_person_days_by_role": dict(Counter(
            (roles or {}).get(a, "?") for a, _ in fp_days)),
        "median_seconds_to_alert": statistics.median(delays) if delays else None,
        "median_seconds_to_any_alert": statistics.median(delays_any) if delays_any else None,
        "missed": [c for c in cases if not c["detected"]],
    }


def simulate(simulator: str, people: int, days: int, cases: int, seed: int, data: Path) -> tuple[int, float]:
    """Write one simulator's files into ``data``; returns (events, seconds)."""
    started = time.perf_counter()
    if simulator == "a":
        sim = simulate_a(SimulationConfig(people=people, days=days, inject=SCENARIOS, cases_per_scenario=cases,
                                          seed=seed))
        n = write_outputs(sim, data).events
    elif simulator == "b":
        n = simulate_b(data, people=people, days=days, seed=seed, cases_per_kind=cases)
    elif simulator == "c":
        n = simulate_c(data, people=people, days=days, seed=seed, cases_per_kind=cases)
    else:
        raise SystemExit(f"unknown simulator '{simulator}': a, b or c")
    return n, time.perf_counter() - started


def run(people: int, days: int, cases: int, seed: int, minutes: float, data: Path,
        say: Any = print, simulator: str = "a", cli: bool = False, config: MonitorConfig | None = None
        ) -> dict[str, Any]:
    """Simulate, detect in one-minute feeds (in-process) and on the CLI path, and count (see the module doc)."""
    n_events, gen_seconds = simulate(simulator, people, days, cases, seed, data)
    say(f"simulator {simulator} seed {seed}: {people} people × {days} days, {n_events:,} events "
        f"in {gen_seconds:.1f}s → {data}")
    labels = [Label.from_dict(d) for d in json.loads((data / "labels.json").read_text(encoding="utf-8"))
              if d.get("first_bad_event_at")]
    config = config or load_config()
    people_info = read_people(data / "people.csv")
    customers = read_customers(data / "customers.csv")
    monitor = Monitor(config, people_info, customers)
    quarantine = Quarantine()
    say(f"  detecting, fed in {minutes:g}-minute slices of event time …")
    started = time.perf_counter()
    raised, fed, seconds = run_monitor(monitor, read_events(data / "events.jsonl", quarantine), minutes)
    wall = time.perf_counter() - started
    # the CLI path: read, parse and detect the whole file in one feed, as ``custodata detect`` does
    started = time.perf_counter()
    Monitor(config, read_people(data / "people.csv"), read_customers(data / "customers.csv")).feed(
        read_events(data / "events.jsonl", Quarantine()))
    cli_path = time.perf_counter() - started
    cli_process = None
    if cli:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "custodata.cli", "detect", "--events", str(data / "events.jsonl"),
                        "--people", str(data / "people.csv"), "--customers", str(data / "customers.csv"),
                        "--out", str(data / "alerts.json")], check=True, capture_output=True)
        cli_process = time.perf_counter() - started
    result = evaluate(labels, raised, len(people_info), days, {a: p.role for a, p in people_info.items()},
                      config.actions.freeze_at)
    result.update({
        "simulator": simulator, "held_out": (simulator, seed) != TUNED_ON,
        "people": len(people_info), "days": days, "seed": seed, "cases_per_scenario": cases, "chunk_minutes": minutes,
        "events": fed, "events_rejected": quarantine.rejected, "generate_seconds": round(gen_seconds, 2),
        "detect_seconds": round(seconds, 2), "read_and_detect_seconds": round(wall, 2),
        "events_per_second": fed / seconds if seconds else None,
        "events_per_minute": 60 * fed / seconds if seconds else None,
        "cli_path_seconds": round(cli_path, 2), "cli_path_events_per_minute": 60 * fed / cli_path,
        "cli_process_seconds": None if cli_process is None else round(cli_process, 2),
        "cli_process_events_per_minute": None if cli_process is None else 60 * fed / cli_process,
    })
    cli_rate = result["cli_process_events_per_minute"] or result["cli_path_events_per_minute"]
    result["targets"] = {
        "detection_rate>=0.95": (result["detection_rate"] or 0) >= TARGET_DETECTION,
        "false_positive_rate<=0.005": (result["false_positive_rate"] or 0) <= TARGET_FP_PERSON_DAYS,
        "false_positive_rate_freeze<=0.0005": (result["false_positive_rate_freeze"] or 0) <= TARGET_FP_FREEZE,
        "cli_events_per_minute>=1M": (cli_rate or 0) >= TARGET_EVENTS_PER_MINUTE,
    }
    return result


def report(result: dict[str, Any]) -> str:
    held = "held-out" if result.get("held_out", True) else "TUNED ON (not a held-out figure)"
    lines = [f"simulator {result.get('simulator', 'a')}, seed {result['seed']} ({held}): {result['people']} people × "
             f"{result['days']} days, {result['events']:,} events",
             f"{'scenario':<24} {'cases':>5} {'own':>4} {'any':>4}  own scenario by strength | any scenario"]
    for scenario, s in result["per_scenario"].items():
        strengths = " ".join(f"{k}={v}" for k, v in s["by_strength"].items())
        strengths_any = " ".join(f"{k}={v}" for k, v in s["by_strength_any"].items())
        lines.append(f"{scenario:<24} {s['cases']:>5} {s['detected']:>4} {s['detected_any']:>4}  {strengths} | "
                     f"{strengths_any}")

    def pct(x: float | None, digits: int = 1) -> str:
        return "n/a" if x is None else f"{x:.{digits}%}"

    def mins(x: float | None) -> str:
        return "n/a" if x is None else f"{x / 60:.1f} min"

    precision = " ".join(
        f"{sev}≥: {p['false_person_days']} false / {p['true_person_days']} true person-days "
        f"({(p['false_per_1000_staff_month'] or 0):.1f} false per 1,000 staff-months);"
        for sev, p in result["precision_by_severity"].items())
    cli = result.get("cli_process_events_per_minute")
    lines += [
        f"detection rate            {pct(result['detection_rate'])} of {result['cases']} cases "
        f"(any scenario: {pct(result['detection_rate_any_scenario'])})  target ≥ 95%",
        f"false-positive person-days {result['false_positive_person_days']} of {result['person_days']:,} = "
        f"{pct(result['false_positive_rate'], 2)} (medium or more: {result['false_positive_person_days_medium']} = "
        f"{pct(result['false_positive_rate_medium'], 2)})  target ≤ 0.5%",
        f"  at the freeze severity ({result['freeze_at']}): {result['false_positive_person_days_freeze']} = "
        f"{pct(result['false_positive_rate_freeze'], 3)}, {result['false_freezes_per_1000_staff_month']:.2f} false "
        f"freezes per 1,000 staff per month  target ≤ 0.05%",
        f"  by severity: {precision}",
        f"  false-positive person-days by role: {result['false_positive_person_days_by_role']}",
        f"  false-positive alerts by scenario/role: {result['false_positive_alerts_by_role']}",
        f"median time to alert       {mins(result['median_seconds_to_alert'])} after the first bad event "
        f"(any scenario: {mins(result['median_seconds_to_any_alert'])})",
        f"events/min in-process      {(result['events_per_minute'] or 0):,.0f} (feed calls only, "
        f"{result['events']:,} in {result['detect_seconds']:.1f}s)",
        f"events/min CLI path        {result['cli_path_events_per_minute']:,.0f} (read + parse + detect, "
        f"{result['cli_path_seconds']:.1f}s)" + (f"; custodata detect process {cli:,.0f}" if cli else "")
        + "  target ≥ 1,000,000/min",
        "targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in result["targets"].items()),
    ]
    for miss in result["missed"]:
        other = f" (raised instead: {', '.join(miss['other_scenarios'])})" if miss["other_scenarios"] else ""
        lines.append(f"  missed: {miss['scenario']} {miss['strength']} {miss['variant'] or ''} "
                     f"{miss['actor']}{other}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--simulators", default="a,b,c",
                        help="a (custodata.demo.monitoring_world_a), b (world B), c (world C)")
    parser.add_argument("--seeds", default="11", help="held-out seeds, comma-separated (the rules were tuned on a/7)")
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--cases", type=int, default=3, help="cases per scenario (strengths cycle)")
    parser.add_argument("--chunk-minutes", type=float, default=1.0)
    parser.add_argument("--cli", action="store_true", help="also time the real custodata detect process")
    parser.add_argument("--data", type=Path, help="keep the simulated files here (default: a scratch folder)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    scratch = None if args.data else Path(tempfile.mkdtemp(prefix="cd-bench-monitoring-"))
    root: Path = args.data or scratch or Path(".")
    results = []
    try:
        for simulator in args.simulators.split(","):
            for seed in (int(x) for x in args.seeds.split(",")):
                result = run(args.people, args.days, args.cases, seed, args.chunk_minutes,
                             root / f"{simulator}{seed}", simulator=simulator.strip(), cli=args.cli)
                print(report(result), flush=True)
                results.append(result)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
