"""``custodata approvals`` (the checker's side of maker-checker) and ``custodata watermark read``.

Deciding from the terminal names the person and the role they act in
(``--as``/``--role``): the directory and the policy in the operational store
decide whether they may, exactly as in the service, and the audit log records it.
Listings never show a proposed value; exports are produced by the service, which
holds the served customer view to mask them from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from custodata.cli.common import DbOpt, _clean_errors, console, operational_store
from custodata.errors import CustodataError

if TYPE_CHECKING:
    from custodata.approvals import Approvals
    from custodata.ops.store import OpsStore

approvals_app = typer.Typer(
    help="Maker-checker requests [双人复核]: golden-record corrections, merges, unmerges and exports.",
    no_args_is_help=True,
)
watermark_app = typer.Typer(help="Export watermarks [水印]: who a leaked file was exported to.",
                            no_args_is_help=True)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the stores and the key file.")]
RequestArg = Annotated[str, typer.Argument(metavar="REQUEST_ID", help="The request, e.g. CR-1A2B3C4D5E6F.")]
AsOpt = Annotated[str, typer.Option("--as", help="Login name of the checker deciding.")]
RoleOpt = Annotated[str, typer.Option("--role", help="The role the checker acts in (one of their roles).")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why: the checker's decision note (kept and audited).")]
PasswordStdinOpt = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the checker's password from standard input instead of prompting.")]


def register(app: typer.Typer) -> None:
    """Attach ``approvals`` and ``watermark`` to the main CLI."""
    app.add_typer(approvals_app, name="approvals")
    app.add_typer(watermark_app, name="watermark")


@dataclass(frozen=True)
class _Acting:
    person_id: str
    role: str
    kind: str
    branch: str | None
    status: str


@contextmanager
def _ops(out: Path, db: str | None) -> Iterator[OpsStore]:
    with operational_store(out, db) as store:
        yield store


def _approvals(store: OpsStore, out: Path) -> Approvals:
    from custodata.access.store import PolicyStore
    from custodata.approvals import Approvals
    from custodata.audit.log import AuditLog

    audit = AuditLog.for_out_dir(store, out)
    policy = PolicyStore(store, audit)
    return Approvals(store, audit, authorize=lambda subject, action: policy.current().check(subject, action))


def _acting(store: OpsStore, out: Path, person_id: str, role: str, password_stdin: bool) -> _Acting:
    """The checker signs in with their own password: naming someone is not being them."""
    import sys

    from custodata.audit.log import AuditLog
    from custodata.identity.directory import Directory

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password of {person_id}", hide_input=True)
    directory = Directory(store, AuditLog.for_out_dir(store, out))
    session = directory.login(person_id, password, role=role, source_address="cli")
    try:
        p = session.principal
        return _Acting(p.person_id, p.role, p.kind, p.branch, p.status)
    finally:
        directory.logout(session.token)


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "—"


@approvals_app.command("list")
def list_requests(
    status: Annotated[str | None, typer.Option(help="Only requests in this status, e.g. pending.")] = "pending",
    out: OutOpt = Path("out"), db: DbOpt = None,
) -> None:
    """Requests, newest first (``--status pending`` by default; ``--status ''`` for all)."""
    with _clean_errors(), _ops(out, db) as store:
        requests = _approvals(store, out).list_requests(status=status or None)
        table = Table(title=f"审批请求 Requests ({status or 'all'})")
        table.add_column("request", no_wrap=True, min_width=15)  # ids are copied from here: never wrapped
        for col in ("kind", "status", "maker", "customers", "fields", "created (UTC)", "expires"):
            table.add_column(col)
        for r in requests:
            table.add_row(r.request_id, r.kind, r.status, r.maker, ", ".join(r.customer_ids[:3]) + (
                f" … (+{len(r.customer_ids) - 3})" if len(r.customer_ids) > 3 else ""),
                ", ".join(r.fields), _when(r.created_at), _when(r.expires_at))
        console.print(table)


@approvals_app.command("show")
def show(request_id: RequestArg, out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """One request: what is asked, by whom and why, and the decision (never a sealed value)."""
    with _clean_errors(), _ops(out, db) as store:
        r = _approvals(store, out).get(request_id)
        table = Table(title=f"{r.request_id} — {r.kind}", show_header=False)
        payload = dict(r.payload)
        if r.kind == "edit_field" and payload.get("sealed"):
            payload["value"] = "(sealed under the customer's key)"
        for key, value in (
            ("status", r.status), ("maker", f"{r.maker} ({r.maker_role}, {r.maker_branch or '—'})"),
            ("reason", r.reason), ("asked", json.dumps(payload, ensure_ascii=False)),
            ("created (UTC)", _when(r.created_at)), ("expires (UTC)", _when(r.expires_at)),
            ("checker", f"{r.checker} ({r.checker_role})" if r.checker else "—"),
            ("decided (UTC)", _when(r.decided_at)), ("note", r.decision_note or "—"),
            ("result", json.dumps(r.result, ensure_ascii=False) if r.result else "—"),
        ):
            table.add_row(key, str(value))
        console.print(table)


def _decide(request_id: str, person_id: str, role: str, note: str, out: Path, db: str | None, *,
            approve: bool, apply: bool, password_stdin: bool) -> None:
    with _clean_errors(), _ops(out, db) as store:
        approvals = _approvals(store, out)
        checker = _acting(store, out, person_id, role, password_stdin)
        decided = approvals.decide(request_id, checker, approve=approve, note=note)
        console.print(f"{decided.request_id}: {decided.status} by {decided.checker}")
        if not approve or decided.kind == "export":
            if approve:
                console.print("the export is produced by the service for its maker (masked for them, watermarked)")
            return
        if decided.kind not in ("edit_field", "merge", "unmerge"):  # a role grant or policy import: at once
            from custodata.access.store import PolicyStore
            from custodata.identity.directory import Directory

            applied = approvals.apply_trust(decided, directory=Directory(store, approvals.audit),
                                            policies=PolicyStore(store, approvals.audit), by=checker)
            console.print(f"{applied.request_id}: {applied.status} — "
                          f"{json.dumps(applied.result, ensure_ascii=False) if applied.result else ''}")
            return
        from custodata.jobs.queue import JobQueue
        from custodata.jobs.worker import PipelineChanges, Worker

        queue = JobQueue(store)
        job = queue.enqueue(decided.request_id)  # applied by the one worker, in order, like the service's
        if not apply:
            console.print(f"queued as job {job.id}; `custodata worker --out {out}` (or the server) applies it")
            return
        if not (out / "custodata.duckdb").exists():
            raise CustodataError(f"no custodata store in {out} to apply the change to")
        Worker(queue, approvals, PipelineChanges(out, ops_url=store.url)).drain()
        job, applied = queue.get(job.id), approvals.get(decided.request_id)
        if job.state in ("queued", "running"):
            console.print(f"job {job.id} is {job.state}: another worker holds the queue and applies it in turn")
            return
        result = json.dumps(applied.result, ensure_ascii=False) if applied.result else job.error or ""
        console.print(f"{applied.request_id}: {applied.status} (job {job.id} {job.state}) — {result}")
        if job.state == "failed":
            raise CustodataError(f"job {job.id} failed: {job.error}; retry with `custodata worker --retry {job.id}`")


@approvals_app.command("approve")
def approve(
    request_id: RequestArg, person_id: AsOpt, role: RoleOpt, note: NoteOpt,
    apply: Annotated[bool, typer.Option(help="Carry out an approved change at once (its job, and any queued "
                                             "before it).")] = True,
    out: OutOpt = Path("out"), db: DbOpt = None, password_stdin: PasswordStdinOpt = False,
) -> None:
    """Approve someone else's request (and carry out a change at once); the checker signs in."""
    _decide(request_id, person_id, role, note, out, db, approve=True, apply=apply, password_stdin=password_stdin)


@approvals_app.command("reject")
def reject(
    request_id: RequestArg, person_id: AsOpt, role: RoleOpt, note: NoteOpt,
    out: OutOpt = Path("out"), db: DbOpt = None, password_stdin: PasswordStdinOpt = False,
) -> None:
    """Reject someone else's request; the checker signs in."""
    _decide(request_id, person_id, role, note, out, db, approve=False, apply=False, password_stdin=password_stdin)


@watermark_app.command("read")
def read(
    file: Annotated[Path, typer.Argument(help="The exported file, or any file with rows pasted from one.")],
    out: OutOpt = Path("out"), db: DbOpt = None,
) -> None:
    """Tell who a file was exported to, from its mark column and canary rows (the notice line is not proof)."""
    from custodata.approvals import read_watermark, watermark_secret

    with _clean_errors():
        if not file.is_file():
            raise CustodataError(f"no such file: {file}")
        with _ops(out, db) as store:
            report = read_watermark(file, store, secret=watermark_secret(out))
        table = Table(title=f"水印 Watermark of {file.name}", show_header=False)
        table.add_row("exported to 导出人", report.recipient)
        table.add_row("export 导出编号", report.export_id)
        table.add_row("request", report.request_id)
        table.add_row("exported at (UTC)", _when(report.created_at))
        table.add_row("evidence", report.evidence)
        console.print(table)
