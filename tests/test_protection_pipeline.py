"""Protection over a real pipeline run: no plaintext after landing, rotation, erasure on every path."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from custodata.cli.app import app
from custodata.crypto import LocalKeyFileProvider
from custodata.demo.sources import generate
from custodata.engine.store import open_store
from custodata.errors import CryptoError, NotFoundError
from custodata.masking.policy import load_policy
from custodata.masking.view_masking import mask_view
from custodata.pipeline import Pipeline
from custodata.resolution.search import match
from custodata.serving.customer_360 import customer_360
from tests.plaintext_scan import raw_forms, scan_files

CUSTOMERS = 300
LANDING_SUFFIXES = (".csv", ".jsonl", ".parquet")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated group, a pristine copy of its exports, and a run that purged the landing files."""
    base = tmp_path_factory.mktemp("protect")
    out = base / "out"
    raw = out / "raw"
    generate(CUSTOMERS, 5, raw)
    pristine = base / "pristine"
    shutil.copytree(raw, pristine)
    Pipeline.create(out).run(raw, landing_retention_days=0)
    return {"out": out, "raw": raw, "pristine": pristine}


def _plaintexts(out: Path) -> set[str]:
    """Every ID number, mobile, card and account number of the run, decrypted through the store."""
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        values = {r[0] for r in store.con.execute(
            "SELECT cd_dec(id_number, obs_id || '|id_number') FROM customer.party WHERE id_number IS NOT NULL "
            "UNION SELECT cd_dec(mobile, obs_id || '|mobile') FROM customer.party WHERE mobile IS NOT NULL "
            "UNION SELECT cd_dec(card_no, _source || ':' || record_key || '|card_no') FROM business.total "
            "WHERE card_no IS NOT NULL "
            "UNION SELECT cd_dec(account_no, _source || ':' || record_key || '|account_no') FROM business.total "
            "WHERE account_no IS NOT NULL").fetchall()}
    finally:
        store.close()
    return {v for v in values if v}


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [f"{s}.\"{t}\"" for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()]


def test_no_plaintext_identifier_anywhere_after_landing(world: dict[str, Path]) -> None:
    """Copying the data folder and grepping its bytes yields no identifier (issue 10 point 17).

    Stops reading identifiers out of the store file's freed blocks (landing text and
    replaced records DuckDB does not wipe) and out of published files, in any form the
    sources write them: ``+86`` prefixed, full-width digits, grouped by spaces or dashes,
    old 15-digit IDs.
    """
    out = world["out"]
    secrets = _plaintexts(out)
    kinds = {"id": [v for v in secrets if len(v) == 18], "mobile": [v for v in secrets if len(v) == 11],
             "card": [v for v in secrets if len(v) >= 16 and v.isdigit()]}
    assert len(kinds["id"]) > 100 and len(kinds["mobile"]) > 100 and len(kinds["card"]) > 20, kinds.keys()
    pattern = re.compile("|".join(re.escape(v) for v in sorted(secrets, key=len, reverse=True)))
    # the landing files are gone (retention 0 days); only the loan system's own database remains
    assert not [p for p in world["raw"].iterdir() if p.suffix in LANDING_SUFFIXES and p.name != "ground_truth.csv"]
    # 1. every byte of every file custodata wrote (store, published Parquet, summary, key file)
    written = [p for p in out.rglob("*") if p.is_file() and world["raw"] not in p.parents]
    assert any(p.name == "custodata.duckdb" for p in written) and any(p.suffix == ".parquet" for p in written)
    for path in written:
        text = path.read_bytes().decode("latin-1")
        found = pattern.search(text)
        assert found is None, f"{path} holds a plaintext identifier"
    # ... in the raw forms of the exports too (+86, full width, 138-1234-5678, 15-digit IDs)
    hits = scan_files(written, raw_forms(secrets))
    assert not hits, {path: len(found) for path, found in hits.items()}
    # the store file keeps no freed block (where deleted landing text and replaced rows would sit),
    # and no write-ahead log, spill folder or half-done compaction beside it
    con = duckdb.connect(str(out / "custodata.duckdb"), read_only=True)
    try:
        free = con.execute("SELECT free_blocks FROM pragma_database_size()").fetchone()
    finally:
        con.close()
    assert free == (0,), f"{free} freed blocks survive the run"
    spill = out / "custodata.duckdb.spill"  # the store's spill folder may stay, empty (engine/memory.py)
    assert not spill.exists() or not any(spill.iterdir())
    assert not [p.name for p in out.iterdir() if p.name.startswith("custodata.duckdb.") and p != spill]
    # 2. every cell of every table, read logically (compression cannot hide anything from this)
    con = duckdb.connect(str(out / "custodata.duckdb"), read_only=True)
    try:
        for table in _tables(con):
            for (row,) in con.execute(f"SELECT CAST(t AS VARCHAR) FROM {table} AS t").fetchall():
                assert pattern.search(row) is None, f"{table} holds a plaintext identifier"
        for parquet in (out / "published").glob("*.parquet"):
            for (row,) in con.execute(f"SELECT CAST(t AS VARCHAR) FROM read_parquet('{parquet}') AS t").fetchall():
                assert pattern.search(row) is None, f"{parquet.name} holds a plaintext identifier"
    finally:
        con.close()


def test_swapping_two_rows_ciphertexts_in_the_store_fails(world: dict[str, Path]) -> None:
    store = open_store(world["out"] / "custodata.duckdb", read_only=True)
    try:
        (a, ma), (b, mb) = store.con.execute(
            "SELECT customer_id, mobile FROM customer.golden WHERE mobile IS NOT NULL ORDER BY customer_id LIMIT 2"
        ).fetchall()
        assert store.protector.decrypt(ma, f"{a}|mobile") is not None
        with pytest.raises(CryptoError):
            store.protector.decrypt(mb, f"{a}|mobile")
        with pytest.raises(CryptoError):
            store.protector.decrypt(ma, f"{b}|mobile")
    finally:
        store.close()


def test_rotation_keeps_every_golden_record_readable(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rotated"
    shutil.copytree(world["out"], out, ignore=shutil.ignore_patterns("raw"))
    # rotate a copy of the session's key file, so other tests keep their KEK versions
    key_file = tmp_path / "kek.json"
    shutil.copy(os.environ["CUSTODATA_KEK_FILE"], key_file)
    monkeypatch.setenv("CUSTODATA_KEK_FILE", str(key_file))
    before = _golden_plain(out)
    result = Pipeline.create(out).rotate_kek(retire_old=True)
    assert result["new_version"] == "2" and result["retired"] == ["1"] and int(str(result["rewrapped"])) > CUSTOMERS
    assert _golden_plain(out) == before


def _golden_plain(out: Path) -> list[tuple[str, str | None, str | None]]:
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        return store.con.execute(
            "SELECT customer_id, cd_dec(id_number, customer_id || '|id_number'), "
            "cd_dec(mobile, customer_id || '|mobile') FROM customer.golden ORDER BY customer_id").fetchall()
    finally:
        store.close()


def test_erasure_holds_on_every_path(world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "erase"
    shutil.copytree(world["out"], out, ignore=shutil.ignore_patterns("raw"))
    store = open_store(out / "custodata.duckdb")
    try:
        cid, golden_ct = store.con.execute(
            "SELECT customer_id, id_number FROM customer.golden WHERE kind = 'individual' AND n_records >= 2 "
            "AND id_number IS NOT NULL AND mobile IS NOT NULL ORDER BY customer_id LIMIT 1").fetchone() or ("", "")
        view = customer_360(store.engine, cid, store.protector)
        id_number, mobile, name = view["profile"]["id_number"], view["profile"]["mobile"], view["profile"]["name"]
        assert match(store.engine, id_number=id_number, name=name)[0].customer_id == cid  # found before
    finally:
        store.close()

    pipeline = Pipeline.create(out)
    report = pipeline.erase(cid, reason="PIPL request 42")
    assert report.keys_destroyed >= 1 and report.observations >= 2

    def check_gone() -> None:
        st = open_store(out / "custodata.duckdb")
        try:
            with pytest.raises(NotFoundError, match="erased"):
                customer_360(st.engine, cid, st.protector)
            with pytest.raises(CryptoError):  # a copy of the old golden ciphertext (a backup) is dead
                st.protector.decrypt(golden_ct, f"{cid}|id_number")
            for cand in match(st.engine, id_number=id_number, mobile=mobile, name=name):
                assert cand.customer_id != cid
                assert all(e.field != "id_number" or e.match_weight <= 0 for e in cand.evidence)
            token = st.protector.token("id_number", id_number)
            for table in ("customer.party", "customer.golden"):
                hits = st.con.execute(f"SELECT count(*) FROM {table} WHERE id_number_token = ?", [token]).fetchone()
                assert hits == (0,), table
            plain = st.con.execute(
                "SELECT count(*) FROM customer.golden WHERE cd_dec(id_number, customer_id || '|id_number') = ?",
                [id_number]).fetchone()
            assert plain == (0,)
            published = st.con.execute(
                f"SELECT count(*) FROM read_parquet('{out / 'published' / 'customer_view.parquet'}') "
                "WHERE customer_id = ?", [cid]).fetchone()
            assert published == (0,)
        finally:
            st.close()

    check_gone()
    result = CliRunner().invoke(app, ["show", cid, "--out", str(out)])
    assert result.exit_code == 1 and "erased" in result.output
    # a re-run, then re-ingesting the old exports, must not resurrect the customer
    pipeline.run(world["raw"])
    check_gone()
    pipeline.run(world["pristine"], force=True)
    check_gone()
    # no quarantined raw row of the erased person's records came back with the re-ingest
    st = open_store(out / "custodata.duckdb", read_only=True)
    try:
        back = st.con.execute(
            "SELECT count(*) FROM meta.quarantine q WHERE raw IS NOT NULL AND EXISTS (SELECT 1 FROM meta.erased e "
            "WHERE e.entity_key LIKE 'obs:' || q.system || ':' || q.record_key || ':%')").fetchone()
        assert back == (0,)
    finally:
        st.close()
    # erasing again redoes the clean-up and says so
    assert pipeline.erase(cid, reason="PIPL request 42").already
    # the store file itself keeps no freed page with the erased golden ciphertext
    assert golden_ct.encode() not in (out / "custodata.duckdb").read_bytes()


def test_every_cli_display_is_masked(world: dict[str, Path]) -> None:
    """show (tables and JSON), match (a hit and a refusal) and quarantine print no identifier in full."""
    out = world["out"]
    secrets = _plaintexts(out)
    pattern = re.compile("|".join(re.escape(v) for v in sorted(secrets, key=len, reverse=True)))
    con = duckdb.connect(str(out / "custodata.duckdb"), read_only=True)
    try:
        ids = [r[0] for r in con.execute(
            "SELECT customer_id FROM layer.customer_view ORDER BY n_card DESC, n_ticket DESC, customer_id LIMIT 25"
        ).fetchall()]
    finally:
        con.close()
    runner = CliRunner()
    outputs = []
    for cid in ids:
        for extra in ([], ["--json"]):
            result = runner.invoke(app, ["show", cid, "--out", str(out), *extra])
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
    assert any('"card_no": "' in o for o in outputs)  # cards were in the views, masked
    some_mobile = next(v for v in secrets if len(v) == 11)
    # a search by mobile is a use of it: refused to role cli (no unmask rule), and the refusal echoes nothing
    result = runner.invoke(app, ["match", "--mobile", some_mobile, "--out", str(out)])
    assert result.exit_code == 1 and "search by mobile" in result.output, result.output
    outputs.append(result.output)
    result = runner.invoke(app, ["match", "--customer-id", ids[0], "--out", str(out)])
    assert result.exit_code == 0 and ids[0] in result.output, result.output
    outputs.append(result.output)
    outputs.append(runner.invoke(app, ["quarantine", "--out", str(out)]).output)
    for text in outputs:
        found = pattern.search(text)
        assert found is None, f"printed in full: {found.group(0)}"


def test_a_store_refuses_a_key_file_that_is_not_its_own(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "wrongkey"
    shutil.copytree(world["out"], out, ignore=shutil.ignore_patterns("raw"))
    monkeypatch.setenv("CUSTODATA_KEK_FILE", str(tmp_path / "missing.json"))
    result = CliRunner().invoke(app, ["show", "C000000001", "--out", str(out)])
    assert result.exit_code == 1 and "key file not found" in " ".join(result.output.split())
    assert not (tmp_path / "missing.json").exists()  # never silently replaced
    LocalKeyFileProvider(tmp_path / "other.json")
    monkeypatch.setenv("CUSTODATA_KEK_FILE", str(tmp_path / "other.json"))
    result = CliRunner().invoke(app, ["show", "C000000001", "--out", str(out)])
    # show reads the served view (issue 10 point 23), whose keys were published under the store's key file
    assert result.exit_code == 1 and "key file is not the one the served" in " ".join(result.output.split())


def test_masked_view_fails_closed_and_follows_the_role(world: dict[str, Path]) -> None:
    store = open_store(world["out"] / "custodata.duckdb", read_only=True)
    try:
        cid = store.con.execute("SELECT customer_id FROM layer.customer_view WHERE deposit_balance > 0 "
                                "ORDER BY customer_id LIMIT 1").fetchone()
        assert cid is not None
        view = customer_360(store.engine, cid[0], store.protector)
    finally:
        store.close()
    view["profile"]["shoe_size"] = 42  # a key nobody graded
    policy = load_policy()
    cli = mask_view(view, policy, "cli")
    assert cli["profile"]["shoe_size"] is None
    assert cli["profile"]["deposit_balance"] == view["profile"]["deposit_balance"]  # amounts are plain for staff
    admin = mask_view(view, policy, "administrator")
    assert admin["profile"]["deposit_balance"] is None and admin["profile"]["name"] is None
    assert all(not str(v).startswith("tk1:") for v in cli["profile"].values())
