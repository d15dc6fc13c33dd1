"""The served customer view on both operational engines: equal to the batch view, searchable, zero downtime."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from custodata.crypto.kek import MemoryKeyProvider
from custodata.demo.sources import generate
from custodata.engine.store import BatchStore, open_store
from custodata.errors import ConfigError, CryptoError, KeyDestroyedError, NotFoundError
from custodata.ops import open_ops
from custodata.ops.store import OpsStore
from custodata.pipeline import Pipeline
from custodata.serving import InvalidQueryError, ServedView, protector_from_ops, publish_served
from custodata.serving.customer_360 import customer_360_encrypted, decrypt_view
from custodata.serving.documents import jsonable
from custodata.serving.tables import served_customer, served_generation, served_key, served_redirect

CUSTOMERS = 60


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small pipeline run; tests that change it work on a copy."""
    out = tmp_path_factory.mktemp("serving") / "out"
    generate(CUSTOMERS, 11, out / "raw")
    previous = os.environ.pop("CUSTODATA_DB_URL", None)  # the run serves into out/custodata.sqlite
    try:
        Pipeline.create(out).run(out / "raw")
    finally:
        if previous is not None:
            os.environ["CUSTODATA_DB_URL"] = previous
    return out


@pytest.fixture
def batch(world: Path) -> Iterator[BatchStore]:
    store = open_store(world / "custodata.duckdb", read_only=True)
    yield store
    store.close()


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    store = open_ops(ops_url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def expected(world: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Every customer's view read from the batch store (encrypted, decrypted), once for both engines."""
    store = open_store(world / "custodata.duckdb", read_only=True)
    try:
        views = {}
        for cid in _customers(store):
            stored = customer_360_encrypted(store.engine, cid)
            views[cid] = (jsonable(stored), jsonable(decrypt_view(stored, store.protector)))
        return views
    finally:
        store.close()


def _copy(world: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(world, out, ignore=shutil.ignore_patterns("raw", "custodata.sqlite*"))
    return out


def _customers(batch: BatchStore) -> list[str]:
    return [r[0] for r in batch.con.execute("SELECT customer_id FROM layer.customer_view ORDER BY 1").fetchall()]


def _ids(served: ServedView) -> list[str]:
    with served.ops.read() as con:
        return [str(c) for c in con.execute(sa.select(served_customer.c.customer_id)).scalars()]


def _person(batch: BatchStore) -> tuple[str, str, str, str]:
    """An individual with a name, an ID number and a mobile, decrypted from the batch store."""
    row = batch.con.execute(
        "SELECT customer_id, name, cd_dec(id_number, customer_id || '|id_number'), "
        "cd_dec(mobile, customer_id || '|mobile') FROM customer.golden WHERE kind = 'individual' "
        "AND id_number IS NOT NULL AND mobile IS NOT NULL AND name IS NOT NULL ORDER BY customer_id LIMIT 1"
    ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1]), str(row[2]), str(row[3])


def test_every_served_document_equals_the_batch_view(
    batch: BatchStore, ops: OpsStore, expected: dict[str, tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    report = publish_served(batch, ops, run_id="R-test")
    ids = _customers(batch)
    assert report.customers == len(ids) == len(expected) > CUSTOMERS // 2
    served = ServedView(ops, batch.protector)
    assert served.active_generation() == report.generation
    for cid in ids:
        encrypted, decrypted = expected[cid]
        assert served.get_encrypted(cid) == encrypted, cid
        assert served.get(cid) == decrypted, cid
    counts = served.domain_counts()
    assert counts["layer"]["customer_view"] == len(ids)
    assert counts["business"]["total"] == batch.count("business.total")
    for system in counts["landing"].values():
        assert system["read"] == system["accepted"] + system["quarantined"]
    assert counts["served"]["generation"] == report.generation and counts["served"]["run_id"] == "R-test"


def test_search_by_name_id_number_mobile_and_customer_id(batch: BatchStore, ops: OpsStore) -> None:
    publish_served(batch, ops)
    served = ServedView(ops, batch.protector)
    cid, name, id_number, mobile = _person(batch)
    summary = {"customer_id": cid, "kind": "individual", "name": name,
               "branches": sorted(served.branches_of(cid)), "segment": served.get(cid)["profile"]["segment"]}
    assert summary in served.search(name=name)
    assert summary in served.search(name=" ".join(name))  # spacing normalised like the sources
    assert served.search(id_number=id_number) == [summary]
    assert served.search(id_number=id_number.lower(), mobile=f"+86 {mobile}") == [summary]
    assert summary in served.search(mobile=mobile)
    assert served.search(customer_id=cid) == [summary]
    assert served.search(customer_id=cid, name="不存在的人") == []
    with pytest.raises(InvalidQueryError) as bad:
        served.search(id_number=id_number[:-1] + ("0" if id_number[-1] != "0" else "1"))
    assert id_number[:10] not in str(bad.value)  # the query value is never echoed
    with pytest.raises(InvalidQueryError):
        served.search()
    with pytest.raises(InvalidQueryError):
        served.search(name=name, limit=0)
    with pytest.raises(NotFoundError, match="not found"):
        served.get("C999999999")


def test_merged_id_is_followed_to_its_survivor(world: Path, tmp_path: Path, ops_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = _copy(world, tmp_path)
    monkeypatch.setenv("CUSTODATA_DB_URL", ops_url)  # the pipeline's own publish serves into this store
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        survivor, absorbed = _customers(store)[:2]
    finally:
        store.close()
    Pipeline.create(out).steward("merge", survivor=survivor, absorbed=absorbed, reason="same person (test)")
    ops = open_ops(ops_url)
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        served = ServedView(ops, store.protector)
        view = served.get_encrypted(absorbed)
        assert view["customer_id"] == survivor and view["requested_id"] == absorbed
        expected = jsonable(customer_360_encrypted(store.engine, absorbed))
        assert view == expected
        assert [h["customer_id"] for h in served.search(customer_id=absorbed)] == [survivor]
        assert served.branches_of(absorbed) == served.branches_of(survivor)
    finally:
        store.close()
        ops.close()


def test_erased_customer_is_gone_from_the_served_view_at_once(
    world: Path, tmp_path: Path, ops_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _copy(world, tmp_path)
    monkeypatch.setenv("CUSTODATA_DB_URL", ops_url)
    store = open_store(out / "custodata.duckdb")
    try:
        cid, name, id_number, mobile = _person(store)
    finally:
        store.close()
    ops = open_ops(ops_url)
    try:
        pipeline = Pipeline.create(out)
        store = pipeline.open()
        try:
            pipeline.publish(store)
        finally:
            store.close()
        served = ServedView(ops, generation_ttl=3600)  # a reader holding a cached generation across the erase
        before = served.get_encrypted(cid)
        assert served.get(cid)["profile"]["id_number"] == id_number
        pipeline.erase(cid, reason="PIPL request 7")
        with pytest.raises(NotFoundError, match="erased"):
            served.get(cid)
        assert served.search(id_number=id_number) == []
        assert all(h["customer_id"] != cid for h in served.search(name=name))
        assert served.search(customer_id=cid) == []
        with ops.read() as con:
            assert con.execute(sa.select(sa.func.count()).select_from(served_customer)
                               .where(served_customer.c.customer_id == cid)).scalar() == 0
            assert con.execute(sa.select(served_key.c.wrapped)
                               .where(served_key.c.key_id == f"c-{cid}")).one().wrapped is None
        fresh = protector_from_ops(ops)
        with pytest.raises(KeyDestroyedError):  # a copy of the old document is dead too
            fresh.decrypt(before["profile"]["id_number"], f"{cid}|id_number")
        if ops.dialect == "sqlite":  # and no freed page or WAL frame of the file keeps the old document
            folder = Path(str(sa.make_url(ops_url).database)).parent
            files = b"".join(f.read_bytes() for f in folder.glob("ops.sqlite*"))
            kept = next(v for v in (served.get_encrypted(c)["profile"]["id_number"] for c in _ids(served)) if v)
            assert str(kept).encode() in files  # the check can see a served document in the file
            assert str(before["profile"]["id_number"]).encode() not in files
    finally:
        ops.close()


def test_publish_swaps_generations_while_readers_keep_reading(batch: BatchStore, ops: OpsStore) -> None:
    first = publish_served(batch, ops)
    ids = _customers(batch)[:20]
    _, name, id_number, _ = _person(batch)
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0, 0]

    def reader(slot: int, ttl: float) -> None:
        served = ServedView(ops, batch.protector, generation_ttl=ttl)
        while not stop.is_set():
            try:
                for cid in ids:
                    assert served.get(cid)["customer_id"] == cid
                    reads[slot] += 1
                assert served.search(id_number=id_number)
                assert served.search(name=name)
            except BaseException as exc:  # noqa: BLE001  (reported below, whatever it is)
                errors.append(exc)
                return

    # one reader asks for the active generation every time, one keeps it cached across the swaps
    threads = [threading.Thread(target=reader, args=(0, 0.0)), threading.Thread(target=reader, args=(1, 3600.0))]
    for t in threads:
        t.start()
    try:
        last = first
        for _ in range(3):
            before = reads[:]
            last = publish_served(batch, ops)
            while reads[0] == before[0] or reads[1] == before[1]:  # each reader read across this swap
                if errors or not all(t.is_alive() for t in threads):
                    break
                stop.wait(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[0]
    assert min(reads) > 0
    assert last.generation > first.generation
    with ops.read() as con:
        generations = dict(con.execute(sa.select(served_generation.c.generation, served_generation.c.status)).all())
        left = {g for (g,) in con.execute(sa.select(served_customer.c.generation).distinct())}
        redirect_left = {g for (g,) in con.execute(sa.select(served_redirect.c.generation).distinct())}
    assert generations[last.generation] == "active"
    assert [g for g, s in generations.items() if s == "active"] == [last.generation]
    assert left == {last.generation} and redirect_left <= {last.generation}


def test_no_plaintext_identifier_at_rest(batch: BatchStore, ops: OpsStore) -> None:
    publish_served(batch, ops)
    secrets = {v for (v,) in batch.con.execute(
        "SELECT cd_dec(id_number, obs_id || '|id_number') FROM customer.party WHERE id_number IS NOT NULL "
        "UNION SELECT cd_dec(mobile, obs_id || '|mobile') FROM customer.party WHERE mobile IS NOT NULL "
        "UNION SELECT cd_dec(card_no, _source || ':' || record_key || '|card_no') FROM business.total "
        "WHERE card_no IS NOT NULL").fetchall() if v}
    assert len(secrets) > 100
    pattern = re.compile("|".join(re.escape(v) for v in sorted(secrets, key=len, reverse=True)))
    with ops.read() as con:
        rows = [*con.execute(sa.select(served_customer)).all(), *con.execute(sa.select(served_redirect)).all(),
                *con.execute(sa.select(served_generation)).all()]
    assert len(rows) > CUSTOMERS // 2
    for row in rows:
        text = " ".join(str(v) for v in row)
        found = pattern.search(text)
        assert found is None, "a plaintext identifier is stored in the served view"
    docs = [json.loads(r.doc) for r in rows if hasattr(r, "doc")]
    assert any(str(d["profile"].get("id_number", "")).startswith("cd1:") for d in docs)


def test_the_pipeline_serves_into_its_own_folder_and_a_wrong_key_is_refused(world: Path, batch: BatchStore) -> None:
    ops = open_ops(out_dir=world)
    try:
        assert ops.dialect == "sqlite" and Path(str(sa.make_url(ops.url).database)).parent == world.resolve()
        served = ServedView(ops)  # keys from the key file configured for the folder
        cid = _customers(batch)[0]
        assert served.get(cid) == jsonable(decrypt_view(customer_360_encrypted(batch.engine, cid), batch.protector))
        with pytest.raises(ConfigError, match="key file"):
            ServedView(ops, protector_from_ops(ops, MemoryKeyProvider())).get(cid)
        summary = json.loads((world / "run_summary.json").read_text(encoding="utf-8"))
        assert "generation" in summary["outputs"]["served"]
    finally:
        ops.close()


def test_kek_rotation_keeps_the_served_view_readable(
    world: Path, tmp_path: Path, ops_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _copy(world, tmp_path)
    key_file = tmp_path / "kek.json"
    shutil.copy(os.environ["CUSTODATA_KEK_FILE"], key_file)  # rotate a copy: other tests keep their versions
    monkeypatch.setenv("CUSTODATA_KEK_FILE", str(key_file))
    monkeypatch.setenv("CUSTODATA_DB_URL", ops_url)
    pipeline = Pipeline.create(out)
    store = pipeline.open()
    try:
        pipeline.publish(store)
        cid = _customers(store)[0]
    finally:
        store.close()
    result = pipeline.rotate_kek(retire_old=True)
    assert result["retired"] == ["1"]
    ops = open_ops(ops_url)
    try:
        served = ServedView(ops)  # a service started after the rotation, old KEK version gone
        view = served.get(cid)
        assert view["customer_id"] == cid
        with ops.read() as con:
            versions = {v for (v,) in con.execute(sa.select(served_key.c.kek_version).distinct()) if v}
        assert versions == {result["new_version"]}
        with pytest.raises(CryptoError):
            served.protector.decrypt(view["profile"]["name"] or "x", f"{cid}|id_number")
    finally:
        ops.close()
