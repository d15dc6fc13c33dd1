"""``custodata backup`` and ``custodata restore``: sealed backups of a running deployment, verified restores.

Both are the operator's plumbing (like ``custodata worker``): they copy and check
files and databases and print sizes, seconds, sequence numbers and customer ids,
never a customer's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from custodata.cli.common import DbOpt, OutOpt, _clean_errors, cli_actor, console

backup_app = typer.Typer(help="数据备份 Backups: take one (--to DIR) while the service runs, or verify one.",
                         invoke_without_command=True)


def register(app: typer.Typer) -> None:
    """Attach ``backup``, ``backup verify`` and ``restore`` to the main CLI."""
    app.add_typer(backup_app, name="backup")
    app.command("restore")(restore_cmd)


def _mib(n: int) -> str:
    return f"{n / 1048576:,.1f} MiB"


@backup_app.callback()
def backup(
    ctx: typer.Context,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
    to: Annotated[Path | None, typer.Option("--to", help="New folder for the backup (not in OUT, not holding a "
                                                         "key folder).")] = None,
    config: Annotated[list[Path] | None, typer.Option(
        "--config", help="A configuration or policy file to include as well (repeatable); CUSTODATA_AUDIT_CONFIG "
                         "and CUSTODATA_IDENTITY_CONFIG are included when set.")] = None,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for a pipeline run or the job worker to let "
                                                    "go of the batch store.")] = 120.0,
) -> None:
    """Back up OUT (batch store, operational store, published files, configuration) into --to, sealed."""
    if ctx.invoked_subcommand is not None:
        return
    from custodata.backup import take_backup
    from custodata.errors import CustodataError

    with _clean_errors():
        if to is None:
            raise CustodataError("give --to DIR, the new folder the backup goes to (or: custodata backup verify DIR)")
        manifest = take_backup(out, to, ops_url=db, config_files=config or (), wait_seconds=wait)
    table = Table(title=f"备份完成 Backup {manifest.backup_id}", show_header=False)
    table.add_row("folder", str(to))
    table.add_row("files", f"{len(manifest.files)} ({_mib(sum(f.size for f in manifest.files))} in, "
                           f"{_mib(sum(f.sealed_size for f in manifest.files))} sealed)")
    table.add_row("audit head", f"entry {manifest.audit_head['seq']}")
    cp = manifest.last_checkpoint
    table.add_row("last signed checkpoint", f"entry {cp['seq']} at {cp['at']}" if cp else "none yet")
    table.add_row("migration revision", manifest.migration_revision or "none")
    table.add_row("served customers", f"{manifest.counts.get('served', 0):,}")
    table.add_row("seconds", f"{manifest.snapshot_seconds:.1f}")
    console.print(table)
    console.print("keys are not in the backup: back up the key folder by the key provider's procedure")


@backup_app.command("verify")
def verify_cmd(
    folder: Annotated[Path, typer.Argument(help="The backup folder.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Data folder whose key provider opens the backup "
                                                                 "(default: the one it was taken from).")] = None,
) -> None:
    """Check every sealed file against the sealed manifest; exit 1 naming what is altered or missing."""
    from custodata.backup import verify_backup

    with _clean_errors():
        verified = verify_backup(folder, keys_for=out)
    m = verified.manifest
    console.print(f"backup {m.backup_id} of {m.created_at} (UTC) verifies: {len(m.files)} files, "
                  f"{_mib(sum(f.size for f in m.files))}, audit head entry {m.audit_head['seq']}, "
                  f"{verified.seconds:.1f}s")


def restore_cmd(
    from_: Annotated[Path, typer.Option("--from", help="The backup folder.")],
    out: OutOpt,
    db: DbOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing store in OUT / --db (never one a "
                                                        "running process holds).")] = False,
    anchor_file: Annotated[Path | None, typer.Option(
        help="The old deployment's audit checkpoint anchor file (default: where the backup says it was).")] = None,
) -> None:
    """Restore a verified backup into OUT (and --db), re-apply erasures made since, record lost audit events."""
    from custodata.backup import restore

    with _clean_errors():
        report = restore(from_, out, ops_url=db, force=force, anchor_file=anchor_file, actor=cli_actor())
    table = Table(title=f"恢复完成 Restored backup {report.backup_id}", show_header=False)
    table.add_row("into", f"{report.out_dir} · {report.ops_url}")
    table.add_row("files", f"{report.files} ({_mib(report.bytes)})")
    table.add_row("erasures re-applied", ", ".join(report.erasures_reapplied) or "none")
    if report.erasures_recorded_only:
        table.add_row("erasures recorded (not in backup)", ", ".join(report.erasures_recorded_only))
    if report.gap_seq is not None:
        lost = (f"{report.lost_events} events after entry {report.backup_head_seq}" if report.lost_events is not None
                else f"unknown (no anchor file) after entry {report.backup_head_seq}")
        table.add_row("audit events lost", f"{lost}; recorded as entry {report.gap_seq}")
    else:
        table.add_row("audit events lost", "none")
    table.add_row("served customers", f"{report.counts_before.get('served', 0):,} in backup → "
                                      f"{report.counts_after.get('served', 0):,} now")
    table.add_row("seconds", f"{report.seconds:.1f}")
    console.print(table)
