"""CLI commands of the classify concern; registered on the shared Typer app on import.

``custodata scan`` mirrors ``scan_table`` (and ``Catalogue.record`` with
``--store``); ``custodata catalogue list/confirm/override`` mirror the
``Catalogue`` methods of the same names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from custodata.cli.app import app
from custodata.cli.common import _clean_errors, console
from custodata.errors import CustodataError

if TYPE_CHECKING:
    from custodata.classification.catalogue import Catalogue, CatalogueEntry
    from custodata.classification.scan import ScanReport

catalogue_app = typer.Typer(
    help="The data catalogue [数据目录]: scanned columns, their grades and the stewards' decisions.",
    no_args_is_help=True,
)
app.add_typer(catalogue_app, name="catalogue")

TableOpt = Annotated[
    str | None, typer.Option(help="Table: schema.table of a .duckdb store, or a table of the SQL database.")
]
StoreOpt = Annotated[Path, typer.Option("--store", help="Output folder holding the catalogue (custodata.sqlite).")]
UrlOpt = Annotated[
    str | None, typer.Option("--catalogue-url", help="SQLAlchemy URL of the catalogue instead of --store.")
]
_LEVEL_STYLE = {5: "bold red", 4: "red", 3: "yellow", 2: "cyan", 1: "dim"}


def _level(level: int | None) -> str:
    return f"[{_LEVEL_STYLE.get(level, '')}]{level}[/]" if level else "—"


def _report_table(report: ScanReport) -> Table:
    total = f"{report.rows_total:,}" if report.rows_total is not None else "?"
    table = Table(
        title=f"分类分级 Classification — {report.source}",
        caption=(f"{report.rows_sampled:,} of {total} rows sampled, up to {report.sample:,} values per column; "
                 f"threshold {report.threshold:.0%} ({report.hint_threshold:.0%} where the name agrees); "
                 f"{report.seconds:.2f}s"),
    )
    for col in ("column", "type", "label", "cat.", "level", "conf."):
        table.add_column(col, no_wrap=col != "label")
    table.add_column("evidence (masked)", no_wrap=True, overflow="ellipsis")
    for c in report.columns:
        table.add_row(
            c.column, c.type or "—", c.label or "", c.category or "", _level(c.level),
            f"{c.confidence:.2f}" if c.type else "", "\n".join(c.evidence),
        )
    return table


@app.command()
def scan(
    source: Annotated[str, typer.Argument(
        help="A .csv / .jsonl / .json / .parquet file, a .duckdb store (with --table schema.table) "
             "or a SQLAlchemy URL (with --table).")],
    table: TableOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the JSON report to this file.")] = None,
    sample: Annotated[int | None, typer.Option(help="Non-blank values per column (default 2000).")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Share of sampled values that must validate (default 0.8).")
    ] = None,
    store: Annotated[Path | None, typer.Option(
        help="Record the findings in the catalogue of this output folder (custodata.sqlite); "
             "without it (or --catalogue-url) nothing is recorded.")] = None,
    catalogue_url: UrlOpt = None,
    config: Annotated[Path | None, typer.Option(help="Recogniser configuration YAML (patterns, hints).")] = None,
) -> None:
    """Classify and grade every column of a table: type, JR/T 0171 category, JR/T 0197 level."""
    from custodata.classification.catalogue import Catalogue
    from custodata.classification.scan import scan_table

    with _clean_errors():
        report = scan_table(source, table=table, sample=sample, threshold=threshold, config_path=config)
        console.print(_report_table(report))
        if out is not None:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(report.to_json() + "\n", encoding="utf-8")
            except OSError as exc:
                raise CustodataError(f"{out}: cannot write the report: {exc.strerror}") from None
            console.print(f"report: {out}")
        if store is not None or catalogue_url is not None:
            with Catalogue.open(store, url=catalogue_url) as catalogue:
                result = catalogue.record(report)
            console.print(f"catalogue: {result.inserted} new, {result.updated} refreshed, "
                          f"{result.kept} steward decisions kept")


def _open(store: Path, url: str | None) -> Catalogue:
    from custodata.classification.catalogue import Catalogue

    return Catalogue.open(store, url=url, create=False)


def _entries_tables(entries: list[CatalogueEntry]) -> list[Table]:
    tables: dict[str, Table] = {}
    for e in entries:
        table = tables.get(e.source)
        if table is None:
            table = tables[e.source] = Table(title=f"数据目录 Data catalogue — {e.source}")
            for col in ("column", "type", "cat.", "level", "status", "by", "conf.", "latest scan"):
                table.add_column(col, no_wrap=col in ("column", "type", "status"))
        latest = f"[yellow]now {e.detected_type or 'none'} / {e.detected_level or '—'}[/]" if e.drift else ""
        table.add_row(
            e.column, e.type or "—", e.category or "", _level(e.level), e.status, e.confirmed_by or "",
            f"{e.confidence:.2f}" if e.confidence is not None and e.detected_type else "", latest,
        )
    return list(tables.values())


@catalogue_app.command("list")
def list_entries(
    source: Annotated[str | None, typer.Option(help="Only this source (as listed, or as given to scan).")] = None,
    sensitive: Annotated[bool, typer.Option(help="Only columns with a sensitive type.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    store: StoreOpt = Path("out"),
    catalogue_url: UrlOpt = None,
) -> None:
    """List catalogued columns with their grade, status and steward."""
    with _clean_errors(), _open(store, catalogue_url) as catalogue:
        entries = catalogue.entries(source)
        if sensitive:
            entries = [e for e in entries if e.type]
        if as_json:
            console.print_json(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        elif not entries:
            console.print("no catalogue entries" + (f" for {source}" if source else ""))
        else:
            for t in _entries_tables(entries):
                console.print(t)


@catalogue_app.command()
def confirm(
    source: Annotated[str, typer.Argument(help="Source as listed by `custodata catalogue list` or given to scan.")],
    column: Annotated[str, typer.Argument(help="Column name.")],
    by: Annotated[str, typer.Option(help="The data steward confirming.")],
    note: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    table: TableOpt = None,
    store: StoreOpt = Path("out"),
    catalogue_url: UrlOpt = None,
) -> None:
    """Confirm a column's detected type and level; re-scans will not change it."""
    with _clean_errors(), _open(store, catalogue_url) as catalogue:
        e = catalogue.confirm(source, column, by=by, note=note, table=table)
        console.print(f"confirmed {e.column} of {e.source}: {e.type or 'not sensitive'}"
                      + (f" level {e.level}" if e.level else "") + f" (by {e.confirmed_by})")


@catalogue_app.command()
def override(
    source: Annotated[str, typer.Argument(help="Source as listed by `custodata catalogue list` or given to scan.")],
    column: Annotated[str, typer.Argument(help="Column name.")],
    type_: Annotated[str, typer.Option("--type", help="Sensitive type from grading.yaml, or 'none'.")],
    by: Annotated[str, typer.Option(help="The data steward deciding.")],
    note: Annotated[str, typer.Option(help="Why the detection is overridden.")],
    level: Annotated[int | None, typer.Option(help="Level 1-5 instead of the type's graded level.")] = None,
    table: TableOpt = None,
    store: StoreOpt = Path("out"),
    catalogue_url: UrlOpt = None,
) -> None:
    """Set a column's type (and level) by hand; re-scans record their detection but keep this."""
    with _clean_errors(), _open(store, catalogue_url) as catalogue:
        chosen = None if type_.lower() in ("none", "-", "") else type_
        e = catalogue.override(source, column, type_=chosen, level=level, by=by, note=note, table=table)
        console.print(f"overridden {e.column} of {e.source}: {e.type or 'not sensitive'}"
                      + (f" level {e.level}" if e.level else "") + f" (by {e.confirmed_by})")
