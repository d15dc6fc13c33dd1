"""The retention job [数据存储期限]: run on a schedule, it carries out the retention policy and audits every step.

``custodata retention apply`` is the job (a systemd timer or cron runs it nightly, like the
backup).  One run, with ``as_of`` the local date of the policy's time zone:

1. **customers whose every record has expired** (``personal`` rules) are erased by the steps
   of :meth:`Pipeline.erase` — the same path as ``custodata erase``: ``erase_customer`` (keys
   destroyed, tombstones), the erasure ledger, derived layers, the served view and its change
   events, published files, the store compacted — in batches (one transaction, derive and
   compaction per batch; a failed batch is redone one customer at a time through
   :meth:`Pipeline.erase`, each failure reported), each customer with an ``admin`` audit event
   ``retention_erase`` naming the rule and the date it ran out;
2. **expired record fields** (``fields`` rules, e.g. a closed ticket's remark) are blanked in
   every version of the record, and the customers they belong to are served again (change
   events) — audit event ``retention_anonymise``;
3. **cold history** (the ``history`` rule) moves to ``OUT/archive/history/*.parquet`` with its
   values encrypted under each customer's data key, so a later erasure shreds the archive too;
   the rows leave the store — audit event ``retention_archive``.

A customer under a legal hold (:mod:`custodata.retention.holds`) is skipped at every step and
listed in a ``retention_held`` event.  A run ends with a ``retention_run`` event with the counts.
Everything done is gone from the next plan, so running again the same day changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from custodata.audit.events import Action, AuditEvent, Result
from custodata.private_files import private_dir
from custodata.retention.expiry import Due, field_expiry, history_cutoff, personal_expiry, record_customers
from custodata.retention.holds import Hold, HoldRefused, held_customers, place_hold, release_hold
from custodata.retention.policy import RetentionPolicy, load_policy, policy_path

if TYPE_CHECKING:
    from custodata.engine.store import BatchStore
    from custodata.erasure import ErasureReport

OPERATION_ERASE = "retention_erase"
OPERATION_ANONYMISE = "retention_anonymise"
OPERATION_ARCHIVE = "retention_archive"
OPERATION_HELD = "retention_held"
OPERATION_RUN = "retention_run"
OPERATION_HOLD = "legal_hold_place"
OPERATION_RELEASE = "legal_hold_release"


@dataclass
class RetentionOutcome:
    """What one run did (customer ids and counts, never a value)."""

    as_of: dt.date
    policy_version: int
    erased: list[tuple[str, str]] = field(default_factory=list)       # (customer id, rule id)
    already_erased: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)       # (customer id, one-line reason)
    held: dict[str, str] = field(default_factory=dict)                 # customer id -> hold id
    anonymised: dict[str, int] = field(default_factory=dict)           # rule id -> records blanked
    anonymised_customers: list[str] = field(default_factory=list)
    archived_rows: int = 0
    archive_file: Path | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.erased or self.anonymised or self.archived_rows)


def _policy_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class RetentionJob:
    """One deployment's retention: the pipeline that erases and serves, and the audit log it reports to."""

    def __init__(self, out_dir: Path, *, ops_url: str | None = None, policy: RetentionPolicy | None = None,
                 policy_file: Path | None = None, actor: str = "job:retention", batch_size: int = 500) -> None:
        from custodata.pipeline import Pipeline

        self.out_dir = out_dir
        self.policy_file = policy_path(policy_file)
        self.policy = policy or load_policy(self.policy_file)
        self.actor = actor
        self.batch_size = batch_size  # expired customers erased per transaction, derive and compaction
        self.pipeline = Pipeline.create(out_dir)
        if ops_url is not None:
            self.pipeline.ops_url = ops_url

    # ---- audit ---------------------------------------------------------------------------
    def audit(self, events: list[AuditEvent]) -> None:
        from custodata.audit.log import AuditLog
        from custodata.ops.store import open_ops

        if not events:
            return
        ops = open_ops(self.pipeline.ops_url, out_dir=self.out_dir)
        try:
            AuditLog.for_out_dir(ops, self.out_dir).append_many(events)
        finally:
            ops.close()

    def _event(self, operation: str, *, customer_ids: list[str] | None = None, count: int | None = None,
               result: Result = Result.OK, reason: str | None = None, fields: list[str] | None = None,
               **detail: object) -> AuditEvent:
        return AuditEvent(actor=self.actor, action=Action.ADMIN, result=result, customer_ids=customer_ids or [],
                          customer_count=count, fields=fields or [], reason=reason,
                          detail={"operation": operation, "policy_version": self.policy.version, **detail})

    # ---- legal holds ---------------------------------------------------------------------
    def place_hold(self, customer_id: str, *, case_ref: str, reason: str) -> Hold:
        """Hold a customer (effective at once) and audit who, which case and why."""
        with self.pipeline.using() as store:
            hold = place_hold(store.engine, customer_id, case_ref=case_ref, reason=reason, by=self.actor)
        self.audit([self._event(OPERATION_HOLD, customer_ids=[hold.customer_id], reason=hold.reason,
                                hold=hold.hold_id, case_ref=hold.case_ref)])
        return hold

    def release_hold(self, hold_id: str, *, reason: str) -> Hold:
        """Lift a hold as a second person; refused (and audited as denied) for the one who placed it."""
        try:
            with self.pipeline.using() as store:
                hold = release_hold(store.engine, hold_id, reason=reason, by=self.actor)
        except HoldRefused as exc:
            self.audit([self._event(OPERATION_RELEASE, result=Result.DENIED, reason=str(exc), hold=hold_id)])
            raise
        self.audit([self._event(OPERATION_RELEASE, customer_ids=[hold.customer_id], reason=reason,
                                hold=hold.hold_id, case_ref=hold.case_ref, placed_by=hold.placed_by)])
        return hold

    # ---- the plan ------------------------------------------------------------------------
    def plan(self, as_of: dt.date | None = None) -> tuple[list[Due], list[Due], dict[str, str]]:
        """(customers due for erasure, records due for anonymising, held customer → hold id) on ``as_of``."""
        as_of = as_of or self.policy.today()
        with self.pipeline.using() as store:
            held = {cid: h.hold_id for cid, h in held_customers(store.engine).items()}
            people = [d for d in personal_expiry(store.engine, self.policy) if d.expires_on <= as_of]
            records = [d for d in field_expiry(store.engine, self.policy) if d.expires_on <= as_of]
        return people, records, held

    # ---- the run -------------------------------------------------------------------------
    def apply(self, as_of: dt.date | None = None) -> RetentionOutcome:
        """Carry out the policy on ``as_of`` (default: today, local); see the module docstring."""
        t0 = time.perf_counter()
        as_of = as_of or self.policy.today()
        outcome = RetentionOutcome(as_of, self.policy.version)
        people, _records, held = self.plan(as_of)
        events: list[AuditEvent] = []
        expired: list[Due] = []
        for due in people:
            if due.customer_id in held:
                outcome.held[str(due.customer_id)] = held[str(due.customer_id)]
            else:
                expired.append(due)
        for start in range(0, len(expired), self.batch_size):
            batch = expired[start:start + self.batch_size]
            try:
                events.extend(self._erase_batch(batch, outcome))
            except Exception:  # one bad customer must not hold up the rest: one by one, each reported
                for due in batch:
                    events.extend(self._erase(due, outcome))
            self.audit(events)
            events = []
        events = self._anonymise_and_archive(as_of, held, outcome)
        if outcome.held:
            events.append(self._event(OPERATION_HELD, customer_ids=sorted(outcome.held),
                                      reason="法律保留：到期数据暂不处理",
                                      holds=sorted(set(outcome.held.values()))))
        outcome.seconds = time.perf_counter() - t0
        events.append(self._event(
            OPERATION_RUN, count=len(outcome.erased) + len(outcome.anonymised_customers),
            as_of=as_of.isoformat(), policy=str(self.policy_file.name), policy_sha256=_policy_digest(self.policy_file),
            erased=len(outcome.erased), failed=len(outcome.failed), held=len(outcome.held),
            anonymised_records=sum(outcome.anonymised.values()), archived_rows=outcome.archived_rows,
            seconds=round(outcome.seconds, 2)))
        self.audit(events)
        return outcome

    @staticmethod
    def _reason(due: Due) -> str:
        return f"数据存储期限 retention rule {due.rule_id}: expired {due.expires_on.isoformat()}"

    def _erase_batch(self, batch: list[Due], outcome: RetentionOutcome) -> list[AuditEvent]:
        """Erase a batch of expired customers in one transaction with one derive, republish and compaction.

        The steps and functions of :meth:`Pipeline.erase` (``erase_customer`` for each, the
        erasure ledger, relationships and layer for the customers touched, the served rows and
        their change events, the published files, the store compacted), once for the batch
        instead of once per customer.  All or nothing: on a failure the caller erases one by one.
        """
        from custodata.backup.ledger import record_store_erasure
        from custodata.domains.layer import build_layer
        from custodata.engine.lookups import ensure_lookup_indexes
        from custodata.engine.store import compact
        from custodata.erasure import erase_customer
        from custodata.resolution import affected
        from custodata.resolution.identity import ensure_tables, resolve_id
        from custodata.resolution.relationships import build_relationships

        pipeline = self.pipeline
        incremental = pipeline._check_derive()
        t0 = time.perf_counter()
        done: list[tuple[Due, ErasureReport]] = []
        with pipeline.using() as store:
            db = store.engine
            with db.transaction():
                only = None
                if incremental:
                    ensure_lookup_indexes(db)
                    ensure_tables(db)
                    affected.start(db, sorted({resolve_id(db, str(d.customer_id)) for d in batch}), record_mates=True)
                    only = affected.AFFECTED
                for due in batch:
                    report = erase_customer(store, str(due.customer_id), reason=self._reason(due))
                    if not report.already:
                        record_store_erasure(self.out_dir, db, report.customer_id, self._reason(due))
                        done.append((due, report))
                if incremental:
                    affected.add(db, sorted({c for _, r in done for c in r.customer_ids}))
                build_relationships(db, only=only)
                build_layer(db, pipeline.config, pipeline.rules, only=only)
                served = affected.served_ids(db) if incremental else None
            pipeline.timings = {"derive": time.perf_counter() - t0}
            pipeline._publish_change(store, served, t0)
            db.execute("CHECKPOINT")
        pipeline._let_go()
        compact(pipeline.store_path)
        events = []
        for due, report in done:
            outcome.erased.append((report.customer_id, due.rule_id))
            events.append(self._event(OPERATION_ERASE, customer_ids=report.customer_ids, reason=self._reason(due),
                                      rule=due.rule_id, expired_on=due.expires_on.isoformat(),
                                      keys_destroyed=report.keys_destroyed, observations=report.observations))
        return events

    def _erase(self, due: Due, outcome: RetentionOutcome) -> list[AuditEvent]:
        from custodata.errors import CustodataError, NotFoundError

        cid = str(due.customer_id)
        reason = self._reason(due)
        try:
            report = self.pipeline.erase(cid, reason=reason)
        except NotFoundError:  # merged or erased since the plan was made: the next run sees the survivor
            return []
        except CustodataError as exc:
            outcome.failed.append((cid, str(exc).splitlines()[0]))
            return [self._event(OPERATION_ERASE, customer_ids=[cid], result=Result.ERROR, reason=str(exc)[:200],
                                rule=due.rule_id)]
        if report.already:
            outcome.already_erased.append(cid)
            return []
        outcome.erased.append((report.customer_id, due.rule_id))
        return [self._event(OPERATION_ERASE, customer_ids=report.customer_ids, reason=reason, rule=due.rule_id,
                            expired_on=due.expires_on.isoformat(), keys_destroyed=report.keys_destroyed,
                            observations=report.observations)]

    def _anonymise_and_archive(self, as_of: dt.date, held: dict[str, str],
                               outcome: RetentionOutcome) -> list[AuditEvent]:
        """Steps 2 and 3 in one transaction, then the customers they touched are served again."""
        events: list[AuditEvent] = []
        served: set[str] = set()
        t0 = time.perf_counter()
        with self.pipeline.using() as store:
            pending: list[Path] = []
            try:
                with store.engine.transaction():
                    self._anonymise(store, as_of, held, outcome, events, served)
                    self._archive(store, as_of, held, outcome, events, served, pending)
            except BaseException:
                for tmp in pending:
                    tmp.unlink(missing_ok=True)
                raise
            if pending and outcome.archive_file is not None:
                pending[0].replace(outcome.archive_file)
            if served:
                self.pipeline._publish_change(store, sorted(served), t0)
        return events

    def _anonymise(self, store: BatchStore, as_of: dt.date, held: dict[str, str], outcome: RetentionOutcome,
                   events: list[AuditEvent], served: set[str]) -> None:
        db = store.engine
        records = [d for d in field_expiry(db, self.policy) if d.expires_on <= as_of]
        owners = record_customers(db, [(str(d.source), str(d.record_key)) for d in records])
        rules = {r.id: r for r in self.policy.rules}
        by_rule: dict[str, list[Due]] = {}
        for d in records:
            who = owners.get((str(d.source), str(d.record_key)), set())
            if who & held.keys():
                outcome.held.update({cid: held[cid] for cid in who & held.keys()})
                continue
            by_rule.setdefault(d.rule_id, []).append(d)
        for rule_id, items in by_rule.items():
            rule = rules[rule_id]
            keys = [f"{d.source}:{d.record_key}" for d in items]
            types = sorted({str(d.business_type) for d in items})
            for btype in types:  # every version of the record, so no older row brings the value back
                db.execute(f"UPDATE business.{btype} SET {', '.join(f'{f} = NULL' for f in rule.fields)} "
                           "WHERE list_contains(?, _source || ':' || record_key)", [keys])
            touched = sorted({c for d in items for c in owners.get((str(d.source), str(d.record_key)), set())})
            served.update(touched)
            outcome.anonymised_customers = sorted(set(outcome.anonymised_customers) | set(touched))
            outcome.anonymised[rule_id] = len(items)
            events.append(self._event(OPERATION_ANONYMISE, customer_ids=touched, fields=list(rule.fields),
                                      reason=f"数据存储期限 retention rule {rule_id}", rule=rule_id,
                                      records=len(items), business_types=types))

    def _archive(self, store: BatchStore, as_of: dt.date, held: dict[str, str], outcome: RetentionOutcome,
                 events: list[AuditEvent], served: set[str], pending: list[Path]) -> None:
        """History before the cut-off to Parquet, values sealed under each customer's data key, then deleted."""
        from custodata.crypto.keyring import customer_key_id

        db = store.engine
        history = self.policy.of("history")
        if not history or not db.exists("customer.history"):
            return
        cutoff = history_cutoff(self.policy, history[0], as_of)
        holds = sorted(held)
        where = "changed_at < ? AND NOT list_contains(?, customer_id)"
        ids = [str(r[0]) for r in db.rows(f"SELECT DISTINCT customer_id FROM customer.history WHERE {where}",
                                          [cutoff, holds])]
        if not ids:
            return
        store.protector.keyring.ensure([customer_key_id(c) for c in ids],
                                       {customer_key_id(c): f"customer:{c}" for c in ids})
        rows = int(db.scalar(f"SELECT count(*) FROM customer.history WHERE {where}", [cutoff, holds]))
        folder = self.out_dir / "archive" / "history"
        private_dir(folder)
        name = f"history-{as_of.isoformat()}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{name}.tmp"
        pending.append(tmp)
        cols = db.columns("customer.history")
        sealed = [c for c in cols if c in SEALED_HISTORY_COLUMNS]
        select = ", ".join(
            f"cd_enc(CAST({c} AS VARCHAR), ? || customer_id, {archive_aad_sql(c)}) AS {c}" if c in sealed else c
            for c in cols)
        db.write_parquet(f"SELECT {select} FROM customer.history WHERE {where} ORDER BY customer_id, changed_at",
                         str(tmp), params=[customer_key_id("")] * len(sealed) + [cutoff, holds])
        db.execute(f"DELETE FROM customer.history WHERE {where}", [cutoff, holds])
        outcome.archived_rows = rows
        outcome.archive_file = folder / name
        served.update(ids)
        events.append(self._event(OPERATION_ARCHIVE, count=len(ids), rule=history[0].id, rows=rows,
                                  file=f"archive/history/{name}", before=cutoff.isoformat(sep=" ")))


SEALED_HISTORY_COLUMNS = ("old_value", "new_value")


def archive_aad_sql(column: str) -> str:
    """The associated data a sealed archive value is bound to: its customer, field and column."""
    return f"'archive:history:' || customer_id || ':' || field || ':{column}'"


def archive_aad(customer_id: str, field_name: str, column: str) -> str:
    return f"archive:history:{customer_id}:{field_name}:{column}"


__all__ = ["OPERATION_ANONYMISE", "OPERATION_ARCHIVE", "OPERATION_ERASE", "OPERATION_HELD", "OPERATION_HOLD",
           "OPERATION_RELEASE", "OPERATION_RUN",
           "SEALED_HISTORY_COLUMNS", "RetentionJob", "RetentionOutcome", "archive_aad"]
