"""Ingest: land each source's export, type and validate it into its business sub-domain.

A batch is one export of one source system, named by the hash of its bytes,
so re-running the same export is the same batch: its rows are replaced, not
added twice.  Each batch is loaded inside one transaction, so a run killed at
any point leaves either the old or the new batch, never half of one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from custodata.crypto.binding import quarantine_aad
from custodata.crypto.keyring import batch_key_id
from custodata.domains.business import (
    dedupe_within_batch_sql,
    erase_parties_sql,
    subdomain_ddl,
    subdomain_table,
    total_domain_sql,
    typed_select,
)
from custodata.engine.port import BatchEngine
from custodata.engine.store import BatchStore
from custodata.errors import PipelineError
from custodata.sources.mapping import SourceMapping
from custodata.sources.readers import Landed, content_hash, land, land_records, source_location

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SourceSummary:
    """Per-source reconciliation: read = accepted + quarantined, always."""

    system: str
    business_type: str
    batch_id: str
    read: int
    accepted: int
    quarantined: int
    skipped: bool = False

    def reconciles(self) -> bool:
        return self.read == self.accepted + self.quarantined


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def ingest_source(store: BatchStore, mapping: SourceMapping, input_dir: Path, *, force: bool = False) -> SourceSummary:
    """Land, type and validate one source; idempotent per batch."""
    ex = store.engine
    if mapping.format != "sql" and not source_location(mapping, input_dir).exists():
        purged = ex.rows(
            "SELECT batch_id, read_rows, accepted, quarantined FROM meta.batch WHERE system = ? "
            "AND status = 'purged' ORDER BY ingested_at DESC LIMIT 1", [mapping.system])
        if purged:  # the export was loaded, then purged by the landing retention: nothing new to read
            b, read, accepted, quarantined = purged[0]
            return SourceSummary(mapping.system, mapping.business_type.value, str(b),
                                 int(read), int(accepted), int(quarantined), skipped=True)
    digest = content_hash(mapping, input_dir)
    batch_id = f"{mapping.system}-{digest[:12]}"
    known = ex.rows(
        "SELECT status, ingested_at, read_rows, accepted, quarantined FROM meta.batch WHERE batch_id = ?",
        [batch_id],
    )
    if known and known[0][0] in ("loaded", "purged") and not force:
        _, _, read, accepted, quarantined = known[0]
        return SourceSummary(mapping.system, mapping.business_type.value, batch_id,
                             int(read), int(accepted), int(quarantined), skipped=True)
    ingested_at = str(known[0][1]) if known else _now()
    return _load_batch(store, mapping, batch_id, digest, ingested_at,
                       lambda db, table: land(mapping, input_dir, db, table))


def ingest_records(store: BatchStore, mapping: SourceMapping, records: Sequence[dict[str, str | None]], *,
                   batch_name: str) -> SourceSummary:
    """Land records handed over in memory (never a file) as one batch of ``mapping``'s source.

    The ``mdm`` source's creates come this way: the front desk's form must not sit in a
    landing file.  The batch is named by ``batch_name`` (the create's record key), not by a
    hash of the values, so ``meta.batch`` holds no digest of one person's data; the rest is
    exactly a source's ingest (typing, validation, quarantine, marks, reconciliation).
    """
    import hashlib

    digest = hashlib.sha256(f"{mapping.system}:{batch_name}".encode()).hexdigest()
    batch_id = f"{mapping.system}-{digest[:12]}"
    return _load_batch(store, mapping, batch_id, digest, _now(),
                       lambda db, table: land_records(mapping, records, db, table))


def _load_batch(store: BatchStore, mapping: SourceMapping, batch_id: str, digest: str, ingested_at: str,
                land_into: Callable[[BatchEngine, str], Landed]) -> SourceSummary:
    """Type, validate and store one landed batch in one transaction (the body of every ingest)."""
    ex = store.engine
    # landing is transient: raw text lives in a temporary table of this connection only and
    # is never written to the store; protected fields leave it encrypted under the batch key
    landing = f"_landing_{mapping.system}"
    key_id = batch_key_id(batch_id)
    store.protector.keyring.ensure([key_id], {key_id: f"batch:{batch_id}"})
    landed = land_into(store.engine, landing)
    typed = f"_typed_{mapping.system}"
    ex.execute(subdomain_ddl(mapping.business_type))
    ex.execute(
        f"CREATE OR REPLACE TEMP TABLE {typed} AS "
        + typed_select(mapping, landing, batch_id, ingested_at, key_id)
    )
    ex.execute(f"DROP TABLE IF EXISTS {landing}")
    ex.execute(dedupe_within_batch_sql(typed))
    if store.erased:
        ex.execute(erase_parties_sql(typed))
        # a rejected row naming an erased person keeps no raw text either
        ex.execute(
            f"UPDATE {typed} SET _raw = NULL, _detail = 'erased person: raw row not kept' "
            "WHERE _reason IS NOT NULL AND len(list_filter(parties, p -> p.kind = 'erased')) > 0"
        )
    target = subdomain_table(mapping.business_type)
    with ex.transaction():
        ex.execute(f"DELETE FROM {target} WHERE _batch_id = ?", [batch_id])
        ex.execute("DELETE FROM meta.quarantine WHERE batch_id = ?", [batch_id])
        ex.execute(
            f"INSERT INTO {target} BY NAME SELECT * EXCLUDE (_reason, _detail, _raw) "
            f"FROM {typed} WHERE _reason IS NULL"
        )
        ex.execute(
            "INSERT INTO meta.quarantine SELECT ?, ?, _row, record_key, _reason, _detail, _raw "
            f"FROM {typed} WHERE _reason IS NOT NULL",
            [batch_id, mapping.system],
        )
        if landed.rejects:
            store.engine.execute_many(
                "INSERT INTO meta.quarantine VALUES (?, ?, ?, NULL, ?, ?, ?)",
                [[batch_id, mapping.system, r.row_no, r.reason.value, r.detail,
                  store.protector.encrypt(r.raw, key_id, quarantine_aad(batch_id, r.row_no))]
                 for r in landed.rejects],
            )
        accepted = int(ex.scalar(f"SELECT count(*) FROM {typed} WHERE _reason IS NULL"))
        rejected = int(ex.scalar(f"SELECT count(*) FROM {typed} WHERE _reason IS NOT NULL"))
        summary = SourceSummary(mapping.system, mapping.business_type.value, batch_id,
                                landed.read, accepted, rejected + len(landed.rejects))
        if not summary.reconciles():
            raise PipelineError(
                f"source '{mapping.system}' does not reconcile: read {summary.read} != "
                f"accepted {summary.accepted} + quarantined {summary.quarantined}"
            )
        ex.execute("DELETE FROM meta.batch WHERE batch_id = ?", [batch_id])
        ex.execute(
            "INSERT INTO meta.batch VALUES (?, ?, ?, ?, ?, 'loaded', ?, ?, ?)",
            [batch_id, mapping.system, mapping.business_type.value, digest, ingested_at,
             summary.read, summary.accepted, summary.quarantined],
        )
    ex.execute(f"DROP TABLE IF EXISTS {typed}")
    return summary


def ingest_all(
    store: BatchStore, mappings: Sequence[SourceMapping], input_dir: Path, *,
    force: bool = False, progress: Progress | None = None,
) -> list[SourceSummary]:
    """Ingest every source, then (re)build the business data total domain.

    The intake key is made here too (once): the service seals front-desk create forms
    under it (:mod:`custodata.sources.mdm`), and it is served with the batch keys.
    """
    from custodata.crypto.keyring import INTAKE_KEY_ID

    store.protector.keyring.ensure([INTAKE_KEY_ID], {INTAKE_KEY_ID: "intake:mdm"})
    out = []
    for i, mapping in enumerate(mappings):
        if progress:
            progress(mapping.system, i, len(mappings))
        out.append(ingest_source(store, mapping, input_dir, force=force))
    if progress:
        progress("", len(mappings), len(mappings))
    refresh_total_domain(store)
    return out


def refresh_total_domain(store: BatchStore) -> None:
    """(Re)build the business data total domain over every sub-domain there is."""
    types = [r[0] for r in store.engine.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'business' "
        "AND table_type = 'BASE TABLE'"
    )]
    store.engine.execute(total_domain_sql(types))
