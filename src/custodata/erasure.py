"""Erasure of a customer (PIPL right to deletion): crypto-shred, tombstone, never resurrect.

Erasing a customer does four things, in one transaction:

1. remembers what was erased in ``meta.erased`` — the customer id(s), every
   source observation (``source:record_key:role``) and the keyed token of
   every ID number — so re-ingesting old exports blanks those parties again
   instead of bringing them back;
2. tombstones the customer's parties in the business sub-domains (all party
   fields blanked, the record's protected fields too) and deletes its
   observations, cross-references, pairs, golden record, history and
   relationships, plus quarantined raw rows that name it;
3. destroys the customer's data keys, so any copy of its golden record that
   survives elsewhere (a backup, an old published file) cannot be decrypted;
4. republishes, and rewrites the store file so freed pages keep no trace.

What stays: business facts of records that other customers share (a policy
whose holder was erased still insures its insured), with the erased party
blank, and the non-personal lineage that an observation id was erased.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from custodata.crypto.binding import field_aad, quarantine_aad
from custodata.crypto.keyring import customer_key_id
from custodata.domains.business import PROTECTED_PARTY_FIELDS, erase_parties_sql
from custodata.engine.port import BatchEngine
from custodata.engine.store import BatchStore
from custodata.errors import CryptoError, NotFoundError, StateError
from custodata.resolution.identity import REDIRECT, XREF, ensure_tables, resolve_id

_DIGITS = re.compile(r"\D+")


@dataclass(frozen=True)
class ErasureReport:
    customer_id: str
    customer_ids: list[str]
    observations: int
    business_records: int
    quarantined_rows: int
    keys_destroyed: int
    erased_at: str
    already: bool = False


def _ids_of(db: BatchEngine, customer_id: str) -> list[str]:
    """The customer and every old id that redirects to it (merged customers)."""
    ids = [customer_id]
    frontier = [customer_id]
    while frontier:
        rows = db.rows(
            f"SELECT old_id FROM {REDIRECT} WHERE list_contains(?, new_id)", [frontier]
        )
        frontier = [r[0] for r in rows if r[0] not in ids]
        ids.extend(frontier)
    return ids


def _mark_neighbourhood(store: BatchStore, obs_ids: list[str], tokens: list[str]) -> None:
    """Have the next local resolution look again at everyone the erased observations were linked with.

    ``_erased_obs``: the observations that go, the customer's own and any other party
    the erased ID number blanks (the observations a rebuild would no longer find).
    Their clusters lose members and the values they carried lose a name, so a guard
    may lift: the remaining members and the sharers of those values are marked.
    """
    from custodata.resolution.clusters import CLUSTER0
    from custodata.resolution.identity import mark_for_resolution
    from custodata.resolution.person import MATCH_SOURCE

    db = store.engine
    db.execute("CREATE OR REPLACE TEMP TABLE _erased_obs AS SELECT obs_id FROM customer.party "
                "WHERE list_contains(?, obs_id) OR list_contains(?, id_number_token)", [obs_ids, tokens])
    sharing = " OR ".join(f"{src} IN (SELECT {src} FROM customer.party WHERE obs_id IN (SELECT obs_id FROM "
                          "_erased_obs))" for src in MATCH_SOURCE.values())
    linked = f"SELECT obs_id FROM customer.party WHERE {sharing}"
    if store.table_exists(CLUSTER0):
        linked += (f" UNION SELECT obs_id FROM {CLUSTER0} WHERE cluster_id IN "
                   f"(SELECT cluster_id FROM {CLUSTER0} WHERE obs_id IN (SELECT obs_id FROM _erased_obs))")
    mark_for_resolution(db, f"SELECT obs_id FROM ({linked}) WHERE obs_id NOT IN (SELECT obs_id FROM _erased_obs)")


def _personal_values(store: BatchStore, ids: list[str]) -> set[str]:
    """Plaintext identifiers of the customer, read before its keys go, to find them in quarantined raw rows."""
    values: set[str] = set()
    fields = list(PROTECTED_PARTY_FIELDS)
    rows = store.engine.rows(
        f"SELECT obs_id, {', '.join(fields)} FROM customer.party WHERE obs_id IN "
        f"(SELECT obs_id FROM {XREF} WHERE list_contains(?, customer_id))", [ids]
    )
    for obs_id, *cts in rows:
        for field, ct in zip(fields, cts, strict=True):
            try:
                value = store.protector.decrypt(ct, field_aad(obs_id, field))
            except CryptoError:
                continue
            if value and len(_DIGITS.sub("", value)) >= 7:
                values.add(_DIGITS.sub("", value))
    return values


def erase_customer(store: BatchStore, customer_id: str, *, reason: str) -> ErasureReport:
    """Erase one customer everywhere in the store, inside the caller's transaction.

    The caller rebuilds what derives from golden records in the same transaction, then
    republishes and compacts.  Erasing an erased customer again changes nothing here and
    reports ``already``, so a clean-up interrupted after the commit can simply be re-run.
    """
    if not reason.strip():
        raise StateError("erasure needs a reason (e.g. the data subject's request number)")
    db = store.engine
    ensure_tables(db)
    current = resolve_id(db, customer_id)
    if f"customer:{current}" in store.erased:
        row = db.one("SELECT erased_at FROM meta.erased WHERE entity_key = ?", [f"customer:{current}"])
        return ErasureReport(current, [current], 0, 0, 0, 0, str(row[0]) if row else "", already=True)
    exists = db.one("SELECT count(*) FROM customer.golden WHERE customer_id = ?", [current])
    if not exists or not exists[0]:
        raise NotFoundError(f"customer {customer_id} not found")
    ids = _ids_of(db, current)
    obs = db.rows(
        f"SELECT x.obs_id, p.id_number_token, p.source, p.record_key FROM {XREF} x "
        "LEFT JOIN customer.party p USING (obs_id) WHERE list_contains(?, x.customer_id)", [ids]
    )
    personal = _personal_values(store, ids)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    keys = (
        [(f"customer:{i}", current) for i in ids]
        + [(f"obs:{o[0]}", current) for o in obs]
        + [(f"id_number:{o[1]}", current) for o in obs if o[1]]
    )
    obs_ids = [o[0] for o in obs]
    records = sorted({f"{o[2]}:{o[3]}" for o in obs if o[2]})
    db.execute_many(
        "INSERT OR IGNORE INTO meta.erased VALUES (?, ?, ?, ?)",
        [[k, cid, now, reason] for k, cid in dict(keys).items()],
    )
    store.reload_erased()
    # 2. tombstones in the business sub-domains, then everything derived from the parties
    tables = [r[0] for r in db.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'business' "
        "AND table_type = 'BASE TABLE'")]
    touched = 0
    for t in tables:
        before = db.one(f"SELECT count(*) FROM business.{t} WHERE list_contains(?, _source || ':' || "
                             "record_key)", [records])
        touched += int(before[0]) if before else 0
        db.execute(erase_parties_sql(f"business.{t}"))
    _mark_neighbourhood(store, obs_ids, [o[1] for o in obs if o[1]])
    db.execute("DELETE FROM customer.party WHERE obs_id IN (SELECT obs_id FROM _erased_obs)")
    db.execute(f"DELETE FROM {XREF} WHERE list_contains(?, obs_id)", [obs_ids])
    for table, cols in (("customer.pairs", ("obs_id_l", "obs_id_r")),
                        ("customer.cluster_pairs", ("obs_id_l", "obs_id_r")),
                        ("customer.cluster", ("obs_id",)), ("customer.pin", ("obs_id",)),
                        ("customer.review", ("cluster_id",)), ("main.er_person_input", ("obs_id",)),
                        ("main.er_cluster_members", ("obs_id",)), ("main._cluster0", ("obs_id",)),
                        ("main._split", ("obs_id",))):
        if store.table_exists(table):
            cond = " OR ".join(f"list_contains(?, {c})" for c in cols)
            db.execute(f"DELETE FROM {table} WHERE {cond}", [obs_ids] * len(cols))
    for table, col in (("customer.golden", "customer_id"), ("customer.history", "customer_id")):
        db.execute(f"DELETE FROM {table} WHERE list_contains(?, {col})", [ids])
    if store.table_exists("customer.correction"):  # stewards' corrections hold non-protected values in plain
        db.execute("DELETE FROM customer.correction WHERE list_contains(?, customer_id)", [ids])
    if store.table_exists("customer.relationship"):
        db.execute("DELETE FROM customer.relationship WHERE list_contains(?, customer_a) "
                    "OR list_contains(?, customer_b)", [ids, ids])
    for (name,) in db.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                               "AND table_name LIKE '\\_\\_splink\\_\\_%' ESCAPE '\\'"):
        db.execute(f'DROP TABLE IF EXISTS main."{name}"')
    if store.table_exists("main.er_person_input"):  # name frequencies without the erased names
        from custodata.resolution.person import build_term_frequencies

        build_term_frequencies(db)
    quarantined = _scrub_quarantine(store, records, personal)
    # 3. crypto-shred: the customer's own data keys
    destroyed = store.protector.keyring.destroy(customer_key_id(i) for i in ids)
    return ErasureReport(current, ids, len(obs_ids), touched, quarantined, destroyed, now.isoformat(sep=" "))


def _scrub_quarantine(store: BatchStore, records: list[str], personal: set[str]) -> int:
    """Quarantined raw rows of the customer's records, or naming its ID or mobile, lose their raw text."""
    db = store.engine
    hits: list[tuple[str, int]] = []
    for batch_id, system, row_no, record_key, raw in db.rows(
        "SELECT batch_id, system, row_no, record_key, raw FROM meta.quarantine WHERE raw IS NOT NULL"
    ):
        if f"{system}:{record_key}" in records:
            hits.append((batch_id, row_no))
            continue
        try:
            text = store.protector.decrypt(raw, quarantine_aad(batch_id, row_no)) or ""
        except CryptoError:
            continue
        digits = _DIGITS.sub("", text)
        if any(v in digits for v in personal):
            hits.append((batch_id, row_no))
    if not hits:
        return 0
    db.execute_many(
        "UPDATE meta.quarantine SET raw = NULL, detail = 'erased: raw row removed' "
        "WHERE batch_id = ? AND row_no IS NOT DISTINCT FROM ?", [list(h) for h in hits]
    )
    return len(hits)
