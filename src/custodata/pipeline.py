"""The domain pipeline, stage by stage, exactly along DESIGN.md's flow.

landing -> business data sub-domains -> business data total domain ->
customer data total domain -> customer business-layer sub-domains ->
customer business-layer total domain, then publish.

Each source batch loads in its own transaction and everything from the
customer domain on runs in one more, so a run killed at any point (even
kill -9) leaves the store as it was before that step, and re-running ends in
the same state as an uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from custodata.domains.customer import build_parties, refresh_parties, refreshable
from custodata.domains.ingest import SourceSummary, ingest_all
from custodata.domains.layer import VIEW, build_layer
from custodata.engine.held_store import HeldStore
from custodata.engine.lookups import ensure_lookup_indexes
from custodata.engine.sql import literal
from custodata.engine.store import BatchStore, open_store
from custodata.erasure import ErasureReport
from custodata.private_files import private_dir, private_file
from custodata.resolution.config import ResolutionConfig, load_config
from custodata.resolution.duplicates import DuplicateFound
from custodata.resolution.resolve import ResolutionSummary, local_ready, resolve
from custodata.sources.mapping import SourceMapping, default_mappings_dir, load_mappings
from custodata.tags.rules import TagRules, load_rules

STAGES = (
    ("ingest", "落地与业务数据分域 landing → business sub-domains"),
    ("customer", "客户数据总域 customer data total domain"),
    ("resolve", "实体识别与黄金记录 entity resolution → golden records"),
    ("layer", "客户数据业务层分域/总域 customer business layer"),
    ("relationships", "客户关系 relationships"),
    ("publish", "发布 publish"),
    ("compact", "存储整理 store rewritten without freed blocks"),
)

StageProgress = Callable[[str, str, int, int], None]  # stage, message, done, total
# how a change rederives golden records, relationships, the layer and the served view:
# only for the customers it affects, or everything again (the reference it must equal)
DERIVE_MODES = ("incremental", "full")
FULL_PUBLISH_SHARE = 0.3  # a batch touching more of the customers than this is served as a new generation


@dataclass
class RunSummary:
    run_id: str
    store: str
    sources: list[SourceSummary]
    resolution: ResolutionSummary | None = None
    customers_by_type: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return sum(s.read for s in self.sources)

    @property
    def accepted(self) -> int:
        return sum(s.accepted for s in self.sources)

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.sources)

    @property
    def records_merged(self) -> int:
        """Source party records that were folded into another record's customer."""
        if self.resolution is None:
            return 0
        return max(self.resolution.observations - sum(self.customers_by_type.values()), 0)

    def to_json(self) -> str:
        data = asdict(self)
        data["totals"] = {"read": self.read, "accepted": self.accepted,
                          "quarantined": self.quarantined, "records_merged": self.records_merged}
        return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def new_run_id() -> str:
    return "R" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")


@dataclass
class Pipeline:
    """A configured pipeline over one output folder (store + published files)."""

    out_dir: Path
    mappings: list[SourceMapping]
    config: ResolutionConfig
    rules: TagRules
    threads: int | None = None
    ops_url: str | None = None  # the operational store served from; default CUSTODATA_DB_URL, else OUT's SQLite
    derive: str = "incremental"  # steward changes and erasures: see DERIVE_MODES
    # a change served in place leaves the Parquet files to :meth:`write_stale_files` (the job worker,
    # when its queue is empty): rewriting every file at 1M customers would hold up the next change
    files_later: bool = False
    # seconds of the last steward change or erasure by step ("visible": until its served rows committed)
    timings: dict[str, float] = field(default_factory=dict)
    # the job worker's store, kept open between its changes (see custodata.engine.held_store)
    holder: HeldStore | None = None

    @classmethod
    def create(
        cls, out_dir: Path, *, mappings_dir: Path | None = None, config_path: Path | None = None,
        rules_path: Path | None = None, threads: int | None = None,
    ) -> Pipeline:
        return cls(out_dir, load_mappings(mappings_dir or default_mappings_dir()),
                   load_config(config_path), load_rules(rules_path), threads)

    @property
    def store_path(self) -> Path:
        return self.out_dir / "custodata.duckdb"

    def open(self) -> BatchStore:
        """A store of its own (closed by the caller); the pipeline's own steps use :meth:`using`."""
        return open_store(self.store_path, threads=self.threads)

    @contextmanager
    def using(self) -> Iterator[BatchStore]:
        """The store for one step: the held one when the worker holds it, else opened and closed here."""
        if self.holder is None:
            store = self.open()
            try:
                yield store
            finally:
                store.close()
            return
        store = self.holder.open()
        try:
            yield store
        except DuplicateFound:  # a refused create wrote nothing: the connection stays held, warm
            self.holder.done(store)
            raise
        except BaseException:
            self.holder.done(store, failed=True)
            raise
        self.holder.done(store)

    def _let_go(self) -> None:
        """Before a step rewrites or replaces the store file: the held connection must not outlive it."""
        if self.holder is not None:
            self.holder.release()

    def run(
        self, input_dir: Path, *, mode: str = "auto", force: bool = False, retrain: bool = False,
        progress: StageProgress | None = None, landing_retention_days: int | None = None, derive: str = "full",
    ) -> RunSummary:
        """Ingest, resolve and publish; with a retention, landing files older than it are purged after success.

        ``mode`` is how the matching model scores pairs (auto, full, incremental); ``derive``
        is what is derived after: ``full`` every golden record, relationship, layer row and a
        new served generation, ``incremental`` only the customers the batch touched (their
        observations came, went, moved or changed, or a record of theirs has a new version)
        and their neighbours, served in place.  Both end in the same state.
        """
        if derive not in DERIVE_MODES:
            from custodata.errors import ConfigError

            raise ConfigError(f"derive must be {' or '.join(DERIVE_MODES)}, not {derive!r}")
        say = progress or (lambda *_a: None)
        run_id = new_run_id()
        with self.using() as store:
            summary = RunSummary(run_id, str(self.store_path), [])
            ex = store.engine
            ex.execute("INSERT INTO meta.run VALUES (?, now(), NULL, ?, NULL)", [run_id, mode])

            t0 = time.perf_counter()
            summary.sources = ingest_all(
                store, self.mappings, input_dir, force=force,
                progress=lambda name, i, n: say("ingest", name, i, n),
            )
            summary.stage_seconds["ingest"] = time.perf_counter() - t0

            self._derive_batch(store, summary, run_id, mode=mode, retrain=retrain, derive=derive, say=say)
            if landing_retention_days is not None:
                purged = purge_landing(store, self.mappings, input_dir, landing_retention_days)
                summary.outputs["purged_landing_files"] = ", ".join(purged) or "(none due)"
        if derive == "full" or force:
            t0 = time.perf_counter()
            self._drop_freed_pages()
            summary.stage_seconds["compact"] = time.perf_counter() - t0
        summary.outputs["summary"] = str(self.out_dir / "run_summary.json")
        (self.out_dir / "run_summary.json").write_text(summary.to_json(), encoding="utf-8")
        private_file(self.out_dir / "run_summary.json")
        return summary

    def _derive_batch(self, store: BatchStore, summary: RunSummary, run_id: str, *, mode: str, retrain: bool,
                      derive: str, say: StageProgress) -> None:
        """After a batch landed: party observations, resolution, golden records, layer, relationships, serving.

        Shared by :meth:`run` (exports of the source systems) and :meth:`create_record`
        (a one-record ``mdm`` batch): a customer created at the front desk goes the way
        every customer goes.
        """
        from custodata.resolution import affected
        from custodata.resolution.golden import build_golden

        ex = store.engine
        with ex.transaction():
            t0 = time.perf_counter()
            only = affected.AFFECTED if derive == "incremental" and affected.ready(store.engine) else None
            if only is not None:  # look-ups, not scans, for the few customers it touches
                ensure_lookup_indexes(store.engine)
            say("customer", "party observations", 0, 1)
            # a batch derived incrementally and scored against the saved model is resolved around its
            # own records only: their observations, person rows, clusters and ids
            local = (only is not None and mode != "full" and not retrain and refreshable(store.engine)
                     and local_ready(store.engine))
            if local:
                refresh_parties(ex)
            else:
                if only is not None:
                    affected.snapshot_inputs(store.engine)
                build_parties(ex)
            say("customer", "party observations", 1, 1)
            summary.stage_seconds["customer"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            steps = iter(range(1, 100))
            summary.resolution = resolve(
                store.engine, self.config, run_id, keyring=store.protector.keyring, mode=mode, retrain=retrain,
                progress=lambda msg: say("resolve", msg, next(steps), 9), golden=only is None, local=local,
            )
            if only is not None:  # golden records of the customers the batch touched
                touched = affected.changed_locally(store.engine) if local else affected.changed_by_batch(store.engine)
                affected.start(store.engine, touched)
                summary.resolution.customers = build_golden(
                    store.engine, self.config, run_id, keyring=store.protector.keyring, only=only)
            say("resolve", "done", 9, 9)
            summary.stage_seconds["resolve"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            say("layer", "tags and segments", 0, 1)
            summary.customers_by_type = build_layer(store.engine, self.config, self.rules, only=only)
            say("layer", "tags and segments", 1, 1)
            summary.stage_seconds["layer"] = time.perf_counter() - t0
            ex.execute(
                "UPDATE meta.run SET finished_at = now(), summary = ? WHERE run_id = ?",
                [json.dumps({"customers": summary.customers_by_type}), run_id],
            )

        # relationships are derived from committed golden records in their own transaction:
        # DuckDB plans the joins badly over tables created earlier in the same transaction
        t0 = time.perf_counter()
        with ex.transaction():
            from custodata.resolution.relationships import build_relationships

            relationships = build_relationships(store.engine, only=only)
            if summary.resolution is not None:
                summary.resolution.relationships = relationships
            served = affected.served_ids(store.engine) if only is not None else None
        summary.stage_seconds["relationships"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        say("publish", "parquet", 0, 1)
        customers = sum(summary.customers_by_type.values())
        if (served is not None and len(served) <= FULL_PUBLISH_SHARE * customers
                and self._serve_in_place(store, served, run_id=run_id)):
            summary.outputs = self._files_after_change(store)
            summary.outputs["served"] = f"{len(served)} customers served again in place"
        else:  # most customers changed: a whole new generation loads faster than row by row
            summary.outputs = self.publish(
                store, run_id=run_id, progress=lambda done, total: say("publish", "served view", done, total))
        summary.outputs["store"] = str(self.store_path)
        say("publish", "parquet", 1, 1)
        summary.stage_seconds["publish"] = time.perf_counter() - t0

    def _drop_freed_pages(self) -> None:
        """Rewrite the store file after a run, so no freed block keeps what the run deleted.

        A full run replaces every derived table and a forced one whole batches; DuckDB
        reuses freed blocks but does not wipe them, so a copy of the file could still hold
        old values a grep finds.  An incremental run frees only rows of the customers it
        derives again, whose identifiers are sealed in every stored table (landing text
        never leaves the connection's temporary tables; tests/test_trust_disk.py scans an
        incremental run's file without this): rewriting a file of gigabytes for that
        would cost more than the batch (28 s at 100k customers against a 21 s delta).
        Erasure compacts on its own (:meth:`erase`).
        """
        from custodata.engine.store import compact

        self._let_go()
        compact(self.store_path)

    def _check_derive(self) -> bool:
        """Whether changes derive incrementally (else in full); a wrong setting is a clear error."""
        from custodata.errors import ConfigError

        if self.derive not in DERIVE_MODES:
            raise ConfigError(f"derive must be {' or '.join(DERIVE_MODES)}, not {self.derive!r}")
        return self.derive == "incremental"

    def steward(self, operation: str, **kwargs: object) -> list[str]:
        """Run a merge, unmerge or field correction, then refresh golden records, relationships and the layer.

        ``correct`` takes customer_id, field, value, reason, by, and optionally
        request_id and sealed (the value sealed for the customer, as approvals carry it).
        With ``derive="incremental"`` only the customers the change affects (and their
        relationship neighbours) are derived and served again; ``"full"`` rebuilds all.
        """
        from custodata.errors import StateError
        from custodata.resolution import affected, steward
        from custodata.resolution.golden import build_golden
        from custodata.resolution.identity import ensure_tables, mark_for_resolution, resolve_id
        from custodata.resolution.relationships import build_relationships

        if operation == "create":  # a customer created at the front desk: a one-record mdm batch
            return self.create_record(**kwargs)  # type: ignore[arg-type]
        if operation not in ("merge", "unmerge", "correct"):
            raise StateError(f"unknown steward operation {operation!r}; use merge, unmerge, correct or create")
        incremental = self._check_derive()
        t0 = time.perf_counter()
        run_id = new_run_id()
        with self.using() as store:
            with store.engine.transaction():
                only = None
                ensure_tables(store.engine)
                named = [resolve_id(store.engine, str(c)) for c in (
                    [kwargs["survivor"], kwargs["absorbed"]] if operation == "merge" else [kwargs["customer_id"]])]
                if operation != "correct":  # their records' ids move outside resolution: the next batch looks again
                    mark_for_resolution(store.engine, "SELECT obs_id FROM customer.xref WHERE customer_id IN "
                                        f"(SELECT unnest([{', '.join(literal(c) for c in named)}]))")
                if incremental:
                    ensure_lookup_indexes(store.engine)
                    affected.start(store.engine, named)
                    only = affected.AFFECTED
                if operation == "merge":
                    event = steward.merge(store.engine, str(kwargs["survivor"]), str(kwargs["absorbed"]),
                                          reason=str(kwargs["reason"]), run_id=run_id)
                    result = [str(kwargs["survivor"]), f"merge #{event}"]
                elif operation == "correct":
                    request_id = kwargs.get("request_id")
                    correction = steward.correct(
                        store.engine, str(kwargs["customer_id"]), str(kwargs["field"]), str(kwargs["value"]),
                        reason=str(kwargs["reason"]), by=str(kwargs["by"]), protector=store.protector,
                        request_id=str(request_id) if request_id is not None else None,
                        sealed=bool(kwargs.get("sealed", False)),
                    )
                    result = [str(kwargs["customer_id"]), f"correction #{correction}"]
                else:
                    records = kwargs.get("records")
                    result = steward.unmerge(
                        store.engine, str(kwargs["customer_id"]), reason=str(kwargs["reason"]),
                        run_id=run_id, records=list(records) if isinstance(records, list) else None,
                    )
                    if incremental:
                        affected.add(store.engine, result)  # the customers that (re)appear
                build_golden(store.engine, self.config, run_id, keyring=store.protector.keyring,
                             cause=f"{operation}: {kwargs['reason']}", only=only)
                build_relationships(store.engine, only=only)
                build_layer(store.engine, self.config, self.rules, only=only)
                served = affected.served_ids(store.engine) if incremental else None
            self.timings = {"derive": time.perf_counter() - t0}
            self._publish_change(store, served, t0)
            return result

    def create_record(self, *, kind: str, record_key: str, branch: str | None, values: dict[str, str] | None = None,
                      sealed: dict[str, str] | None = None, intake: str | None = None, check: bool = True,
                      reason: str = "", by: str = "", request_id: str | None = None,
                      created_at: str | None = None) -> list[str]:
        """Create a customer from a front desk's checked form: a one-record batch of the ``mdm`` source.

        With ``check`` the form is first scored against every existing customer (the
        trained model, read in this same store session, so nothing is created between the
        check and the write) and :class:`DuplicateFound` is raised above the threshold.
        The record then lands, is typed and marked like any source's, and is derived
        incrementally: resolution gives it a stable customer id (or, created anyway, the
        existing customer it links to), its golden record, layer row and served row.
        Returns ``[customer_id, note]``.  ``reason``, ``by`` and ``request_id`` are the
        request's; the record's key (``record_key``) is its lineage; ``created_at`` (UTC,
        ``YYYY-MM-DD HH:MM:SS``; default now) is when the desk created it.  ``sealed`` and
        ``intake``: the form as a create request carries it, sealed under the intake key.
        """
        from custodata.domains.ingest import ingest_records, refresh_total_domain
        from custodata.errors import StateError
        from custodata.resolution.duplicates import find_duplicates
        from custodata.sources.mdm import mdm_mapping, record_row

        t0 = time.perf_counter()
        with self.using() as store:
            if sealed is not None:
                from custodata.approvals.changes import intake_aad

                values = {f: str(store.protector.decrypt(v, intake_aad(str(intake), f))) for f, v in sealed.items()}
            if values is None:
                raise StateError(f"create {record_key}: no form values given")
            if check:
                found = find_duplicates(store.engine, self.config, kind, values)
                if found:
                    raise DuplicateFound(found)
            run_id = new_run_id()
            summary = RunSummary(run_id, str(self.store_path), [])
            store.engine.execute("INSERT INTO meta.run VALUES (?, now(), NULL, ?, NULL)", [run_id, "create"])
            created_at = created_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            row = record_row(values, record_key=record_key, branch=branch, created_at=created_at)
            summary.sources = [ingest_records(store, mdm_mapping(), [row], batch_name=record_key)]
            refresh_total_domain(store)
            if summary.sources[0].accepted != 1:
                raise StateError(f"the create form of {record_key} was quarantined by the mdm source's checks")
            derive = "incremental" if self._check_derive() else "full"
            self._derive_batch(store, summary, run_id, mode="incremental", retrain=False, derive=derive,
                               say=lambda *_a: None)
            hit = store.engine.one(
                "SELECT x.customer_id FROM customer.xref x JOIN customer.party p USING (obs_id) "
                "WHERE p.source = ? AND p.record_key = ?", [mdm_mapping().system, record_key])
            if hit is None:
                raise StateError(f"the mdm record {record_key} did not become a customer")
            self.timings = {"visible": time.perf_counter() - t0, **summary.stage_seconds}
            return [str(hit[0]), f"created from mdm record {record_key}"]

    def erase(self, customer_id: str, *, reason: str) -> ErasureReport:
        """Erase a customer for good (see :mod:`custodata.erasure`), republish, and compact the store."""
        from custodata.engine.store import compact
        from custodata.erasure import erase_customer
        from custodata.resolution import affected
        from custodata.resolution.identity import ensure_tables, resolve_id
        from custodata.resolution.relationships import build_relationships

        incremental = self._check_derive()
        t0 = time.perf_counter()
        with self.using() as store:
            with store.engine.transaction():  # all or nothing: tombstones, keys, derived layers
                only = None
                if incremental:  # its neighbours and the other parties of its records are served again
                    ensure_lookup_indexes(store.engine)
                    ensure_tables(store.engine)
                    affected.start(store.engine, [resolve_id(store.engine, customer_id)], record_mates=True)
                    only = affected.AFFECTED
                report = erase_customer(store, customer_id, reason=reason)
                if not report.already:  # outside the data too, so restoring an older backup erases it again
                    from custodata.backup.ledger import record_store_erasure

                    record_store_erasure(self.out_dir, store.engine, report.customer_id, reason)
                if incremental:
                    affected.add(store.engine, report.customer_ids)
                build_relationships(store.engine, only=only)
                build_layer(store.engine, self.config, self.rules, only=only)
                served = affected.served_ids(store.engine) if incremental else None
            self.timings = {"derive": time.perf_counter() - t0}
            self._publish_change(store, served, t0)
            store.engine.execute("CHECKPOINT")
        self._let_go()  # the erased customer's freed blocks go with the old file; so does a cached key of theirs
        compact(self.store_path)
        return report

    def _publish_change(self, store: BatchStore, served: list[str] | None, t0: float) -> None:
        """Serve a change: the rows of ``served`` in place (``None``: a whole new generation), then the files."""
        if served is None or not self._serve_in_place(store, served):
            self.publish(store)
            self.timings["visible"] = time.perf_counter() - t0
            return
        self.timings["visible"] = time.perf_counter() - t0
        self._files_after_change(store)
        self.timings["files"] = time.perf_counter() - t0 - self.timings["visible"]

    @property
    def _stale_marker(self) -> Path:
        return self.out_dir / "published" / ".stale"

    def _files_after_change(self, store: BatchStore) -> dict[str, str]:
        """The published files after a change served in place: written now, or marked stale for later."""
        if not self.files_later:
            return self.export_files(store)
        private_dir(self._stale_marker.parent)
        self._stale_marker.touch()
        return {"published": f"{self._stale_marker.parent} (stale until the worker is idle)"}

    def write_stale_files(self, *, stop: Callable[[], bool] = lambda: False) -> bool:
        """Write the published files if a change left them stale; whether all were written.

        The marker goes only once every file is written (each atomically), so a failure
        leaves it for the next try; no change lands meanwhile, as this holds the store.
        ``stop`` is asked between files: a job waiting stops the export (tried again later).
        """
        if not self._stale_marker.exists():
            return False
        with self.using() as store:
            done = bool(self.export_files(store, stop=stop))
            if done:
                self._stale_marker.unlink(missing_ok=True)
        return done

    def _serve_in_place(self, store: BatchStore, served: list[str], *, run_id: str | None = None) -> bool:
        """Replace the served rows of ``served`` and write their change events in one transaction.

        ``False`` when nothing is served yet.
        """
        from custodata.ops.store import open_ops
        from custodata.serving.incremental import publish_customers

        ops = open_ops(self.ops_url, out_dir=self.out_dir)
        try:
            return publish_customers(store, ops, served, run_id=run_id) is not None
        finally:
            ops.close()

    def rotate_kek(self, *, retire_old: bool = False) -> dict[str, object]:
        """Rotate the key-encryption key: data keys are re-wrapped, no field is re-encrypted."""
        with self.using() as store:
            provider = store.protector.keyring.provider
            old = provider.current_version()
            new = provider.rotate()
            with store.engine.transaction():
                rewrapped = store.protector.keyring.rewrap()
            self._sync_served_keys(store)  # the service must unwrap with the new version before the old goes
            retired = []
            if retire_old:
                store.protector.keyring.reload()
                in_use = store.protector.keyring.versions_in_use()
                for version in provider.versions():
                    if version != new and version not in in_use:
                        provider.retire(version)
                        retired.append(version)
            return {"old_version": old, "new_version": new, "rewrapped": rewrapped, "retired": retired}

    def publish(
        self, store: BatchStore, *, run_id: str | None = None, progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, str]:
        """Write the published domain as Parquet, atomically (temp file, then rename), and serve it.

        The served customer view in the operational store (:mod:`custodata.serving`) is
        refreshed as a new generation and switched to in one transaction, so the
        service answers throughout and an erased customer is gone from it at once.
        """
        outputs = self.export_files(store)
        from custodata.ops.store import open_ops
        from custodata.serving.publish import publish_served

        ops = open_ops(self.ops_url, out_dir=self.out_dir)
        try:
            served = publish_served(store, ops, run_id=run_id, progress=progress)
        finally:
            ops.close()
        outputs["served"] = f"{_redacted(ops.url)} (generation {served.generation}, {served.customers} customers)"
        return outputs

    def export_files(self, store: BatchStore, *, stop: Callable[[], bool] = lambda: False) -> dict[str, str]:
        """Write the published domain as Parquet files, each atomically (temp file, then rename).

        ``stop`` is asked before each file; when it says so, ``{}`` (not all written).
        """
        folder = private_dir(self.out_dir / "published")
        outputs: dict[str, str] = {}
        for name, table in (
            ("customer_view", VIEW),
            ("golden", "customer.golden"),
            ("xref", "customer.xref"),
            ("relationships", "customer.relationship"),
            ("history", "customer.history"),
            ("quarantine", "meta.quarantine"),
            ("review", "customer.review"),
        ):
            if stop():
                return {}
            target = folder / f"{name}.parquet"
            tmp = folder / f".{name}.parquet.tmp"
            store.engine.execute(f"COPY (SELECT * FROM {table}) TO '{tmp}' (FORMAT parquet)")
            os.replace(private_file(tmp), target)
            outputs[name] = str(target)
        return outputs

    def _sync_served_keys(self, store: BatchStore) -> None:
        from custodata.ops.store import open_ops
        from custodata.serving.publish import sync_served_keys

        ops = open_ops(self.ops_url, out_dir=self.out_dir)
        try:
            sync_served_keys(store, ops)
        finally:
            ops.close()



def _redacted(url: str) -> str:
    """A database URL fit for a summary: never its password."""
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


def purge_landing(store: BatchStore, mappings: list[SourceMapping], input_dir: Path, days: int) -> list[str]:
    """Delete landing files (CSV, JSON lines, Parquet exports) loaded and older than ``days``.

    Source databases (``format: sql``) belong to their systems and are never deleted.
    The batch is marked ``purged`` so a later run knows the file went on purpose.
    """
    from custodata.sources.readers import content_hash, source_location

    cutoff = time.time() - days * 86400
    purged = []
    for mapping in mappings:
        if mapping.format == "sql":
            continue
        path = source_location(mapping, input_dir)
        if not path.exists() or path.stat().st_mtime > cutoff:
            continue
        # only the very bytes that were loaded: a newer export dropped meanwhile is kept
        loaded = store.engine.rows(
            "SELECT batch_id FROM meta.batch WHERE system = ? AND status = 'loaded' AND content_hash = ?",
            [mapping.system, content_hash(mapping, input_dir)])
        if not loaded:
            continue
        path.unlink()
        store.engine.execute("UPDATE meta.batch SET status = 'purged' WHERE batch_id = ?", [loaded[0][0]])
        purged.append(str(path))
    return purged
