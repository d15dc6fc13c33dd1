"""SQL text the engine is given where a bound parameter cannot go (DDL, ATTACH, generated statements)."""

from __future__ import annotations


def literal(value: object) -> str:
    """A SQL string literal: quotes doubled, so any value stays inert text."""
    return "'" + str(value).replace("'", "''") + "'"
