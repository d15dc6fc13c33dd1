"""Only the engine package speaks to an engine (issue 12 point 1).

Stages return SQL as data and run it through :class:`custodata.engine.port.BatchEngine`;
if a module elsewhere imported duckdb or pyspark (or reached for a store's raw
connection), a second engine could not run it.  The rule is read off the source, every
file, so a new module is held to it the day it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "custodata"
ENGINE = SRC / "engine"
ENGINE_LIBRARIES = ("duckdb", "pyspark")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _outside_engine() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if not p.is_relative_to(ENGINE)]


def test_no_module_outside_the_engine_imports_an_engine_library() -> None:
    offenders = [f"{path.relative_to(SRC)}:{line} imports {name}"
                 for path in _outside_engine()
                 for line, name in _imports(ast.parse(path.read_text(encoding="utf-8")))
                 if name.split(".")[0] in ENGINE_LIBRARIES]
    assert offenders == []


def test_no_module_outside_the_engine_reaches_for_a_raw_connection() -> None:
    """``store.con`` is the DuckDB connection behind the port, kept for the engine's own set-up."""
    offenders = [f"{path.relative_to(SRC)}:{node.lineno}"
                 for path in _outside_engine()
                 for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.Attribute) and node.attr == "con"]
    assert offenders == []


def test_the_rule_sees_an_import_where_it_is(tmp_path: Path) -> None:
    """The checker itself can fail: a nested, aliased import is found."""
    tree = ast.parse("def f():\n    import duckdb as d\n    from pyspark.sql import SparkSession\n")
    assert [name for _, name in _imports(tree)] == ["duckdb", "pyspark.sql"]
