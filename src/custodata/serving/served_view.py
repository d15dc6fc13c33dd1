"""Reading the served customer view: one indexed read per look-up (two for an unknown id).

Every read names the active generation.  It is cached for a moment (one small read
saved per request); when a look-up misses and the active generation has moved on
meanwhile, the look-up is repeated once on the new one, so a reader crossing a
publish sees the old view or the new one, never an error in between.

Documents are kept encrypted; :meth:`ServedView.get` decrypts them with the
served keys for the masking layer, which every caller must apply before a person
sees anything.  Search by ID number or mobile compares keyed tokens made exactly
as the pipeline makes them, so no plaintext identifier is stored or compared.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa

from custodata.crypto.envelope import Protector
from custodata.crypto.keyring import CUSTOMER_KEY_PREFIX, customer_key_id
from custodata.domains.business import token_kind
from custodata.errors import ConfigError, CustodataError, NotFoundError
from custodata.normalise import normalise_company_name, normalise_id, normalise_mobile, normalise_name
from custodata.ops.store import OpsStore
from custodata.serving.customer_360 import decrypt_view
from custodata.serving.keys import ServedKeyRing, protector_from_ops
from custodata.serving.tables import ACTIVE, served_customer, served_generation, served_key, served_redirect

__all__ = ["InvalidQueryError", "ServedCustomer", "ServedView", "protector_from_ops"]

GENERATION_TTL = 1.0  # seconds the active generation is trusted without asking again
MAX_LIMIT = 1_000

T = TypeVar("T")


class InvalidQueryError(ValueError, CustodataError):
    """A search that cannot be answered as asked (no criteria, an ID number that is not one …)."""


class _Erased:
    """Marks an id the served view knows was erased (a redirect to nowhere)."""


_ERASED = _Erased()


def _branch_set(text: str | None) -> frozenset[str]:
    return frozenset(b for b in (text or "").split("|") if b)


def _checked_id(customer_id: object) -> str:
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise InvalidQueryError("give a customer id")
    return customer_id.strip()


def _not_found(customer_id: str, found: object) -> NoReturn:
    if isinstance(found, _Erased):
        raise NotFoundError(f"customer {customer_id} was erased")
    raise NotFoundError(f"customer {customer_id} not found")


def _found(customer_id: str, found: object) -> sa.Row[Any]:
    if not isinstance(found, sa.Row):
        _not_found(customer_id, found)
    return found


@dataclass(frozen=True)
class ServedCustomer:
    """One customer's decrypted view (for the masking layer only) and branches (for the row rule)."""

    view: dict[str, Any]
    branches: frozenset[str]
    # the branches of the related customers the view names, read on the document's connection
    # (by the id the relationship names; unknown and erased ones left out, see branches_of_many)
    related: dict[str, frozenset[str]] = field(default_factory=dict)


# a document read: its row, the parsed document, the related customers' branches, whether one was missed
_DocumentRead = tuple[sa.Row[Any], dict[str, Any], dict[str, frozenset[str]], bool]


def _related_ids(doc: dict[str, Any]) -> list[str]:
    """The customer ids the document's relationships name (custodata's own ids, stored in plain)."""
    rels = doc.get("relationships") or ()
    return sorted({str(r["other_id"]).strip() for r in rels
                   if isinstance(r, dict) and r.get("other_id") is not None and str(r["other_id"]).strip()})


def _document_statement() -> sa.Select[Any]:
    """The hot read, built once (bound parameters only) so SQLAlchemy compiles it once per dialect.

    The redirect of a merged id is a sub-select of the primary-key read, and the
    customer's wrapped data key an outer join on the survivor's key id.
    """
    generation, wanted = sa.bindparam("generation", type_=sa.Integer), sa.bindparam("customer_id", type_=sa.String)
    redirect = (sa.select(served_redirect.c.customer_id)
                .where(served_redirect.c.generation == generation, served_redirect.c.old_id == wanted)
                .scalar_subquery())
    c = served_customer.c
    key_id = sa.literal(CUSTOMER_KEY_PREFIX, sa.String) + c.customer_id
    return (sa.select(c.customer_id, c.doc, c.branches, served_key.c.key_id, served_key.c.kek_version,
                      served_key.c.wrapped)
            .select_from(served_customer.outerjoin(served_key, served_key.c.key_id == key_id))
            .where(c.generation == generation, c.customer_id == sa.func.coalesce(redirect, wanted)))


_DOCUMENT_STMT = _document_statement()
_ERASED_STMT = (sa.select(served_redirect.c.old_id)
                .where(served_redirect.c.generation == sa.bindparam("generation", type_=sa.Integer),
                       served_redirect.c.old_id == sa.bindparam("customer_id", type_=sa.String),
                       served_redirect.c.customer_id.is_(None)))


def _branches_statement() -> sa.CompoundSelect[Any]:
    """Many customers' branches at once (a view's related customers), merged ids followed: one statement.

    The ids asked for found as customers, and those found as redirects with their
    survivor's branches (``found_id`` NULL: survivor not there; ``customer_id`` NULL:
    erased).  Built once, so SQLAlchemy compiles it once per dialect (the ids are an
    expanding parameter).
    """
    generation = sa.bindparam("generation", type_=sa.Integer)
    ids: sa.BindParameter[str] = sa.bindparam("ids", type_=sa.String, expanding=True)
    c, r = served_customer.c, served_redirect.c
    direct = sa.select(c.customer_id.label("asked"), c.customer_id.label("customer_id"),
                       c.customer_id.label("found_id"), c.branches, sa.literal(0).label("redirected")
                       ).where(c.generation == generation, c.customer_id.in_(ids))
    joined = served_redirect.outerjoin(served_customer, sa.and_(c.generation == r.generation,
                                                                c.customer_id == r.customer_id))
    moved = sa.select(r.old_id, r.customer_id, c.customer_id, c.branches, sa.literal(1)
                      ).select_from(joined).where(r.generation == generation, r.old_id.in_(ids))
    return sa.union_all(direct, moved)


_BRANCHES_STMT = _branches_statement()


class ServedView:
    """The published customer view in the operational store, for the service's look-ups."""

    def __init__(self, ops: OpsStore, protector: Protector | None = None, *,
                 generation_ttl: float = GENERATION_TTL) -> None:
        self.ops = ops
        self._protector = protector
        self._ttl = generation_ttl
        self._generation: int | None = None
        self._checked_at = float("-inf")
        self._fingerprints: dict[int, str | None] = {}
        self._verified: int | None = None
        self._lock = threading.Lock()
        self._reader = ops.reader

    # ---- generations ---------------------------------------------------------------------------

    def _read_generation(self) -> int | None:
        with self._connect() as con:
            row = con.execute(
                sa.select(served_generation.c.generation, served_generation.c.key_fingerprint)
                .where(served_generation.c.status == ACTIVE)
                .order_by(served_generation.c.generation.desc()).limit(1)
            ).first()
        generation = None if row is None else int(row.generation)
        with self._lock:
            if generation is not None:
                self._fingerprints[generation] = row.key_fingerprint if row is not None else None
            if generation != self._generation and self._protector is not None:
                keyring = self._protector.keyring
                if isinstance(keyring, ServedKeyRing):  # a destroyed or new key must be seen afresh
                    keyring.reload()
            self._generation = generation
            self._checked_at = time.monotonic()
        return generation

    def active_generation(self) -> int | None:
        """The generation being served (``None`` before the first publish); cached for ``generation_ttl``."""
        if time.monotonic() - self._checked_at < self._ttl:
            return self._generation
        return self._read_generation()

    def _require_generation(self) -> int:
        generation = self.active_generation()
        if generation is None:
            raise NotFoundError("no customer view has been published yet: run the pipeline first")
        return generation

    def _on_active(self, read: Callable[[int], T | None]) -> T | None:
        """``read(generation)``; on a miss, once more if a publish moved the active generation meanwhile."""
        generation = self._require_generation()
        found = read(generation)
        if found is None:
            newer = self._read_generation()
            if newer is not None and newer != generation:
                found = read(newer)
        return found

    @property
    def protector(self) -> Protector:
        """The protector, checked against the token key the active generation was published with."""
        if self._protector is None:
            self._protector = protector_from_ops(self.ops)
        generation = self.active_generation()
        if generation is not None and self._verified != generation:
            expected = self._fingerprints.get(generation)
            if expected is not None and expected != self._protector.fingerprint():
                raise ConfigError("the key file is not the one the served customer view was published with "
                                  "(token key fingerprint differs); configure the institution's key provider")
            self._verified = generation
        return self._protector

    # ---- one customer --------------------------------------------------------------------------

    def _find(self, generation: int, customer_id: str, columns: list[sa.ColumnElement[Any]]
              ) -> sa.Row[Any] | _Erased | None:
        """One statement on the hit path: the redirect (if any) is a sub-select of the primary-key read."""
        redirect = (sa.select(served_redirect.c.customer_id)
                    .where(served_redirect.c.generation == generation, served_redirect.c.old_id == customer_id)
                    .scalar_subquery())
        with self._connect() as con:
            row: sa.Row[Any] | None = con.execute(
                sa.select(*columns).where(served_customer.c.generation == generation,
                                          served_customer.c.customer_id == sa.func.coalesce(redirect, customer_id))
            ).first()
            if row is not None:
                return row
            return self._erased_or_none(con, generation, customer_id)

    @staticmethod
    def _erased_or_none(con: sa.Connection, generation: int, customer_id: str) -> _Erased | None:
        erased = con.execute(_ERASED_STMT, {"generation": generation, "customer_id": customer_id}).first()
        return _ERASED if erased is not None else None

    def _connect(self) -> sa.Connection:
        """A connection for single-statement reads: autocommit, so no BEGIN/ROLLBACK round trips."""
        return self._reader.connect()

    def _one(self, customer_id: str, *columns: sa.ColumnElement[Any]) -> sa.Row[Any]:
        customer_id = _checked_id(customer_id)
        wanted = [served_customer.c.customer_id, *columns]

        def read(generation: int) -> sa.Row[Any] | _Erased | None:
            return self._find(generation, customer_id, wanted)

        found = self._on_active(read)
        return _found(customer_id, found)

    def read(self, customer_id: str, *, related: bool = True) -> ServedCustomer:
        """The 360° view decrypted, the customer's branches and its related customers' branches.

        One statement for the document, one more for the related customers (if any and
        ``related``), on one connection.  The customer's own wrapped data key comes in the
        same row (``served_key`` joined on the survivor's key id), so a destroyed key is seen
        by this very read; the masking layer must still be applied before a person sees anything.
        """
        customer_id = _checked_id(customer_id)

        def read(generation: int) -> _DocumentRead | _Erased | None:
            with self._connect() as con:
                row: sa.Row[Any] | None = con.execute(
                    _DOCUMENT_STMT, {"generation": generation, "customer_id": customer_id}).first()
                if row is None:
                    return self._erased_or_none(con, generation, customer_id)
                doc: dict[str, Any] = json.loads(row.doc)
                others = _related_ids(doc) if related else []
                # the related customers' branches (for their row rule) on the same connection
                branches, missed = self._branches_on(con, generation, others) if others else ({}, False)
                return row, doc, branches, missed

        found = self._on_active(read)
        if not isinstance(found, tuple):
            _not_found(customer_id, found)
        row, doc, branches, missed = found
        if missed:  # a related customer not on this generation: maybe a publish moved on meanwhile
            branches = self.branches_of_many(_related_ids(doc))
        protector = self.protector
        keyring = protector.keyring
        if isinstance(keyring, ServedKeyRing) and row.key_id is not None:
            keyring.offer(customer_key_id(str(row.customer_id)), row.kek_version, row.wrapped)
        encrypted = {"customer_id": doc.pop("customer_id"), "requested_id": customer_id, **doc}
        return ServedCustomer(decrypt_view(encrypted, protector), _branch_set(row.branches), branches)

    def get_encrypted(self, customer_id: str) -> dict[str, Any]:
        """The customer's 360° view as served, protected fields still ciphertext; merged ids followed."""
        row = self._one(customer_id, served_customer.c.doc)
        doc: dict[str, Any] = json.loads(row.doc)
        return {"customer_id": doc.pop("customer_id"), "requested_id": customer_id.strip(), **doc}

    def get(self, customer_id: str) -> dict[str, Any]:
        """The 360° view with protected fields decrypted: for the masking layer, never for display as is."""
        return self.read(customer_id, related=False).view

    def branches_of(self, customer_id: str) -> frozenset[str]:
        """The branches of the customer's business records, for row rules by branch."""
        return _branch_set(self._one(customer_id, served_customer.c.branches).branches)

    def branches_of_many(self, customer_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """The branches of each customer found, by the id asked for (merged ids followed): two statements.

        For the row rule over a view's related customers, which a per-customer
        :meth:`branches_of` would read one statement (and one connection) each.
        An unknown, erased or blank id is left out of the answer (``branches_of`` raises for it).
        """
        wanted = sorted({c.strip() for c in customer_ids if isinstance(c, str) and c.strip()})
        if not wanted:
            return {}
        generation = self._require_generation()
        with self._connect() as con:
            found, missed = self._branches_on(con, generation, wanted)
        if missed:  # as ``_on_active``: once more if a publish moved the active generation meanwhile
            newer = self._read_generation()
            if newer is not None and newer != generation:
                with self._connect() as con:
                    found, _ = self._branches_on(con, newer, wanted)
        return found

    @staticmethod
    def _branches_on(con: sa.Connection, generation: int, wanted: list[str]
                     ) -> tuple[dict[str, frozenset[str]], bool]:
        """The customers of ``wanted`` found on ``generation``, and whether one was neither found nor erased.

        A redirect wins over a customer row of the same id, as in the one-customer read.
        """
        rows = con.execute(_BRANCHES_STMT, {"generation": generation, "ids": wanted}).all()
        direct: dict[str, frozenset[str]] = {}
        moved: dict[str, frozenset[str] | None] = {}  # None: erased, or the survivor is not there
        missed = False
        for row in rows:
            if row.redirected:
                moved[str(row.asked)] = _branch_set(row.branches) if row.found_id is not None else None
                missed = missed or (row.customer_id is not None and row.found_id is None)
            else:
                direct[str(row.asked)] = _branch_set(row.branches)
        result: dict[str, frozenset[str]] = {}
        for cid in wanted:
            if cid in moved:
                branches = moved[cid]
                if branches is not None:
                    result[cid] = branches
            elif cid in direct:
                result[cid] = direct[cid]
            else:
                missed = True
        return result, missed

    def lineage(self, customer_id: str) -> list[dict[str, Any]]:
        """The source records that made the customer, protected fields decrypted for masking."""
        view = self.get_encrypted(customer_id)
        opened = decrypt_view({"customer_id": view["customer_id"], "profile": {}, "records": [],
                               "lineage": view["lineage"]}, self.protector)
        lineage: list[dict[str, Any]] = opened["lineage"]
        return lineage

    # ---- many customers ------------------------------------------------------------------------

    def search(self, *, name: str | None = None, id_number: str | None = None, mobile: str | None = None,
               customer_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Customers matching every criterion given, as summaries (id, kind, name, branches, segment).

        Names match exactly after the pipeline's normalisation (traditional → simplified,
        full → half width, spacing); ID numbers and mobiles through their keyed tokens.
        A query value is never echoed in an error.
        """
        if not any(v and str(v).strip() for v in (name, id_number, mobile, customer_id)):
            raise InvalidQueryError("give at least one of: name, id_number, mobile, customer_id")
        if not 0 < limit <= MAX_LIMIT:
            raise InvalidQueryError(f"limit must be between 1 and {MAX_LIMIT}")
        c = served_customer.c
        conditions: list[sa.ColumnElement[bool]] = []
        if name and name.strip():
            forms = {f for f in (normalise_name(name), normalise_company_name(name), name.strip()) if f}
            conditions.append(c.name.in_(sorted(forms)))
        if id_number and id_number.strip():
            normal = normalise_id(id_number)
            if normal is None:
                raise InvalidQueryError("id_number is not a valid resident ID number (check the digits)")
            conditions.append(c.id_token == self.protector.token(token_kind("id_number"), normal))
        if mobile and mobile.strip():
            normal = normalise_mobile(mobile)
            if normal is None:
                raise InvalidQueryError("mobile is not a mainland mobile number (11 digits)")
            conditions.append(c.mobile_token == self.protector.token(token_kind("mobile"), normal))
        wanted = customer_id.strip() if customer_id and customer_id.strip() else None

        def read(generation: int) -> list[dict[str, Any]] | None:
            where = [c.generation == generation, *conditions]
            with self._connect() as con:
                if wanted is not None:
                    target = con.execute(
                        sa.select(served_redirect.c.customer_id)
                        .where(served_redirect.c.generation == generation, served_redirect.c.old_id == wanted)
                    ).first()
                    if target is not None and target.customer_id is None:
                        return []  # erased: nothing to find, and no retry needed
                    where.append(c.customer_id == (wanted if target is None else str(target.customer_id)))
                rows = con.execute(
                    sa.select(c.customer_id, c.kind, c.name, c.branches, c.segment)
                    .where(*where).order_by(c.customer_id).limit(limit)
                ).all()
            if not rows:
                return None
            return [{"customer_id": r.customer_id, "kind": r.kind, "name": r.name,
                     "branches": sorted(_branch_set(r.branches)), "segment": r.segment} for r in rows]

        return self._on_active(read) or []

    def domain_counts(self) -> dict[str, Any]:
        """Counts per domain of the data flow as of the served publish, and which publish that was."""
        generation = self._on_active(lambda g: g)
        with self.ops.read() as con:
            row = con.execute(sa.select(served_generation).where(served_generation.c.generation == generation)).first()
        if row is None:  # retired and deleted between the two reads: ask again
            generation = self._read_generation()
            with self.ops.read() as con:
                row = con.execute(
                    sa.select(served_generation).where(served_generation.c.generation == generation)).first()
        if row is None:
            raise NotFoundError("no customer view has been published yet: run the pipeline first")
        counts: dict[str, Any] = json.loads(row.counts) if row.counts else {}
        counts["served"] = {"generation": row.generation, "published_at": row.published_at.isoformat(),
                            "activated_at": row.activated_at.isoformat() if row.activated_at else None,
                            "run_id": row.run_id, "customers": row.customers}
        return counts
