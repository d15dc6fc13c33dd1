"""``custodata people``: the directory of people from the terminal; verbs mirror :class:`Directory`.

The acting person is recorded as ``cli:<os login name>``: whoever can run the
CLI against the store administers it, and the audit log says who that was.
Passwords are read with a hidden prompt or from standard input, never from an option.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from custodata.cli.common import DbOpt, _clean_errors, cli_actor, console, operational_store, parse_time
from custodata.errors import CustodataError

if TYPE_CHECKING:
    from custodata.audit.events import AuditSink
    from custodata.identity.directory import Directory
    from custodata.ops.store import OpsStore

people_app = typer.Typer(
    help="The directory of people [人员目录]: staff, outsourced agents and partners, their roles and portfolios.",
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the operational store.")]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="Login name of the person.")]


def register(app: typer.Typer) -> None:
    """Attach ``people`` to the main CLI."""
    app.add_typer(people_app, name="people")


actor = cli_actor  # ``cli:<os login name>``


def _audit_sink(store: OpsStore, out: Path) -> AuditSink:
    """The hash-chained audit log of the store, its checkpoints signed with the folder's key."""
    from custodata.audit.log import AuditLog

    sink: AuditSink = AuditLog.for_out_dir(store, out)
    return sink


@contextmanager
def _directory(out: Path, db: str | None) -> Iterator[Directory]:
    from custodata.identity.directory import Directory

    with operational_store(out, db) as store:
        yield Directory(store, _audit_sink(store, out))


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CustodataError("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _when(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "—"


_parse_time = parse_time


PasswordStdinOpt = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input instead of prompting.")]


@people_app.command("add")
def add(
    person_id: IdArg,
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 王晓燕.")],
    kind: Annotated[str, typer.Option("--kind", help="employee | outsourced | partner")],
    branch: Annotated[str, typer.Option("--branch", help="Branch the person works for, e.g. 北京朝阳支行.")],
    role: Annotated[list[str] | None, typer.Option("--role", help="A role to grant (repeat for several).")] = None,
    valid_from: Annotated[str | None, typer.Option(help="Start of validity (UTC, ISO date); default now.")] = None,
    valid_to: Annotated[str | None, typer.Option(help="End of validity, exclusive (UTC, ISO date); default none.")
                        ] = None,
    password_stdin: PasswordStdinOpt = False,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Add a person with a first password and roles (separation of duties is enforced)."""
    from custodata.identity.roles import role_label

    with _clean_errors():
        start, end = _parse_time("--valid-from", valid_from), _parse_time("--valid-to", valid_to)
        password = _read_password(password_stdin)
        with _directory(out, db) as directory:
            person = directory.create_person(person_id, name, kind, branch, password=password, roles=role or (),
                                             valid_from=start, valid_to=end, by=actor())
        roles = ", ".join(role_label(r) for r in person.roles) or "no role"
        console.print(f"added {person.person_id} ({person.display_name}, {person.kind}, {person.branch}): {roles}")


@people_app.command("list")
def list_people(
    kind: Annotated[str | None, typer.Option(help="Only this kind: employee | outsourced | partner.")] = None,
    branch: Annotated[str | None, typer.Option(help="Only this branch.")] = None,
    status: Annotated[str | None, typer.Option(
        help="Only this status: active | transferred | leaving | left | frozen.")] = None,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """List people with their roles, status and validity."""
    from custodata.identity.roles import role_label

    with _clean_errors(), _directory(out, db) as directory:
        people = directory.people(kind=kind, branch=branch, status=status)
        now = directory.now()
    table = Table(title="人员 People", caption=f"{len(people)} people; times in UTC")
    for col in ("login", "name", "kind", "branch", "status", "roles", "valid from", "valid to", "locked until"):
        table.add_column(col, no_wrap=col in ("login", "status"))
    for p in people:
        locked = _when(p.locked_until) if p.locked_until and p.locked_until > now else ""
        table.add_row(p.person_id, p.display_name, p.kind, p.branch, p.status,
                      "\n".join(role_label(r) for r in p.roles) or "—", _when(p.valid_from), _when(p.valid_to),
                      locked)
    console.print(table)


@people_app.command("status")
def status(
    person_id: IdArg,
    new_status: Annotated[str, typer.Argument(
        metavar="STATUS", help="active | transferred | leaving | left | frozen (left and frozen end every session).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log), e.g. the HR ticket.")],
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Change a person's status; it takes effect on their next request."""
    with _clean_errors(), _directory(out, db) as directory:
        changed = directory.set_status(person_id, new_status, by=actor(), reason=reason)
    console.print(f"{person_id} is now {new_status}" if changed else f"{person_id} was already {new_status}")


@people_app.command("grant")
def grant(
    person_id: IdArg,
    role: Annotated[str, typer.Argument(help="Role to grant, e.g. front_desk.")],
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Grant a role (refused if it breaks separation of duties)."""
    with _clean_errors(), _directory(out, db) as directory:
        granted = directory.grant_role(person_id, role, by=actor())
    console.print(f"granted {role} to {person_id}" if granted else f"{person_id} already holds {role}")


@people_app.command("revoke")
def revoke(
    person_id: IdArg,
    role: Annotated[str, typer.Argument(help="Role to take away.")],
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Revoke a role; sessions acting in it end at once."""
    with _clean_errors(), _directory(out, db) as directory:
        revoked = directory.revoke_role(person_id, role, by=actor())
    console.print(f"revoked {role} from {person_id}" if revoked else f"{person_id} does not hold {role}")


@people_app.command("password")
def password(
    person_id: IdArg,
    password_stdin: PasswordStdinOpt = False,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Set a new password (unlocks the account and ends its live sessions)."""
    with _clean_errors():
        secret = _read_password(password_stdin)
        with _directory(out, db) as directory:
            directory.set_password(person_id, secret, by=actor())
    console.print(f"password of {person_id} set")


@people_app.command("portfolio")
def portfolio(
    person_id: IdArg,
    add: Annotated[list[str] | None, typer.Option("--add", help="Customer id to add (repeat for several).")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Customer id to remove (repeatable).")
                      ] = None,
    out: OutOpt = Path("out"),
    db: DbOpt = None,
) -> None:
    """Show a person's portfolio (the customers they serve), adding or removing customers first."""
    with _clean_errors(), _directory(out, db) as directory:
        if add:
            directory.add_to_portfolio(person_id, add, by=actor())
        if remove:
            gone = set(remove)
            directory.set_portfolio(person_id, [c for c in directory.portfolio(person_id) if c not in gone],
                                    by=actor())
        customers = directory.portfolio(person_id)
    console.print(f"{person_id} serves {len(customers)} customers" + (": " + ", ".join(customers) if customers
                                                                        else ""))


@people_app.command("mfa-reset")
def mfa_reset(person_id: IdArg, out: OutOpt = Path("out"), db: DbOpt = None) -> None:
    """Remove a person's second factor and recovery codes (a lost phone); their sessions end at once."""
    with _clean_errors(), _directory(out, db) as directory:
        removed = directory.reset_mfa(person_id, by=actor())
    console.print(f"second factor of {person_id} removed; they enrol again before their next login" if removed
                  else f"{person_id} has no second factor")


@people_app.command("scim-token")
def scim_token() -> None:
    """Make a bearer token for the IdP's SCIM connector: the token once, and the SHA-256 for the configuration.

    Give the token to the IdP (its SCIM connector's "secret token"), paste the hash as
    ``scim.token_sha256`` into the file ``CUSTODATA_IDENTITY_CONFIG`` names; custodata keeps
    only the hash, so a copy of its configuration opens nothing.
    """
    import hashlib
    import secrets

    token = secrets.token_urlsafe(32)
    console.print(f"token (give it to the IdP, shown once): {token}", soft_wrap=True, highlight=False)
    console.print(f"scim.token_sha256: {hashlib.sha256(token.encode()).hexdigest()}", soft_wrap=True,
                  highlight=False)
