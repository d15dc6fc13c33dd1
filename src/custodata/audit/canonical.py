"""The canonical form of an audit entry: the exact bytes its hash covers.

An entry's hash is ``sha256(prev_hash US seq US at US actor US … US system)``
where US is the ASCII unit separator (0x1F) and every part is the stored text
(``''`` for an absent value, lists and ``detail`` as compact JSON).  A fixed
field order joined by one separator is cheap to build — in Python when
appending and in SQL when verifying ten million entries — where
``json.dumps(sort_keys=True)`` per row would dominate the verify time.

The separator cannot occur inside a part: the log strips control characters
from text fields and JSON escapes them, so a well-formed entry has exactly
:data:`SEPARATORS` separators and verification treats any other count as an
edit (otherwise text could be moved from one field to its neighbour without
changing the hash).
"""

from __future__ import annotations

import datetime as dt
import hashlib

US = "\x1f"
GENESIS = "0" * 64  # prev_hash of entry 1

# stored columns in canonical order, after prev_hash
COLUMNS = (
    "seq", "at", "actor", "role", "branch", "action", "result", "customer_ids", "customer_count",
    "fields", "purpose", "source_address", "reason", "detail", "system",
)
SEPARATORS = len(COLUMNS)  # prev_hash + COLUMNS parts → len(COLUMNS) separators


def at_text(at: dt.datetime) -> str:
    """Naive UTC time as stored by SQLite and rendered by PostgreSQL's ``to_char(.., US)``."""
    return at.isoformat(sep=" ", timespec="microseconds")


def canonical(prev_hash: str, row: dict[str, object]) -> str:
    """The canonical text of a stored row (a mapping of :data:`COLUMNS` to stored values)."""
    parts = [prev_hash]
    for col in COLUMNS:
        value = row[col]
        if col == "at":
            if not isinstance(value, dt.datetime):
                raise TypeError(f"audit entry time must be a datetime, not {type(value).__name__}")
            parts.append(at_text(value))
        else:
            parts.append(str(value))
    return US.join(parts)


def entry_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_sql(dialect: str) -> str:
    """A SQL expression building :func:`canonical` from the ``audit_event`` columns, per dialect."""
    from custodata.ops import dialect as ops_dialect

    def render(col: str) -> str:
        if col == "at":
            return ops_dialect.timestamp_text(col, dialect)
        if col in ("seq", "customer_count"):
            return ops_dialect.integer_text(col, dialect)
        return f'"{col}"'
    return ops_dialect.concat_sep(dialect).join(["prev_hash", *(render(c) for c in COLUMNS)])


def signed_message(seq: int, hash_: str, at: dt.datetime) -> bytes:
    """What a checkpoint signs: its position, the entry hash there and when it was signed."""
    return US.join(("custodata-audit-checkpoint-v1", str(seq), hash_, at_text(at))).encode("utf-8")


def purge_message(through_seq: int, through_hash: str, newest_at: dt.datetime, purged_at: dt.datetime,
                  retention_days: int) -> bytes:
    """What a purge signs: the checkpoint it stops at, the newest entry time it removed, when, under what rule."""
    return US.join(("custodata-audit-purge-v1", str(through_seq), through_hash, at_text(newest_at),
                    at_text(purged_at), str(retention_days))).encode("utf-8")


__all__ = ["COLUMNS", "GENESIS", "SEPARATORS", "US", "at_text", "canonical", "canonical_sql", "entry_hash",
           "purge_message", "signed_message"]
