"""Inline SVG charts drawn on the server: bars for counts, boxes and arrows for the data flow.

No JavaScript library: the console has no build step, a chart must print and
screenshot like the rest of the page, and every label is escaped here because
the SVG is handed to the template as already-safe markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR_COLOUR = "#1f5f99"
FLOW_COLOUR = "#e8f0f8"
FLOW_BORDER = "#1f5f99"


def _fmt(n: int) -> str:
    return f"{n:,}"


def bar_chart(items: Sequence[tuple[str, int]], *, title: str, width: int = 560, bar_height: int = 22) -> Markup:
    """Horizontal bars, one per ``(label, count)``, longest bar = largest count.

    Horizontal because labels are Chinese words of varying length that would
    have to be rotated under vertical bars.
    """
    label_w = 150
    value_w = 70
    gap = 6
    top = 8
    height = top + max(1, len(items)) * (bar_height + gap) + 4
    biggest = max((n for _, n in items), default=0)
    span = width - label_w - value_w
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, n) in enumerate(items):
        y = top + i * (bar_height + gap)
        w = 0 if biggest <= 0 else max(2, round(span * n / biggest)) if n > 0 else 0
        mid = y + bar_height / 2
        parts.append(
            f'<text x="{label_w - 8}" y="{mid}" text-anchor="end" dominant-baseline="middle" '
            f'class="chart-label">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_height}" rx="3" fill="{BAR_COLOUR}">'
            f'<title>{escape(label)}: {_fmt(n)}</title></rect>'
            f'<text x="{label_w + w + 6}" y="{mid}" dominant-baseline="middle" class="chart-value">{_fmt(n)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above


def flow_chart(stages: Sequence[tuple[str, int | None]], *, title: str, width: int = 1000,
               vertical: bool = False) -> Markup:
    """The domain flow as boxes left to right with arrows between and each stage's count inside.

    A stage whose count is unknown (``None``) shows a dash rather than a zero,
    so "not measured" is never read as "empty".  ``vertical`` stacks the boxes top
    to bottom for a phone's narrow screen (the same labels at a readable size).
    """
    if vertical:
        return _flow_vertical(stages, title=title)
    n = max(1, len(stages))
    arrow = 34
    box_w = (width - arrow * (n - 1)) / n
    box_h = 84
    height = box_h + 16
    parts = [
        f'<svg class="chart flow" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        '<defs><marker id="arrowhead" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
        f'<path d="M0,0 L8,4 L0,8 z" fill="{FLOW_BORDER}"/></marker></defs>'
    ]
    for i, (label, count) in enumerate(stages):
        x = i * (box_w + arrow)
        cx = x + box_w / 2
        parts.append(
            f'<rect x="{x + 1:.1f}" y="8" width="{box_w - 2:.1f}" height="{box_h}" rx="6" fill="{FLOW_COLOUR}" '
            f'stroke="{FLOW_BORDER}" stroke-width="1.5"/>'
            f'<text x="{cx:.1f}" y="38" text-anchor="middle" class="flow-label">{escape(label)}</text>'
            f'<text x="{cx:.1f}" y="68" text-anchor="middle" class="flow-count">'
            f'{"—" if count is None else _fmt(count)}</text>'
        )
        if i < n - 1:
            x1 = x + box_w + 2
            parts.append(
                f'<line x1="{x1:.1f}" y1="{8 + box_h / 2}" x2="{x1 + arrow - 6:.1f}" y2="{8 + box_h / 2}" '
                f'stroke="{FLOW_BORDER}" stroke-width="2" marker-end="url(#arrowhead)"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above


def _flow_vertical(stages: Sequence[tuple[str, int | None]], *, title: str, width: int = 340) -> Markup:
    box_h = 54
    arrow = 26
    n = max(1, len(stages))
    height = n * box_h + (n - 1) * arrow + 4
    parts = [
        f'<svg class="chart flow" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        '<defs><marker id="arrowhead-v" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
        f'<path d="M0,0 L8,4 L0,8 z" fill="{FLOW_BORDER}"/></marker></defs>'
    ]
    for i, (label, count) in enumerate(stages):
        y = 2 + i * (box_h + arrow)
        parts.append(
            f'<rect x="1" y="{y}" width="{width - 2}" height="{box_h}" rx="6" fill="{FLOW_COLOUR}" '
            f'stroke="{FLOW_BORDER}" stroke-width="1.5"/>'
            f'<text x="14" y="{y + box_h / 2}" dominant-baseline="middle" class="flow-label">{escape(label)}</text>'
            f'<text x="{width - 14}" y="{y + box_h / 2}" text-anchor="end" dominant-baseline="middle" '
            f'class="flow-count">{"—" if count is None else _fmt(count)}</text>'
        )
        if i < n - 1:
            y1 = y + box_h + 2
            parts.append(f'<line x1="{width / 2}" y1="{y1}" x2="{width / 2}" y2="{y1 + arrow - 8}" '
                         f'stroke="{FLOW_BORDER}" stroke-width="2" marker-end="url(#arrowhead-v)"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above
