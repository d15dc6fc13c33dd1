"""Resolution on generated data: quality floor, incremental id stability, search, steward ops, kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from custodata.demo.sources import generate, stored_truth
from custodata.engine.store import open_store
from custodata.pipeline import Pipeline
from custodata.resolution.search import match
from custodata.sources.mapping import default_mappings_dir, load_mappings
from tests.helpers import state_digest

CUSTOMERS = 800


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    generate(CUSTOMERS, 11, out)
    return out


@pytest.fixture(scope="module")
def resolved(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resolved")
    Pipeline.create(out).run(raw)
    return out


def pairwise_scores(predicted: dict[str, str], truth: dict[str, str]) -> tuple[float, float, float]:
    """Pairwise precision / recall / F1 from cluster sizes (no pair enumeration)."""
    keys = predicted.keys() & truth.keys()

    def c2(n: int) -> int:
        return n * (n - 1) // 2

    pred = Counter(predicted[k] for k in keys)
    true = Counter(truth[k] for k in keys)
    both = Counter((predicted[k], truth[k]) for k in keys)
    tp = sum(c2(n) for n in both.values())
    p_pairs = sum(c2(n) for n in pred.values())
    t_pairs = sum(c2(n) for n in true.values())
    precision = tp / p_pairs if p_pairs else 1.0
    recall = tp / t_pairs if t_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _truth(raw: Path, out: Path) -> dict[str, str]:
    """The truth keyed as the store keys observations (card and account numbers as their tokens)."""
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        rows = stored_truth(raw / "ground_truth.csv", store, load_mappings(default_mappings_dir()))
    finally:
        store.close()
    return {r["obs_id"]: r["entity_id"] for r in rows if not r["invalid_reason"]}


def _xref(out: Path) -> dict[str, str]:
    con = duckdb.connect(str(out / "custodata.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT obs_id, customer_id FROM customer.xref").fetchall())
    finally:
        con.close()


def test_quality_floor(raw: Path, resolved: Path) -> None:
    precision, recall, f1 = pairwise_scores(_xref(resolved), _truth(raw, resolved))
    assert precision >= 0.9, (precision, recall, f1)
    assert recall >= 0.85, (precision, recall, f1)
    assert f1 >= 0.9, (precision, recall, f1)


def test_search_before_create_ranks_the_customer_first(resolved: Path) -> None:
    store = open_store(resolved / "custodata.duckdb")
    con = store.engine
    try:
        row = con.one(
            "SELECT customer_id, name, mobile, id_number FROM customer.golden WHERE kind = 'individual' "
            "AND mobile IS NOT NULL AND id_number IS NOT NULL AND length(name) = 3 ORDER BY customer_id LIMIT 1"
        )
        assert row is not None
        cid, name, mobile, id_number = row
        mobile = store.protector.decrypt(mobile, f"{cid}|mobile")
        id_number = store.protector.decrypt(id_number, f"{cid}|id_number")
        # a front desk types the name as on a passport (pinyin) and the mobile with separators
        from custodata.normalise import name_pinyin

        typo = (name_pinyin(name) or "").upper()
        formatted = f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
        cands = match(con, name=typo, mobile=formatted, id_number=id_number)
        assert cands and cands[0].customer_id == cid
        assert cands[0].match_probability > 0.99
        fields = {e.field: e for e in cands[0].evidence}
        assert fields["id_number"].match_weight > 0 and fields["mobile"].match_weight > 0
        assert all(a.match_weight >= b.match_weight for a, b in zip(cands, cands[1:], strict=False))
        # nobody like this exists: no candidate above a coin flip
        nobody = match(con, name="欧阳娜娜", mobile="19912345678")
        assert all(c.match_probability < 0.5 for c in nobody)
    finally:
        con.close()


def test_incremental_batch_keeps_ids(raw: Path, tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    shutil.copytree(default_mappings_dir(), maps)
    later = sorted(maps.glob("*.yaml"))[-1]  # one source arrives later
    held = tmp_path / later.name
    later.rename(held)
    out = tmp_path / "out"
    first = Pipeline.create(out, mappings_dir=maps).run(raw)
    assert first.resolution is not None and first.resolution.mode == "full"
    before = _xref(out)
    held.rename(maps / later.name)
    second = Pipeline.create(out, mappings_dir=maps).run(raw)
    assert second.resolution is not None and second.resolution.mode == "incremental"
    assert not second.resolution.trained
    after = _xref(out)
    assert set(before) < set(after)
    kept = sum(after[k] == v for k, v in before.items())
    assert kept / len(before) >= 0.99
    con = duckdb.connect(str(out / "custodata.duckdb"), read_only=True)
    live = {r[0] for r in con.execute("SELECT customer_id FROM customer.golden").fetchall()}
    redirected = {r[0] for r in con.execute("SELECT old_id FROM customer.id_redirect").fetchall()}
    con.close()
    assert set(before.values()) <= live | redirected
    # a re-run with nothing new changes nothing
    third = Pipeline.create(out, mappings_dir=maps).run(raw)
    assert third.resolution is not None and third.resolution.pairs_scored == 0
    assert _xref(out) == after


def test_merge_then_unmerge_restores_ids(resolved: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(resolved, out)
    before = _xref(out)
    ids = sorted(set(before.values()))
    a, b = ids[0], ids[1]
    pipeline = Pipeline.create(out)
    pipeline.steward("merge", survivor=a, absorbed=b, reason="same person per branch visit")
    merged = _xref(out)
    assert {merged[k] for k, v in before.items() if v in (a, b)} == {a}
    pipeline.steward("unmerge", customer_id=a, reason="different people after all")
    assert _xref(out) == before
    con = duckdb.connect(str(out / "custodata.duckdb"), read_only=True)
    causes = [r[0] for r in con.execute(
        "SELECT DISTINCT cause FROM customer.history WHERE customer_id IN (?, ?)", [a, b]).fetchall()]
    con.close()
    assert any(c.startswith("merge") for c in causes) and any(c.startswith("unmerge") for c in causes)


def _run_cli(raw: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "custodata.cli", "run", str(raw), "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120"},
    )


@pytest.mark.slow
def test_kill_minus_9_then_rerun_ends_in_the_same_state(raw: Path, resolved: Path, tmp_path: Path) -> None:
    expected = state_digest(resolved / "custodata.duckdb")
    # time a full run to spread the kill points over it
    probe = tmp_path / "probe"
    started = time.perf_counter()
    assert _run_cli(raw, probe).wait() == 0
    total = time.perf_counter() - started
    assert state_digest(probe / "custodata.duckdb") == expected
    for i, fraction in enumerate((0.25, 0.45, 0.6, 0.75, 0.9)):
        out = tmp_path / f"killed{i}"
        proc = _run_cli(raw, out)
        time.sleep(total * fraction)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _run_cli(raw, out).wait() == 0
        assert state_digest(out / "custodata.duckdb") == expected, f"kill at {fraction:.0%}"


def test_chaining_through_one_weak_link_is_cut(resolved: Path) -> None:
    """A caller who gives only a name and a mobile links to two people who plainly differ
    (different ID numbers and birth dates): they are not merged through that one link."""
    from custodata.resolution import clusters, person
    from custodata.resolution.config import load_config

    source = open_store(resolved / "custodata.duckdb", read_only=True)
    try:
        model = person.load_model(source.engine)
        name_frequencies = source.engine.arrow(f"SELECT * FROM {person.TF_NAME}")
    finally:
        source.close()
    assert model is not None
    store = open_store(None)
    con = store.engine
    con.execute(
        """CREATE TABLE er_person_input AS SELECT * FROM (VALUES
        ('a', 'card', 'a', 'account_holder', '欧阳振华', 'ouyangzhenhua', '欧阳', DATE '1971-02-03', 'M',
         '北京市朝阳区建国路1号', '北京市', '朝阳区', 'tk1:ID-A', 'tk1:M1', NULL, NULL),
        ('b', 'desk', 'b', 'contact', '欧阳振华', 'ouyangzhenhua', '欧阳', NULL, NULL,
         NULL, NULL, NULL, NULL, 'tk1:M1', NULL, NULL),
        ('c', 'deposit', 'c', 'account_holder', '欧阳振华', 'ouyangzhenhua', '欧阳', DATE '1995-11-30', 'M',
         '广东省深圳市南山区人民路9号', '深圳市', '南山区', 'tk1:ID-C', 'tk1:M1', NULL, NULL)
        ) t(obs_id, source, record_key, role, name, name_pinyin, family_name, birth_date, gender,
            address, city, district, id_number, mobile, email, phone)"""
    )
    con.put_arrow("name_frequencies", name_frequencies)
    con.execute(f"CREATE TABLE {person.TF_NAME} AS SELECT * FROM name_frequencies")  # the real population's
    person.predict(con, model, person.PERSON_INPUT, clusters.PAIRS)
    result = clusters.cluster_persons(con, model, load_config())
    got = dict(con.rows("SELECT obs_id, cluster_id FROM customer.cluster"))
    assert got["a"] != got["c"]  # two different people stay two, though each agrees with the caller
    # the caller agreed with each (name + mobile), so connected components alone would merge all three
    assert result["chained_clusters"] == 1
    review = con.rows("SELECT kind, detail FROM customer.review")
    assert review and review[0][0] == "split_chain" and "bits" in review[0][1]


def test_incremental_rescores_a_record_whose_content_changed(raw: Path, tmp_path: Path) -> None:
    """A ticket re-exported with another caller's name and mobile moves to that caller's customer."""
    import json

    data = tmp_path / "raw"
    shutil.copytree(raw, data)
    out = tmp_path / "out"
    pipeline = Pipeline.create(out)
    pipeline.run(data)
    def parsed(line: bytes) -> dict[str, str] | None:
        try:  # the export carries broken lines and wrong encodings on purpose: leave those alone
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return row if isinstance(row, dict) else None

    lines = (data / "service_tickets.jsonl").read_bytes().split(b"\n")
    tickets = [r for r in map(parsed, lines) if r is not None]
    named = [t for t in tickets if t.get("caller_name") and t.get("caller_mobile") and not t.get("caller_id_no")]
    a, b = named[0], next(t for t in named[1:] if t["caller_name"] != named[0]["caller_name"]
                          and t["caller_mobile"] != named[0]["caller_mobile"])
    before = _xref(out)
    key_a, key_b = f"service_desk:{a['ticket_no']}:contact", f"service_desk:{b['ticket_no']}:contact"
    assert before[key_a] != before[key_b]
    # the ticket system corrects ticket a: the caller was b's caller after all
    edited = []
    for line in lines:
        row = parsed(line)
        if row is not None and row.get("ticket_no") == a["ticket_no"]:
            row.update(caller_name=b["caller_name"], caller_mobile=b["caller_mobile"])
            line = json.dumps(row, ensure_ascii=False).encode("utf-8")
        edited.append(line)
    (data / "service_tickets.jsonl").write_bytes(b"\n".join(edited))
    summary = pipeline.run(data)
    assert summary.resolution is not None and summary.resolution.mode == "incremental"
    assert summary.resolution.details["changed_records"] >= 1
    after = _xref(out)
    assert after[key_a] == after[key_b]  # scored again against everyone, not only through new pairs
    assert sum(after[k] == v for k, v in before.items()) / len(before) >= 0.99  # the others stay put


def test_scoring_new_records_against_their_blocked_candidates_equals_scoring_against_all(resolved: Path) -> None:
    """Why a create may score against a cut of the store: the pairs are exactly those of the whole.

    Some persons play "new" (every tenth); Splink scores them against all other persons and
    against :func:`person.blocked_candidates` of those: the same pairs with the same
    weights, from a cut far smaller than the store.
    """
    from custodata.resolution import person

    store = open_store(resolved / "custodata.duckdb")
    con = store.engine
    try:
        model = person.load_model(con)
        assert model is not None
        con.execute(f"CREATE TEMP TABLE t_new AS SELECT * FROM {person.PERSON_INPUT} WHERE hash(obs_id) % 10 = 0")
        con.execute(f"CREATE TEMP TABLE t_old AS SELECT * FROM {person.PERSON_INPUT} WHERE hash(obs_id) % 10 <> 0")
        cut = person.blocked_candidates(con, model, "t_new", "t_old", "t_cut")
        everyone = con.scalar("SELECT count(*) FROM t_old")
        assert 0 < cut < everyone / 2

        def pairs(old: str) -> list[tuple[object, ...]]:
            linker = person.linker_for(con, person.PERSON_INPUT, model)
            df = linker.inference.predict_between(linker._db_api.register("t_new"), linker._db_api.register(old))
            rows = con.rows(f"SELECT obs_id_l, obs_id_r, round(match_weight, 9) FROM {df.physical_name} "
                            "ORDER BY ALL")
            df.drop_table_from_database_and_remove_from_cache()
            return [tuple(r) for r in rows]

        whole = pairs("t_old")
        assert whole and pairs("t_cut") == whole
    finally:
        con.close()
