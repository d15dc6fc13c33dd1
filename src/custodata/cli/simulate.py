"""``custodata simulate-activity``: staff activity with labelled insiders, for tests, benchmarks and the demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from custodata.cli.common import _clean_errors, console, operational_store
from custodata.errors import CustodataError


def register(app: typer.Typer) -> None:
    """Attach ``simulate-activity`` to the main CLI."""
    app.command("simulate-activity")(simulate_activity)


def simulate_activity(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for events.jsonl, people.csv, customers.csv, "
                                                           "labels.json.")],
    people: Annotated[int, typer.Option(help="People to simulate (employees, outsourced agents, partners).",
                                        min=1)] = 50,
    days: Annotated[int, typer.Option(help="Days to simulate, from --start.", min=1)] = 30,
    inject: Annotated[list[str] | None, typer.Option(
        help="Scenario to inject (repeat the option or separate by commas; 'all' for every one): hoarding, "
             "off_hours_bulk, out_of_scope, departing_exfiltration, repeated_unmask, failed_login_burst, "
             "shared_customers, multi_address, new_data_kind, identifier_enumeration.")] = None,
    cases: Annotated[int, typer.Option(help="Cases per injected scenario; strengths cycle weak, medium, strong.",
                                       min=1)] = 3,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
    start: Annotated[str, typer.Option(help="First day (local), ISO date.")] = "2026-03-02",
    customers: Annotated[Path | None, typer.Option(
        help="Customer universe to draw from (customer_id,value_class,branches), e.g. an earlier run's "
             "customers.csv; default: invent 100 per person.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Events file format: jsonl or csv.")] = "jsonl",
    through_service: Annotated[Path | None, typer.Option(
        "--through-service", help="Append the events through the real audit log of this output folder's "
                                  "operational store (small runs), then export them to --out.")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="SQLAlchemy URL of that store (default: CUSTODATA_DB_URL, else THROUGH_SERVICE/custodata.sqlite)."
    )] = None,
) -> None:
    """Simulate staff activity on customer data, with labelled insider scenarios injected."""
    from custodata.demo.monitoring_world_a import SimulationConfig, parse_scenarios, simulate, write_outputs

    with _clean_errors():
        try:
            first = dt.date.fromisoformat(start)
        except ValueError:
            raise CustodataError(f"--start must be an ISO date such as 2026-03-02, not {start!r}") from None
        if fmt not in ("jsonl", "csv"):
            raise CustodataError(f"--format must be jsonl or csv, not {fmt!r}")
        config = SimulationConfig(people=people, days=days, start=first, inject=parse_scenarios(inject or ()),
                                  cases_per_scenario=cases, seed=seed, customers_file=customers)
        sim = simulate(config)
        if through_service is None:
            result = write_outputs(sim, out, fmt=fmt)
        else:
            from custodata.audit.log import AuditLog

            with operational_store(through_service, db) as store:
                result = write_outputs(sim, out, fmt=fmt, log=AuditLog.for_out_dir(store, through_service))
        how = f" through the audit log of {through_service}" if through_service else ""
        console.print(f"{result.events:,} events of {result.people:,} people over {days} days{how} "
                      f"({result.cases} injected cases, {result.customers:,} customers) in {result.seconds:.1f}s "
                      f"→ {out}")
