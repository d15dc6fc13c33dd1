"""``custodata`` commands: verbs mirror the Python API; errors are one clean line."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from custodata.cli.common import DbOpt, OutOpt, _clean_errors, _require_store, console, err_console, services
from custodata.errors import CustodataError

app = typer.Typer(
    name="custodata",
    help="custodata — customer data control system (客户数据控制系统): unify and protect customer data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
@contextmanager
def _stage_progress(to: Any = None) -> Iterator[Callable[[str, str, int, int], None]]:
    from custodata.pipeline import STAGES

    labels = dict(STAGES)
    with Progress(
        TextColumn("[bold]{task.fields[label]}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[message]}"), TimeElapsedColumn(), console=to or console,
        transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}

        def update(stage: str, message: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total, label=labels.get(stage, stage), message="")
            progress.update(tasks[stage], completed=done, total=max(total, done), message=message)

        yield update




@app.command()
def generate(
    out: OutOpt,
    customers: Annotated[int, typer.Option(help="True customers (persons and companies) to invent.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
) -> None:
    """Write a financial group's raw exports (demo data) plus ground truth to OUT."""
    from custodata.demo.sources import generate as gen

    with _clean_errors():
        if customers < 1:
            raise CustodataError("--customers must be at least 1")
        started = time.perf_counter()
        result = gen(customers, seed, out)
        console.print(f"wrote {sum(result.records.values()):,} source records for {customers:,} customers "
                      f"to {out} in {time.perf_counter() - started:.1f}s")


@app.command()
def run(
    input_dir: Annotated[Path, typer.Argument(help="Folder holding the source systems' exports.")],
    out: OutOpt = Path("out"),
    mappings: Annotated[
        Path | None, typer.Option(help="Folder of source mapping YAMLs (default: the demo systems).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Resolution settings YAML (thresholds, survivorship).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Tag and segment rules YAML.")] = None,
    mode: Annotated[str, typer.Option(help="How the matching model scores pairs: auto | full | incremental")] = "auto",
    derive: Annotated[str, typer.Option(
        help="What is derived after resolution: full (every golden record, relationship, layer row, a new "
             "served generation) | incremental (only the customers the batch touched and their neighbours, "
             "served in place; same end state)")] = "full",
    force: Annotated[bool, typer.Option(help="Reload batches that were already loaded.")] = False,
    retrain: Annotated[bool, typer.Option(help="Train the matching model again.")] = False,
    landing_retention_days: Annotated[int | None, typer.Option(
        help="After a successful run, delete loaded landing files (CSV, JSON lines, Parquet) older than "
             "this many days; source databases are never deleted. Default: keep them.", min=0)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's summary as JSON (counts and seconds "
                                                         "per stage, no customer data) instead of tables.")] = False,
) -> None:
    """Ingest, resolve and publish: raw exports → golden customer records."""
    from custodata.cli.render import summary_tables
    from custodata.pipeline import Pipeline

    with _clean_errors():
        if mode not in ("auto", "full", "incremental"):
            raise CustodataError(f"--mode must be auto, full or incremental, not '{mode}'")
        if derive not in ("full", "incremental"):
            raise CustodataError(f"--derive must be full or incremental, not '{derive}'")
        pipeline = Pipeline.create(out, mappings_dir=mappings, config_path=config, rules_path=rules)
        with _stage_progress(err_console if as_json else None) as progress:  # JSON alone on stdout
            summary = pipeline.run(input_dir, mode=mode, force=force, retrain=retrain, progress=progress,
                                   landing_retention_days=landing_retention_days, derive=derive)
        if as_json:  # for schedulers and benchmarks: the figures of the tables, nothing more
            console.print_json(json.dumps(dataclasses.asdict(summary), ensure_ascii=False, default=str))
            return
        console.print(summary_tables(summary))
        console.print(f"store: {summary.store}\npublished: {out / 'published'}")


PurposeOpt = Annotated[str | None, typer.Option(
    help="Purpose of use stated to the policy (role cli's purposes, e.g. customer_service, claims).")]


@app.command()
def show(
    customer_id: Annotated[str, typer.Argument(help="Customer id, e.g. C000000001 (old merged ids work too).")],
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    purpose: PurposeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (masked) instead of tables.")] = False,
) -> None:
    """Show one customer's 360° view, as role cli of the policy in force may see it.

    Goes through the service layer like the API and the console: the served view in the
    operational store is read, masked by the policy version in force, and the access
    decision and the READ event (actor cli:<login>, allowed or denied) are the service's.
    """
    from custodata.cli.render import view_panel
    from custodata.cli.terminal import terminal

    with _clean_errors(), terminal(out, db) as term:
        view = term.view(customer_id, purpose=purpose)
    if as_json:
        console.print_json(json.dumps(view, ensure_ascii=False, default=str))
    else:
        console.print(view_panel(view))


@app.command()
def match(
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    name: Annotated[str | None, typer.Option(help="Name (Chinese or pinyin), matched after normalisation.")] = None,
    customer_id: Annotated[str | None, typer.Option(help="Customer id (old merged ids work too).")] = None,
    id_number: Annotated[str | None, typer.Option(
        help="Resident ID (15 or 18 digits): a use of the ID, so it needs an unmask rule for role cli, which "
             "the shipped policy does not have (refused and audited).")] = None,
    mobile: Annotated[str | None, typer.Option(
        help="Mobile number, any format: like --id-number, refused to role cli without an unmask rule.")] = None,
    purpose: PurposeOpt = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="How many candidates to show.")] = 5,
) -> None:
    """Search before create: the served customers matching every criterion given, names masked.

    Runs the service's search as cli:<login> in role cli of the policy in force, so it is
    audited (criteria kinds, never their values) and subject to the same rules as
    everyone's: a search by ID number or mobile confirms the number is a customer's, so it
    needs the role's unmask rule for that field and counts against its limits — role cli
    has none in the shipped policy, and such a search is refused naming the rule.
    """
    from custodata.cli.terminal import terminal

    with _clean_errors(), terminal(out, db) as term:
        cands = term.search(name=name, id_number=id_number, mobile=mobile, customer_id=customer_id,
                            purpose=purpose, limit=top)
    if not cands:
        console.print("no existing customer matches these criteria (a name must match exactly after "
                      "normalisation)")
        return
    table = Table(title="候选客户 Candidate customers")
    for col in ("rank", "customer", "name", "kind", "segment", "branches"):
        table.add_column(col)
    for i, c in enumerate(cands, 1):
        table.add_row(str(i), str(c["customer_id"]), str(c.get("name") or "—"), str(c.get("kind") or "—"),
                      str(c.get("segment") or "—"), ", ".join(c.get("branches") or ()) or "—")
    console.print(table)


@app.command()
def merge(
    survivor: Annotated[str, typer.Argument(help="Customer id that stays.")],
    absorbed: Annotated[str, typer.Argument(help="Customer id folded into the survivor.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the merge log and history).")],
    out: OutOpt = Path("out"),
) -> None:
    """Merge two golden records (the absorbed id keeps redirecting to the survivor)."""
    from custodata.pipeline import Pipeline

    with _clean_errors():
        _require_store(out)
        result = Pipeline.create(out).steward("merge", survivor=survivor, absorbed=absorbed, reason=reason)
        console.print(f"merged {absorbed} into {survivor} ({result[1]})")


@app.command()
def unmerge(
    customer_id: Annotated[str, typer.Argument(help="Customer id to split.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")],
    out: OutOpt = Path("out"),
    records: Annotated[
        str | None, typer.Option(help="Comma-separated source records to detach instead of undoing a merge.")
    ] = None,
) -> None:
    """Undo the latest merge into a customer (restoring the absorbed id), or detach records."""
    from custodata.pipeline import Pipeline

    with _clean_errors():
        _require_store(out)
        recs = [r.strip() for r in records.split(",") if r.strip()] if records else None
        ids = Pipeline.create(out).steward("unmerge", customer_id=customer_id, reason=reason, records=recs)
        console.print(f"unmerged {customer_id}: restored {', '.join(ids)}")


@app.command()
def quarantine(
    out: OutOpt = Path("out"),
    source: Annotated[str | None, typer.Option(help="Only this source system.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to list after the counts.")] = 10,
) -> None:
    """Quarantined rows: counts per source and reason, then examples."""
    from custodata.engine.store import open_store
    from custodata.quality import REASON_LABELS

    with _clean_errors():
        store = open_store(_require_store(out), read_only=True)
        try:
            where, params = ("WHERE system = ?", [source]) if source else ("", [])
            counts = store.engine.rows(
                f"SELECT system, reason, count(*) FROM meta.quarantine {where} GROUP BY 1, 2 ORDER BY 1, 2", params)
            rows = store.engine.rows(
                f"SELECT system, row_no, record_key, reason, detail FROM meta.quarantine {where} "
                f"ORDER BY system, row_no LIMIT {int(limit)}", params)
        finally:
            store.close()
        t = Table(title="隔离区 Quarantine")
        for col in ("source", "reason", "rows"):
            t.add_column(col)
        for system, reason, n in counts:
            t.add_row(system, f"{reason} {REASON_LABELS.get(reason, '')}", f"{n:,}")
        console.print(t)
        ex = Table(title="examples")
        for col in ("source", "row", "record", "reason", "detail"):
            ex.add_column(col)
        for r in rows:
            ex.add_row(*(str(v) if v is not None else "—" for v in r))
        console.print(ex)


@app.command()
def dedupe(
    input_csv: Annotated[Path, typer.Argument(help="CSV file to deduplicate.")],
    mapping: Annotated[Path, typer.Option(help="YAML assigning the CSV's columns to canonical fields.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output CSV: record_id,cluster_id.")],
    threshold: Annotated[float, typer.Option(help="Match probability to link two records.")] = 0.9,
) -> None:
    """Deduplicate any CSV of people (Chinese or not): writes record_id,cluster_id."""
    from custodata.resolution.dedupe import dedupe_csv

    with _clean_errors():
        result = dedupe_csv(input_csv, mapping, out, threshold=threshold)
        console.print(f"{result.records:,} records → {result.clusters:,} clusters; wrote {out}")


@app.command()
def demo(
    out: OutOpt = Path("out"),
    customers: Annotated[int, typer.Option(help="True customers to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    serve: Annotated[bool, typer.Option(
        "--serve/--no-serve", help="End by serving the console and API with demo people for every role.")] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the console and API.")] = 8000,
) -> None:
    """Generate a financial group's data, run every domain, show one customer, then serve the console."""
    from custodata.cli.render import summary_tables, view_panel
    from custodata.cli.terminal import terminal
    from custodata.crypto.kek import KEY_DIR_ENV, default_key_file, key_location_warning
    from custodata.demo.sources import generate as gen
    from custodata.engine.store import open_store
    from custodata.pipeline import Pipeline

    with _clean_errors():
        raw = out / "raw"
        console.rule("[bold]custodata demo — 客户数据控制系统")
        console.print(f"1/2 generating raw exports of {customers:,} customers into {raw} …")
        started = time.perf_counter()
        result = gen(customers, seed, raw)
        console.print(f"    {sum(result.records.values()):,} source records in "
                      f"{len(result.records)} systems ({time.perf_counter() - started:.1f}s)")
        console.print("2/2 running the domain pipeline …")
        pipeline = Pipeline.create(out)
        with _stage_progress() as progress:
            # the demo's landing retention is 0 days: once loaded, the plaintext exports are purged
            summary = pipeline.run(raw, progress=progress, landing_retention_days=0)
        console.print(summary_tables(summary))
        # the example is a display like `custodata show`: the service reads, masks and audits it as cli:<login>
        store = open_store(pipeline.store_path, read_only=True)
        try:  # only which customer to show comes from the batch store, never a value
            row = store.engine.rows(
                "SELECT customer_id FROM layer.customer_view WHERE kind = 'individual' "
                "ORDER BY n_records * (n_policy_types + 1) * (CASE WHEN n_deposit > 0 THEN 2 ELSE 1 END) DESC, "
                "customer_id LIMIT 1")
        finally:
            store.close()
        example = None
        if row:
            with terminal(out) as term:
                example = term.view(str(row[0][0]))
        if example:
            console.print(view_panel(example))
        console.rule("outputs")
        console.print(f"raw exports     {raw}  (landing files purged after the run; ground truth: "
                      f"{raw / 'ground_truth.csv'}, tests only)")
        console.print(f"batch store     {pipeline.store_path}")
        console.print("                (DuckDB schemas: business, customer, layer, meta; ID numbers, mobiles, cards, "
                      "accounts and remarks encrypted)")
        console.print(f"key file        {default_key_file(out)}  (the KEK, outside the data folder; on another "
                      f"volume in production: {KEY_DIR_ENV})")
        if (misplaced := key_location_warning(out, default_key_file(out))) is not None:
            err_console.print(f"[bold red]{misplaced}[/]")
        console.print(f"published       {out / 'published'}  (customer_view, golden, xref, relationships, history, "
                      "quarantine, review)")
        console.print(f"run summary     {out / 'run_summary.json'}")
        shown = example["customer_id"] if example else "C000000001"
        console.print(f"next            custodata show {shown} --out {out}")
        console.print(f"                custodata match --name 张伟 --out {out}   (by ID or mobile: refused to role "
                      "cli, which has no unmask rule)")
        _demo_people(out)
        console.print(f"operational db  {out / 'custodata.sqlite'}  (served customer view, people, policy, "
                      "approvals, hash-chained audit log)")
    if serve:
        from custodata.cli.serve import serve as run_server

        console.rule(f"console: http://127.0.0.1:{port}/  — log in as any demo person above (Ctrl+C stops)")
        run_server(out=out, db=None, host="127.0.0.1", port=port, workers=1)
    else:
        console.print(f"serve           custodata serve --out {out}   (then log in as any demo person above)")


def _demo_people(out: Path) -> list[Any]:
    """Seed the policy and one demo person per role, and print their logins (demo stores only)."""
    from custodata.service.demo import demo_alerts, seed_demo

    with services(out, None) as svc:
        logins = seed_demo(svc)
        alerts = demo_alerts(svc, out / "activity")
    console.print(f"monitoring      {alerts} alerts from a simulated month of 40 staff with injected insiders "
                  f"(files in {out / 'activity'}) — log in as sec.zhou to see them at /alerts")
    table = Table(title="demo people [演示人员] — one per role; passwords for this demo store only")
    for col in ("login", "name", "role", "branch", "password"):
        table.add_column(col)
    from custodata.identity.roles import ROLES

    for login in logins:
        table.add_row(login.person_id, login.display_name, f"{login.role} ({ROLES.get(login.role, '')})",
                      login.branch, login.password)
    console.print(table)
    return logins


# commands of the protection concerns live in their own modules and attach to ``app`` on import
from custodata.cli import alerts as _alerts  # noqa: E402
from custodata.cli import approvals as _approvals  # noqa: E402
from custodata.cli import audit as _audit  # noqa: E402
from custodata.cli import backup as _backup  # noqa: E402
from custodata.cli import changes as _changes  # noqa: E402
from custodata.cli import classify as _classify  # noqa: E402, F401
from custodata.cli import detect as _detect  # noqa: E402
from custodata.cli import people as _people  # noqa: E402
from custodata.cli import policy as _policy  # noqa: E402
from custodata.cli import protect as _protect  # noqa: E402, F401
from custodata.cli import retention as _retention  # noqa: E402
from custodata.cli import serve as _serve  # noqa: E402
from custodata.cli import simulate as _simulate  # noqa: E402
from custodata.cli import worker as _worker  # noqa: E402

for _group in (_people, _policy, _approvals, _audit, _alerts, _detect, _simulate, _serve, _worker, _changes,
               _backup, _retention):
    _group.register(app)


def main() -> None:
    """The ``custodata`` command: everything it (and the server it starts) creates is owner-only."""
    from custodata.private_files import restrict_umask

    restrict_umask()
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
