"""An alert: what the monitor saw, how far it is from normal, and the events behind it.

The security officer decides from the alert alone whether to act, so it
carries the evidence (the events — at most 50 references —, the counts, the
baseline and how far off it is, and what was touched by customer value class
and field level) and says in English and Chinese what happened.  Its id is
derived from scenario, person and window start, so the same finding seen
again (a replay, an incremental run after a batch run) is the same alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SCENARIOS: tuple[str, ...] = (
    "hoarding", "off_hours_bulk", "out_of_scope", "departing_exfiltration", "repeated_unmask",
    "failed_login_burst", "shared_customers", "multi_address", "new_data_kind", "identifier_enumeration",
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
MAX_EVIDENCE_EVENTS = 50


def alert_id(scenario: str, actor: str, window_start: dt.datetime, part: str = "") -> str:
    """Deterministic id: the same scenario, person and window always give the same id.

    ``part`` tells apart findings of one window that start in the same second
    (an escalation of candidates tried many a second).
    """
    key = f"{scenario}\x1f{actor}\x1f{window_start.isoformat(timespec='seconds')}" + (f"\x1f{part}" if part else "")
    return f"{scenario}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def severity_rank(severity: str) -> int:
    """Order of severities (low 0 … critical 3) for comparisons such as 'freeze at high or above'."""
    return SEVERITIES.index(severity)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds") + "Z"


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    text = str(value)
    at = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo is not None else at


@dataclass
class Alert:
    """One finding; times are naive UTC, ``detected_at`` is the event time at which it was raised."""

    alert_id: str
    scenario: str
    severity: str
    actor: str
    window_start: dt.datetime
    window_end: dt.datetime
    score: float
    summary: str
    summary_zh: str
    evidence: dict[str, Any] = field(default_factory=dict)
    first_event_at: dt.datetime | None = None
    detected_at: dt.datetime | None = None
    action_taken: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601 UTC with ``Z``)."""
        return {
            "alert_id": self.alert_id, "scenario": self.scenario, "severity": self.severity, "actor": self.actor,
            "window_start": _iso(self.window_start), "window_end": _iso(self.window_end),
            "score": round(self.score, 3), "summary": self.summary, "summary_zh": self.summary_zh,
            "evidence": self.evidence, "first_event_at": _iso(self.first_event_at),
            "detected_at": _iso(self.detected_at), "action_taken": self.action_taken,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """The inverse of :meth:`to_dict` (for stores and files)."""
        start, end = _time(data["window_start"]), _time(data["window_end"])
        if start is None or end is None:
            raise ValueError("an alert needs window_start and window_end")
        return cls(
            alert_id=str(data["alert_id"]), scenario=str(data["scenario"]), severity=str(data["severity"]),
            actor=str(data["actor"]), window_start=start, window_end=end, score=float(data["score"]),
            summary=str(data["summary"]), summary_zh=str(data["summary_zh"]), evidence=dict(data.get("evidence") or {}),
            first_event_at=_time(data.get("first_event_at")), detected_at=_time(data.get("detected_at")),
            action_taken=data.get("action_taken"),
        )


_KIND_ZH = {"employee": "员工", "outsourced": "外包人员", "partner": "合作方人员"}
_SOURCE_ZH = {"person": "本人", "peer": "同岗同机构", "floor": "最低阈值"}
_SOURCE_EN = {"person": "own", "peer": "peer-group", "floor": "minimum"}
_IDENTIFIER_EN = {"id_number": "ID number", "mobile": "mobile", "card_no": "card number", "bank_card": "card number",
                  "account_no": "account number", "account_number": "account number", "passport": "passport number",
                  "permit": "permit number"}
_IDENTIFIER_ZH = {"id_number": "身份证号", "mobile": "手机号", "card_no": "卡号", "bank_card": "卡号",
                  "account_no": "账号", "account_number": "账号", "passport": "护照号", "permit": "通行证号"}


def _enumeration(who_en: str, who_zh: str, n: str, evidence: dict[str, Any]) -> tuple[str, str]:
    kind = str(evidence.get("identifier") or "")
    what_en, what_zh = _IDENTIFIER_EN.get(kind, kind), _IDENTIFIER_ZH.get(kind, kind)
    misses, refused, searches = evidence.get("misses", 0), evidence.get("refused", 0), evidence.get("searches", 0)
    if evidence.get("trigger") == "day":
        when_en, when_zh = "today", "今日"
    else:
        minutes = evidence.get("window_minutes")
        when_en, when_zh = f"within {minutes} minutes", f"在 {minutes} 分钟内"
    lock_en = "; search by identifier was locked for the day" if evidence.get("locked") else ""
    lock_zh = "；已触发当日证件/手机号查询锁定" if evidence.get("locked") else ""
    return (f"{who_en} searched by exact {what_en} {searches} times {when_en}, {n} of them finding nothing or "
            f"refused ({misses} misses, {refused} refused){lock_en}: candidate numbers being tried.",
            f"{who_zh}{when_zh}按{what_zh}精确查询 {searches} 次，其中 {n} 次未命中或被拒绝"
            f"（未命中 {misses} 次，被拒绝 {refused} 次）{lock_zh}，疑似逐个试探{what_zh}。")


def _baseline_phrases(evidence: dict[str, Any]) -> tuple[str, str]:
    base = evidence.get("baseline") or {}
    source = str(base.get("source") or "floor")
    median = base.get("median")
    if median is None:
        thr = evidence.get("threshold")
        return f"above the minimum of {thr:g}", f"超过最低阈值 {thr:g}"
    ratio = evidence.get("ratio")
    return (f"{ratio:g}× the usual {median:g} ({_SOURCE_EN.get(source, source)} baseline)",
            f"为平时 {median:g} 的 {ratio:g} 倍（{_SOURCE_ZH.get(source, source)}基线）")


def summarise(scenario: str, actor: str, person: Any, count: float, evidence: dict[str, Any]) -> tuple[str, str]:
    """One English and one Chinese sentence saying who did what, how much, and against which normal."""
    n = f"{count:g}"
    kind = getattr(person, "kind", "employee")
    role = getattr(person, "role", "") or "-"
    who_en, who_zh = f"{actor} ({kind}, {role})", f"{actor}（{_KIND_ZH.get(kind, kind)}，{role}）"
    vs_en, vs_zh = _baseline_phrases(evidence)
    valuable = sum(v for k, v in (evidence.get("customers_by_value") or {}).items()
                   if k in ("high_net_worth", "corporate"))
    hv_en = f", {valuable} of them high-value" if valuable else ""
    hv_zh = f"，其中高价值客户 {valuable} 位" if valuable else ""
    trigger = evidence.get("trigger")
    if trigger == "export" and scenario in ("hoarding", "departing_exfiltration"):
        rows, usual = evidence.get("export_rows", n), evidence.get("usual_export_rows")
        usual_en = f" (usually {usual:g})" if isinstance(usual, int | float) else ""
        usual_zh = f"（通常 {usual:g} 行）" if isinstance(usual, int | float) else ""
        return (f"{who_en} asked to export {rows} customers at once{usual_en}{hv_en}.",
                f"{who_zh}一次申请导出 {rows} 位客户{usual_zh}{hv_zh}。")
    if scenario == "hoarding" and trigger == "rolling":
        return (f"{who_en} looked at {n} distinct customers over the last days{hv_en}: {vs_en}.",
                f"{who_zh}近几日共查看 {n} 位不同客户{hv_zh}，{vs_zh}。")
    if scenario == "repeated_unmask" and trigger == "day":
        return (f"{who_en} unmasked {n} fields today: {vs_en}.",
                f"{who_zh}今日明文查看 {n} 次，{vs_zh}。")
    if scenario == "identifier_enumeration":
        return _enumeration(who_en, who_zh, n, evidence)
    if scenario == "hoarding":
        return (f"{who_en} looked at {n} distinct customers today{hv_en}: {vs_en}.",
                f"{who_zh}今日查看 {n} 位不同客户{hv_zh}，{vs_zh}。")
    if scenario == "off_hours_bulk":
        return (f"{who_en} looked at {n} customers outside work hours today{hv_en}: {vs_en}.",
                f"{who_zh}今日非工作时间查看 {n} 位客户{hv_zh}，{vs_zh}。")
    if scenario == "out_of_scope":
        outside = evidence.get("customers_outside", n)
        return (f"{who_en} looked at {outside} customers outside their scope today (value-weighted {n}){hv_en}: "
                f"{vs_en}.",
                f"{who_zh}今日查看职责范围以外客户 {outside} 位（按价值加权 {n}）{hv_zh}，{vs_zh}。")
    if scenario == "departing_exfiltration":
        status = evidence.get("status", "leaving")
        status_zh = {"leaving": "离职中", "transferred": "已调岗"}.get(str(status), str(status))
        if evidence.get("trigger") == "exports":
            rows = evidence.get("exported_customers", 0)
            return (f"{who_en}, status {status}, made {n} exports or downloads today ({rows} customers).",
                    f"{who_zh}状态为{status_zh}，今日导出或下载 {n} 次（{rows} 位客户）。")
        return (f"{who_en}, status {status}, looked at {n} customers today{hv_en}: {vs_en}.",
                f"{who_zh}状态为{status_zh}，今日查看 {n} 位客户{hv_zh}，{vs_zh}。")
    if scenario == "repeated_unmask":
        minutes = evidence.get("window_minutes")
        return (f"{who_en} unmasked {n} fields within {minutes} minutes: {vs_en}.",
                f"{who_zh}在 {minutes} 分钟内明文查看 {n} 次，{vs_zh}。")
    if scenario == "failed_login_burst":
        minutes = evidence.get("window_minutes")
        if evidence.get("kind") == "denied":
            return (f"{who_en} was denied {n} times within {minutes} minutes.",
                    f"{who_zh}在 {minutes} 分钟内被拒绝访问 {n} 次。")
        return (f"{n} failed logins for {actor} within {minutes} minutes.",
                f"{actor} 在 {minutes} 分钟内登录失败 {n} 次。")
    if scenario == "shared_customers":
        accounts = len(evidence.get("accounts") or ())
        return (f"{who_en} looked at {n} customers that {evidence.get('min_accounts')} or more accounts also "
                f"looked at today ({accounts} accounts in all).",
                f"{who_zh}今日查看的客户中有 {n} 位同时被 {evidence.get('min_accounts')} 个以上账号查看"
                f"（共 {accounts} 个账号）。")
    if scenario == "multi_address":
        return (f"{who_en} used {n} different network addresses today: {vs_en}.",
                f"{who_zh}今日从 {n} 个不同网络地址访问，{vs_zh}。")
    if scenario == "new_data_kind":
        fields = ", ".join(evidence.get("fields") or ())
        return (f"{who_en} accessed {fields} for the first time in {evidence.get('history_days')} days of history.",
                f"{who_zh}首次访问 {fields}（此前 {evidence.get('history_days')} 天从未使用）。")
    return f"{who_en}: {scenario} ({n}).", f"{who_zh}：{scenario}（{n}）。"


def by_person_day(alerts: list[Alert], offset: dt.timedelta | Callable[[dt.datetime], dt.date] = dt.timedelta(hours=8)
                  ) -> list[dict[str, Any]]:
    """Alerts grouped by person and local day: what the security officer reviews.

    ``offset`` is the local time's offset from UTC, or a function from a naive UTC
    time to its local day (the monitor's clock, which knows the zone's changes).

    One row per person-day, worst severity first: the scenarios, the highest
    score, when it was first raised and the alert ids behind it, so an officer
    decides about a person's day, not about each of its rows.
    """
    groups: dict[tuple[str, dt.date], list[Alert]] = {}
    day_of = offset if callable(offset) else lambda at: (at + offset).date()
    for a in alerts:
        groups.setdefault((a.actor, day_of(a.detected_at or a.window_end)), []).append(a)
    rows: list[dict[str, Any]] = []
    for (actor, day), found in groups.items():
        worst = max(found, key=lambda a: (severity_rank(a.severity), a.score))
        first = min((a.detected_at or a.window_end) for a in found)
        rows.append({"actor": actor, "day": day.isoformat(), "severity": worst.severity,
                     "score": round(max(a.score for a in found), 3),
                     "scenarios": sorted({a.scenario for a in found}), "alerts": [a.alert_id for a in found],
                     "first_detected_at": _iso(first), "summary": worst.summary, "summary_zh": worst.summary_zh})
    rows.sort(key=lambda r: (-severity_rank(r["severity"]), -r["score"], r["actor"]))
    return rows
