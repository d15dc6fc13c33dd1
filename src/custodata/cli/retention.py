"""``custodata retention``: the retention policy by purpose [数据存储期限] — check it, report it, apply it, hold.

``apply`` is the scheduled job (see :mod:`custodata.jobs.retention`); ``report`` says what
expires when; ``hold`` / ``release`` / ``holds`` manage legal holds.  Output is counts, dates,
rule ids and customer ids — never a customer's value.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from custodata.cli.common import DbOpt, OutOpt, _clean_errors, _require_store, cli_actor, console
from custodata.errors import ConfigError

if TYPE_CHECKING:
    from custodata.jobs.retention import RetentionJob

retention_app = typer.Typer(help="数据存储期限 Retention by purpose: policy, report, scheduled apply, legal holds.",
                            no_args_is_help=True)
PolicyOpt = Annotated[Path | None, typer.Option(
    "--policy", help="Retention policy YAML (default: CUSTODATA_RETENTION_POLICY, else the shipped retention.yaml).")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Local date to apply or report as of, YYYY-MM-DD (default: today in the policy's time zone).")]


def register(app: typer.Typer) -> None:
    """Attach ``custodata retention …`` to the main CLI."""
    app.add_typer(retention_app, name="retention")


def _as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of: '{value}' is not a date; write YYYY-MM-DD") from None


def _job(out: Path, db: str | None, policy: Path | None) -> RetentionJob:
    from custodata.jobs.retention import RetentionJob

    _require_store(out)
    return RetentionJob(out, ops_url=db, policy_file=policy, actor=cli_actor())


@retention_app.command("check")
def check(policy: PolicyOpt = None) -> None:
    """Validate the retention policy file and list its rules."""
    from custodata.retention.policy import ACTION_LABELS, CATEGORY_LABELS, load_policy, policy_path

    with _clean_errors():
        loaded = load_policy(policy)
        table = Table(title=f"存储期限策略 {policy_path(policy)} (version {loaded.version}, {loaded.timezone})")
        for col in ("规则 rule", "说明", "数据类别", "业务类型", "起算日期", "保存期限", "处理方式"):
            table.add_column(col, overflow="fold")  # ids and labels wrap, never cut short
        for r in loaded.rules:
            table.add_row(r.id, r.label, CATEGORY_LABELS[r.category], ", ".join(map(str, r.business_types)) or "—",
                          r.after or "变更时间", r.keep.describe(), ACTION_LABELS[r.action])
        console.print(table)


@retention_app.command("report")
def report(
    out: OutOpt = Path("out"), policy: PolicyOpt = None, as_of: AsOfOpt = None,
    months: Annotated[int, typer.Option(help="Months ahead to list.", min=1, max=240)] = 24,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """What the policy expires when: per rule, 已到期 (due at the next run) and then by month, in local dates."""
    from custodata.engine.store import open_store
    from custodata.retention.policy import load_policy
    from custodata.retention.report import expiry_report

    with _clean_errors():
        loaded = load_policy(policy)
        day = _as_of(as_of) or loaded.today()
        store = open_store(_require_store(out), read_only=True)
        try:
            lines = expiry_report(store.engine, loaded, day, months=months)
        finally:
            store.close()
        if as_json:
            for line in lines:
                console.print_json(json.dumps({**line.__dict__, "first_date": line.first_date.isoformat()},
                                              ensure_ascii=False))
            return
        table = Table(title=f"数据到期报告 Retention report — 截至 {day:%Y-%m-%d}（{loaded.timezone} 本地日期）")
        counts = ("客户数", "记录数", "法律保留")
        for col in ("规则", "说明", "数据类别", "处理方式", "保存期限", "到期", "最早到期日", *counts):
            table.add_column(col, justify="right" if col in counts else "left", overflow="fold")
        for ln in lines:
            table.add_row(ln.rule_id, ln.label, ln.category, ln.action, ln.keep, ln.when, f"{ln.first_date:%Y-%m-%d}",
                          f"{ln.customers:,}", f"{ln.records:,}", f"{ln.held:,}")
        console.print(table)
        if not lines:
            console.print(f"nothing expires within {months} months")


@retention_app.command("apply")
def apply(out: OutOpt = Path("out"), db: DbOpt = None, policy: PolicyOpt = None, as_of: AsOfOpt = None) -> None:
    """Carry out the policy now (the scheduled job): erase, anonymise and archive what has expired, audited."""
    with _clean_errors():
        result = _job(out, db, policy).apply(_as_of(as_of))
        table = Table(title=f"存储期限执行 Retention applied — {result.as_of:%Y-%m-%d}", show_header=False)
        table.add_row("customers erased (keys destroyed)", f"{len(result.erased):,}")
        for rule_id, n in sorted(result.anonymised.items()):
            table.add_row(f"records anonymised ({rule_id})", f"{n:,}")
        table.add_row("customers served again", f"{len(result.anonymised_customers):,}")
        table.add_row("history rows archived", f"{result.archived_rows:,}"
                      + (f" → {result.archive_file}" if result.archive_file else ""))
        table.add_row("customers under legal hold (kept)", f"{len(result.held):,}")
        if result.failed:
            table.add_row("erasures failed (next run tries again)", f"{len(result.failed):,}")
        table.add_row("seconds", f"{result.seconds:.1f}")
        console.print(table)
        for cid, why in result.failed:
            console.print(f"[red]{cid}[/red]: {why}")
        if result.failed:
            raise typer.Exit(1)


@retention_app.command("hold")
def hold(
    customer_id: Annotated[str, typer.Argument(help="Customer id to hold (old merged ids work too).")],
    case: Annotated[str, typer.Option("--case", help="Case or investigation reference.")],
    reason: Annotated[str, typer.Option(help="Why the customer's data must be kept.")],
    out: OutOpt = Path("out"), db: DbOpt = None,
) -> None:
    """Place a legal hold: the customer's data is kept whatever the policy says, until another person releases it."""
    with _clean_errors():
        placed = _job(out, db, None).place_hold(customer_id, case_ref=case, reason=reason)
        console.print(f"legal hold {placed.hold_id} on {placed.customer_id} (case {placed.case_ref}) by "
                      f"{placed.placed_by}")


@retention_app.command("release")
def release(
    hold_id: Annotated[str, typer.Argument(help="The hold's id (H-…).")],
    reason: Annotated[str, typer.Option(help="Why it ends (e.g. the case closed).")],
    out: OutOpt = Path("out"), db: DbOpt = None,
) -> None:
    """Release a legal hold — by someone other than the person who placed it."""
    with _clean_errors():
        done = _job(out, db, None).release_hold(hold_id, reason=reason)
        console.print(f"legal hold {done.hold_id} on {done.customer_id} released by {done.released_by}; its expired "
                      "data goes at the next `custodata retention apply`")


@retention_app.command("holds")
def holds(
    out: OutOpt = Path("out"),
    show_all: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
) -> None:
    """Legal holds: customer, case, who placed (and released) them and when."""
    from custodata.engine.store import open_store
    from custodata.retention.holds import list_holds

    with _clean_errors():
        store = open_store(_require_store(out), read_only=True)
        try:
            found = list_holds(store.engine, active_only=not show_all)
        finally:
            store.close()
        table = Table(title="法律保留 Legal holds")
        for col in ("hold", "customer", "case", "reason", "placed by", "placed (UTC)", "released by", "released (UTC)"):
            table.add_column(col)
        for h in found:
            table.add_row(h.hold_id, h.customer_id, h.case_ref, h.reason, h.placed_by, f"{h.placed_at:%Y-%m-%d %H:%M}",
                          h.released_by or "—", f"{h.released_at:%Y-%m-%d %H:%M}" if h.released_at else "—")
        console.print(table)
