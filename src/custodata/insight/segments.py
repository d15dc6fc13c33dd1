"""Segments [客群] and rule tags as declarative trees, validated at load.

A marketer describes who is in a segment, not how to query it: ``all``/``any``/``not``
over attributes of the customer layer, tags of the catalogue, other segments, and
behaviour in a time window over the customer's business records (a deposit maturing in
the next 30 days, a claim in the last 12 months, premium over N in a year). The tree is
data, so it is checked before anything runs — every mistake named by its key path, a
segment that reaches itself refused with the chain — and compiled to SQL with every value
bound as a parameter (:mod:`custodata.insight.segment_sql`), never pasted into the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from custodata.errors import ConfigError
from custodata.fields import BusinessType
from custodata.insight.catalogue import SOURCE_KINDS, Catalogue, Grade, load_catalogue
from custodata.yamlconfig import error_message, format_location, read_yaml

DEFAULT_PATH = Path(__file__).with_name("segments.yaml")
COMPARE = ("=", "!=", "<", "<=", ">", ">=")
Op = Literal["=", "!=", "<", "<=", ">", ">=", "between", "in", "has"]
NODE_KEYS = ("all", "any", "not", "attr", "tag", "segment", "behaviour")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attr(_Strict):
    """A layer attribute compared with a value: ``{name: age, op: between, value: [30, 60]}``."""

    name: str
    op: Op
    value: Any


class TagCond(_Strict):
    """A tag of the catalogue: a yes/no tag holds, or a valued tag compared (``op: has`` = has a value)."""

    id: str
    op: Op | None = None
    value: Any = None


class Behaviour(_Strict):
    """Business records of one type dated inside a window around the as-of date, at least ``value`` of them
    (``measure: count``) or with at least ``value`` in amounts (``measure: sum_amount``)."""

    business: BusinessType
    date: Literal["start_date", "end_date"] = "start_date"
    last_days: int | None = Field(None, ge=1, le=3660)
    next_days: int | None = Field(None, ge=1, le=3660)
    category: str | None = None
    product: str | None = None
    roles: tuple[str, ...] = Field((), description="only records where the customer has one of these roles")
    measure: Literal["count", "sum_amount"] = "count"
    op: Literal[">", ">="] = ">="
    value: float = 1


@dataclass(frozen=True)
class Node:
    """One node of a tree: ``kind`` is a key of :data:`NODE_KEYS`; ``path`` is where it was written."""

    kind: str
    path: str
    children: tuple[Node, ...] = ()
    leaf: Attr | TagCond | Behaviour | str | None = None


class SegmentHead(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,60}$")
    name_zh: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    version: int = Field(ge=1)
    rule: Any


@dataclass(frozen=True)
class Segment:
    id: str
    name_zh: str
    owner: str
    version: int
    rule: Node


def _fail(origin: str, path: str, message: str) -> ConfigError:
    return ConfigError(f"{origin}: key '{path}': {message}")


def _model(model: type[_Strict], data: Any, origin: str, path: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(origin, path, f"must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise _fail(origin, f"{path}.{format_location(e['loc'])}" if e["loc"] else path, error_message(e)) from None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_date(v: str) -> bool:
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _check_value(value_type: str, op: str, value: Any, origin: str, path: str) -> None:
    """The value fits the operator and the type compared (numbers for numbers, a pair for between …)."""
    def ok_scalar(v: Any) -> bool:
        if value_type == "number":
            return _is_number(v)
        if value_type == "bool":
            return isinstance(v, bool)
        if value_type == "date":
            return isinstance(v, str) and _is_date(v)
        return isinstance(v, str)

    if value_type == "bool" and op not in ("=", "!="):
        raise _fail(origin, f"{path}.op", f"'{op}' on a yes/no value; use = or !=")
    if value_type == "text" and op not in ("=", "!=", "in"):
        raise _fail(origin, f"{path}.op", f"'{op}' on a text value; use =, != or in")
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(ok_scalar(v) for v in value)):
            raise _fail(origin, f"{path}.value", f"between needs a list of two {value_type} values [low, high]")
    elif op == "in":
        if not (isinstance(value, list) and value and all(ok_scalar(v) for v in value)):
            raise _fail(origin, f"{path}.value", f"in needs a non-empty list of {value_type} values")
    elif not ok_scalar(value):
        raise _fail(origin, f"{path}.value", f"'{value}' is not a {value_type} value")


def parse_node(data: Any, catalogue: Catalogue, origin: str, path: str) -> Node:
    """One tree node from YAML, checked against the catalogue; errors name ``path``."""
    if not isinstance(data, dict) or len(data) != 1:
        raise _fail(origin, path, f"a node is a mapping with exactly one of the keys {', '.join(NODE_KEYS)}")
    ((key, body),) = data.items()
    here = f"{path}.{key}"
    if key in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise _fail(origin, here, "needs a non-empty list of nodes")
        return Node(key, here, tuple(parse_node(b, catalogue, origin, f"{here}[{i}]") for i, b in enumerate(body)))
    if key == "not":
        return Node(key, here, (parse_node(body, catalogue, origin, here),))
    if key == "attr":
        attr = _model(Attr, body, origin, here)
        if attr.name not in catalogue.inputs:
            raise _fail(origin, f"{here}.name",
                        f"'{attr.name}' is not an attribute; known: {', '.join(catalogue.inputs)}")
        if attr.op == "has":
            raise _fail(origin, f"{here}.op", "has is for tags; compare an attribute with =, <, between, in …")
        _check_value(catalogue.inputs[attr.name].type, attr.op, attr.value, origin, here)
        return Node(key, here, leaf=attr)
    if key == "tag":
        cond = _model(TagCond, body, origin, here)
        if cond.id not in catalogue.tags:
            raise _fail(origin, f"{here}.id",
                        f"'{cond.id}' is not a tag of the catalogue; known: {', '.join(catalogue.tags)}")
        tag = catalogue.tags[cond.id]
        if tag.value_type == "bool":
            if cond.op is not None or cond.value is not None:
                raise _fail(origin, f"{here}.op", f"tag '{cond.id}' is yes/no: write only its id")
        elif cond.op is None:
            raise _fail(origin, f"{here}.op", f"tag '{cond.id}' has {tag.value_type} values: give op (has, =, < …)")
        elif cond.op != "has":
            _check_value(tag.value_type, cond.op, cond.value, origin, here)
        return Node(key, here, leaf=cond)
    if key == "segment":
        if not isinstance(body, str):
            raise _fail(origin, here, "names a segment by its id")
        return Node(key, here, leaf=body)
    if key == "behaviour":
        beh = _model(Behaviour, body, origin, here)
        if (beh.last_days is None) == (beh.next_days is None):
            raise _fail(origin, here, "give exactly one window: last_days or next_days")
        return Node(key, here, leaf=beh)
    raise _fail(origin, here, f"unknown node; use one of {', '.join(NODE_KEYS)}")


class Segments:
    """Segments by id over one catalogue, with rule tags pointing into them; acyclic by construction."""

    def __init__(self, segments: list[Segment], catalogue: Catalogue, origin: str) -> None:
        self.catalogue = catalogue
        self.origin = origin
        self.by_id: dict[str, Segment] = {}
        for i, s in enumerate(segments):
            if s.id in self.by_id:
                raise _fail(origin, f"segments[{i}].id", f"'{s.id}' is defined twice; ids are unique")
            self.by_id[s.id] = s
        for tag in catalogue.tags.values():
            if tag.kind == "rule" and tag.source.segment not in self.by_id:
                raise ConfigError(f"{catalogue.origin}: key 'tags.{tag.id}.source.segment': "
                                  f"'{tag.source.segment}' is not a segment of {origin}")
        for s in self.by_id.values():
            self._refs(s.rule)
        for s in self.by_id.values():
            self._walk(("segment", s.id), [])
        for tag in catalogue.tags.values():
            if tag.kind == "rule" and tag.source.segment:
                catalogue.check_declared(tag, self.grade(self.by_id[tag.source.segment].rule), f"tags.{tag.id}.grade")

    def _refs(self, node: Node) -> None:
        if node.kind == "segment" and node.leaf not in self.by_id:
            raise _fail(self.origin, node.path, f"'{node.leaf}' is not a segment; known: {', '.join(self.by_id)}")
        for c in node.children:
            self._refs(c)

    def _edges(self, ref: tuple[str, str]) -> list[tuple[str, str]]:
        kind, ident = ref
        if kind == "tag":
            tag = self.catalogue.tags[ident]
            return [("segment", tag.source.segment)] if tag.kind == "rule" and tag.source.segment else []
        out: list[tuple[str, str]] = []

        def visit(n: Node) -> None:
            if n.kind == "segment":
                out.append(("segment", str(n.leaf)))
            elif n.kind == "tag" and isinstance(n.leaf, TagCond):
                out.append(("tag", n.leaf.id))
            for c in n.children:
                visit(c)

        visit(self.by_id[ident].rule)
        return out

    def _walk(self, ref: tuple[str, str], chain: list[tuple[str, str]]) -> None:
        if ref in chain:
            names = " → ".join(f"{k} {i}" for k, i in [*chain[chain.index(ref):], ref])
            raise ConfigError(f"{self.origin}: segments refer to themselves: {names}; break the cycle")
        for nxt in self._edges(ref):
            self._walk(nxt, [*chain, ref])

    def grade(self, node: Node) -> Grade:
        """What a tree is built from, graded: its attributes, tags, segments and business records."""
        g = Grade(level=1)
        if node.kind == "attr" and isinstance(node.leaf, Attr):
            g = self.catalogue.input_grade(node.leaf.name)
        elif node.kind == "tag" and isinstance(node.leaf, TagCond):
            tag = self.catalogue.tags[node.leaf.id]
            g = self.grade(self.by_id[tag.source.segment].rule) if tag.kind == "rule" and tag.source.segment \
                else self.catalogue.grade(tag.id)
        elif node.kind == "segment":
            g = self.grade(self.by_id[str(node.leaf)].rule)
        elif node.kind == "behaviour" and isinstance(node.leaf, Behaviour):
            fields = ("amount",) if node.leaf.measure == "sum_amount" else ()
            g = self.catalogue.business_grade(node.leaf.business, fields)
        for c in node.children:
            g = g.join(self.grade(c))
        return g

    def source_tag_ids(self) -> set[str]:
        return {t.id for t in self.catalogue.tags.values() if t.kind in SOURCE_KINDS}


def parse_segments(data: Any, catalogue: Catalogue, origin: str) -> Segments:
    if not isinstance(data, dict) or set(data) != {"segments"} or not isinstance(data["segments"], list):
        raise ConfigError(f"{origin}: the file must be a mapping with one key 'segments' holding a list")
    out = []
    for i, raw in enumerate(data["segments"]):
        head = _model(SegmentHead, raw, origin, f"segments[{i}]")
        rule = parse_node(head.rule, catalogue, origin, f"segments[{i}].rule")
        out.append(Segment(head.id, head.name_zh, head.owner, head.version, rule))
    return Segments(out, catalogue, origin)


@lru_cache(maxsize=8)
def _load(path: Path, catalogue_path: Path | None) -> Segments:
    return parse_segments(read_yaml(path, "segments file"), load_catalogue(catalogue_path), str(path))


def load_segments(path: Path | None = None, catalogue_path: Path | None = None) -> Segments:
    """The segments of ``path`` (default: the shipped ``segments.yaml``) over the tag catalogue."""
    return _load((path or DEFAULT_PATH).resolve(), catalogue_path.resolve() if catalogue_path else None)
