"""CLI commands of encryption at rest and erasure: ``erase`` and ``keys``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from custodata.cli.app import app
from custodata.cli.common import OutOpt, _clean_errors, _require_store, console

keys_app = typer.Typer(help="Key-encryption key (KEK) and data keys: status and rotation.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def erase(
    customer_id: Annotated[str, typer.Argument(help="Customer id to erase (old merged ids work too).")],
    reason: Annotated[str, typer.Option(help="Why: the data subject's request, ticket number …")],
    out: OutOpt = Path("out"),
) -> None:
    """Erase a customer for good (PIPL): destroy its data keys, tombstone its records, republish."""
    from custodata.pipeline import Pipeline

    with _clean_errors():
        _require_store(out)
        report = Pipeline.create(out).erase(customer_id, reason=reason)
        if report.already:
            console.print(f"customer {report.customer_id} was already erased on {report.erased_at}; "
                          "derived layers, published files and the store file were cleaned up again")
            return
        table = Table(title=f"已删除 Erased {report.customer_id}", show_header=False)
        table.add_row("customer ids", ", ".join(report.customer_ids))
        table.add_row("source observations tombstoned", f"{report.observations:,}")
        table.add_row("business records touched", f"{report.business_records:,}")
        table.add_row("quarantined raw rows removed", f"{report.quarantined_rows:,}")
        table.add_row("data keys destroyed", f"{report.keys_destroyed:,}")
        table.add_row("erased at (UTC)", report.erased_at)
        console.print(table)
        console.print("re-ingesting old exports will not bring this customer back (meta.erased)")


@keys_app.command("status")
def keys_status(out: OutOpt = Path("out")) -> None:
    """Data keys by owner and KEK version (never the keys themselves)."""
    from custodata.engine.store import open_store

    with _clean_errors():
        store = open_store(_require_store(out), read_only=True)
        try:
            rows = store.engine.rows(
                "SELECT split_part(owner, ':', 1) AS kind, coalesce(kek_version, '—') AS kek, "
                "count(*) FILTER (WHERE wrapped IS NOT NULL) AS live, count(*) FILTER (WHERE wrapped IS NULL) "
                "AS destroyed FROM meta.data_key GROUP BY ALL ORDER BY ALL")
            provider = store.protector.keyring.provider
        finally:
            store.close()
        table = Table(title=f"数据密钥 Data keys — KEK provider {provider.name}, current version "
                            f"{provider.current_version()}")
        for col in ("owner kind", "KEK version", "live", "destroyed"):
            table.add_column(col)
        for kind, kek, live, destroyed in rows:
            table.add_row(str(kind), str(kek), f"{live:,}", f"{destroyed:,}")
        console.print(table)


@keys_app.command("rotate")
def keys_rotate(
    out: OutOpt = Path("out"),
    retire_old: Annotated[bool, typer.Option(help="Forget KEK versions nothing is wrapped under any more.")] = False,
) -> None:
    """Rotate the KEK: every data key is re-wrapped under a new version; no field is re-encrypted."""
    from custodata.pipeline import Pipeline

    with _clean_errors():
        _require_store(out)
        result = Pipeline.create(out).rotate_kek(retire_old=retire_old)
        console.print(f"KEK version {result['old_version']} → {result['new_version']}: "
                      f"{result['rewrapped']:,} data keys re-wrapped; retired: {result['retired'] or 'none'}")
