"""The Spark engine beyond the port's contract (issue 12 point 4): each dialect fix, persistence, Splink.

Every rewrite of :mod:`custodata.engine.dialect` has a case here that runs the same DuckDB
SQL on DuckDB and on Spark and compares the answers, and — where SQLGlot alone changes the
result silently — shows that plain SQLGlot's translation gives a different one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from custodata.engine.dialect import REWRITES
from custodata.engine.duckdb_engine import connect
from custodata.engine.port import ArrowFunction, BatchEngine
from custodata.errors import EngineError

pytest.importorskip("pyspark")

from custodata.engine.spark_engine import ASIDE_SUFFIX, SparkEngine  # noqa: E402

SETUP = [
    "CREATE SCHEMA s",
    "CREATE TABLE s.people AS SELECT * FROM (VALUES (1, 'a', DATE '1990-06-15', 10, 'x'), "
    "(1, 'b', DATE '1985-01-01', NULL, NULL), (2, 'c', DATE '2000-12-31', 30, 'y'), "
    "(2, NULL, DATE '2001-03-01', 20, NULL)) AS v(grp, name, born, score, tag)",
]


@pytest.fixture(scope="module")
def engines(spark_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BatchEngine, SparkEngine]]:
    duck = connect(None)
    spark = SparkEngine(spark_session, tmp_path_factory.mktemp("warehouse"))
    for engine in (duck, spark):
        for sql in SETUP:
            engine.execute(sql)
    yield duck, spark
    spark.execute("DROP SCHEMA s CASCADE")
    spark.close()
    duck.close()


def plain_sqlglot(spark: SparkEngine, sql: str) -> list[tuple[Any, ...]]:
    """What SQLGlot's translation alone gives on Spark (no fixes)."""
    return [tuple(r) for r in spark.spark.sql(sqlglot.transpile(sql, read="duckdb", write="spark")[0]).collect()]


@dataclass(frozen=True)
class Case:
    rewrite: str
    sql: str
    silent: bool  # plain SQLGlot runs but answers differently
    check: Callable[[BatchEngine], Any] | None = None  # statements: what to compare after running them


CASES = [
    Case("date_diff_boundaries",
         "SELECT name, date_diff('year', born, DATE '2024-03-01') AS years, "
         "date_diff('month', born, DATE '2024-03-01') AS months FROM s.people ORDER BY born", True),
    Case("date_diff_boundaries",
         "SELECT date_diff('day', TIMESTAMP '2024-03-01 23:00:00', TIMESTAMP '2024-03-02 01:00:00') AS days", True),
    Case("qualify_without_helper",
         "SELECT * FROM s.people QUALIFY row_number() OVER (PARTITION BY grp ORDER BY born) = 1 ORDER BY grp", True),
    Case("list_keeps_nulls",
         "SELECT grp, list(tag ORDER BY born) AS tags FROM s.people GROUP BY grp ORDER BY grp", True),
    Case("list_keeps_nulls",
         "SELECT grp, first(name ORDER BY score DESC) AS top FROM s.people GROUP BY grp ORDER BY grp", False),
    Case("range_table", "SELECT range AS i FROM range(3) ORDER BY i", False),
    Case("union_by_name",
         "SELECT grp, name FROM s.people WHERE grp = 1 UNION ALL BY NAME SELECT tag, grp FROM s.people WHERE grp = 2",
         False),
    Case("arg_max_skips_nulls", "SELECT grp, arg_max(tag, born) AS t, arg_min(tag, born) AS f FROM s.people "
         "GROUP BY grp ORDER BY grp", True),
    Case("regexp_replace_first", "SELECT regexp_replace(name || '1-2-3', '[0-9]', '#') AS once, "
         r"regexp_replace(name || '12', '([0-9])', '<\1>', 'g') AS every FROM s.people", True),
    Case("day_of_week", "SELECT dayofweek(born) AS a, weekday(born) AS b, isodow(born) AS c, "
         "date_part('dow', born) AS d FROM s.people", True),
    Case("format_braces", "SELECT format('{}-{}', grp, name) AS f FROM s.people", True),
    Case("format_braces", "SELECT format('{} 100%', grp) AS g FROM s.people", False),  # plain SQLGlot: an error
    Case("numbered_parameters", "SELECT name FROM s.people WHERE grp = ? AND score > ? ORDER BY name", False),
]


def _rows(engine: BatchEngine, case: Case) -> list[tuple[Any, ...]]:
    params = [2, 5] if "?" in case.sql else []
    return sorted(engine.rows(case.sql, params), key=repr)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rewrite}-{i}" for i, c in enumerate(CASES)])
def test_each_rewrite_gives_duckdbs_answer(engines: tuple[BatchEngine, SparkEngine], case: Case) -> None:
    duck, spark = engines
    expected = _rows(duck, case)
    assert _rows(spark, case) == expected
    if case.silent:
        assert sorted(plain_sqlglot(spark, case.sql), key=repr) != expected, "SQLGlot alone no longer differs"


def test_qualify_gives_duckdbs_columns(engines: tuple[BatchEngine, SparkEngine]) -> None:
    duck, spark = engines
    sql = "SELECT * FROM s.people QUALIFY row_number() OVER (PARTITION BY grp ORDER BY born) = 1"
    assert list(spark.dicts(sql)[0]) == list(duck.dicts(sql)[0]) == ["grp", "name", "born", "score", "tag"]
    leaked = spark.spark.sql(sqlglot.transpile(sql, read="duckdb", write="spark")[0]).columns
    assert "_w" in leaked


def _same_after(engines: tuple[BatchEngine, SparkEngine], statements: list[tuple[str, list[Any]]],
                query: str) -> list[tuple[Any, ...]]:
    results = []
    for engine in engines:
        engine.build("s.work", "SELECT * FROM s.people")
        for sql, params in statements:
            engine.execute(sql, params)
        results.append(sorted(engine.rows(query), key=repr))
    assert results[0] == results[1]
    return results[0]


def test_update_as_rebuild_keeps_null_conditions(engines: tuple[BatchEngine, SparkEngine]) -> None:
    rows = _same_after(engines, [("UPDATE s.work SET tag = ?, score = score + 1 WHERE score > ?", ["hi", 15])],
                       "SELECT name, score, tag FROM s.work")
    assert ("b", None, None) in rows and ("c", 31, "hi") in rows


def test_delete_as_rebuild_keeps_null_conditions(engines: tuple[BatchEngine, SparkEngine]) -> None:
    rows = _same_after(engines, [("DELETE FROM s.work WHERE score < ?", [25])], "SELECT name FROM s.work")
    assert rows == [("b",), ("c",)]  # b's score is NULL: DELETE keeps it, a plain NOT (cond) would not


def test_temp_table_is_written_once(engines: tuple[BatchEngine, SparkEngine]) -> None:
    """SQLGlot turns CREATE TEMP TABLE into a view, which reads the table as it is later, not as it was."""
    sql = "CREATE OR REPLACE TEMP TABLE snap AS SELECT name FROM s.work WHERE grp = 1"
    rows = _same_after(engines, [(sql, []), ("DELETE FROM s.work WHERE grp = ?", [1])], "SELECT name FROM snap")
    assert rows == [("a",), ("b",)]
    _, spark = engines
    spark.build("s.work", "SELECT * FROM s.people")
    spark.spark.sql(sqlglot.transpile(sql.replace("snap", "snap_view"), read="duckdb", write="spark")[0])
    spark.execute("DELETE FROM s.work WHERE grp = ?", [1])
    assert spark.spark.sql("SELECT name FROM snap_view").collect() == []  # the view sees the rows deleted since
    spark.spark.catalog.dropTempView("snap_view")


def test_statement_forms_give_duckdbs_tables(engines: tuple[BatchEngine, SparkEngine]) -> None:
    """INSERT BY NAME, ``* REPLACE`` (which Spark SQL lacks) and struct values read back alike."""
    rows = _same_after(engines, [
        ("INSERT INTO s.work BY NAME SELECT 'z' AS name, 9 AS grp", []),
        ("CREATE OR REPLACE TABLE s.work AS SELECT * EXCLUDE (born) REPLACE (upper(name) AS name) FROM s.work", []),
    ], "SELECT grp, name, score, tag, struct_pack(g := grp, n := name) AS both FROM s.work WHERE grp = 9")
    assert rows == [(9, "Z", None, None, {"g": 9, "n": "Z"})]


def test_unqualified_tables_live_in_main_of_the_warehouse(engines: tuple[BatchEngine, SparkEngine]) -> None:
    """DuckDB's default schema is main (the stages name main. tables); CREATE OR REPLACE by columns works."""
    duck, spark = engines
    for engine in (duck, spark):
        engine.execute("CREATE OR REPLACE TABLE loose (a BIGINT, b VARCHAR)")
        engine.execute("CREATE OR REPLACE TABLE loose (a BIGINT, c VARCHAR)")
        engine.execute("INSERT INTO loose VALUES (1, 'x')")
    assert spark.rows("SELECT a, c FROM main.loose") == duck.rows("SELECT a, c FROM main.loose") == [(1, "x")]
    info = {r[0]: r[1] for r in spark.spark.sql("DESCRIBE DATABASE main").collect()}
    assert info["Location"].endswith("/main.db")  # a warehouse's folder, not ./spark-warehouse
    for engine in (duck, spark):
        engine.execute("DROP TABLE loose")


def test_every_rewrite_has_a_case() -> None:
    covered = {c.rewrite for c in CASES} | {"update_as_rebuild", "delete_as_rebuild", "star_replace"}
    assert covered == {r.name for r in REWRITES}


def test_warehouse_reopens_and_an_interrupted_swap_is_put_back(spark_session: Any, tmp_path: Path) -> None:
    """A new session registers the folder's tables; a batch killed mid-swap gets its previous version back."""
    db_dir = tmp_path / "w2.db"
    for name, x in (("t", 2), (f"t{ASIDE_SUFFIX}", 1), ("u", 7)):  # t half-replaced, its previous version aside
        (db_dir / name).mkdir(parents=True)
        pq.write_table(pa.table({"x": [x]}), db_dir / name / "part-0.parquet")
    engine = SparkEngine(spark_session, tmp_path)
    try:
        assert engine.tables("w2") == ["w2.t", "w2.u"]
        assert engine.rows("SELECT x FROM w2.t") == [(1,)] and engine.rows("SELECT x FROM w2.u") == [(7,)]
        engine.build("w2.t", "SELECT 3 AS x")  # the registered (external) table is replaced, its files too
        assert engine.rows("SELECT x FROM w2.t") == [(3,)]
        assert sorted(p.name for p in db_dir.iterdir()) == ["t", "u"]
    finally:
        engine.execute("DROP SCHEMA w2 CASCADE")
        engine.close()


def test_unpicklable_function_is_named(engines: tuple[BatchEngine, SparkEngine]) -> None:
    _, spark = engines
    lock = threading.Lock()

    def holds_a_lock(values: pa.Array) -> pa.Array:
        with lock:
            return values

    with pytest.raises(EngineError, match="cd_locked cannot be shipped"):
        spark.register([ArrowFunction("cd_locked", holds_a_lock, (pa.string(),), pa.string())])


def test_null_in_null_out_without_a_call(engines: tuple[BatchEngine, SparkEngine]) -> None:
    duck, spark = engines

    def length(values: pa.Array) -> pa.Array:
        assert values.null_count == 0
        return pa.array([len(v) for v in values.to_pylist()], pa.int64())

    sql = "SELECT name, t_len(name) AS n FROM s.people ORDER BY name NULLS LAST"
    for engine in (duck, spark):
        engine.register([ArrowFunction("t_len", length, (pa.string(),), pa.int64(), nulls=False)])
    assert spark.rows(sql) == duck.rows(sql) == [("a", 1), ("b", 1), ("c", 1), (None, None)]


SPLINK_RECORDS = [
    (1, "张", "伟", "1980-01-02", "上海"), (2, "张", "伟", "1980-01-02", "上海市"),
    (3, "张", "玮", "1980-01-02", "上海"),
    (4, "李", "娜", "1975-05-06", "北京"), (5, "李", "娜", "1975-05-06", "北京"), (6, "李", "娜", "1990-07-08", "广州"),
    (7, "王", "芳", "1988-09-10", "深圳"), (8, "王", "芳", "1988-09-10", "深圳"), (9, "赵", "磊", "1970-11-12", "成都"),
    (10, "赵", "磊", "1970-11-12", "重庆"),
]


def _splink_clusters(engine: BatchEngine) -> list[list[int]]:
    """Splink through the port's ``splink_api()``: fixed m/u (no training), exact comparisons, clusters at 0.5."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on

    def exact(column: str, m: float, u: float) -> Any:
        return cl.ExactMatch(column).configure(m_probabilities=[m, 1 - m], u_probabilities=[u, 1 - u])

    settings = SettingsCreator(
        link_type="dedupe_only", probability_two_random_records_match=0.1,
        comparisons=[exact("given", 0.9, 0.05), exact("dob", 0.95, 0.01), exact("city", 0.8, 0.1)],
        blocking_rules_to_generate_predictions=[block_on("surname")])
    columns = ["unique_id", "surname", "given", "dob", "city"]
    engine.put_arrow("splink_people", pa.table({c: [r[i] for r in SPLINK_RECORDS] for i, c in enumerate(columns)}))
    linker = Linker(engine.splink_api().register("splink_people"), settings, log_level="WARNING")
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, threshold_match_probability=0.5)
    groups: dict[Any, list[int]] = {}
    for row in clusters.as_pandas_dataframe().itertuples():
        groups.setdefault(row.cluster_id, []).append(int(row.unique_id))
    return sorted(sorted(g) for g in groups.values())


def test_splink_on_spark_gives_duckdbs_clusters(engines: tuple[BatchEngine, SparkEngine]) -> None:
    duck, spark = engines
    expected = [[1, 2, 3], [4, 5], [6], [7, 8], [9, 10]]
    assert _splink_clusters(duck) == expected
    assert _splink_clusters(spark) == expected
