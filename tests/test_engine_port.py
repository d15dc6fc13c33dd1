"""The batch-engine port's contract, on DuckDB and on Spark (issue 12 points 1 and 4).

Every primitive a stage may use is exercised here, so a second engine (Spark) can be held
to the same tests: steps build, insert and run statements; reads give rows, dicts, Arrow
and bounded batches; Python data and Arrow functions come in; tables are swapped in whole;
a failed transaction leaves nothing; an engine failure is one line naming the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custodata.engine.duckdb_engine import connect
from custodata.engine.port import ArrowFunction, BatchEngine, Step
from custodata.errors import EngineError, PipelineError


@pytest.fixture(params=["duckdb", "spark"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BatchEngine]:
    """The same contract on each engine; Spark shares the test run's one session, a warehouse per test."""
    engine: BatchEngine
    if request.param == "spark":
        from custodata.engine.spark_engine import SparkEngine

        engine = SparkEngine(request.getfixturevalue("spark_session"), tmp_path / "warehouse")
    else:
        engine = connect(None)
    engine.execute("CREATE SCHEMA s")
    yield engine
    if request.param == "spark":
        engine.execute("DROP SCHEMA s CASCADE")
    engine.close()


def test_steps_build_insert_and_time(db: BatchEngine) -> None:
    db.run([Step("SELECT range AS i FROM range(5)", "s.t"),
            Step("SELECT 10 AS i", "s.t", mode="insert")])
    db.execute("DELETE FROM s.t WHERE i = ?", [0])
    assert db.count("s.t") == 5
    assert db.rows("SELECT i FROM s.t ORDER BY i") == [(1,), (2,), (3,), (4,), (10,)]
    assert db.scalar("SELECT max(i) FROM s.t") == 10
    assert db.one("SELECT i FROM s.t WHERE i > 100") is None
    assert db.dicts("SELECT i, i * 2 AS twice FROM s.t WHERE i = 2") == [{"i": 2, "twice": 4}]
    assert "s.t" in db.timings


def test_reads_in_bounded_batches_and_arrow(db: BatchEngine) -> None:
    db.build("s.big", "SELECT range AS i FROM range(25000)")
    sizes = [b.num_rows for b in db.batches("SELECT i FROM s.big", rows=10_000)]
    assert sum(sizes) == 25000 and max(sizes) <= 10_000 * 2
    assert db.arrow("SELECT count(*) AS n FROM s.big").column("n").to_pylist() == [25000]


def test_python_data_and_functions(db: BatchEngine) -> None:
    db.put_arrow("_names", pa.table({"name": ["张三", None, "李四"]}))
    seen: list[int] = []

    def shout(values: pa.Array) -> pa.Array:
        seen.append(len(values))
        return pa.array([None if v is None else v + "!" for v in values.to_pylist()], pa.string())

    db.register([ArrowFunction("t_shout", shout, (pa.string(),), pa.string())])
    db.register([ArrowFunction("t_shout", lambda v: v, (pa.string(),), pa.string())])  # kept: no replace
    assert db.rows("SELECT t_shout(name) FROM _names") == [("张三!",), (None,), ("李四!",)]
    db.register([ArrowFunction("t_shout", lambda v: v, (pa.string(),), pa.string())], replace=True)
    assert db.rows("SELECT t_shout(name) FROM _names WHERE name IS NOT NULL") == [("张三",), ("李四",)]
    db.drop_arrow("_names")
    with pytest.raises(EngineError):
        db.rows("SELECT * FROM _names")


def test_catalogue_and_swap_in(db: BatchEngine) -> None:
    db.build("s.target", "SELECT 1 AS old")
    db.build("s.target_new", "SELECT 2 AS fresh, 'x' AS more")
    assert db.exists("s.target") and not db.exists("s.missing")
    db.swap_in("s.target_new", "s.target")
    assert db.columns("s.target") == ["fresh", "more"]
    assert not db.exists("s.target_new")
    assert db.tables("s") == ["s.target"]


def test_parquet_written(db: BatchEngine, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    db.write_parquet("SELECT range AS i FROM range(3)", str(out))
    assert pq.read_table(out).column("i").to_pylist() == [0, 1, 2]


CSV_ROWS = ("SELECT * FROM (VALUES (1, 'a,b', 'say \"hi\"', true), (2, NULL, '', false), "
            "(3, '张三', 'two\nlines', NULL)) AS t(i, s, q, b) ORDER BY i")
CSV_TEXT = 'i,s,q,b\n1,"a,b","say ""hi""",true\n2,,"",false\n3,张三,"two\nlines",\n'


def test_csv_written_as_one_file(db: BatchEngine, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    db.write_csv(CSV_ROWS, str(out))
    assert out.is_file() and out.read_text(encoding="utf-8") == CSV_TEXT
    db.write_csv("SELECT 'x' AS record_id, 'y' AS cluster_id WHERE 1 = 0", str(out), delimiter=";")
    assert out.read_text(encoding="utf-8") == "record_id;cluster_id\n"


def test_csv_default_writes_what_duckdb_copy_writes(tmp_path: Path) -> None:
    """The port's streaming default (Spark's) is held to DuckDB's own COPY, byte for byte."""
    duck = connect(None)
    native, streamed = tmp_path / "copy.csv", tmp_path / "streamed.csv"
    duck.write_csv(CSV_ROWS, str(native))
    BatchEngine.write_csv(duck, CSV_ROWS, str(streamed))
    assert streamed.read_bytes() == native.read_bytes()
    duck.close()


def test_failed_transaction_leaves_nothing(db: BatchEngine) -> None:
    db.build("s.kept", "SELECT 1 AS x")
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("INSERT INTO s.kept VALUES (2)")
        db.build("s.half", "SELECT 1 AS y")
        raise RuntimeError("killed mid-batch")
    assert db.rows("SELECT x FROM s.kept") == [(1,)]
    assert not db.exists("s.half")


def test_engine_errors_are_one_line_naming_the_table(db: BatchEngine) -> None:
    with pytest.raises(PipelineError, match=r"step building s\.broken failed: .*no_such") as caught:
        db.build("s.broken", "SELECT * FROM no_such_table WHERE secret = '320104199901017588'")
    assert "320104199901017588" not in str(caught.value)  # the SQL, which may carry literals, stays out
    assert "\n" not in str(caught.value)


def test_reader_sees_committed_rows(db: BatchEngine) -> None:
    db.build("s.keys", "SELECT 'k1' AS key_id")
    reader = db.reader()
    assert reader.rows("SELECT key_id FROM s.keys") == [("k1",)]
    assert db.memory_limit_bytes() > 0
