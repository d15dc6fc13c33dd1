"""Insight (issue 17 point 1): the tag catalogue's inherited grades and source-tag resolution.

A tag's grade comes from the data it is built from, so these tests write catalogues that
try to grade a tag below its inputs and expect the refusal to name the file and the key;
source tags with several values per customer must resolve to one, by the declared rule,
with the record it came from.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from custodata.engine import memory_engine
from custodata.errors import ConfigError
from custodata.insight.catalogue import load_catalogue
from custodata.insight.segments import load_segments
from custodata.insight.source_tags import resolve_sql

CAT = load_catalogue()
TAG_STRUCT = pa.struct([("kind", pa.string()), ("name", pa.string()), ("value", pa.string())])


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_catalogue_and_segments_load() -> None:
    segs = load_segments()
    assert "health_cross_sell" in segs.by_id
    assert CAT.tag("auto_risk_score").name_zh == "车险风险评分"


def test_grade_inherited_from_inputs() -> None:
    health = CAT.grade("external_health_score")
    assert health.level == 4 and "医疗健康" in health.labels  # declared stricter than inherited, kept
    asset = CAT.grade("asset_level")  # reads deposit_balance: amount (level 3) of deposit records
    assert asset.level == 3 and asset.labels == ("金融账户",)
    assert CAT.grade("car_owner").level == 1 and CAT.grade("car_owner").labels == ()
    segs = load_segments()
    cross = segs.grade(segs.by_id["health_cross_sell"].rule)
    assert cross.level == 3 and set(cross.labels) == {"医疗健康", "金融账户"}


_TAG = """
inputs:
  deposit_balance: {type: number, fields: [amount], business: [deposit]}
  age: {type: number, fields: [birth_date]}
sensitive:
  business: {deposit: 金融账户}
tags:
  - id: rich
    name_zh: 富
    kind: mart
    owner: x
    source: {system: deposit_core, name: 资产等级}
    value_type: text
    resolve: latest
    refresh: daily
    version: 1
    reads: [deposit_balance]
"""


def test_declared_grade_below_inherited_is_refused(tmp_path: Path) -> None:
    lower = _write(tmp_path, "c.yaml", _TAG + "    grade: {level: 2, labels: [金融账户]}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: key 'tags\[0\]\.grade'.*level 2.*level 3"):
        load_catalogue(lower)
    unlabelled = _write(tmp_path, "d.yaml", _TAG + "    grade: {level: 4}\n")
    with pytest.raises(ConfigError, match=r"d\.yaml: key 'tags\[0\]\.grade'.*金融账户"):
        load_catalogue(unlabelled)
    stricter = _write(tmp_path, "e.yaml", _TAG + "    grade: {level: 4, labels: [金融账户]}\n")
    assert load_catalogue(stricter).grade("rich").level == 4


@pytest.mark.parametrize(("extra", "key"), [
    ("    colour: red\n", r"tags\[0\]\.colour'.*unknown key"),
    ("    grade: {level: 9}\n", r"tags\[0\]\.grade\.level'"),
])
def test_catalogue_errors_name_file_and_key(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError, match=r"bad\.yaml: key '" + key):
        load_catalogue(_write(tmp_path, "bad.yaml", _TAG + extra))


def test_catalogue_refuses_unknown_input_and_bad_resolve(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 'tags\[0\]\.reads'.*'salary'"):
        load_catalogue(_write(tmp_path, "r.yaml", _TAG.replace("reads: [deposit_balance]", "reads: [salary]")))
    with pytest.raises(ConfigError, match=r"key 'tags\[0\]'.*max needs value_type number or date"):
        load_catalogue(_write(tmp_path, "m.yaml", _TAG.replace("resolve: latest", "resolve: max")))


def records_table(rows: list[dict[str, Any]]) -> pa.Table:
    schema = pa.schema([
        ("customer_id", pa.string()), ("source", pa.string()), ("record_key", pa.string()),
        ("business_type", pa.string()), ("product", pa.string()), ("amount", pa.float64()),
        ("start_date", pa.date32()), ("end_date", pa.date32()), ("status", pa.string()),
        ("category", pa.string()), ("updated_at", pa.timestamp("us")), ("ingested_at", pa.timestamp("us")),
        ("tags", pa.list_(TAG_STRUCT)), ("roles", pa.list_(pa.string())),
    ])
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    cols["tags"] = [r.get("tags", []) for r in rows]
    cols["roles"] = [r.get("roles", ["policy_holder"]) for r in rows]
    return pa.table(cols, schema=schema)


def _score(cid: str, key: str, value: str, day: int, source: str = "auto_core") -> dict[str, Any]:
    return {"customer_id": cid, "source": source, "record_key": key, "business_type": "auto_policy",
            "updated_at": datetime(2024, 1, day), "ingested_at": datetime(2024, 2, 1),
            "tags": [{"kind": "mining_model", "name": "车险风险评分", "value": value}]}


@pytest.mark.parametrize(("resolve", "value_type", "expect"), [
    ("latest", "number", {"A": ("30", "p3"), "B": ("70", "q1")}),
    ("max", "number", {"A": ("80", "p2"), "B": ("70", "q1")}),
    ("min", "number", {"A": ("30", "p3"), "B": ("70", "q1")}),
])
def test_source_tag_resolves_to_one_value_with_provenance(resolve: str, value_type: str,
                                                          expect: dict[str, tuple[str, str]]) -> None:
    tag = CAT.tag("auto_risk_score").model_copy(update={"resolve": resolve, "value_type": value_type})
    db = memory_engine()
    rows = [_score("A", "p1", "50", 1), _score("A", "p2", "80", 2), _score("A", "p3", "30", 3),
            _score("A", "x9", "99", 9, source="other_system"), _score("B", "q1", "70", 5)]
    db.put_arrow("recs", records_table(rows))
    sql, params = resolve_sql(tag, "recs")
    got = {r[0]: r for r in db.rows(sql + " ORDER BY customer_id", params)}
    assert {k: (v[3], v[5]) for k, v in got.items()} == expect
    assert got["A"][4] == "auto_core" and got["A"][1] == "auto_risk_score" and got["A"][2] == 1
    chosen = {"p1": 1, "p2": 2, "p3": 3, "q1": 5}
    assert got["A"][6] == datetime(2024, 1, chosen[expect["A"][1]])


def test_source_tag_reads_only_the_declared_roles() -> None:
    tag = CAT.tag("auto_risk_score").model_copy(update={"roles": ("insured",)})
    db = memory_engine()
    payer = _score("A", "p1", "90", 9)  # the latest, but A only pays for it
    insured = {**_score("A", "p2", "40", 2), "roles": ["beneficiary", "insured"]}
    db.put_arrow("recs", records_table([payer, insured, _score("B", "q1", "70", 5)]))
    sql, params = resolve_sql(tag, "recs")
    assert {r[0]: (r[3], r[5]) for r in db.rows(sql, params)} == {"A": ("40", "p2")}


def test_source_tag_any_is_true_when_one_record_says_yes() -> None:
    tag = CAT.tag("auto_risk_score").model_copy(update={"resolve": "any", "value_type": "bool"})
    db = memory_engine()
    rows = [_score("A", "p1", "否", 1), _score("A", "p2", "是", 2), _score("A", "p3", "0", 3),
            _score("B", "q1", "no", 5)]
    db.put_arrow("recs", records_table(rows))
    sql, params = resolve_sql(tag, "recs")
    got = {r[0]: (r[3], r[5]) for r in db.rows(sql, params)}
    assert got == {"A": ("true", "p2"), "B": ("false", "q1")}


def test_records_take_the_latest_version_and_every_role_then_tags_resolve() -> None:
    """records_sql over store-shaped tables: one row per customer and record, latest version,
    all the customer's roles in it; build_tag_values then resolves the shipped catalogue."""
    from custodata.insight.records import records_sql
    from custodata.insight.source_tags import TAG_VALUES, build_tag_values

    db = memory_engine()

    def version(key: str, batch: str, day: int, score: str) -> dict[str, Any]:
        return {"_source": "auto_core", "record_key": key, "_batch_id": batch, "_business_type": "auto_policy",
                "_ingested_at": datetime(2024, 1, day), "updated_at": datetime(2024, 1, day), "product": None,
                "amount": 1000.0, "start_date": None, "end_date": None, "status": None, "category": None,
                "tags": [{"kind": "mining_model", "name": "车险风险评分", "value": score}]}
    business = [version("P1", "b1", 1, "10"), version("P1", "b2", 5, "20"), version("P2", "b1", 3, "90")]
    schema = pa.schema([
        ("_source", pa.string()), ("record_key", pa.string()), ("_batch_id", pa.string()),
        ("_business_type", pa.string()), ("_ingested_at", pa.timestamp("us")), ("updated_at", pa.timestamp("us")),
        ("product", pa.string()), ("amount", pa.float64()), ("start_date", pa.date32()), ("end_date", pa.date32()),
        ("status", pa.string()), ("category", pa.string()), ("tags", pa.list_(TAG_STRUCT)),
    ])
    db.put_arrow("t_business", pa.Table.from_pylist(business, schema=schema))
    db.put_arrow("t_xref", pa.table({"obs_id": ["o1", "o2", "o3", "o4"], "customer_id": ["A", "A", "B", "A"]}))
    db.put_arrow("t_party", pa.table({"obs_id": ["o1", "o2", "o3", "o4"],
                                      "source": ["auto_core"] * 4, "record_key": ["P1", "P1", "P1", "P2"],
                                      "role": ["policy_holder", "insured", "insured", "policy_holder"]}))
    db.execute("CREATE SCHEMA IF NOT EXISTS insight")
    db.build("insight.records", records_sql("t_business", "t_xref", "t_party"))
    rows = db.rows("SELECT customer_id, record_key, roles, tags[1].value FROM insight.records ORDER BY 1, 2")
    assert rows == [("A", "P1", ["insured", "policy_holder"], "20"), ("A", "P2", ["policy_holder"], "90"),
                    ("B", "P1", ["insured"], "20")]
    counts = build_tag_values(db, CAT)
    assert counts == {"auto_risk_score": 2}
    got = db.rows(f"SELECT customer_id, value, record_key FROM {TAG_VALUES} ORDER BY 1")
    assert got == [("A", "20", "P1"), ("B", "20", "P1")]  # A: P1 updated on the 5th is later than P2 on the 3rd
