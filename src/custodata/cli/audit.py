"""``custodata audit``: verify, query, export and purge the hash-chained audit log; verbs mirror the Python API.

Whoever reads or checks the log is audited too: each command appends an
``audit_query`` or ``audit_verify`` event as ``cli:<os login name>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from custodata.cli.common import DbOpt, _clean_errors, cli_actor, console, err_console, operational_store, parse_time
from custodata.errors import CustodataError

if TYPE_CHECKING:
    from custodata.audit.log import AuditLog
    from custodata.audit.query import StoredEvent

audit_app = typer.Typer(
    help="The audit log [审计日志]: hash-chained record of every access; verify it, query it, export it.",
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the operational store and keys.")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="Audit settings YAML (retention_days ≥ 180, checkpoint_every); default CUSTODATA_AUDIT_CONFIG.")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Only events of this person (login name).")]
CustomerOpt = Annotated[str | None, typer.Option("--customer", help="Only events touching this customer id.")]
ActionOpt = Annotated[str | None, typer.Option("--action", help="Only this action, e.g. read, unmask, export, login.")]
ResultOpt = Annotated[str | None, typer.Option("--result", help="Only this result: ok, denied, failed, error.")]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", help="From this time on (ISO 8601; UTC unless an offset is given), e.g. 2026-12-01.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Before this time (ISO 8601, exclusive).")]


def register(app: typer.Typer) -> None:
    """Attach ``audit`` to the main CLI."""
    app.add_typer(audit_app, name="audit")


actor = cli_actor  # ``cli:<os login name>``


@contextmanager
def _log(out: Path, db: str | None, config: Path | None = None) -> Iterator[AuditLog]:
    """The deployed log (signing key under OUT/keys); driver errors become one clean line."""
    from custodata.audit.log import AuditLog
    from custodata.audit.retention import load_settings

    settings = load_settings(config)
    with operational_store(out, db) as store:
        yield AuditLog.for_out_dir(store, out, settings)


_time = parse_time


def _record(log: AuditLog, action: str, detail: dict[str, object], *, ok: bool = True,
            customer: str | None = None) -> None:
    """Audit the auditor: a customer looked up is named like any other access to that customer."""
    from custodata.audit.events import AuditEvent, Result

    log.append(AuditEvent(actor=actor(), action=action, result=Result.OK if ok else Result.FAILED,
                          customer_ids=[customer] if customer else (),
                          detail={k: v for k, v in detail.items() if v is not None}))


def _filters(actor_: str | None, customer: str | None, action: str | None, result: str | None,
             since: str | None, until: str | None) -> dict[str, object]:
    return {"actor": actor_, "customer_id": customer, "action": action, "result": result,
            "since": _time("--since", since), "until": _time("--until", until)}


def _shown(filters: dict[str, object]) -> dict[str, object]:
    return {k: str(v) for k, v in filters.items() if v is not None}


@audit_app.command("verify")
def verify_cmd(
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", help="The auditors' PEM public key the checkpoints must verify under (default: the "
                             "trust anchor configured by CUSTODATA_AUDIT_ANCHOR or audit.yaml).",
    )] = None,
    fingerprint: Annotated[str | None, typer.Option(
        "--fingerprint", help="Pinned SHA-256 fingerprint of that key (default CUSTODATA_AUDIT_ANCHOR_FINGERPRINT).",
    )] = None,
    anchor_file: Annotated[Path | None, typer.Option(
        "--anchor-file", help="Checkpoint anchor file to compare with (default: the configured one).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Check every entry, checkpoint, purge, the anchor file and the customer index; exit 1 naming the first bad entry.

    Without a trust anchor the signatures are checked against the signing key beside the log, and the output
    says so loudly: whoever can rewrite the log can also replace that key.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from custodata.audit.anchor import TrustAnchor, configured_anchor
    from custodata.audit.events import Action
    from custodata.audit.retention import load_settings
    from custodata.audit.verify import PublicKeys, verify

    with _clean_errors():
        settings = load_settings(config)
        anchor: TrustAnchor | None = (configured_anchor(public_key, fingerprint, data_dir=out)
                                      if public_key is not None else settings.anchor(data_dir=out))
        with _log(out, db, config) as log:
            key: PublicKeys = anchor if anchor is not None else (
                log.signer.public_key if log.signer is not None else None)
            with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err_console, transient=True) as bar:
                task = bar.add_task("verify", total=None)
                report = verify(log.store, key, anchor_file=anchor_file or settings.anchor_path(out, log.store.url),
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
            _print_report(report)
            try:
                _record(log, Action.AUDIT_VERIFY, {"checked": report.checked, "first_bad_seq": report.first_bad_seq,
                                                   "trust_anchor": report.trust_anchor}, ok=report.ok)
            except CustodataError as exc:
                err_console.print(f"[bold red]error[/]: this verification could not be recorded: {exc}",
                                  highlight=False)
                raise typer.Exit(1) from None
        if not report.ok:
            raise typer.Exit(1)


def _print_report(report: object) -> None:
    from custodata.audit.verify import VerifyReport

    assert isinstance(report, VerifyReport)  # noqa: S101 — typed for the reader; verify returns one
    for warning in report.warnings:
        err_console.print(f"[bold yellow]WARNING[/]: {warning}", highlight=False)
    span = f"entries {report.first_seq}..{report.last_seq}" if report.first_seq is not None else "no entries"
    trust = (f"under the trust anchor {report.trust_anchor[:16]}…" if report.trust_anchor
             else "[bold yellow]without a trust anchor[/]")
    if report.ok:
        console.print(f"[green]ok[/]: {report.checked:,} entries ({span}), {report.checkpoints:,} signed checkpoints "
                      f"({trust}) and {report.anchored:,} anchored checkpoints verified in {report.seconds:.1f}s",
                      highlight=False)
        return
    err_console.print(f"[bold red]TAMPERED[/]: {report.problem}", highlight=False)
    err_console.print(f"first bad entry: {report.first_bad_seq}; {report.checked:,} entries checked ({span})",
                      highlight=False)


@audit_app.command("anchor")
def anchor_cmd(
    file: Annotated[Path, typer.Argument(help="Where to write the public key for the auditors (PEM).")],
    out: OutOpt = Path("out"),
) -> None:
    """Write the signing key's public half for the auditors and print the fingerprint to pin.

    Keep the file outside the data folder and pin the fingerprint in the auditors' configuration
    (CUSTODATA_AUDIT_ANCHOR=<file>, CUSTODATA_AUDIT_ANCHOR_FINGERPRINT=<fingerprint>).
    """
    from custodata.audit.anchor import fingerprint, inside
    from custodata.audit.signing import CheckpointSigner

    with _clean_errors():
        signer = CheckpointSigner.for_out_dir(out, create=False)
        try:
            file.write_bytes(signer.public_pem())
        except OSError as exc:
            raise CustodataError(f"{file}: cannot write the public key ({exc.strerror})") from None
        console.print(f"public key written to {file}\nfingerprint: {fingerprint(signer.public_key)}",
                      highlight=False)
        if inside(file, out):
            err_console.print(f"[bold yellow]WARNING[/]: {file} is inside the data folder {out}; give the auditors "
                              "a copy kept elsewhere", highlight=False)


@audit_app.command("reindex")
def reindex_cmd(out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """Rebuild the customer index of the log from the chained entries (after verify reported it wrong)."""
    from custodata.audit.events import Action
    from custodata.audit.verify import rebuild_customer_index

    with _clean_errors():
        with _log(out, db) as log:
            rows = rebuild_customer_index(log.store)
            _record(log, Action.ADMIN, {"operation": "audit_reindex", "rows": rows})
        console.print(f"customer index rebuilt: {rows:,} rows")


def _events_table(events: list[StoredEvent]) -> Table:
    table = Table(title="审计日志 Audit log")
    for col in ("seq", "at (UTC)", "actor", "role", "action", "result", "customers", "fields", "purpose", "from"):
        table.add_column(col)
    for e in events:
        customers = ", ".join(e.customer_ids[:3]) + (" …" if len(e.customer_ids) > 3 else "")
        table.add_row(str(e.seq), f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.role or "", str(e.action),
                      str(e.result), customers or (f"({e.count():,})" if e.count() else ""), ", ".join(e.fields),
                      e.purpose or "", e.source_address or "")
    return table


@audit_app.command("query")
def query_cmd(
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    actor_: ActorOpt = None,
    customer: CustomerOpt = None,
    action: ActionOpt = None,
    result: ResultOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many events, newest first.")] = 50,
) -> None:
    """Show matching events, newest first."""
    from custodata.audit.events import Action

    with _clean_errors():
        filters = _filters(actor_, customer, action, result, since, until)
        with _log(out, db) as log:
            events = log.query(**filters, limit=limit, newest_first=True)
            _record(log, Action.AUDIT_QUERY, {"returned": len(events), **_shown(filters)}, customer=customer)
        console.print(_events_table(events) if events else "no matching events")


@audit_app.command("export")
def export_cmd(
    file: Annotated[Path, typer.Argument(help="File to write (UTF-8).")],
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl | csv")] = "jsonl",
    actor_: ActorOpt = None,
    customer: CustomerOpt = None,
    action: ActionOpt = None,
    result: ResultOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Export matching events with their hashes for the auditor (JSON lines or CSV)."""
    from custodata.audit.events import Action

    with _clean_errors():
        filters = _filters(actor_, customer, action, result, since, until)
        with _log(out, db) as log:
            n = log.export(file, fmt, **filters)
            _record(log, Action.AUDIT_QUERY, {"exported": n, "format": fmt, **_shown(filters)},
                    customer=customer)
        console.print(f"exported {n:,} events to {file}")


@audit_app.command("purge")
def purge_cmd(
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Delete entries older than the retention period (≥ 180 days), whole signed prefixes only."""
    with _clean_errors():
        with _log(out, db, config) as log:
            from custodata.audit.retention import load_settings

            settings = load_settings(config)
            report = log.purge(settings, actor=actor())
        if report.deleted:
            console.print(f"purged {report.deleted:,} entries up to {report.through_seq} (older than "
                          f"{report.cutoff:%Y-%m-%d %H:%M} UTC, retention {settings.retention_days} days); "
                          f"recorded as entry {report.event_seq}")
        else:
            console.print(f"nothing to purge: no signed prefix older than {settings.retention_days} days")


@audit_app.command("checkpoint")
def checkpoint_cmd(out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """Sign the current chain head now (e.g. before handing the log to an auditor)."""
    with _clean_errors():
        with _log(out, db) as log:
            cp = log.checkpoint()
        if cp is None:
            console.print("the audit log is empty: nothing to sign")
        else:
            console.print(f"checkpoint at entry {cp.seq} signed with key {cp.key_id}: {cp.hash}")
