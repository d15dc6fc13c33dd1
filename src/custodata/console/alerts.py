"""The security officer's dashboard [安全告警]: open alerts by severity, their evidence, and triage.

Everything goes through :mod:`custodata.service.alerts`, so a role without
``alerts.read`` gets the refusal page and every read and decision is audited.
The page brings its own words into the console's catalogue (zh-CN and English).
"""

# No `from __future__ import annotations`: FastAPI must evaluate the Depends(console.…) annotations
# of the route functions, which refer to a local of routes().

import json
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from markupsafe import Markup

from custodata.console import display
from custodata.console.i18n import EN, ZH, Translator
from custodata.console.web import Console, Ctx, route_class
from custodata.monitoring.store import StoredAlert
from custodata.monitoring.tables import SEVERITIES, STATUSES
from custodata.service import alerts as alert_service

PAGE = 200
TRIAGE = ("acknowledged", "false_positive", "escalated")

LABELS_ZH: dict[str, str] = {
    "nav.alerts": "安全告警",
    "alerts.title": "安全告警",
    "alerts.by_severity": "未处理告警（按严重程度）",
    "alerts.none": "没有符合条件的告警。",
    "alerts.status": "状态",
    "alerts.severity": "严重程度",
    "alerts.all": "全部",
    "alerts.filter": "筛选",
    "alerts.scenario": "场景",
    "alerts.actor": "人员",
    "alerts.window": "时间窗口",
    "alerts.by_person": "按人员",
    "alerts.n_alerts": "{n} 条告警",
    "alerts.trend": "每日新增告警",
    "alerts.shown": "共 {n} 条，按人员分组，最严重的在前。",
    "alerts.score": "风险分",
    "alerts.summary": "摘要",
    "alerts.action": "自动处置",
    "alerts.evidence": "证据",
    "alerts.triage": "研判",
    "alerts.note": "研判意见",
    "alerts.triaged": "告警 {id} 已标记为「{status}」。",
    "alerts.triaged_by": "{who} 于 {when}",
    "alerts.detected": "发现时间",
    "alerts.button.acknowledged": "确认",
    "alerts.button.false_positive": "误报",
    "alerts.button.escalated": "升级",
    "alertstatus.open": "待处理",
    "alertstatus.acknowledged": "已确认",
    "alertstatus.false_positive": "误报",
    "alertstatus.escalated": "已升级",
    "severity.low": "低",
    "severity.medium": "中",
    "severity.high": "高",
    "severity.critical": "严重",
    "action.frozen": "账户已冻结",
    "scenario.hoarding": "囤积客户数据",
    "scenario.off_hours_bulk": "非工作时间批量访问",
    "scenario.out_of_scope": "超出机构或名下客户范围",
    "scenario.departing_exfiltration": "离职/调岗人员异常访问",
    "scenario.repeated_unmask": "反复解除脱敏",
    "scenario.failed_login_burst": "登录失败或拒绝激增",
    "scenario.shared_customers": "多账户访问同一批客户",
    "scenario.multi_address": "单账户多地址登录",
    "scenario.new_data_kind": "首次访问新类数据",
    "scenario.identifier_enumeration": "逐个试探证件号或手机号",
}

LABELS_EN: dict[str, str] = {
    "nav.alerts": "Alerts",
    "alerts.title": "Security alerts",
    "alerts.by_severity": "Open alerts by severity",
    "alerts.none": "No alerts match.",
    "alerts.status": "Status",
    "alerts.severity": "Severity",
    "alerts.all": "All",
    "alerts.filter": "Filter",
    "alerts.scenario": "Scenario",
    "alerts.actor": "Person",
    "alerts.window": "Window",
    "alerts.by_person": "By person",
    "alerts.n_alerts": "{n} alerts",
    "alerts.trend": "New alerts per day",
    "alerts.shown": "{n} alerts, grouped by person, most severe first.",
    "alerts.score": "Score",
    "alerts.summary": "Summary",
    "alerts.action": "Action taken",
    "alerts.evidence": "Evidence",
    "alerts.triage": "Triage",
    "alerts.note": "Triage note",
    "alerts.triaged": "Alert {id} marked “{status}”.",
    "alerts.triaged_by": "{who} at {when}",
    "alerts.detected": "Detected",
    "alerts.button.acknowledged": "Acknowledge",
    "alerts.button.false_positive": "False positive",
    "alerts.button.escalated": "Escalate",
    "alertstatus.open": "Open",
    "alertstatus.acknowledged": "Acknowledged",
    "alertstatus.false_positive": "False positive",
    "alertstatus.escalated": "Escalated",
    "severity.low": "Low",
    "severity.medium": "Medium",
    "severity.high": "High",
    "severity.critical": "Critical",
    "action.frozen": "Account frozen",
    "scenario.hoarding": "Hoarding customer data",
    "scenario.off_hours_bulk": "Off-hours bulk access",
    "scenario.out_of_scope": "Outside branch or portfolio",
    "scenario.departing_exfiltration": "Leaving or transferred person, unusual access",
    "scenario.repeated_unmask": "Repeated unmasking",
    "scenario.failed_login_burst": "Burst of failed logins or denials",
    "scenario.shared_customers": "Same customers from many accounts",
    "scenario.multi_address": "One account from many addresses",
    "scenario.new_data_kind": "First access to a new kind of data",
    "scenario.identifier_enumeration": "Trying ID or mobile numbers one by one",
}

for _key, _text in LABELS_ZH.items():
    ZH.setdefault(_key, _text)
for _key, _text in LABELS_EN.items():
    EN.setdefault(_key, _text)


EVENT_KEYS = frozenset({"events", "event_seqs", "seqs"})


def evidence_rows(alert: StoredAlert) -> list[tuple[str, str]]:
    """The evidence as (key, text) lines: lists shortened, nested objects as compact JSON (API and CLI form)."""
    rows = []
    for key, value in alert.evidence.items():
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value[:50]) + (f" … (+{len(value) - 50})" if len(value) > 50 else "")
        elif isinstance(value, dict):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        elif isinstance(value, float):
            text = f"{value:.2f}"
        else:
            text = str(value)
        rows.append((str(key), text))
    return rows


def evidence_fields(alert: StoredAlert, t: Translator) -> list[tuple[str, Markup]]:
    """The evidence as labelled fields for a person: event numbers link to the audit viewer, codes labelled."""
    rows: list[tuple[str, Markup]] = []
    for key, value in alert.evidence.items():
        label = t.maybe("evidence", key)
        if key in EVENT_KEYS and isinstance(value, list):
            links = [Markup('<a href="/audit?seq={0}#seq-{0}" translate="no">#{0}</a>').format(int(v))
                     for v in value[:50] if isinstance(v, int) and not isinstance(v, bool)]
            more = Markup(" … (+{0})").format(len(value) - 50) if len(value) > 50 else Markup("")
            rows.append((label, Markup(" ").join(links) + more))
        elif isinstance(value, dict):
            rows.append((label, Markup("、").join(
                Markup("{0}：{1}").format(t.maybe("evidence", k), display.number(v) if isinstance(v, int | float)
                                         else v) for k, v in value.items())))
        elif isinstance(value, list):
            rows.append((label, Markup("、").join(Markup("{0}").format(t.maybe("evidence", v)) for v in value[:50])))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            rows.append((label, Markup("{0}").format(display.number(value))))
        else:
            rows.append((label, Markup("{0}").format(t.maybe("evidence", value))))
    return rows


def grouped(alerts: list[StoredAlert]) -> list[tuple[str, list[StoredAlert]]]:
    """Alerts by person, the person with the most severe (then highest-scoring) alert first; within, by severity."""
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # critical first
    def key(a: StoredAlert) -> tuple[int, float, str]:
        return rank.get(a.severity, 99), -a.score, a.alert_id
    by_actor: dict[str, list[StoredAlert]] = {}
    for a in sorted(alerts, key=key):
        by_actor.setdefault(a.actor, []).append(a)
    return sorted(by_actor.items(), key=lambda item: key(item[1][0]))


def trend(alerts: list[StoredAlert], zone: str, days: int = 14) -> list[tuple[str, int]]:
    """Alerts detected per day over the last ``days`` days that have any (local dates)."""
    per_day = Counter(display.day(a.detected_at, zone) for a in alerts)
    return sorted(per_day.items())[-days:]


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def routes(console: Console) -> APIRouter:
    router = APIRouter(route_class=route_class(console), include_in_schema=False)

    def page(ctx: Ctx, status: str | None, severity: str | None, notice: str | None = None) -> Response:
        found = alert_service.list_alerts(ctx.svc, ctx.me, status=status, severity=severity, limit=PAGE)
        counts = alert_service.counts(ctx.svc, ctx.me, status="open")
        chart = [(ctx.t(f"severity.{s}"), counts[s]) for s in reversed(SEVERITIES)]
        return console.render(
            ctx, "alerts.html", groups=grouped(found), n_alerts=len(found), chart=chart,
            trend=trend(found, console.settings.timezone),
            filters={"status": status or "", "severity": severity or ""},
            statuses=STATUSES, severities=SEVERITIES, triage=TRIAGE, may_triage=ctx.can("alerts.triage"),
            evidence=lambda a: evidence_fields(a, ctx.t), notice=notice)

    @router.get("/alerts")
    def alerts(ctx: Annotated[Ctx, Depends(console.page)],
               status: Annotated[str, Query(max_length=16)] = "open",
               severity: Annotated[str, Query(max_length=16)] = "") -> Response:
        return page(ctx, _choice(status, STATUSES, "status"), _choice(severity, SEVERITIES, "severity"))

    @router.post("/alerts/{alert_id}/triage")
    def triage(ctx: Annotated[Ctx, Depends(console.post)], alert_id: str) -> Response:
        status = _choice(ctx.field("status"), TRIAGE, "triage status")
        if status is None:
            raise ValueError("choose acknowledge, false positive or escalate")
        note = ctx.field("note")
        if not note:
            raise ValueError("a triage decision needs a note")
        alert_service.triage(ctx.svc, ctx.me, alert_id, status=status, note=note)
        # the list comes back as it was filtered when the decision was made
        kept_status = _choice(ctx.field("filter_status"), STATUSES, "status")
        kept_severity = _choice(ctx.field("filter_severity"), SEVERITIES, "severity")
        return page(ctx, kept_status, kept_severity,
                    ctx.t("alerts.triaged", id=alert_id, status=ctx.t(f"alertstatus.{status}")))

    return router

