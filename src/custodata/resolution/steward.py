"""Data steward operations on golden records: merge, unmerge and field corrections.

They are library operations (approvals are put in front of them by the access
layer).  Merge and unmerge work through pins, so the resolver honours them on
every later run, and both are logged so an unmerge restores exactly the customer
that a merge absorbed, with its own id.  A correction overrides survivorship for
one field of one customer on every later build of golden records (the latest
correction of a field wins), so a steward's fix is not undone by the next batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from custodata.crypto.envelope import Protector
from custodata.crypto.keyring import customer_key_id
from custodata.domains.business import token_kind
from custodata.engine.port import BatchEngine
from custodata.errors import NotFoundError, StateError
from custodata.normalise import (
    clean_text,
    normalise_email,
    normalise_gender,
    normalise_id,
    normalise_landline,
    normalise_mobile,
    normalise_name,
    parse_date,
)
from custodata.resolution.golden import DATE_FIELDS, GOLDEN, PROTECTED, TEXT_FIELDS, golden_aad
from custodata.resolution.identity import PIN, REDIRECT, XREF, ensure_tables, format_id, next_ids, resolve_id

MERGE_LOG = "customer.merge_log"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {MERGE_LOG} (
    event_id BIGINT PRIMARY KEY, survivor VARCHAR NOT NULL, absorbed VARCHAR NOT NULL,
    members JSON NOT NULL, reason VARCHAR NOT NULL, run_id VARCHAR, merged_at TIMESTAMP NOT NULL,
    undone_at TIMESTAMP
)
"""


def _members(db: BatchEngine, customer_id: str) -> list[str]:
    return [r[0] for r in db.rows(
        f"SELECT obs_id FROM {XREF} WHERE customer_id = ? ORDER BY obs_id", [customer_id]
    )]


def _pin(db: BatchEngine, obs_ids: list[str], customer_id: str, cause: str) -> None:
    db.execute_many(
        f"INSERT OR REPLACE INTO {PIN} VALUES (?, ?, ?, now())",
        [[o, customer_id, cause] for o in obs_ids],
    )
    db.execute(
        f"UPDATE {XREF} SET customer_id = ? WHERE obs_id IN (SELECT unnest(?::VARCHAR[]))",
        [customer_id, obs_ids],
    )


def merge(db: BatchEngine, survivor: str, absorbed: str, *, reason: str, run_id: str) -> int:
    """Fold ``absorbed`` into ``survivor``; returns the merge event id."""
    ensure_tables(db)
    db.execute(_DDL)
    survivor, absorbed = resolve_id(db, survivor), resolve_id(db, absorbed)
    if survivor == absorbed:
        raise StateError(f"{survivor} and {absorbed} are already the same customer")
    a, b = _members(db, survivor), _members(db, absorbed)
    if not a:
        raise NotFoundError(f"customer {survivor} not found")
    if not b:
        raise NotFoundError(f"customer {absorbed} not found")
    row = db.one(f"SELECT coalesce(max(event_id), 0) + 1 FROM {MERGE_LOG}")
    event = int(row[0]) if row else 1
    _pin(db, a, survivor, f"merge #{event}: {reason}")
    _pin(db, b, survivor, f"merge #{event}: {reason}")
    db.execute(f"INSERT OR REPLACE INTO {REDIRECT} VALUES (?, ?, ?, ?)",
                [absorbed, survivor, f"merge #{event}: {reason}", run_id])
    db.execute(f"INSERT INTO {MERGE_LOG} VALUES (?, ?, ?, ?, ?, ?, now(), NULL)",
                [event, survivor, absorbed, json.dumps(b), reason, run_id])
    return event


def unmerge(
    db: BatchEngine, customer_id: str, *, reason: str, run_id: str,
    records: list[str] | None = None,
) -> list[str]:
    """Undo the latest merge into ``customer_id``, or detach given source records.

    Returns the customer ids that (re)appear.  After undoing a merge the
    absorbed customer is back with its own id and its own records.
    """
    ensure_tables(db)
    db.execute(_DDL)
    customer_id = resolve_id(db, customer_id)
    members = _members(db, customer_id)
    if not members:
        raise NotFoundError(f"customer {customer_id} not found")
    if records:
        unknown = sorted(set(records) - set(members))
        if unknown:
            raise NotFoundError(f"records {unknown} do not belong to {customer_id}")
        if set(records) == set(members):
            raise StateError("cannot detach every record of a customer; leave at least one")
        new_id = format_id(next_ids(db, 1))
        _pin(db, [m for m in members if m not in records], customer_id, f"unmerge: {reason}")
        _pin(db, records, new_id, f"unmerge from {customer_id}: {reason}")
        return [new_id]
    row = db.one(
        f"SELECT event_id, absorbed, members FROM {MERGE_LOG} WHERE survivor = ? AND undone_at IS NULL "
        "ORDER BY event_id DESC LIMIT 1",
        [customer_id],
    )
    if row is None:
        raise StateError(
            f"{customer_id} was not made by a merge; name the source records to detach (--records)"
        )
    event, absorbed, moved = int(row[0]), str(row[1]), list(json.loads(row[2]))
    _pin(db, moved, absorbed, f"unmerge #{event}: {reason}")
    db.execute(f"DELETE FROM {REDIRECT} WHERE old_id = ?", [absorbed])
    db.execute(f"UPDATE {MERGE_LOG} SET undone_at = now() WHERE event_id = ?", [event])
    return [absorbed]


# --- field corrections ---------------------------------------------------------------------------

CORRECTION = "customer.correction"
_CORRECTION_DDL = f"""
CREATE TABLE IF NOT EXISTS {CORRECTION} (
    correction_id BIGINT PRIMARY KEY, customer_id VARCHAR NOT NULL, field VARCHAR NOT NULL,
    value VARCHAR, token VARCHAR, reason VARCHAR NOT NULL, corrected_by VARCHAR NOT NULL,
    request_id VARCHAR, corrected_at TIMESTAMP NOT NULL
)
"""
# name_pinyin is derived from the name, and the region columns from the address: correct those instead
CORRECTABLE: tuple[str, ...] = tuple(
    f for f in (*TEXT_FIELDS, *DATE_FIELDS) if f not in ("name_pinyin", "province", "city", "district")
)


def _date(raw: str) -> str | None:
    parsed, _status = parse_date(raw)
    return parsed.isoformat() if parsed else None


_NORMALISERS: dict[str, Callable[[str], str | None]] = {
    "name": normalise_name, "gender": normalise_gender, "id_number": normalise_id, "mobile": normalise_mobile,
    "phone": normalise_landline, "email": normalise_email, "birth_date": _date,
}


class CorrectionError(ValueError, StateError):
    """A correction names a field that cannot be corrected or a value that is not valid for it."""


def normalise_correction(field: str, value: str) -> str:
    """The value as golden records hold it (so tokens and matching agree), or a clear refusal.

    The refusal never repeats the value: it may be a protected field's plaintext.
    """
    if field not in CORRECTABLE:
        raise CorrectionError(f"field {field!r} cannot be corrected; correctable: {', '.join(CORRECTABLE)}")
    cleaned = _NORMALISERS.get(field, clean_text)(value)
    if not cleaned:
        raise CorrectionError(f"the new {field} is not a valid {field} (checked as the pipeline checks it)")
    return str(cleaned)


def correct(
    db: BatchEngine, customer_id: str, field: str, value: str, *, reason: str, by: str,
    protector: Protector, request_id: str | None = None, sealed: bool = False,
) -> int:
    """Record a correction of one field of one customer; returns the correction id.

    ``sealed``: ``value`` is a ciphertext under the customer's key bound to
    ``golden_aad(customer_id, field)`` (how approvals carry it); it is opened
    here, checked, and protected fields are stored sealed again for the customer
    the id now resolves to.  Golden records pick it up on their next build.
    """
    ensure_tables(db)
    db.execute(_CORRECTION_DDL)
    current = resolve_id(db, customer_id)
    if not _members(db, current):
        raise NotFoundError(f"customer {customer_id} not found")
    plain = protector.decrypt(value, golden_aad(customer_id, field)) if sealed else value
    if plain is None:
        raise CorrectionError(f"the new {field} is empty")
    plain = normalise_correction(field, plain)
    stored: str | None = plain
    token = None
    if field in PROTECTED:
        protector.keyring.ensure([customer_key_id(current)], {customer_key_id(current): f"customer:{current}"})
        stored = protector.encrypt(plain, customer_key_id(current), golden_aad(current, field))
        token = protector.token(token_kind(field), plain)
    row = db.one(f"SELECT coalesce(max(correction_id), 0) + 1 FROM {CORRECTION}")
    correction_id = int(row[0]) if row else 1
    db.execute(
        f"INSERT INTO {CORRECTION} VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
        [correction_id, current, field, stored, token, reason, by, request_id],
    )
    return correction_id


def apply_corrections(db: BatchEngine, only: str | None = None) -> str:
    """Override survivorship with the latest correction of each field; returns the table naming the causes.

    Called by :func:`custodata.resolution.golden.build_golden` right after it rebuilds
    golden records (``only``: the table of the customers it rebuilt; the others keep
    theirs).  The returned temp table (customer_id, field, cause) lets the history say
    ``correction: <request>`` for a value a steward set.
    """
    db.execute("CREATE SCHEMA IF NOT EXISTS customer")
    db.execute(_CORRECTION_DDL)
    restrict = f" AND customer_id IN (SELECT customer_id FROM {only})" if only else ""
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _corrected AS
        SELECT customer_id, field, value, token,
               'correction: ' || coalesce(request_id, '#' || correction_id) AS cause
        FROM {CORRECTION} WHERE customer_id IN (SELECT customer_id FROM {GOLDEN}){restrict}
        QUALIFY row_number() OVER (PARTITION BY customer_id, field ORDER BY correction_id DESC) = 1
        """
    )
    fields = [r[0] for r in db.rows("SELECT DISTINCT field FROM _corrected ORDER BY field")]
    for f in fields:
        if f not in CORRECTABLE:  # written by hand into the table: never interpolate an unknown name
            raise CorrectionError(f"{CORRECTION} holds a correction of {f!r}, which cannot be corrected")
        value = "CAST(c.value AS DATE)" if f in DATE_FIELDS else "c.value"
        token = f", {f}_token = c.token" if f in PROTECTED else ""
        db.execute(
            f"UPDATE {GOLDEN} g SET {f} = {value}{token}, "
            f"provenance = map_concat(g.provenance, MAP {{'{f}': c.cause}}) "
            f"FROM _corrected c WHERE c.customer_id = g.customer_id AND c.field = '{f}'"
        )
    return "_corrected"


# --- was a request already carried out? ----------------------------------------------------------


def request_applied(db: BatchEngine, request_id: str, kind: str) -> bool:
    """Whether the batch store already holds the change of maker-checker request ``request_id``.

    A worker that died after the store committed a change but before the operational
    store recorded it would otherwise apply it twice on its next try.  A correction
    keeps its request id; the pins of a merge or unmerge name it in their cause
    (``merge #7: CR-…: reason``).  Request ids are ``CR-`` and hex digits, so they
    hold no LIKE wildcard.
    """
    if kind == "edit_field":
        table, where = CORRECTION, "request_id = ?"
        args: list[object] = [request_id]
    else:
        table, where = PIN, "cause LIKE ?"
        args = [f"%{request_id}:%"]
    schema, name = table.split(".")
    exists = db.one("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                         [schema, name])
    if not exists or not exists[0]:
        return False
    return db.one(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1", args) is not None  # noqa: S608
