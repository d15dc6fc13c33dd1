"""The opt-in statement profile keeps no literal of the SQL it times (CUSTODATA_ENGINE_PROFILE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodata.engine import duckdb_engine, profile


def test_shape_blanks_quoted_strings_and_numbers_and_cuts_the_text() -> None:
    sql = ("SELECT * FROM customer.golden WHERE name = '张三' AND mobile = \"13800138000\" "
           "AND id = 110101199003077777 AND note = 'it''s' " + "x " * 100)
    text = profile.shape(sql)
    assert "张三" not in text and "13800138000" not in text and "1101011990" not in text
    assert text.startswith("SELECT * FROM customer.golden WHERE name = '?'")
    assert len(text) <= profile.PREFIX


def test_statements_are_counted_by_caller_and_shape_never_by_value(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "profile.tsv"
    monkeypatch.setattr(profile, "_path", str(out))
    profile.reset()
    engine = duckdb_engine.connect()
    try:
        engine.execute("CREATE TABLE t (name VARCHAR)")
        for name in ("王伟", "李娜"):
            engine.execute(f"INSERT INTO t VALUES ('{name}')")
        engine.rows("SELECT count(*) FROM t WHERE name = ?", ["王伟"])
    finally:
        engine.close()
    profile.dump()
    profile.reset()
    text = out.read_text(encoding="utf-8")
    assert "王伟" not in text and "李娜" not in text
    lines = [line.split("\t") for line in text.splitlines()]
    assert lines[0][2] == "(all)" and int(lines[0][1]) == 4
    inserts = [line for line in lines if line[3].startswith("INSERT INTO t VALUES")]
    assert len(inserts) == 1 and inserts[0][1] == "2"  # both values fall under one shape
    assert "test_engine_profile:" in inserts[0][2]  # the caller, outside the engine


def test_off_by_default_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile, "_path", None)
    profile.reset()
    profile.record("SELECT 1", 1.0)
    assert profile._totals == {}
