"""``custodata alerts``: list, show and triage monitoring alerts, or run the live monitor; verbs mirror the Python API.

Like ``custodata audit``, these commands act as ``cli:<os login name>`` — whoever
can reach the operational store from this machine — and leave a trace: reads
append an ``audit_query`` event, each triage an ``admin`` event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from custodata.cli.common import _clean_errors, cli_actor, console, err_console, services

if TYPE_CHECKING:
    from custodata.monitoring.store import AlertStore, StoredAlert
    from custodata.service.context import Services

alerts_app = typer.Typer(
    help="Monitoring alerts [安全告警]: insider hoarding and leaks found in the audit log; list, show, triage.",
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the operational store and keys.")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="SQLAlchemy URL of the operational store (default: CUSTODATA_DB_URL, else OUT/custodata.sqlite).")]
NoteOpt = Annotated[str, typer.Option("--note", "-n", help="Why: recorded with the decision and in the audit log.")]
AlertArg = Annotated[str, typer.Argument(help="The alert's id, e.g. hoarding-1f3a9c0d2b4e5f60.")]


def register(app: typer.Typer) -> None:
    """Attach ``alerts`` to the main CLI."""
    app.add_typer(alerts_app, name="alerts")


@contextmanager
def _services(out: Path, db: str | None) -> Iterator[Services]:
    """The deployment's services (audit log with its signing key); driver errors become one clean line."""
    with services(out, db) as svc:
        yield svc


def _store(svc: Services) -> AlertStore:
    from custodata.monitoring.store import AlertStore

    return AlertStore(svc.ops, svc.audit)


def _record_read(svc: Services, detail: dict[str, object]) -> None:
    from custodata.audit.events import Action, AuditEvent

    svc.audit.append(AuditEvent(actor=cli_actor(), action=Action.AUDIT_QUERY,
                                detail={"target": "alerts", **{k: v for k, v in detail.items() if v is not None}}))


def _table(alerts: list[StoredAlert]) -> Table:
    table = Table(title="安全告警 Alerts")
    for col in ("alert", "severity", "scenario", "person", "window (UTC)", "score", "status", "action", "summary"):
        table.add_column(col)
    for a in alerts:
        table.add_row(a.alert_id, a.severity, a.scenario, a.actor,
                      f"{a.window_start:%Y-%m-%d %H:%M} – {a.window_end:%H:%M}", f"{a.score:.1f}", a.status,
                      a.action_taken or "", a.summary)
    return table


@alerts_app.command("list")
def list_cmd(
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    status: Annotated[str | None, typer.Option(
        "--status", help="open | acknowledged | false_positive | escalated (default: every status).")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="low | medium | high | critical.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only alerts about this person.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Show matching alerts, newest first."""
    with _clean_errors():
        with _services(out, db) as svc:
            found = _store(svc).list(status=status, severity=severity, actor=actor, limit=limit)
            _record_read(svc, {"status": status, "severity": severity, "actor": actor, "returned": len(found)})
        if as_json:
            for a in found:
                console.print_json(json.dumps(a.to_dict(), ensure_ascii=False))
            return
        console.print(_table(found) if found else "no matching alerts")


@alerts_app.command("show")
def show_cmd(alert_id: AlertArg, out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """One alert with all its evidence (JSON)."""
    with _clean_errors():
        with _services(out, db) as svc:
            alert = _store(svc).get(alert_id)
            _record_read(svc, {"alert_id": alert_id})
        console.print_json(json.dumps(alert.to_dict(), ensure_ascii=False))


def _triage(alert_id: str, status: str, note: str, out: Path, db: str | None) -> None:
    with _clean_errors():
        with _services(out, db) as svc:
            done = _store(svc).triage(alert_id, by=cli_actor(), status=status, note=note)
        console.print(f"alert {done.alert_id} ({done.scenario}, {done.actor}) is now {done.status}", highlight=False)


@alerts_app.command("ack")
def ack_cmd(alert_id: AlertArg, note: NoteOpt, out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """Acknowledge: seen, being looked into."""
    _triage(alert_id, "acknowledged", note, out, db)


@alerts_app.command("false-positive")
def false_positive_cmd(alert_id: AlertArg, note: NoteOpt, out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """Mark a false positive: the live monitor feeds it to the person's baseline on its next pass."""
    _triage(alert_id, "false_positive", note, out, db)


@alerts_app.command("escalate")
def escalate_cmd(alert_id: AlertArg, note: NoteOpt, out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """Escalate to investigation."""
    _triage(alert_id, "escalated", note, out, db)


@alerts_app.command("watch")
def watch_cmd(
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    interval: Annotated[float, typer.Option("--interval", min=1, max=60, help="Seconds between passes.")] = 30,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
) -> None:
    """Run the live monitor in the foreground (beside ``serve --workers N``, which does not run it)."""
    from custodata.monitoring.live import LiveMonitor

    with _clean_errors():
        with _services(out, db) as svc:
            live = LiveMonitor(svc, interval=interval)
            if once:
                report = live.run_once()
                console.print(f"scored {report.scored:,} events (replayed {report.replayed:,}); "
                              f"{len(report.new_alerts)} new alerts; frozen: {', '.join(report.frozen) or 'nobody'}")
                return
            err_console.print(f"monitoring every {interval:g} s; Ctrl-C to stop")
            live.start()
            try:
                while live.running:
                    time.sleep(1.0)
            finally:
                live.stop()
