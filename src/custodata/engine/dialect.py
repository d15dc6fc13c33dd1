"""DuckDB SQL for Spark: SQLGlot's transpiler plus every per-dialect fix, declared here and nowhere else.

The stages write DuckDB SQL once. SQLGlot (``read="duckdb", write="spark"``) turns it into
Spark SQL without a warning, but some translations change results silently; each
:class:`Rewrite` below fixes one, on the parsed tree, before the Spark text is generated,
and ``tests/test_spark_engine.py`` shows each one fixed by running it on both engines.

Statement forms the Spark engine executes itself rather than as Spark SQL (see
:mod:`custodata.engine.spark_engine`): ``CREATE [OR REPLACE] TABLE … AS`` (written as a new
Parquet table, then swapped in), ``CREATE TEMP TABLE … AS`` (SQLGlot makes it a view, which
is re-evaluated at every read — random draws, nonces and the tables it reads change under
it; the engine writes it out once instead), ``CREATE SCHEMA`` (a database in the warehouse
folder), ``DROP TABLE`` and ``INSERT``. UPDATE and DELETE are rewritten here into rebuilds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlglot
from sqlglot import exp


class Catalogue(Protocol):
    """What a rewrite may ask of the engine: the output columns of a query or a table."""

    def columns_of(self, node: exp.Expr) -> list[str]: ...


@dataclass(frozen=True)
class Rewrite:
    """One named fix of SQLGlot's DuckDB → Spark translation."""

    name: str
    why: str
    apply: Callable[[exp.Expr, Catalogue], exp.Expr]


def _spark(text: str) -> exp.Expr:
    return sqlglot.parse_one(text, read="spark")


def _gen(node: exp.Expr) -> str:
    return node.sql(dialect="spark")


# ---- parameters ---------------------------------------------------------------------------------
def _numbered_parameters(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """``?`` → ``:p0, :p1 …`` in the order written, so later rewrites may move or repeat them."""
    counter = iter(range(1_000_000))
    return tree.transform(
        lambda n: exp.Placeholder(this=f"p{next(counter)}") if isinstance(n, exp.Placeholder) and not n.this else n)


# ---- table functions ----------------------------------------------------------------------------
def _range_table(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """DuckDB's ``range(n)`` table names its column ``range``; SQLGlot's ``explode(sequence())`` names it ``col``."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries)):
            return node
        series = node.this
        start = _gen(series.args.get("start") or exp.Literal.number(0))
        end = _gen(series.args["end"])
        exclusive = bool(series.args.get("is_end_exclusive"))
        column = "range" if exclusive else "generate_series"
        stop = end if exclusive else f"({end}) + 1"
        alias = node.alias or "_cd_range"
        select = _spark(f"SELECT * FROM (SELECT id AS {column} FROM range({start}, {stop})) AS {alias}")
        subquery: exp.Expr = select.args["from_"].this
        return subquery

    return tree.transform(fix)


# ---- dates --------------------------------------------------------------------------------------
_BOUNDARY_UNITS = {"YEAR", "QUARTER", "MONTH", "DAY"}


def _date_diff_boundaries(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """DuckDB's ``date_diff('year', a, b)`` counts year boundaries crossed; Spark's DATEDIFF(YEAR) whole years.

    A birthday not yet reached this year makes Spark's answer one less, so ages and
    "years as a customer" would shift; the boundary count is written out instead.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.DateDiff) or not node.args.get("date_part_boundary"):
            return node
        unit = node.text("unit").upper()
        if unit not in _BOUNDARY_UNITS:
            return node
        end, start = _gen(node.this), _gen(node.expression)
        if unit == "DAY":  # equal on dates; on timestamps Spark counts whole 24-hour days
            return _spark(f"datediff(to_date({end}), to_date({start}))")
        years = f"(year({end}) - year({start}))"
        if unit == "YEAR":
            return _spark(years)
        if unit == "QUARTER":
            return _spark(f"({years} * 4 + quarter({end}) - quarter({start}))")
        return _spark(f"({years} * 12 + month({end}) - month({start}))")

    return tree.transform(fix)


# ---- QUALIFY ------------------------------------------------------------------------------------
def _qualify_without_helper(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """Spark has no QUALIFY; SQLGlot's subquery adds a ``_w`` column that ``SELECT *`` then leaks.

    The window goes into an inner query under a helper name and the outer query selects
    ``* EXCEPT`` the helpers, so the result has exactly the columns DuckDB gives.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Select) or not node.args.get("qualify"):
            return node
        inner = node.copy()
        condition = inner.args["qualify"].this
        inner.set("qualify", None)
        helpers: list[str] = []

        def lift(n: exp.Expr) -> exp.Expr:
            if isinstance(n, exp.Window):
                name = f"_cd_q{len(helpers)}"
                helpers.append(name)
                inner.select(exp.alias_(n.copy(), name), copy=False)
                return exp.column(name)
            return n

        condition = condition.transform(lift)
        order, limit = inner.args.get("order"), inner.args.get("limit")
        inner.set("order", None)
        inner.set("limit", None)
        star = exp.Star(**({"except_": [exp.column(h) for h in helpers]} if helpers else {}))
        outer = exp.select(star).from_(inner.subquery("_cd_q")).where(condition)
        if order is not None:
            outer.set("order", order.transform(lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n))
        if limit is not None:
            outer.set("limit", limit)
        return outer

    return tree.transform(fix)


# ---- lists --------------------------------------------------------------------------------------
def _sorted_list(value: exp.Expr, order: exp.Order | None) -> str:
    """Spark text of a list of ``value`` that keeps NULL elements, sorted as DuckDB's ``ORDER BY`` would."""
    keys = list(order.expressions) if order is not None else []
    fields = ", ".join(f"'k{i}', {_gen(k.this)}" for i, k in enumerate(keys))
    packed = f"collect_list(named_struct({fields + ', ' if fields else ''}'v', {_gen(value)}))"
    if keys:
        compares = []
        for i, k in enumerate(keys):
            lo, hi = ("1", "-1") if k.args.get("desc") else ("-1", "1")
            null_l, null_r = ("-1", "1") if k.args.get("nulls_first") else ("1", "-1")
            compares.append(f"CASE WHEN _cd_l.k{i} IS NULL AND _cd_r.k{i} IS NULL THEN 0 "
                            f"WHEN _cd_l.k{i} IS NULL THEN {null_l} WHEN _cd_r.k{i} IS NULL THEN {null_r} "
                            f"WHEN _cd_l.k{i} < _cd_r.k{i} THEN {lo} "
                            f"WHEN _cd_l.k{i} > _cd_r.k{i} THEN {hi} ELSE 0 END")
        chain = " ".join(f"WHEN ({c}) <> 0 THEN ({c})" for c in compares)
        packed = f"array_sort({packed}, (_cd_l, _cd_r) -> CASE {chain} ELSE 0 END)"
    return f"transform({packed}, _cd_e -> _cd_e.v)"


def _list_keeps_nulls(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """DuckDB's ``list(x)`` keeps NULLs and its ``ORDER BY``; SQLGlot's ``collect_list(x)`` drops both.

    Also ``first(x ORDER BY k)``, which Spark cannot parse: the first of the ordered list.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.ArrayAgg):
            arg = node.this
            if isinstance(arg, exp.Order):
                return _spark(_sorted_list(arg.this, arg))
            return _spark(_sorted_list(arg, None))
        if isinstance(node, exp.First) and isinstance(node.this, exp.Order):
            return _spark(f"element_at({_sorted_list(node.this.this, node.this)}, 1)")
        return node

    return tree.transform(fix)


# ---- more silent differences ---------------------------------------------------------------------
def _arg_max_skips_nulls(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """DuckDB's ``arg_max(x, k)`` skips rows whose ``x`` is NULL; Spark's ``max_by`` may answer NULL."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.ArgMax | exp.ArgMin):
            return node
        value, key = _gen(node.this), _gen(node.expression)
        name = "max_by" if isinstance(node, exp.ArgMax) else "min_by"
        return _spark(f"{name}({value}, CASE WHEN {value} IS NOT NULL THEN {key} END)")

    return tree.transform(fix)


def _regexp_replace_first(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """DuckDB's ``regexp_replace`` without the ``'g'`` option replaces the first match; Spark's replaces all.

    The first match is replaced by anchoring the pattern behind a lazy prefix (literal
    patterns and replacements only; DuckDB's ``\\1`` back-references become Spark's ``$1``, shifted).
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.RegexpReplace):
            return node
        modifiers = node.args.get("modifiers")
        flags = modifiers.name if isinstance(modifiers, exp.Literal) else ""
        pattern, replacement = node.args.get("expression"), node.args.get("replacement")
        if not (isinstance(pattern, exp.Literal) and isinstance(replacement, exp.Literal)):
            return node
        inline = "(?i)" if "i" in flags else ""
        if "g" in flags:
            return _spark(f"regexp_replace({_gen(node.this)}, {exp.Literal.string(inline + pattern.name).sql()}, "
                          f"{exp.Literal.string(_backrefs(replacement.name, 0)).sql()})")
        anchored = exp.Literal.string(f"{inline}(?s)^(.*?)(?:{pattern.name})").sql(dialect="spark")
        shifted = exp.Literal.string("$1" + _backrefs(replacement.name, 1)).sql(dialect="spark")
        return _spark(f"regexp_replace({_gen(node.this)}, {anchored}, {shifted})")

    return tree.transform(fix)


def _backrefs(replacement: str, shift: int) -> str:
    r"""DuckDB's (RE2) ``\1`` back-references as Java's ``$1`` (shifted by ``shift`` added groups); ``$`` escaped."""
    out, i = [], 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\" and i + 1 < len(replacement) and replacement[i + 1].isdigit():
            out.append(f"${int(replacement[i + 1]) + shift}")
            i += 2
            continue
        out.append("\\$" if c == "$" else c)
        i += 1
    return "".join(out)


_DAY_OF_WEEK = {  # DuckDB's numbering, from Spark's dayofweek (Sunday = 1 … Saturday = 7)
    "dow": "(dayofweek({d}) - 1)",  # Sunday = 0
    "weekday": "(dayofweek({d}) - 1)",  # DuckDB: weekday = dow; Spark's weekday is Monday = 0
    "isodow": "((dayofweek({d}) + 5) % 7 + 1)",  # Monday = 1 … Sunday = 7
}


def _day_of_week(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """``dayofweek``/``dow``/``weekday``/``isodow`` number days differently on Spark (and SQLGlot's isodow is off)."""

    def fix(node: exp.Expr) -> exp.Expr:
        part = None
        arg: exp.Expr | None = None
        if isinstance(node, exp.DayOfWeek):
            part, arg = "dow", node.this
        elif isinstance(node, exp.DayOfWeekIso):
            part, arg = "isodow", node.this
        elif isinstance(node, exp.Extract) and node.name.lower() in _DAY_OF_WEEK:
            part, arg = node.name.lower(), node.expression
        elif isinstance(node, exp.Anonymous) and node.name.lower() == "weekday" and len(node.expressions) == 1:
            part, arg = "weekday", node.expressions[0]
        elif (isinstance(node, exp.Anonymous) and node.name.lower() == "date_part" and len(node.expressions) == 2
              and isinstance(node.expressions[0], exp.Literal) and node.expressions[0].name.lower() in _DAY_OF_WEEK):
            part, arg = node.expressions[0].name.lower(), node.expressions[1]
        if part is None or arg is None:
            return node
        return _spark(_DAY_OF_WEEK[part].format(d=_gen(arg)))

    return tree.transform(fix)


def _format_braces(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """DuckDB's ``format('{}-{}', …)`` is fmt-style and NULL-strict; SQLGlot's ``format_string`` is printf-style."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Format) and isinstance(node.this, exp.Literal) and "{" in node.this.name):
            return node
        if re.search(r"\{[^}]", node.this.name):
            raise NotImplementedError("format() with positional or formatted fields is not supported on Spark")
        printf = node.this.name.replace("%", "%%").replace("{}", "%s")
        args = [_gen(a) for a in node.expressions]
        text = f"format_string({exp.Literal.string(printf).sql(dialect='spark')}, {', '.join(args)})"
        if args:  # DuckDB's format gives NULL for a NULL argument; format_string writes "null"
            text = f"CASE WHEN {' OR '.join(f'({a}) IS NULL' for a in args)} THEN NULL ELSE {text} END"
        return _spark(text)

    return tree.transform(fix)


def _star_replace(tree: exp.Expr, catalogue: Catalogue) -> exp.Expr:
    """Spark has no ``SELECT * REPLACE (expr AS col)``: the star is spelled out, the replaced columns in place."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Select):
            return node
        stars = [e for e in node.expressions if isinstance(e, exp.Star) and e.args.get("replace")]
        if not stars:
            return node
        probe = node.copy()  # the columns the star stands for: SELECT * over the same FROM
        probe.set("expressions", [exp.Star()])
        for clause in ("where", "order", "group", "having", "qualify"):
            probe.set(clause, None)
        probe.set("limit", exp.Limit(expression=exp.Literal.number(0)))
        names = catalogue.columns_of(probe)
        out: list[exp.Expr] = []
        for e in node.expressions:
            if not (isinstance(e, exp.Star) and e.args.get("replace")):
                out.append(e)
                continue
            replaced = {a.alias: a for a in e.args["replace"]}
            excluded = {c.name for c in e.args.get("except_") or []}
            out += [replaced.get(c, exp.column(c, quoted=True)) for c in names if c not in excluded]
        fixed = node.copy()
        fixed.set("expressions", out)
        return fixed

    return tree.transform(fix)


# ---- UNION BY NAME ------------------------------------------------------------------------------
def _union_by_name(tree: exp.Expr, catalogue: Catalogue) -> exp.Expr:
    """Spark SQL cannot ``UNION ALL BY NAME``: both sides are projected onto the union of their columns."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Union) and node.args.get("by_name")):
            return node
        left, right = node.this, node.expression
        lcols, rcols = catalogue.columns_of(left), catalogue.columns_of(right)
        names = lcols + [c for c in rcols if c not in lcols]

        def side(query: exp.Expr, have: Sequence[str], alias: str) -> exp.Select:
            cols = [exp.column(c, quoted=True) if c in have else exp.alias_(exp.Null(), c, quoted=True)
                    for c in names]
            subquery = exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))
            return exp.select(*cols).from_(subquery)

        union = exp.Union(this=side(left, lcols, "_cd_l"), expression=side(right, rcols, "_cd_r"),
                          distinct=node.args.get("distinct"))
        return union

    return tree.transform(fix)


# ---- UPDATE and DELETE on Parquet ---------------------------------------------------------------
def _update_as_rebuild(tree: exp.Expr, catalogue: Catalogue) -> exp.Expr:
    """Parquet tables cannot be updated in place: the table is rebuilt with CASE WHEN per set column.

    A row whose condition is NULL keeps its value, as UPDATE's WHERE would.
    """
    if not isinstance(tree, exp.Update):
        return tree
    if tree.args.get("from_") or tree.args.get("from"):
        raise NotImplementedError("UPDATE … FROM is not supported on the Spark engine")
    target = tree.this
    where = tree.args.get("where")
    sets = {eq.this.name: eq.expression for eq in tree.expressions}
    cols: list[exp.Expr] = []
    for name in catalogue.columns_of(target):
        if name not in sets:
            cols.append(exp.column(name, quoted=True))
            continue
        value = sets[name]
        if where is not None:
            value = exp.Case(ifs=[exp.If(this=where.this.copy(), true=value)], default=exp.column(name, quoted=True))
        cols.append(exp.alias_(value, name, quoted=True))
    query = exp.select(*cols).from_(target.copy())
    return exp.Create(this=target.copy(), kind="TABLE", replace=True, expression=query)


def _delete_as_rebuild(tree: exp.Expr, _: Catalogue) -> exp.Expr:
    """DELETE on Parquet: the table is rebuilt from the rows kept, ``NOT coalesce(cond, false)``.

    A plain ``NOT (cond)`` would also drop the rows whose condition is NULL, which DELETE keeps.
    """
    if not isinstance(tree, exp.Delete):
        return tree
    target = tree.this
    where = tree.args.get("where")
    query = exp.select(exp.Star()).from_(target.copy())
    if where is not None:
        query = query.where(exp.Not(this=exp.Paren(this=exp.func("coalesce", where.this.copy(), exp.false()))))
    else:
        query = query.where(exp.false())
    return exp.Create(this=target.copy(), kind="TABLE", replace=True, expression=query)


REWRITES: tuple[Rewrite, ...] = (
    Rewrite("numbered_parameters", "? may be moved or repeated by the rewrites below", _numbered_parameters),
    Rewrite("update_as_rebuild", "UPDATE on Parquet as a rebuild with CASE WHEN", _update_as_rebuild),
    Rewrite("delete_as_rebuild", "DELETE on Parquet as a rebuild keeping NULL conditions", _delete_as_rebuild),
    Rewrite("range_table", "range(n) names its column range, not col", _range_table),
    Rewrite("date_diff_boundaries", "date_diff counts boundaries, Spark DATEDIFF whole units", _date_diff_boundaries),
    Rewrite("qualify_without_helper", "QUALIFY's helper column must not leak into SELECT *", _qualify_without_helper),
    Rewrite("list_keeps_nulls", "list() keeps NULLs and ORDER BY; collect_list drops both", _list_keeps_nulls),
    Rewrite("union_by_name", "Spark SQL has no UNION ALL BY NAME", _union_by_name),
    Rewrite("star_replace", "Spark SQL has no SELECT * REPLACE", _star_replace),
    Rewrite("arg_max_skips_nulls", "arg_max skips NULL values; max_by does not", _arg_max_skips_nulls),
    Rewrite("regexp_replace_first", "regexp_replace without 'g' replaces the first match only", _regexp_replace_first),
    Rewrite("day_of_week", "day-of-week numbering differs (dow, weekday, isodow)", _day_of_week),
    Rewrite("format_braces", "format() is fmt-style, format_string printf-style", _format_braces),
)


def rewrite(sql: str, catalogue: Catalogue, *, only: Sequence[str] | None = None) -> list[exp.Expr]:
    """The DuckDB statements of ``sql`` parsed and fixed for Spark (``only``: a subset, for tests)."""
    trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    fixed = []
    for tree in trees:
        for r in REWRITES:
            if only is None or r.name in only or r.name == "numbered_parameters":
                tree = r.apply(tree, catalogue)
        fixed.append(tree)
    return fixed


def spark_sql(tree: exp.Expr) -> str:
    """The Spark text of a fixed tree."""
    return _gen(tree)


def parameters(values: Sequence[Any]) -> dict[str, Any]:
    """Positional values as the named parameters :func:`rewrite` numbered them into."""
    return {f"p{i}": v for i, v in enumerate(values)}
