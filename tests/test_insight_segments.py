"""Insight (issue 17 point 2): segments and rule tags as declarative trees, compiled through the port.

The property test compiles a few hundred seeded random trees and checks every count against
a hand-written Python oracle over the same small tables, so the SQL compiler's NULL handling,
windows, semi-joins and parameter order are pinned by an independent reading of the tree.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from custodata.engine import memory_engine
from custodata.errors import ConfigError
from custodata.insight.catalogue import load_catalogue
from custodata.insight.preview import preview
from custodata.insight.segment_sql import Relations, count, materialise
from custodata.insight.segments import Node, parse_node, parse_segments
from tests.test_insight_catalogue import records_table

AS_OF = date(2024, 6, 1)
CAT = load_catalogue()

BASE = [
    {"id": "deposit_maturing_30d", "name_zh": "存款30天内到期", "owner": "o", "version": 1,
     "rule": {"behaviour": {"business": "deposit", "date": "end_date", "next_days": 30}}},
    {"id": "recent_claimants", "name_zh": "近12个月理赔", "owner": "o", "version": 1,
     "rule": {"behaviour": {"business": "service", "category": "理赔", "last_days": 365}}},
    {"id": "young_rich", "name_zh": "年轻高净值", "owner": "o", "version": 1,
     "rule": {"all": [{"attr": {"name": "age", "op": "<", "value": 40}},
                      {"attr": {"name": "deposit_balance", "op": ">=", "value": 500000}}]}},
]


# ---- point 2: validation and cycles ------------------------------------------------------

@pytest.mark.parametrize(("rule", "key"), [
    ({"all": [{"attr": {"name": "age", "op": ">", "value": 1}}, {"attr": {"name": "salary", "op": ">", "value": 1}}]},
     r"segments\[0\]\.rule\.all\[1\]\.attr\.name'.*'salary'"),
    ({"attr": {"name": "customer_type", "op": "<", "value": "sme"}}, r"segments\[0\]\.rule\.attr\.op'"),
    ({"attr": {"name": "age", "op": "between", "value": [1]}}, r"segments\[0\]\.rule\.attr\.value'.*between"),
    ({"not": {"tag": {"id": "nope"}}}, r"segments\[0\]\.rule\.not\.tag\.id'.*'nope'"),
    ({"tag": {"id": "auto_risk_score"}}, r"segments\[0\]\.rule\.tag\.op'"),
    ({"behaviour": {"business": "deposit", "last_days": 3, "next_days": 3}},
     r"segments\[0\]\.rule\.behaviour'.*exactly one window"),
    ({"behaviour": {"business": "yacht", "last_days": 3}}, r"segments\[0\]\.rule\.behaviour\.business'"),
    ({"any": []}, r"segments\[0\]\.rule\.any'.*non-empty"),
    ({"or": [{"segment": "x"}]}, r"segments\[0\]\.rule\.or'.*unknown node"),
    ({"segment": "ghost"}, r"segments\[0\]\.rule\.segment'.*'ghost'"),
])
def test_tree_errors_name_the_key(rule: dict[str, Any], key: str) -> None:
    data = {"segments": [{"id": "ss", "name_zh": "s", "owner": "o", "version": 1, "rule": rule}, *BASE]}
    with pytest.raises(ConfigError, match=r"seg\.yaml: key '" + key):
        parse_segments(data, CAT, "seg.yaml")


def test_cycle_refused_naming_the_chain() -> None:
    def seg(sid: str, rule: dict[str, Any]) -> dict[str, Any]:
        return {"id": sid, "name_zh": sid, "owner": "o", "version": 1, "rule": rule}
    data = {"segments": [*BASE, seg("aa", {"all": [{"attr": {"name": "age", "op": ">", "value": 1}},
                                                   {"segment": "bb"}]}),
                         seg("bb", {"not": {"segment": "aa"}})]}
    with pytest.raises(ConfigError, match="segment aa → segment bb → segment aa"):
        parse_segments(data, CAT, "seg.yaml")
    # through a rule tag: the tag deposit_maturing_30d is the segment deposit_maturing_30d
    looped = [seg("deposit_maturing_30d", {"tag": {"id": "deposit_maturing_30d"}}), *BASE[1:]]
    with pytest.raises(ConfigError, match="segment deposit_maturing_30d → tag deposit_maturing_30d → segment"):
        parse_segments({"segments": looped}, CAT, "seg.yaml")


# ---- point 2: property test against a Python oracle --------------------------------------

CTYPES = ["individual", "high_net_worth", "sme", "corporate"]
ASSET = ["普通客户", "金卡客户", "白金客户"]


def _world(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    customers, tag_values, records = [], [], []
    for i in range(80):
        cid = f"C{i:03d}"
        customers.append({
            "customer_id": cid,
            "age": rng.choice([None, *range(18, 80, 3)]),
            "deposit_balance": rng.choice([0.0, 1000.0, 499999.0, 500000.0, 2e6]),
            "n_deposit": rng.randint(0, 3),
            "customer_type": rng.choice([None, *CTYPES]),
            "tags": rng.sample(["车主客户", "投诉客户", "青年客群"], rng.randint(0, 2)),
        })
        if rng.random() < 0.6:
            tag_values.append({"customer_id": cid, "tag_id": "asset_level", "value": rng.choice(ASSET)})
        if rng.random() < 0.5:
            tag_values.append({"customer_id": cid, "tag_id": "auto_risk_score",
                               "value": rng.choice(["10", "55", "70.5", "99", "n/a"])})
        for j in range(rng.randint(0, 4)):
            bt = rng.choice(["deposit", "service", "auto_policy", "health_policy"])
            start = AS_OF - timedelta(days=rng.choice([-40, -31, -30, -1, 0, 1, 29, 30, 31, 364, 365, 366, 729, 731]))
            end = None if rng.random() < 0.2 else AS_OF + timedelta(days=rng.choice([-10, -1, 0, 1, 29, 30, 31, 45]))
            records.append({"customer_id": cid, "source": "s", "record_key": f"{cid}-{j}", "business_type": bt,
                            "product": rng.choice(["甲", "乙"]), "amount": rng.choice([None, 2000.0, 6000.0]),
                            "start_date": start, "end_date": end,
                            "category": rng.choice([None, "理赔", "投诉"]) if bt == "service" else None,
                            "roles": rng.choice([["account_holder"], ["contact"], ["insured", "policy_holder"]])})
    return customers, tag_values, records


def _leaf(rng: random.Random) -> dict[str, Any]:
    pick = rng.randrange(9)
    if pick == 0:
        op = rng.choice(["=", "!=", "<", "<=", ">", ">=", "between", "in"])
        value: Any = [30, 50] if op == "between" else [21, 42, 60] if op == "in" else rng.choice([24, 45, 60])
        return {"attr": {"name": "age", "op": op, "value": value}}
    if pick == 1:
        op = rng.choice(["=", "!=", "in"])
        return {"attr": {"name": "customer_type", "op": op,
                         "value": rng.sample(CTYPES, 2) if op == "in" else rng.choice(CTYPES)}}
    if pick == 2:
        return {"attr": {"name": "deposit_balance", "op": rng.choice([">=", "<"]), "value": 500000}}
    if pick == 3:
        op = rng.choice(["has", "=", "in", "!="])
        body: dict[str, Any] = {"id": "asset_level", "op": op}
        if op != "has":
            body["value"] = rng.sample(ASSET, 2) if op == "in" else rng.choice(ASSET)
        return {"tag": body}
    if pick == 4:
        op = rng.choice(["has", ">", "<=", "between"])
        body = {"id": "auto_risk_score", "op": op}
        if op != "has":
            body["value"] = [20, 80] if op == "between" else rng.choice([50, 70.5])
        return {"tag": body}
    if pick == 5:
        return {"tag": {"id": rng.choice(["car_owner", "complainant", "deposit_maturing_30d"])}}
    if pick == 6:
        return {"segment": rng.choice(["recent_claimants", "young_rich"])}
    if pick == 7:
        return {"behaviour": {"business": rng.choice(["deposit", "service"]),
                              "date": rng.choice(["start_date", "end_date"]),
                              rng.choice(["last_days", "next_days"]): rng.choice([30, 365]),
                              "value": rng.choice([1, 2]),
                              "roles": rng.choice([[], ["account_holder"], ["policy_holder", "contact"]])}}
    return {"behaviour": {"business": rng.choice(["auto_policy", "health_policy"]), "last_days": 730,
                          "measure": "sum_amount", "op": rng.choice([">", ">="]), "value": rng.choice([2000, 6000])}}


def _tree(rng: random.Random, depth: int) -> dict[str, Any]:
    if depth == 0 or rng.random() < 0.3:
        return _leaf(rng)
    kind = rng.choice(["all", "any", "not"])
    if kind == "not":
        return {"not": _tree(rng, depth - 1)}
    return {kind: [_tree(rng, depth - 1) for _ in range(rng.randint(1, 3))]}


class Oracle:
    """The tree read by hand, customer by customer (three-valued comparisons made two-valued)."""

    def __init__(self, customers: list[dict[str, Any]], tag_values: list[dict[str, Any]],
                 records: list[dict[str, Any]], segments: Any) -> None:
        self.customers, self.records, self.segments = customers, records, segments
        self.tags = {(t["customer_id"], t["tag_id"]): t["value"] for t in tag_values}

    @staticmethod
    def cmp(x: Any, op: str, v: Any) -> bool:
        if x is None:
            return False
        if op == "between":
            return bool(v[0] <= x <= v[1])
        if op == "in":
            return x in v
        return bool({"=": x == v, "!=": x != v, "<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op])

    def holds(self, node: Node, c: dict[str, Any]) -> bool:
        leaf: Any = node.leaf
        if node.kind == "all":
            return all(self.holds(n, c) for n in node.children)
        if node.kind == "any":
            return any(self.holds(n, c) for n in node.children)
        if node.kind == "not":
            return not self.holds(node.children[0], c)
        if node.kind == "segment":
            return self.holds(self.segments.by_id[leaf].rule, c)
        if node.kind == "attr":
            return self.cmp(c[leaf.name], leaf.op, leaf.value)
        if node.kind == "tag":
            tag = CAT.tags[leaf.id]
            if tag.kind == "computed":
                return tag.source.layer_tag in c["tags"]
            if tag.kind == "rule":
                return self.holds(self.segments.by_id[tag.source.segment].rule, c)
            raw = self.tags.get((c["customer_id"], leaf.id))
            if raw is None:
                return False
            if leaf.op == "has":
                return True
            if tag.value_type == "number":
                try:
                    raw = float(raw)
                except ValueError:
                    return False
            return self.cmp(raw, leaf.op, leaf.value)
        b = leaf
        low, high = ((AS_OF - timedelta(days=b.last_days), AS_OF) if b.last_days
                     else (AS_OF, AS_OF + timedelta(days=b.next_days)))
        mine = [r for r in self.records if r["customer_id"] == c["customer_id"] and r["business_type"] == b.business
                and r[b.date] is not None and low <= r[b.date] <= high
                and (b.category is None or r["category"] == b.category)
                and (not b.roles or set(b.roles) & set(r["roles"]))]
        if not mine:
            return False
        measure = len(mine) if b.measure == "count" else sum(r["amount"] or 0 for r in mine)
        return bool(measure > b.value if b.op == ">" else measure >= b.value)


def test_random_trees_count_equal_the_oracle() -> None:
    rng = random.Random(17)
    customers, tag_values, records = _world(rng)
    db = memory_engine()
    db.put_arrow("t_customers", pa.table({
        "customer_id": pa.array([c["customer_id"] for c in customers], pa.string()),
        "age": pa.array([c["age"] for c in customers], pa.int64()),
        "deposit_balance": pa.array([c["deposit_balance"] for c in customers], pa.float64()),
        "n_deposit": pa.array([c["n_deposit"] for c in customers], pa.int64()),
        "customer_type": pa.array([c["customer_type"] for c in customers], pa.string()),
        "tags": pa.array([c["tags"] for c in customers], pa.list_(pa.string())),
    }))
    db.put_arrow("t_tags", pa.table({k: pa.array([t[k] for t in tag_values], pa.string())
                                     for k in ("customer_id", "tag_id", "value")}))
    db.put_arrow("t_records", records_table(records))
    rel = Relations(customers="t_customers", records="t_records", tag_values="t_tags")
    segments = parse_segments({"segments": BASE}, CAT, "test")
    oracle = Oracle(customers, tag_values, records, segments)
    sizes = set()
    for i in range(300):
        node = parse_node(_tree(rng, 3), CAT, "test", f"tree{i}")
        expected = sum(oracle.holds(node, c) for c in customers)
        assert count(db, segments, node, relations=rel, as_of=AS_OF) == expected, node
        sizes.add(expected)
        if i % 30 == 0:  # the preview's one-scan overlaps, against the oracle too
            got = preview(db, segments, node, relations=rel, as_of=AS_OF)
            assert (got.size, got.total) == (expected, len(customers))
            assert got.overlap == {sid: sum(oracle.holds(node, c) and oracle.holds(s.rule, c) for c in customers)
                                   for sid, s in segments.by_id.items()}
    assert len(sizes) > 10  # the trees are not all empty or all full
    n = materialise(db, segments, "young_rich", table="t_young", relations=rel, as_of=AS_OF)
    assert n == sum(oracle.holds(segments.by_id["young_rich"].rule, c) for c in customers)


def test_values_are_bound_not_pasted() -> None:
    from custodata.insight.segment_sql import Compiler
    segments = parse_segments({"segments": BASE}, CAT, "test")
    node = parse_node({"attr": {"name": "customer_type", "op": "=", "value": "x' OR '1'='1"}}, CAT, "t", "t")
    sql, params = Compiler(segments, as_of=AS_OF).select(node)
    assert "OR '1'='1" not in sql and params == ["x' OR '1'='1"]
