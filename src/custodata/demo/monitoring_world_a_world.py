"""The simulated institution: branches, a customer universe with value classes, and its people.

Detectors are judged on how well they tell an insider from a colleague doing
the same job, so the world has the structure real ones have: most customers
are ordinary individuals, a few are high-net-worth or corporate; customers
belong to branches of very different size; people sit in a branch in a role,
outsourced call-centre agents and partners carry a portfolio, head-office
staff see every branch.  Everything is drawn from one seeded generator, so the
same seed gives the same world.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from custodata.errors import CustodataError

BRANCHES: tuple[str, ...] = (
    "北京朝阳支行", "上海浦东支行", "广州天河支行", "深圳福田支行", "北京海淀支行", "上海静安支行",
    "杭州西湖支行", "南京鼓楼支行", "成都锦江支行", "武汉江汉支行", "西安雁塔支行", "天津和平支行",
    "重庆渝中支行", "苏州工业园区支行", "青岛市南支行", "厦门思明支行",
)
HEAD_OFFICE = "总行"
VALUE_CLASSES: tuple[str, ...] = ("individual", "sme", "corporate", "high_net_worth")
VALUE_SHARES: tuple[float, ...] = (0.86, 0.07, 0.04, 0.03)
HIGH_VALUE: frozenset[str] = frozenset({"corporate", "high_net_worth"})

# (role, kind, share of the staff); analysts are the heavy-but-legitimate "batch-reporting analyst" persona
STAFF_MIX: tuple[tuple[str, str, float], ...] = (
    ("front_desk", "employee", 0.38),
    ("outsourced_agent", "outsourced", 0.24),
    ("marketer", "employee", 0.13),
    ("analyst", "employee", 0.06),
    ("outsourced_agent", "partner", 0.05),
    ("data_steward", "employee", 0.05),
    ("auditor", "employee", 0.03),
    ("security_officer", "employee", 0.03),
    ("administrator", "employee", 0.03),
)
HEAD_OFFICE_ROLES = frozenset({"analyst", "data_steward", "auditor", "security_officer", "administrator"})
_SURNAMES = ("wang", "li", "zhang", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu", "xu", "sun", "hu",
             "zhu", "gao", "lin", "he", "guo", "ma", "luo", "liang", "song", "zheng", "xie", "han", "tang")
_INITIALS = "abcdefghjklmnpqrstwxyz"


class SimulationError(ValueError, CustodataError):
    """The simulation cannot be set up as asked (too few people for the injections, bad customers file)."""


@dataclass(frozen=True)
class Customers:
    """The customer universe: parallel tuples, plus index arrays per branch and per value class."""

    ids: tuple[str, ...]
    value_class: tuple[str, ...]
    branches: tuple[tuple[str, ...], ...]
    by_branch: dict[str, np.ndarray] = field(repr=False, compare=False)
    high_value: np.ndarray = field(repr=False, compare=False)

    @classmethod
    def build(cls, ids: Sequence[str], value_class: Sequence[str], branches: Sequence[tuple[str, ...]]) -> Customers:
        members: dict[str, list[int]] = {}
        for i, bs in enumerate(branches):
            for b in bs:
                members.setdefault(b, []).append(i)
        high = np.array([i for i, v in enumerate(value_class) if v in HIGH_VALUE], dtype=np.int64)
        return cls(tuple(ids), tuple(value_class), tuple(tuple(b) for b in branches),
                   {b: np.array(ix, dtype=np.int64) for b, ix in members.items()}, high)

    def __len__(self) -> int:
        return len(self.ids)

    def branch_names(self) -> list[str]:
        """Branches holding customers, most populated first."""
        return sorted(self.by_branch, key=lambda b: (-len(self.by_branch[b]), b))


def make_customers(n: int, branches: Sequence[str], rng: np.random.Generator) -> Customers:
    """``n`` customers; branch sizes uneven (a few big city branches), one in ten with a second branch."""
    if n < 1:
        raise SimulationError(f"the customer universe needs at least one customer, not {n}")
    weights = 1.0 / np.arange(1, len(branches) + 1) ** 0.6
    weights /= weights.sum()
    primary = rng.choice(len(branches), size=n, p=weights)
    second = rng.choice(len(branches), size=n, p=weights)
    has_second = rng.random(n) < 0.1
    classes = rng.choice(len(VALUE_CLASSES), size=n, p=VALUE_SHARES)
    ids = [f"C{i:09d}" for i in range(1, n + 1)]
    bs = [(branches[p],) if not h or s == p else (branches[p], branches[s])
          for p, s, h in zip(primary.tolist(), second.tolist(), has_second.tolist(), strict=True)]
    return Customers.build(ids, [VALUE_CLASSES[c] for c in classes.tolist()], bs)


def read_customers(path: Path) -> Customers:
    """A customers file as this simulator writes it: ``customer_id,value_class,branches`` (branches ';'-joined)."""
    ids: list[str] = []
    classes: list[str] = []
    branches: list[tuple[str, ...]] = []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"customer_id", "value_class", "branches"} - set(reader.fieldnames or ())
            if missing:
                raise SimulationError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                                      "expected customer_id,value_class,branches")
            for line, row in enumerate(reader, start=2):
                cid, value = (row["customer_id"] or "").strip(), (row["value_class"] or "").strip()
                bs = tuple(b for b in (row["branches"] or "").split(";") if b)
                if not cid or value not in VALUE_CLASSES or not bs:
                    raise SimulationError(f"{path}: line {line}: need a customer id, a value class "
                                          f"({', '.join(VALUE_CLASSES)}) and at least one branch")
                ids.append(cid)
                classes.append(value)
                branches.append(bs)
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read the customers file ({exc.strerror})") from None
    if not ids:
        raise SimulationError(f"{path}: no customers")
    return Customers.build(ids, classes, branches)


def write_customers(customers: Customers, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("customer_id", "value_class", "branches"))
        for cid, value, bs in zip(customers.ids, customers.value_class, customers.branches, strict=True):
            writer.writerow((cid, value, ";".join(bs)))


@dataclass
class SimPerson:
    """One member of staff and the habits the simulator gives them (the people file carries the public part)."""

    actor: str
    kind: str
    role: str
    branch: str
    address: str
    shift_start: float            # local hour the working day starts
    shift_end: float              # local hour it ends
    pace: float                   # this person's activity relative to the role's average
    status: str = "active"
    status_date: dt.date | None = None
    portfolio: tuple[int, ...] = ()          # customer indices
    second_address: str | None = None        # a laptop or VPN address used on some days
    injected: bool = False

    def branch_bound(self) -> bool:
        return self.branch != HEAD_OFFICE


def _counts(n: int) -> list[int]:
    """People per :data:`STAFF_MIX` row: largest remainders, at least one of each of the first rows when room."""
    shares = [s for _, _, s in STAFF_MIX]
    raw = [n * s for s in shares]
    counts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    for i in range(min(len(counts), n)):  # small worlds still get one of each role, taken from the biggest
        if counts[i] == 0:
            biggest = max(range(len(counts)), key=lambda k: counts[k])
            if counts[biggest] > 1:
                counts[biggest] -= 1
                counts[i] += 1
    return counts


def make_people(n: int, customers: Customers, branches: Sequence[str], rng: np.random.Generator) -> list[SimPerson]:
    """``n`` people in roles by :data:`STAFF_MIX`; branch-bound roles spread over branches by customer share."""
    if n < 1:
        raise SimulationError(f"--people must be at least 1, not {n}")
    sizes = np.array([len(customers.by_branch.get(b, ())) for b in branches], dtype=float)
    if sizes.sum() == 0:
        raise SimulationError("no customer belongs to any of the simulated branches")
    share = sizes / sizes.sum()
    people: list[SimPerson] = []
    used: set[str] = set()
    for (role, kind, _), count in zip(STAFF_MIX, _counts(n), strict=True):
        for _ in range(count):
            branch = HEAD_OFFICE if role in HEAD_OFFICE_ROLES else branches[int(rng.choice(len(branches), p=share))]
            actor = _login(rng, used)
            b_ix = branches.index(branch) + 10 if branch != HEAD_OFFICE else 1
            if role == "outsourced_agent":
                address = f"10.{200 + (kind == 'partner')}.{int(rng.integers(0, 64))}.{int(rng.integers(2, 254))}"
                early = bool(rng.random() < 0.5)
                start, end = (8.0, 16.5) if early else (11.5, 20.0)
            else:
                address = f"10.{b_ix}.{int(rng.integers(0, 64))}.{int(rng.integers(2, 254))}"
                start = float(rng.normal(8.75, 0.25))
                end = float(rng.normal(17.75, 0.4))
                if role == "analyst":
                    start, end = 9.0, 18.0
            person = SimPerson(actor, kind, role, branch, address, start, end,
                               pace=float(np.clip(rng.lognormal(0.0, 0.25), 0.5, 2.0)))
            if rng.random() < 0.12:
                person.second_address = f"10.99.{int(rng.integers(0, 64))}.{int(rng.integers(2, 254))}"
            if role == "outsourced_agent":
                pool = customers.by_branch.get(branch, np.arange(len(customers)))
                size = min(len(pool), int(rng.integers(80, 160) if kind == "partner" else rng.integers(150, 260)))
                person.portfolio = tuple(sorted(int(c) for c in rng.choice(pool, size=size, replace=False)))
            people.append(person)
    return people


def _login(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        surname = _SURNAMES[int(rng.integers(0, len(_SURNAMES)))]
        initials = "".join(_INITIALS[int(i)] for i in rng.integers(0, len(_INITIALS), size=2))
        login = f"{surname}.{initials}{int(rng.integers(1, 1000)):03d}"
        if login not in used:
            used.add(login)
            return login


def write_people(people: Sequence[SimPerson], customers: Customers, path: Path) -> None:
    """``actor,kind,role,branch,status,status_date,portfolio`` — the monitoring's people file layout."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("actor", "kind", "role", "branch", "status", "status_date", "portfolio"))
        for p in people:
            writer.writerow((p.actor, p.kind, p.role, p.branch, p.status,
                             p.status_date.isoformat() if p.status_date else "",
                             ";".join(customers.ids[i] for i in p.portfolio)))


__all__ = ["BRANCHES", "HEAD_OFFICE", "HEAD_OFFICE_ROLES", "HIGH_VALUE", "STAFF_MIX", "VALUE_CLASSES", "Customers",
           "SimPerson", "SimulationError", "make_customers", "make_people", "read_customers", "write_customers",
           "write_people"]
