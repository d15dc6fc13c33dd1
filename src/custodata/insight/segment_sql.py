"""Segment trees compiled to SQL through the batch-engine port, values bound as parameters.

Every leaf compiles to a condition that is true or false, never NULL (a missing value is
"not in the segment"), so ``not`` means what a marketer reads: everyone else. Tags and
behaviour are semi-joins (``customer_id IN (…)``) against the resolved tag values and
the customer's records, which the engine runs as hash joins at any size. Identifiers in the
text come only from the validated catalogue; every value a person typed is a ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from custodata.engine.port import BatchEngine
from custodata.insight.records import RECORDS
from custodata.insight.segments import Attr, Behaviour, Node, Segments, TagCond
from custodata.insight.source_tags import TAG_VALUES

CUSTOMERS = "layer.customer_view"
_CAST = {"number": "TRY_CAST({} AS DOUBLE)", "date": "TRY_CAST({} AS DATE)", "text": "{}", "bool": "{}"}


@dataclass(frozen=True)
class Relations:
    """Where a compiled segment reads from (the store's tables by default; small tables in tests)."""

    customers: str = CUSTOMERS
    records: str = RECORDS
    tag_values: str = TAG_VALUES


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _typed(value: Any, value_type: str) -> Any:
    return date.fromisoformat(value) if value_type == "date" and isinstance(value, str) else value


def _compare(expr: str, op: str, value: Any, value_type: str, params: list[Any]) -> str:
    if op == "between":
        params.extend(_typed(v, value_type) for v in value)
        return f"{expr} BETWEEN ? AND ?"
    if op == "in":
        params.extend(_typed(v, value_type) for v in value)
        return f"{expr} IN ({', '.join('?' for _ in value)})"
    params.append(_typed(value, value_type))
    return f"{expr} {op} ?"


class Compiler:
    """One tree → one SQL condition over the customers relation aliased ``c``, with its parameters."""

    def __init__(self, segments: Segments, relations: Relations | None = None, as_of: date | None = None) -> None:
        self.segments = segments
        self.catalogue = segments.catalogue
        self.rel = relations or Relations()
        self.as_of = as_of or date.today()

    def condition(self, node: Node, params: list[Any]) -> str:
        if node.kind in ("all", "any"):
            joiner = " AND " if node.kind == "all" else " OR "
            return "(" + joiner.join(self.condition(c, params) for c in node.children) + ")"
        if node.kind == "not":
            return f"(NOT {self.condition(node.children[0], params)})"
        if node.kind == "segment":
            return self.condition(self.segments.by_id[str(node.leaf)].rule, params)
        if isinstance(node.leaf, Attr):
            a = node.leaf
            expr = f"c.{_ident(a.name)}"
            return f"coalesce({_compare(expr, a.op, a.value, self.catalogue.inputs[a.name].type, params)}, false)"
        if isinstance(node.leaf, TagCond):
            return self._tag(node.leaf, params)
        if isinstance(node.leaf, Behaviour):
            return self._behaviour(node.leaf, params)
        raise AssertionError(f"unhandled node {node.kind} at {node.path}")  # parse_node refuses it first

    def _tag(self, cond: TagCond, params: list[Any]) -> str:
        tag = self.catalogue.tags[cond.id]
        if tag.kind == "rule" and tag.source.segment:
            return self.condition(self.segments.by_id[tag.source.segment].rule, params)
        if tag.kind == "computed":
            params.append(tag.source.layer_tag)
            return "coalesce(list_contains(c.tags, ?), false)"
        params.append(tag.id)
        where = "tag_id = ?"
        if tag.value_type == "bool":
            where += " AND value = 'true'"
        elif cond.op != "has" and cond.op is not None:
            where += " AND " + _compare(_CAST[tag.value_type].format("value"), cond.op, cond.value,
                                        tag.value_type, params)
        return f"c.customer_id IN (SELECT customer_id FROM {self.rel.tag_values} WHERE {where})"

    def window(self, b: Behaviour) -> tuple[date, date]:
        if b.last_days is not None:
            return self.as_of - timedelta(days=b.last_days), self.as_of
        return self.as_of, self.as_of + timedelta(days=b.next_days or 0)

    def _behaviour(self, b: Behaviour, params: list[Any]) -> str:
        low, high = self.window(b)
        params.extend((b.business.value, low, high))
        where = f"business_type = ? AND {_ident(b.date)} BETWEEN ? AND ?"
        if b.category is not None:
            params.append(b.category)
            where += " AND category = ?"
        if b.product is not None:
            params.append(b.product)
            where += " AND product = ?"
        if b.roles:
            params.extend(b.roles)
            where += f" AND list_has_any(roles, [{', '.join('?' for _ in b.roles)}])"
        measure = "count(*)" if b.measure == "count" else "coalesce(sum(amount), 0)"
        params.append(b.value)
        return (f"c.customer_id IN (SELECT customer_id FROM {self.rel.records} WHERE {where} "
                f"GROUP BY customer_id HAVING {measure} {b.op} ?)")

    def select(self, node: Node) -> tuple[str, list[Any]]:
        """The members' ids."""
        params: list[Any] = []
        cond = self.condition(node, params)
        return f"SELECT c.customer_id FROM {self.rel.customers} c WHERE {cond}", params


def count(db: BatchEngine, segments: Segments, node: Node, *, relations: Relations | None = None,
          as_of: date | None = None) -> int:
    """How many customers a tree selects."""
    params: list[Any] = []
    cond = Compiler(segments, relations, as_of).condition(node, params)
    rel = relations or Relations()
    return int(db.scalar(f"SELECT count(*) FROM {rel.customers} c WHERE {cond}", params) or 0)


def materialise(db: BatchEngine, segments: Segments, segment_id: str, *, table: str | None = None,
                relations: Relations | None = None, as_of: date | None = None) -> int:
    """The members of one segment written to ``table`` (default ``insight.segment_<id>``); returns their count."""
    seg = segments.by_id[segment_id]
    table = table or f"insight.segment_{seg.id}"
    sql, params = Compiler(segments, relations, as_of).select(seg.rule)
    db.execute("CREATE SCHEMA IF NOT EXISTS insight")
    db.build(table, sql, params)
    return db.count(table)
