"""Who the people are and what the customers are worth: the context generic UEBA products lack.

Detection compares a person with their own past and with their peers (role ×
branch), judges scope by their branch and portfolio, watches leaving and
transferred people more closely, and weighs what was touched by the
customer's value class.  People come from a CSV file (for other systems' logs)
or from custodata's identity directory; customers from a CSV file, a dict or
the served customer view.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from custodata.errors import ConfigError, CustodataError, SourceError
from custodata.people_vocabulary import PERSON_KINDS, PERSON_STATUSES

if TYPE_CHECKING:
    from custodata.identity.directory import Directory
    from custodata.serving.served_view import ServedView

KINDS = PERSON_KINDS
STATUSES = PERSON_STATUSES
VALUE_CLASSES = ("high_net_worth", "corporate", "sme", "individual")
SCOPES = ("", "portfolio", "branch", "institution")


class PeopleFileError(ConfigError):
    """The people or customers file is wrong: the message names the file, the line and the column."""


@dataclass(frozen=True, slots=True)
class PersonInfo:
    """A person as detection needs them; ``portfolio`` holds customer ids they are assigned."""

    actor: str
    kind: str = "employee"
    role: str = ""
    branch: str = ""
    status: str = "active"
    status_date: dt.date | None = None
    portfolio: frozenset[str] = frozenset()
    shift: tuple[str, ...] = ()        # roster patterns (names in monitoring.yaml, or "HH:MM-HH:MM" every day)
    scope: str = ""                    # "institution": reads every branch's customers by office (head office)

    @property
    def peer_group(self) -> tuple[str, str]:
        """Role × branch: a call-centre agent is compared with call-centre agents of the same centre."""
        return (self.role, self.branch)


def _choice(path: Path, line: int, column: str, value: str, allowed: tuple[str, ...]) -> str:
    v = value.strip().lower()
    if v not in allowed:
        raise PeopleFileError(f"{path}: line {line}: {column} '{value[:40]}' is not one of {', '.join(allowed)}")
    return v


def read_people(path: Path | str) -> dict[str, PersonInfo]:
    """People by actor from CSV ``actor,kind,role,branch,status,status_date[,portfolio][,shift][,scope]``.

    ``portfolio`` and ``shift`` are ';'-joined; ``shift`` names roster patterns of
    ``monitoring.yaml`` (or is ``HH:MM-HH:MM``, worked every day); ``scope`` is
    ``institution`` for head-office staff who serve every branch.
    """
    path = Path(path)
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise PeopleFileError(f"{path}: people file not found") from None
    people: dict[str, PersonInfo] = {}
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("actor", "kind", "role", "branch", "status") if c not in (reader.fieldnames or [])]
        if missing:
            raise PeopleFileError(f"{path}: header lacks column(s) {', '.join(missing)}; expected "
                                  "actor,kind,role,branch,status,status_date[,portfolio]")
        for row in reader:
            line = reader.line_num
            actor = (row.get("actor") or "").strip()
            if not actor:
                raise PeopleFileError(f"{path}: line {line}: actor is empty")
            if actor in people:
                raise PeopleFileError(f"{path}: line {line}: actor '{actor}' listed twice")
            raw_date = (row.get("status_date") or "").strip()
            try:
                status_date = dt.date.fromisoformat(raw_date[:10]) if raw_date else None
            except ValueError:
                raise PeopleFileError(f"{path}: line {line}: status_date '{raw_date[:20]}' is not YYYY-MM-DD") from None
            portfolio = frozenset(c.strip() for c in (row.get("portfolio") or "").split(";") if c.strip())
            shift = tuple(s.strip() for s in (row.get("shift") or "").split(";") if s.strip())
            people[actor] = PersonInfo(
                actor=actor, kind=_choice(path, line, "kind", row.get("kind") or "", KINDS),
                role=(row.get("role") or "").strip(), branch=(row.get("branch") or "").strip(),
                status=_choice(path, line, "status", row.get("status") or "", STATUSES),
                status_date=status_date, portfolio=portfolio, shift=shift,
                scope=_choice(path, line, "scope", row.get("scope") or "", SCOPES),
            )
    return people


def write_people(path: Path | str, people: Iterable[PersonInfo]) -> int:
    """Write people in the layout :func:`read_people` reads (for simulators and exports)."""
    n = 0
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actor", "kind", "role", "branch", "status", "status_date", "portfolio", "shift", "scope"])
        for p in people:
            writer.writerow([p.actor, p.kind, p.role, p.branch, p.status,
                             p.status_date.isoformat() if p.status_date else "", ";".join(sorted(p.portfolio)),
                             ";".join(p.shift), p.scope])
            n += 1
    return n


def people_from_directory(directory: Directory) -> dict[str, PersonInfo]:
    """Everyone in custodata's identity directory, with their first role and their portfolio."""
    out: dict[str, PersonInfo] = {}
    for person in directory.people():
        out[person.person_id] = PersonInfo(
            actor=person.person_id, kind=person.kind, role=person.roles[0] if person.roles else "",
            branch=person.branch, status=person.status, status_date=person.status_changed_at.date(),
            portfolio=frozenset(directory.portfolio(person.person_id)),
        )
    return out


class CustomerInfo(Protocol):
    """What detection needs to know about a customer: their value class and the branches that serve them."""

    def value_of(self, customer_id: str) -> str | None:
        """``high_net_worth``, ``corporate``, ``sme``, ``individual`` … or None when unknown."""
        ...

    def branches_of(self, customer_id: str) -> frozenset[str]:
        """Branches whose business records the customer has; empty when unknown."""
        ...


class StaticCustomers:
    """Customer facts held in memory: from a dict, a CSV file or a test."""

    def __init__(self, values: Mapping[str, str] | None = None,
                 branches: Mapping[str, Iterable[str]] | None = None) -> None:
        self._values: dict[str, str] = dict(values or {})
        self._branches: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in (branches or {}).items()}
        self._serving: frozenset[str] | None = None

    def value_of(self, customer_id: str) -> str | None:
        return self._values.get(customer_id)

    def branches_of(self, customer_id: str) -> frozenset[str]:
        return self._branches.get(customer_id, frozenset())

    def serving_branches(self) -> frozenset[str]:
        """Every branch that serves at least one known customer (a branch not among them is head office)."""
        if self._serving is None:
            self._serving = frozenset(b for bs in self._branches.values() for b in bs)
        return self._serving

    def __len__(self) -> int:
        return len(self._values.keys() | self._branches.keys())


def read_customers(path: Path | str) -> StaticCustomers:
    """Customers from CSV ``customer_id,value_class,branches`` (branches ';'-joined)."""
    path = Path(path)
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise PeopleFileError(f"{path}: customers file not found") from None
    values: dict[str, str] = {}
    branches: dict[str, frozenset[str]] = {}
    with fh:
        reader = csv.DictReader(fh)
        if "customer_id" not in (reader.fieldnames or []):
            raise PeopleFileError(f"{path}: header lacks customer_id; expected customer_id,value_class,branches")
        for row in reader:
            cid = (row.get("customer_id") or "").strip()
            if not cid:
                raise PeopleFileError(f"{path}: line {reader.line_num}: customer_id is empty")
            value = (row.get("value_class") or "").strip().lower()
            if value:
                values[cid] = value
            b = frozenset(x.strip() for x in (row.get("branches") or "").split(";") if x.strip())
            if b:
                branches[cid] = b
    return StaticCustomers(values, branches)


class ServedCustomers:
    """Customer facts from the served customer view, cached so a burst of events costs one read per customer."""

    def __init__(self, view: ServedView, *, cache_size: int = 100_000) -> None:
        self._view = view

        @lru_cache(maxsize=cache_size)
        def facts(customer_id: str) -> tuple[str | None, frozenset[str]]:
            try:
                doc = view.get_encrypted(customer_id)
                branches = view.branches_of(customer_id)
            except (CustodataError, SourceError):
                return None, frozenset()
            profile = doc.get("profile") or {}
            value = profile.get("customer_type") or profile.get("segment") if isinstance(profile, dict) else None
            return (str(value).lower() if value else None), branches

        self._facts = facts

    def value_of(self, customer_id: str) -> str | None:
        return self._facts(customer_id)[0]

    def branches_of(self, customer_id: str) -> frozenset[str]:
        return self._facts(customer_id)[1]
