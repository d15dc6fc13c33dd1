"""The customer 360° view: one golden customer with everything known about them.

Profile, type, segment and tags from the customer business layer; the
business records behind them (policies, accounts, cards, loans, tickets) with
the role the customer plays; relationships; and the source records (lineage)
that made this customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from custodata.crypto import Protector
from custodata.crypto.binding import field_aad
from custodata.domains.business import PROTECTED_PARTY_FIELDS, PROTECTED_RECORD_FIELDS
from custodata.engine.port import BatchEngine
from custodata.errors import NotFoundError
from custodata.resolution.golden import golden_aad
from custodata.resolution.identity import resolve_id


@dataclass(frozen=True)
class Section:
    """One list section of the view as SQL, shared by the one-customer read and the bulk build.

    ``owner`` is the SQL expression of the customer a row belongs to; ``columns``
    are (key, SQL expression) pairs in the order the view shows them.  The served
    view (:mod:`custodata.serving`) aggregates the very same rows per customer, so
    both paths cannot drift apart.
    """

    owner: str
    columns: tuple[tuple[str, str], ...]
    source: str
    order: tuple[str, ...]  # ascending, NULLs last

    def select_for_one(self) -> str:
        cols = ", ".join(f"{expr} AS {key}" for key, expr in self.columns)
        return f"SELECT {cols} FROM {self.source} WHERE {self.owner} = ? ORDER BY {', '.join(self.order)}"

    def entries(self) -> str:
        """The section's rows, one per entry: ``customer_id`` and ``e``, a struct of its order key ``k``
        (each part led by an is-NULL flag, so NULLs sort last as in ORDER BY) and its value ``v``."""
        key = ", ".join(f"'n{i}': {e} IS NULL, 'k{i}': {e}" for i, e in enumerate(self.order))
        struct = ", ".join(f"'{k}': {expr}" for k, expr in self.columns)
        return f"SELECT {self.owner} AS customer_id, {{'k': {{{key}}}, 'v': {{{struct}}}}} AS e FROM {self.source}"

    def aggregate(self, name: str, entries: str | None = None) -> str:
        """One row per customer: ``customer_id`` and the section as a list of structs, in view order.

        The list of :meth:`entries` (or of a table of them) is sorted by the order key and
        then stripped of it: two to three times faster in DuckDB than an ordered aggregate
        ``list(... ORDER BY ...)``.
        """
        return (f"SELECT customer_id, list_transform(list_sort(list(e)), x -> x.v) AS {name} "
                f"FROM ({entries or self.entries()}) GROUP BY customer_id")


# the latest version of every business record (a re-ingested record replaces its older rows)
LATEST_RECORDS = (
    "SELECT * FROM business.total QUALIFY row_number() OVER (PARTITION BY _source, record_key "
    "ORDER BY _ingested_at DESC, updated_at DESC NULLS LAST, _batch_id DESC) = 1"
)
PROFILE = "SELECT * EXCLUDE (provenance) FROM layer.customer_view"
RECORDS = Section(
    owner="x.customer_id",
    columns=(
        ("business_type", "b._business_type"), ("source", "b._source"), ("record_key", "b.record_key"),
        ("role", "p.role"), ("product", "b.product"), ("amount", "b.amount"), ("currency", "b.currency"),
        ("start_date", "b.start_date"), ("end_date", "b.end_date"), ("status", "b.status"),
        ("category", "b.category"), ("card_no", "b.card_no"), ("account_no", "b.account_no"),
        ("policy_no", "b.policy_no"), ("vehicle_plate", "b.vehicle_plate"), ("branch", "b.branch"),
        ("remark", "b.remark"), ("batch_id", "b._batch_id"),
    ),
    source=f"customer.xref x JOIN customer.party p USING (obs_id) "
           f"JOIN ({LATEST_RECORDS}) b ON b._source = p.source AND b.record_key = p.record_key",
    order=("b._business_type", "b.record_key", "p.role", "b._source"),
)
LINEAGE = Section(
    owner="x.customer_id",
    columns=(
        ("obs_id", "x.obs_id"), ("source", "x.source"), ("record_key", "x.record_key"), ("role", "x.role"),
        ("batch_id", "x.batch_id"), ("first_batch_id", "x.first_batch_id"), ("name", "p.name"),
        ("id_number", "p.id_number"), ("mobile", "p.mobile"), ("updated_at", "p.updated_at"),
    ),
    source="customer.xref x LEFT JOIN customer.party p USING (obs_id)",
    order=("x.obs_id",),
)
# each relationship seen from both of its customers
RELATIONSHIPS = Section(
    owner="r.owner_id",
    columns=(("other_id", "r.other_id"), ("kind", "r.kind"), ("evidence", "r.evidence"),
             ("other_name", "g.name"), ("other_kind", "g.kind")),
    source="(SELECT customer_a AS owner_id, customer_b AS other_id, kind, evidence FROM customer.relationship "
           "UNION ALL SELECT customer_b, customer_a, kind, evidence FROM customer.relationship "
           "WHERE customer_a <> customer_b) r JOIN customer.golden g ON g.customer_id = r.other_id",
    order=("r.kind", "r.other_id", "r.evidence"),
)
HISTORY = Section(
    owner="h.customer_id",
    columns=(("field", "h.field"), ("old_value", "h.old_value"), ("new_value", "h.new_value"),
             ("run_id", "h.run_id"), ("batch_id", "h.batch_id"), ("cause", "h.cause"),
             ("changed_at", "h.changed_at")),
    source="customer.history h",
    order=("h.changed_at", "h.field", "h.run_id", "h.old_value", "h.new_value"),
)
SECTIONS: dict[str, Section] = {
    "records": RECORDS, "relationships": RELATIONSHIPS, "lineage": LINEAGE, "history": HISTORY,
}


def _dicts(db: BatchEngine, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return db.dicts(sql, params)


def _erased(db: BatchEngine, customer_id: str) -> None:
    row = db.one(
        "SELECT erased_at, reason FROM meta.erased WHERE entity_key = ?", [f"customer:{customer_id}"]
    )
    if row:
        raise NotFoundError(f"customer {customer_id} was erased on {row[0]:%Y-%m-%d} ({row[1]})")


def customer_360_encrypted(db: BatchEngine, customer_id: str) -> dict[str, Any]:
    """Everything about one customer as stored: protected fields still ciphertext.

    An old (merged) id is followed to its survivor; an erased customer is reported as such.
    This is the form the served view keeps at rest; :func:`decrypt_view` opens it.
    """
    _erased(db, customer_id)
    current = resolve_id(db, customer_id)
    _erased(db, current)
    profile = _dicts(db, f"{PROFILE} WHERE customer_id = ?", [current])
    if not profile:
        raise NotFoundError(f"customer {customer_id} not found")
    view: dict[str, Any] = {"customer_id": current, "requested_id": customer_id, "profile": profile[0]}
    for name, section in SECTIONS.items():
        view[name] = _dicts(db, section.select_for_one(), [current])
    return view


def decrypt_view(view: dict[str, Any], protector: Protector) -> dict[str, Any]:
    """A copy of ``view`` with its protected fields decrypted, each under the AAD its position implies.

    The AADs come from the view itself (the customer id for the profile, the record for
    business fields, the observation for lineage), so a ciphertext moved to another
    customer or row fails to decrypt instead of showing the wrong person's value.
    """
    dec = protector.decrypt
    current = str(view["customer_id"])
    profile = dict(view["profile"])
    for f in PROTECTED_PARTY_FIELDS:
        if f in profile:
            profile[f] = dec(profile[f], golden_aad(current, f))
    records = []
    for row in view["records"]:
        r = dict(row)
        for f in PROTECTED_RECORD_FIELDS:
            if f in r:
                r[f] = dec(r[f], field_aad(f"{r['source']}:{r['record_key']}", f))
        records.append(r)
    lineage = []
    for row in view["lineage"]:
        r = dict(row)
        for f in PROTECTED_PARTY_FIELDS:
            if f in r:
                r[f] = dec(r[f], field_aad(r["obs_id"], f))
        lineage.append(r)
    return {**view, "profile": profile, "records": records, "lineage": lineage}


def customer_360(db: BatchEngine, customer_id: str, protector: Protector) -> dict[str, Any]:
    """Everything about one customer, protected fields decrypted for the masking layer to show.

    An old (merged) id is followed to its survivor; an erased customer is reported as such.
    Callers must pass the result through masking before a person sees it.
    """
    return decrypt_view(customer_360_encrypted(db, customer_id), protector)
