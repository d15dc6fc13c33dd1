"""Data for the service benchmark: a real pipeline's served view, replicated to a million customers.

Running the whole pipeline at a million customers takes minutes and ~15 GB, and what the
service benchmark measures does not depend on how the documents were made, only on what
they look like and how they are stored.  So the pipeline runs for real on a small generated
group (the *templates*), and its served documents are replicated to N customers straight
into a new generation of ``served_customer``:

* every synthetic customer ``C1xxxxxxxx`` copies template ``(i - 1) mod T`` (kind, name,
  branches, segment, the same records, lineage and history), so documents keep their real
  size and shape and branches keep their real spread;
* its profile's protected fields are re-encrypted under its **own** new data key
  ``c-<id>`` with the associated data ``golden_aad(id, field)``, and the key is wrapped by
  the institution's KEK provider into ``served_key`` — exactly what the service unwraps and
  checks on every look-up (one key per customer, as erasure needs);
* record and lineage ciphertexts are bound to the source record, not to the customer, so
  they are copied as they are; relationships point at the copy of the related template
  in the same block of T customers.

A generation built this way is marked with ``run_id = bench-<N>-<T>-<seed>``; a later run
finding it active skips the build, and a half-built one (``loading``) is cleared first.
Plaintexts of the templates' protected fields live in memory only while building.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.crypto.envelope import PREFIX, Protector, is_ciphertext
from custodata.crypto.kek import KeyProvider
from custodata.crypto.keyring import customer_key_id
from custodata.demo.sources import generate
from custodata.engine.store import BatchStore, open_store
from custodata.errors import StateError
from custodata.ops.store import OpsStore
from custodata.pipeline import Pipeline
from custodata.resolution.golden import golden_aad
from custodata.serving.documents import SERVED_COLUMNS, domain_counts, stream_documents
from custodata.serving.publish import sync_served_keys
from custodata.serving.tables import ACTIVE, LOADING, RETIRED, served_customer, served_generation, served_key

TEMPLATES = 2_000
SEED = 11
FIRST_ID = 100_000_000  # synthetic ids C100000001…: apart from the pipeline's C000000001…
CHUNK = 5_000  # customers per load transaction
_SLOT = re.compile(r"@@(ID|F\d+|R\d+)@@")

Progress = Callable[[str], None]


def synthetic_id(i: int) -> str:
    """The id of synthetic customer ``i`` (1-based)."""
    return f"C{FIRST_ID + i:09d}"


def template_of(i: int, templates: int) -> int:
    """Index of the template synthetic customer ``i`` copies (0-based)."""
    return (i - 1) % templates


def run_marker(customers: int, templates: int, seed: int) -> str:
    """Names a build; the number of template documents actually served follows as ``-t<T>``."""
    return f"bench-{customers}-{templates}-{seed}-t"


@dataclass(frozen=True)
class Template:
    """One template customer: its look-up columns and its document cut at the slots to fill per copy."""

    customer_id: str
    kind: str | None
    name: str | None
    branches: str | None
    segment: str | None
    id_token: str | None
    mobile_token: str | None
    parts: tuple[str, ...]          # text between slots
    slots: tuple[str, ...]          # "ID" | "F<k>" | "R<k>"
    protected: tuple[tuple[str, str], ...]  # (field, plaintext) for slot F<k>
    related: tuple[int | None, ...]  # for slot R<k>: template index of the related customer (None: keep)
    related_ids: tuple[str, ...]     # the original related id, kept when it is no template


def ensure_seed(data_dir: Path, templates: int = TEMPLATES, seed: int = SEED, say: Progress = print) -> Path:
    """Run the real pipeline on a small generated group in ``data_dir`` once (its store is reused later)."""
    done = data_dir / "seed.json"
    if done.exists():
        info = json.loads(done.read_text(encoding="utf-8"))
        if info == {"templates": templates, "seed": seed}:
            return data_dir
        raise StateError(f"{data_dir} holds a seed of {info}; use another --data-dir for {templates} templates")
    t0 = time.perf_counter()
    say(f"seed: generating {templates:,} customers and running the pipeline in {data_dir} …")
    generate(templates, seed, data_dir / "raw")
    Pipeline.create(data_dir).run(data_dir / "raw")
    done.write_text(json.dumps({"templates": templates, "seed": seed}), encoding="utf-8")
    say(f"seed: pipeline done in {time.perf_counter() - t0:.1f} s")
    return data_dir


def _cut(doc_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pieces = _SLOT.split(doc_text)
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def load_templates(batch: BatchStore) -> list[Template]:
    """The served documents of the pipeline's run, prepared for fast copying."""
    protector = batch.protector
    rows: list[dict[str, Any]] = []
    for record_batch in stream_documents(batch.engine, 2_000):
        data = [record_batch.column(c).to_pylist() for c in SERVED_COLUMNS]
        rows.extend(dict(zip(SERVED_COLUMNS, r, strict=True)) for r in zip(*data, strict=True))
    index = {str(r["customer_id"]): n for n, r in enumerate(rows)}
    out = []
    for r in rows:
        cid = str(r["customer_id"])
        doc = json.loads(r["doc"])
        doc["customer_id"] = "@@ID@@"
        profile = doc["profile"]
        profile["customer_id"] = "@@ID@@"
        protected: list[tuple[str, str]] = []
        for field, value in list(profile.items()):
            if is_ciphertext(value):
                plain = protector.decrypt(value, golden_aad(cid, field))
                profile[field] = f"@@F{len(protected)}@@"
                protected.append((field, plain or ""))
        related: list[int | None] = []
        related_ids: list[str] = []
        for rel in doc.get("relationships") or []:
            other = str(rel.get("other_id"))
            rel["other_id"] = f"@@R{len(related)}@@"
            related.append(index.get(other))
            related_ids.append(other)
        parts, slots = _cut(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
        out.append(Template(cid, r["kind"], r["name"], r["branches"], r["segment"], r["id_token"],
                            r["mobile_token"], parts, slots, tuple(protected), tuple(related), tuple(related_ids)))
    if not out:
        raise StateError("the seed pipeline served no customers")
    return out


def _seal(cipher: AESGCM, key_id: str, value: str, aad: str) -> str:
    """As :meth:`Protector.encrypt` writes it: ``cd1:<key id>:<base64(nonce | sealed)>``."""
    nonce = secrets.token_bytes(12)
    sealed = cipher.encrypt(nonce, value.encode("utf-8"), aad.encode("utf-8"))
    return f"{PREFIX}:{key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def synthetic_rows(templates: Sequence[Template], provider: KeyProvider, first: int, last: int
                   ) -> Iterator[tuple[tuple[Any, ...], tuple[str, str, bytes]]]:
    """(served_customer row without generation, served_key row) for synthetic customers first..last."""
    t = len(templates)
    for i in range(first, last + 1):
        tpl = templates[template_of(i, t)]
        cid = synthetic_id(i)
        key_id = customer_key_id(cid)
        key = AESGCM.generate_key(256)
        version, wrapped = provider.wrap(key, key_id)
        cipher = AESGCM(key)
        block = i - 1 - template_of(i, t)  # 0-based index of the block's first customer
        text = []
        for n, slot in enumerate(tpl.slots):
            text.append(tpl.parts[n])
            if slot == "ID":
                text.append(cid)
            elif slot[0] == "F":
                field, plain = tpl.protected[int(slot[1:])]
                text.append(_seal(cipher, key_id, plain, golden_aad(cid, field)))
            else:
                k = int(slot[1:])
                other = tpl.related[k]
                text.append(tpl.related_ids[k] if other is None else synthetic_id(block + other + 1))
        text.append(tpl.parts[-1])
        row = (cid, tpl.kind, tpl.name, tpl.branches, tpl.segment, tpl.id_token, tpl.mobile_token, "".join(text))
        yield row, (key_id, version, wrapped)


# ---- loading -------------------------------------------------------------------------------------

def _insert(con: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    con.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])


def _copy(con: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    dbapi = con.connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(row)


_LOADERS: dict[str, Callable[[sa.Connection, sa.Table, Sequence[str], Sequence[Sequence[Any]]], None]] = {
    "sqlite": _insert,
    "postgresql": _copy,
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def active_generation(ops: OpsStore) -> tuple[int, str | None, int] | None:
    """(generation, run_id, customers) of the active generation, if any."""
    with ops.read() as con:
        row = con.execute(sa.select(served_generation.c.generation, served_generation.c.run_id,
                                    served_generation.c.customers)
                          .where(served_generation.c.status == ACTIVE)
                          .order_by(served_generation.c.generation.desc()).limit(1)).first()
    return None if row is None else (int(row.generation), row.run_id, int(row.customers))


def _drop_generations(ops: OpsStore, status: str, keep: int | None = None) -> None:
    with ops.read() as con:
        gens = [int(g) for g in con.execute(sa.select(served_generation.c.generation)
                                            .where(served_generation.c.status == status)).scalars()]
    for g in gens:
        if g == keep:
            continue
        with ops.begin() as con:
            con.execute(sa.delete(served_customer).where(served_customer.c.generation == g))
            con.execute(sa.delete(served_generation).where(served_generation.c.generation == g))


@dataclass(frozen=True)
class BuildReport:
    generation: int
    customers: int
    seconds: float
    built: bool  # False: an earlier run's generation was reused
    templates: int  # template documents copied (the pipeline serves a few more customers than generated)


def build_served(ops: OpsStore, data_dir: Path, customers: int, *, templates: int = TEMPLATES, seed: int = SEED,
                 say: Progress = print) -> BuildReport:
    """Make ``customers`` synthetic customers the active served generation of ``ops`` (reused if already so)."""
    t0 = time.perf_counter()
    marker = run_marker(customers, templates, seed)
    active = active_generation(ops)
    if active is not None and (active[1] or "").startswith(marker) and active[2] == customers:
        say(f"{ops.dialect}: {customers:,} customers already served (generation {active[0]}), build skipped")
        return BuildReport(active[0], customers, 0.0, built=False, templates=int(str(active[1])[len(marker):]))
    loader = _LOADERS.get(ops.dialect)
    if loader is None:
        raise StateError(f"no bulk loader for {ops.dialect}")
    ensure_seed(data_dir, templates, seed, say)
    batch = open_store(data_dir / "custodata.duckdb", read_only=True)
    try:
        tpls = load_templates(batch)
        sync_served_keys(batch, ops)  # the batch keys the copied record and lineage ciphertexts need
        counts = json.dumps(domain_counts(batch), ensure_ascii=False, sort_keys=True)
        protector: Protector = batch.protector
        provider = protector.keyring.provider
        fingerprint = protector.fingerprint()
    finally:
        batch.close()
    _drop_generations(ops, LOADING)
    # synthetic keys of an earlier, abandoned build
    with ops.begin() as con:
        con.execute(sa.delete(served_key).where(served_key.c.key_id.like(customer_key_id(f"C{FIRST_ID // 10**8}%"))
                                                & (sa.func.length(served_key.c.key_id) == 12)))
    with ops.begin() as con:
        key = con.execute(served_generation.insert().values(
            status=LOADING, published_at=_utcnow(), run_id=f"{marker}{len(tpls)}", customers=0, counts=counts,
            key_fingerprint=fingerprint)).inserted_primary_key
    if key is None:
        raise StateError("could not open a generation")
    generation = int(key[0])
    columns = ("generation", *SERVED_COLUMNS)
    say(f"{ops.dialect}: loading {customers:,} customers into generation {generation} …")
    last_said = time.perf_counter()
    for first in range(1, customers + 1, CHUNK):
        last = min(customers, first + CHUNK - 1)
        docs, keys = [], []
        for row, key_row in synthetic_rows(tpls, provider, first, last):
            docs.append((generation, *row))
            keys.append(key_row)
        with ops.begin() as con:
            loader(con, served_key, ("key_id", "kek_version", "wrapped"), keys)
            loader(con, served_customer, columns, docs)
        if time.perf_counter() - last_said > 15:
            last_said = time.perf_counter()
            say(f"{ops.dialect}:   {last:,} / {customers:,} ({last_said - t0:.0f} s)")
    with ops.begin() as con:
        con.execute(sa.update(served_generation).where(served_generation.c.status == ACTIVE).values(status=RETIRED))
        con.execute(sa.update(served_generation).where(served_generation.c.generation == generation)
                    .values(status=ACTIVE, activated_at=_utcnow(), customers=customers))
    _drop_generations(ops, RETIRED)
    if ops.dialect == "postgresql":
        with ops.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
            con.exec_driver_sql("ANALYZE served_customer")
            con.exec_driver_sql("ANALYZE served_key")
    else:
        with ops.engine.connect() as con:
            con.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds = time.perf_counter() - t0
    say(f"{ops.dialect}: {customers:,} customers loaded in {seconds:.1f} s")
    return BuildReport(generation, customers, seconds, built=True, templates=len(tpls))
