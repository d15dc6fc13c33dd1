"""Rich rendering of run summaries and the customer 360° view for the terminal.

Protected values are shown masked: the terminal is a display like any other, and the
views rendered here come masked from the service layer (:mod:`custodata.cli.terminal`).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from custodata.fields import BUSINESS_TYPE_LABELS, CUSTOMER_TYPE_LABELS
from custodata.pipeline import STAGES, RunSummary


def summary_tables(summary: RunSummary) -> Group:
    sources = Table(title="来源对账 Sources (read = accepted + quarantined)", show_footer=True)
    sources.add_column("source system", footer="total")
    sources.add_column("business type")
    sources.add_column("read", justify="right", footer=f"{summary.read:,}")
    sources.add_column("accepted", justify="right", footer=f"{summary.accepted:,}")
    sources.add_column("quarantined", justify="right", footer=f"{summary.quarantined:,}")
    sources.add_column("batch")
    for s in summary.sources:
        sources.add_row(
            s.system, BUSINESS_TYPE_LABELS.get(s.business_type, s.business_type),
            f"{s.read:,}", f"{s.accepted:,}", f"{s.quarantined:,}",
            s.batch_id + (" (already loaded)" if s.skipped else ""),
        )
    customers = Table(title="客户 Customers by type")
    customers.add_column("customer type")
    customers.add_column("customers", justify="right")
    for k, v in summary.customers_by_type.items():
        customers.add_row(f"{CUSTOMER_TYPE_LABELS.get(k, k)} ({k})", f"{v:,}")
    r = summary.resolution
    if r is not None:
        customers.add_row("party records", f"{r.observations:,}")
        customers.add_row("records merged into another's customer", f"{summary.records_merged:,}")
        customers.add_row("chained clusters split", f"{r.chained_clusters:,}")
        customers.add_row("oversize clusters for review", f"{r.oversize_clusters:,}")
        customers.add_row("relationships", f"{r.relationships:,}")
        customers.add_row("resolution mode", r.mode + (" (model trained)" if r.trained else ""))
    stages = Table(title="阶段耗时 Seconds per stage")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    labels = dict(STAGES)
    for stage, seconds in summary.stage_seconds.items():
        stages.add_row(labels.get(stage, stage), f"{seconds:.1f}")
    return Group(sources, customers, stages)


def shown(value: Any) -> str:
    """A value as printed: already masked by the policy (see :func:`custodata.serving.customer_360.mask_view`)."""
    return "—" if value is None else str(value)


def view_panel(view: dict[str, Any]) -> Panel:
    """Render a view the service has masked (:func:`custodata.service.customers.view`).

    The lineage section is there only when the policy in force gives role ``cli``
    ``customer.lineage``; without it the panel says so rather than showing an empty table.
    """
    p = view["profile"]
    prof = Table.grid(padding=(0, 2))
    prof.add_column(style="bold")
    prof.add_column()
    for label, key in (
        ("客户号 customer id", "customer_id"), ("姓名 name", "name"), ("证件号 ID", "id_number"),
        ("统一社会信用代码 USCC", "uscc"), ("性别 gender", "gender"), ("出生日期 birth", "birth_date"),
        ("手机 mobile", "mobile"), ("固话 phone", "phone"), ("邮箱 e-mail", "email"),
        ("地址 address", "address"),
    ):
        if p.get(key) is not None or key in ("customer_id", "name"):
            prof.add_row(label, shown(p.get(key)))
    prof.add_row("客户类型 type", CUSTOMER_TYPE_LABELS.get(p["customer_type"], p["customer_type"]))
    prof.add_row("客群 segment", str(p.get("segment")))
    prof.add_row("标签 tags", "、".join(p.get("tags") or []) or "—")
    raw = p.get("raw_tags") or []
    if raw:
        prof.add_row("源系统标签 source tags",
                     "; ".join(f"{t['name']}={t['value']} ({t['kind']})" for t in raw))
    prof.add_row("来源 sources", ", ".join(p.get("sources") or []))

    recs = Table(title="业务 Business (policies, accounts, cards, loans, tickets)")
    for col in ("type", "record", "role", "product / category", "amount", "dates", "status"):
        recs.add_column(col)
    for r in view["records"]:
        recs.add_row(
            BUSINESS_TYPE_LABELS.get(r["business_type"], r["business_type"]),
            f"{r['source']}:{r['record_key']}", r["role"],
            str(r.get("product") or r.get("category") or "—"),
            "—" if r.get("amount") is None else f"{r['amount']:,.2f}",
            " → ".join(str(d) for d in (r.get("start_date"), r.get("end_date")) if d) or "—",
            str(r.get("status") or "—"),
        )
    rel = Table(title="关系 Relationships")
    for col in ("kind", "other customer", "evidence"):
        rel.add_column(col)
    for r in view["relationships"]:
        rel.add_row(r["kind"], f"{r['other_id']} {shown(r.get('other_name'))}", str(r["evidence"]))
    lin = Table(title="血缘 Source records (lineage)")
    for col in ("source record", "role", "batch", "name", "ID", "mobile"):
        lin.add_column(col)
    for r in view.get("lineage") or ():
        lin.add_row(f"{r['source']}:{r['record_key']}", r["role"], r["batch_id"],
                    shown(r.get("name")), shown(r.get("id_number")), shown(r.get("mobile")))
    parts: list[Any] = [prof, recs]
    if view["relationships"]:
        parts.append(rel)
    parts.append(lin if "lineage" in view else "血缘 lineage: not shown (no customer.lineage permission)")
    title = f"客户360视图 Customer 360° — {view['customer_id']}"
    if view["requested_id"] != view["customer_id"]:
        title += f" (requested {view['requested_id']}, merged)"
    who = view.get("masked_for", {})
    return Panel(Group(*parts), title=title, subtitle=f"masked for role {who.get('role', '?')} (脱敏显示)")


def print_error(console: Console, message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
