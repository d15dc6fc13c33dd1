"""The terminal as a client like any other: every display of customer data goes through the service.

Whoever runs ``custodata`` acts as ``cli:<os login name>`` in role ``cli`` of the policy
in force (:func:`custodata.service.terminal.terminal_caller`).  ``show``, ``match`` and
the demo's example view call :mod:`custodata.service.customers` — they read the served
view in the operational store, mask by the policy version in force, and the access
decision and the audit event (allowed or denied) are the service's own.  Nothing here
reads the batch store or writes an audit event itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custodata.cli.common import cli_actor, services
from custodata.errors import CustodataError
from custodata.service.context import AccessDenied, Caller, Services

# what the terminal may search by without an unmask rule (an ID number or mobile is a use of it)
IDENTIFIER_HINT = ("a search by ID number or mobile needs the unmask right and an unmask rule for that field, "
                   "which role cli does not have in the shipped policy; search by --name or --customer-id")


class TerminalQueryError(ValueError, CustodataError):
    """A query the service refused as malformed (no criteria …): one clean line, like any refusal."""


@dataclass
class Terminal:
    """The service and the terminal's caller, for one command."""

    svc: Services
    caller: Caller

    def view(self, customer_id: str, *, purpose: str | None = None) -> dict[str, Any]:
        """The 360° view as role ``cli`` may see it (:func:`custodata.service.customers.view`)."""
        from custodata.service.customers import view

        return view(self.svc, self.caller, customer_id, purpose=purpose)

    def search(self, *, name: str | None = None, id_number: str | None = None, mobile: str | None = None,
               customer_id: str | None = None, purpose: str | None = None, limit: int) -> list[dict[str, Any]]:
        """Search before create (:func:`custodata.service.customers.search`), refusals as clean errors."""
        from custodata.service.customers import search

        try:
            return search(self.svc, self.caller, name=name, id_number=id_number, mobile=mobile,
                          customer_id=customer_id, purpose=purpose, limit=limit)
        except AccessDenied as exc:
            if (id_number or mobile) and str(exc).startswith("a search by "):
                raise AccessDenied(f"{exc} — {IDENTIFIER_HINT}", exc.decision) from None
            raise
        except CustodataError:
            raise
        except ValueError as exc:  # the service's "give at least one of …" (already audited there)
            raise TerminalQueryError(str(exc)) from None


def require_served(out: Path, db: str | None) -> None:
    """Refuse a folder with no operational store before opening one (which would create it)."""
    from custodata.ops.store import URL_ENV

    if db is None and not os.environ.get(URL_ENV) and not (out / "custodata.sqlite").exists():
        raise CustodataError(f"no custodata store in {out}: run `custodata run INPUT --out {out}` first")


@contextmanager
def terminal(out: Path, db: str | None = None) -> Iterator[Terminal]:
    """The service layer of the output folder's operational store (``--db`` / ``CUSTODATA_DB_URL``)."""
    from custodata.service.terminal import terminal_caller

    require_served(out, db)
    with services(out, db) as svc:
        yield Terminal(svc, terminal_caller(cli_actor()))
