"""A segment previewed before it is saved: its size and its overlap with the other segments.

Counts only, in one scan of the customer layer: every overlap is a ``count(*) FILTER``
of the same pass, so a preview costs one query however many segments exist. Masked
samples for the viewer's role and distribution charts come later (issue 17 point 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from custodata.engine.port import BatchEngine
from custodata.insight.segment_sql import Compiler, Relations
from custodata.insight.segments import Node, Segments


@dataclass(frozen=True)
class Preview:
    size: int
    total: int
    overlap: dict[str, int] = field(default_factory=dict)  # other segment id -> members in both


def preview(db: BatchEngine, segments: Segments, node: Node, *, exclude: str | None = None,
            relations: Relations | None = None, as_of: date | None = None) -> Preview:
    """Size of ``node`` among all customers and its overlap with every segment but ``exclude``."""
    compiler = Compiler(segments, relations, as_of)
    rel = relations or Relations()
    params: list[Any] = []
    mine = compiler.condition(node, params)
    others = [s for s in segments.by_id if s != exclude]
    columns = ["count(*)", f"count(*) FILTER (WHERE {mine})"]
    for sid in others:
        both: list[Any] = []
        cond = f"{compiler.condition(node, both)} AND {compiler.condition(segments.by_id[sid].rule, both)}"
        params.extend(both)
        columns.append(f"count(*) FILTER (WHERE {cond})")
    row = db.one(f"SELECT {', '.join(columns)} FROM {rel.customers} c", params)
    values = [int(v or 0) for v in (row or (0,) * len(columns))]
    return Preview(size=values[1], total=values[0], overlap=dict(zip(others, values[2:], strict=True)))
