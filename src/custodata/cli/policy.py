"""``custodata policy``: policy versions from the terminal; verbs mirror :class:`PolicyStore` and the engine.

Every command works on the operational store's policy; a store with none gets
the shipped defaults as version 1 on first use (an audited change by
``cli:<os login name>``), so ``explain`` and ``check`` always answer with the
policy that the service enforces, never with a file that may differ from it.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from custodata.cli.common import DbOpt, _clean_errors, cli_actor, console, operational_store
from custodata.errors import CustodataError

if TYPE_CHECKING:
    from custodata.access.store import PolicyStore

DENIED_EXIT = 3

policy_app = typer.Typer(
    help="The access and masking policy [访问控制策略]: versions, import/export, and why a decision is made.",
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the operational store.")]
VersionOpt = Annotated[int | None, typer.Option("--version", help="Policy version (default: the newest).", min=1)]
RoleOpt = Annotated[str, typer.Option("--role", help="Role, e.g. front_desk, marketer, auditor.")]
PurposeOpt = Annotated[str | None, typer.Option("--purpose", help="Purpose of use, e.g. customer_service.")]


def register(app: typer.Typer) -> None:
    """Attach ``policy`` to the main CLI."""
    app.add_typer(policy_app, name="policy")


_actor = cli_actor  # ``cli:<os login name>``


@contextmanager
def _policies(out: Path, db: str | None) -> Iterator[PolicyStore]:
    from custodata.access.store import PolicyStore
    from custodata.audit.log import AuditLog

    with operational_store(out, db) as store:
        policies = PolicyStore(store, AuditLog.for_out_dir(store, out))
        if policies.latest_version() is None:
            policies.seed_default(by=_actor())
            console.print("installed the shipped default policy as version 1", style="dim")
        yield policies


@policy_app.command("export")
def export(
    file: Annotated[Path | None, typer.Argument(help="File to write (default: standard output).")] = None,
    version: VersionOpt = None,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Write a policy version as YAML, exactly as it was imported."""
    with _clean_errors(), _policies(out, db) as policies:
        text = policies.export_yaml(version)
        if file is None:
            sys.stdout.write(text)
            return
        file.write_text(text, encoding="utf-8")
        console.print(f"wrote policy version {version or policies.latest_version()} to {file}")


@policy_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Policy document YAML (version, masking, access).")],
    comment: Annotated[str, typer.Option("--comment", help="Why: change ticket, reason (kept and audited).")],
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Validate a policy document and store it as the next version (audited)."""
    with _clean_errors():
        try:
            text = file.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as exc:
            raise CustodataError(f"{file}: cannot read the policy document ({type(exc).__name__})") from None
        with _policies(out, db) as policies:
            before = policies.latest_version()
            version = policies.import_yaml(text, by=_actor(), comment=comment)
        if version == before:
            console.print(f"unchanged: policy version {version} already is this document")
        else:
            console.print(f"stored policy version {version}")


@policy_app.command("history")
def history(out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """Every policy version: when, by whom, why."""
    with _clean_errors(), _policies(out, db) as policies:
        versions = policies.history()
    table = Table(title="策略版本 Policy versions")
    for col in ("version", "created (UTC)", "by", "sha256", "comment"):
        table.add_column(col)
    for v in versions:
        table.add_row(str(v.version), v.created_at.isoformat(sep=" ", timespec="seconds"), escape(v.created_by),
                      v.sha256[:12], escape(v.comment))
    console.print(table)


@policy_app.command("diff")
def diff(
    a: Annotated[int, typer.Argument(help="Older version.")],
    b: Annotated[int, typer.Argument(help="Newer version.")],
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Unified diff of two policy versions."""
    with _clean_errors(), _policies(out, db) as policies:
        sys.stdout.write(policies.diff(a, b))


@policy_app.command("explain")
def explain(
    role: RoleOpt,
    field: Annotated[str | None, typer.Option("--field", help="Canonical field (default: every graded field).")] = None,
    purpose: PurposeOpt = None,
    version: VersionOpt = None,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """How a role sees a field, and why (masking operator, level, rule)."""
    with _clean_errors(), _policies(out, db) as policies:
        engine = policies.engine(version) if version else policies.current()
        if field is not None:
            console.print(escape(engine.explain_field(field, role, purpose)))
            return
        table = Table(title=f"{role} — policy version {engine.version}")
        table.add_column("field")
        table.add_column("shown")
        for name in engine.masking.grading.fields:
            table.add_row(name, escape(engine.explain_field(name, role, purpose)))
        console.print(table)


@policy_app.command("check")
def check(
    role: RoleOpt,
    action: Annotated[str, typer.Option("--action", help="Action, e.g. customer.read, export.request.")],
    kind: Annotated[str, typer.Option(help="employee | outsourced | partner")] = "employee",
    status: Annotated[str, typer.Option(help="active | transferred | leaving | left | frozen")] = "active",
    branch: Annotated[str, typer.Option(help="The person's branch.")] = "",
    field: Annotated[str | None, typer.Option(help="With customer.unmask: the field to unmask.")] = None,
    purpose: PurposeOpt = None,
    at: Annotated[str | None, typer.Option(
        help="ISO date-time to decide for (default now; without an offset: UTC), e.g. 2026-03-04T22:00+08:00.")
    ] = None,
    version: VersionOpt = None,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Would a person with this role, kind and status be allowed ACTION? Exit code 3 when denied."""
    from custodata.access.actions import CUSTOMER_UNMASK
    from custodata.access.engine import AccessDecision

    with _clean_errors():
        when = None
        if at is not None:
            try:
                when = dt.datetime.fromisoformat(at)
            except ValueError:
                raise CustodataError(f"--at: '{at}' is not an ISO date-time, e.g. 2026-03-04T22:00+08:00") from None
        subject = _Subject(person_id="cli-check", role=role, kind=kind, branch=branch, status=status)
        with _policies(out, db) as policies:
            engine = policies.engine(version) if version else policies.current()
            decision: AccessDecision
            if field is not None:
                if action != CUSTOMER_UNMASK:
                    raise CustodataError(f"--field goes with --action {CUSTOMER_UNMASK}")
                decision = engine.check_unmask(subject, field, purpose, at=when)
            else:
                decision = engine.check(subject, action, at=when)
        style = "green" if decision.allowed else "red"
        console.print(f"[{style}]{escape(decision.reason)}[/]")
        console.print(escape(decision.reason_zh))
        if not decision.allowed:
            raise typer.Exit(DENIED_EXIT)


class _Subject:
    """The hypothetical person a ``policy check`` asks about."""

    def __init__(self, *, person_id: str, role: str, kind: str, branch: str, status: str) -> None:
        self.person_id = person_id
        self.role = role
        self.kind = kind
        self.branch = branch
        self.status = status
