"""What every ``custodata`` command shares: the consoles, the output-folder option, clean errors.

Kept apart from :mod:`custodata.cli.app` so command groups in their own modules
can import it without importing the main app (which imports them to register).
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from custodata.errors import CustodataError

if TYPE_CHECKING:
    from custodata.ops.store import OpsStore
    from custodata.service.context import Services

console = Console()
err_console = Console(stderr=True)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder holding the store and published files.")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="SQLAlchemy URL of the operational store (default: CUSTODATA_DB_URL, else OUT/custodata.sqlite).")]


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Turn custodata's errors into one line on stderr and exit code 1 — never a traceback."""
    from custodata.cli.render import print_error

    try:
        yield
    except CustodataError as exc:
        print_error(err_console, str(exc))
        raise typer.Exit(1) from None
    except Exception as exc:  # a driver's or library's error: one line, never a traceback
        from custodata.engine import is_engine_error

        if is_engine_error(exc):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print_error(err_console, f"store: {first}")
            raise typer.Exit(1) from None
        if type(exc).__module__.startswith("splink"):
            print_error(err_console, f"entity resolution: {str(exc).strip().splitlines()[0]}")
            raise typer.Exit(1) from None
        raise


@contextmanager
def operational_store(out: Path, db: str | None) -> Iterator[OpsStore]:
    """The deployment's operational store (``--db``, else the folder's default), closed after.

    Every command opens it here, so a driver's error — at the open or in the command's
    work — is the same one line naming the store, never a traceback with a URL in it.
    """
    import sqlalchemy as sa

    from custodata.ops.store import open_ops

    try:
        store = open_ops(db, out_dir=out)
    except sa.exc.SQLAlchemyError as exc:
        raise CustodataError(f"operational store: {str(exc).strip().splitlines()[0]}") from None
    try:
        yield store
    except sa.exc.SQLAlchemyError as exc:
        raise CustodataError(f"operational store: {str(exc).strip().splitlines()[0]}") from None
    finally:
        store.close()


@contextmanager
def services(out: Path, db: str | None) -> Iterator[Services]:
    """The deployment's service layer (policy, audit with its signing key, approvals) on that store."""
    from custodata.service.context import Services

    with operational_store(out, db) as store:
        yield Services(store, out)  # closing the services is closing their store


def _require_store(out: Path) -> Path:
    path = out / "custodata.duckdb"
    if not path.exists():
        raise CustodataError(f"no custodata store in {out}: run `custodata run INPUT --out {out}` first")
    return path


def cli_actor() -> str:
    """``cli:<os login name>``: whoever can run the terminal commands on this machine."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry in a bare container
        return "cli:unknown"


def parse_time(option: str, value: str | None) -> dt.datetime | None:
    """A command-line date or date-time as naive UTC (an offset, if given, is converted)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CustodataError(f"{option}: not a date or date-time: {value!r} (e.g. 2026-12-31 or 2026-12-31T18:00)") \
            from None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
