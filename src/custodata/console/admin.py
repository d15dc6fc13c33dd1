"""Administration pages: the catalogue, the audit viewer with verify, people, and policies.

Each page goes through :mod:`custodata.service.admin`, which checks the
permission and audits the access; a role without it gets the refusal page.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the Depends(console.…) annotations
# of the route functions, which refer to a local of routes().

import datetime as dt
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse
from markupsafe import Markup
from starlette.background import BackgroundTask

from custodata.audit.events import Action
from custodata.console import display
from custodata.console.labels import reason_zh
from custodata.console.web import Console, Ctx, route_class
from custodata.people_vocabulary import PERSON_KINDS, PERSON_STATUSES
from custodata.service import admin

AUDIT_PAGE = 100       # rows in the table, a page by key (newest first)
AUDIT_DAYS = 31        # days in the per-day chart (the latest; the total counts all)
STATUSES = PERSON_STATUSES


def _date(value: str, *, end: bool = False, zone: str = "UTC") -> dt.datetime | None:
    """A yyyy-mm-dd filter: that day's midnight in the person's zone, as aware UTC; ``end`` is the next midnight."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (yyyy-mm-dd): {value!r}") from None
    start = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time(), tzinfo=ZoneInfo(zone))
    return start.astimezone(dt.UTC)


def _reason(t: Any, text: str | None) -> Markup | str:
    """A recorded reason in the page's language when custodata wrote it, else the record verbatim, marked so."""
    if not text:
        return ""
    if t.lang != "zh" or re.search(r"[\u4e00-\u9fff]", text):
        return text
    translated = reason_zh(text)
    if translated:
        return translated
    return Markup('<span class="recorded" translate="no" lang="en" title="{0}">{1}</span>').format(
        t("audit.recorded"), text)


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


_PEOPLE_ROLES = ("front_desk", "outsourced_agent", "marketer", "data_steward", "security_officer", "auditor",
                 "administrator")


def _operator_label(ctx: Ctx, decision: Any) -> str:
    t = ctx.t
    if decision.effect == "deny":
        return t("operator.withhold")
    if decision.operator == "keep":
        params = dict(decision.params or {})
        return t("policy.keep", first=params.get("first", 0), last=params.get("last", 0))
    return t.maybe("operator", decision.operator)


def _decision_label(ctx: Ctx, decision: Any) -> tuple[str, str]:
    """(css class, label) of one field for one role: plain, masked or withheld."""
    kind = "deny" if decision.effect == "deny" else "plain" if decision.operator == "plain" else "mask"
    return kind, _operator_label(ctx, decision)


def _explain_zh(ctx: Ctx, d: Any) -> str:
    """The engine's explanation of one field decision, said in Chinese from the decision itself."""
    t = ctx.t
    field = t.maybe("field", d.field)
    if d.sensitive_type is None:
        return t("policy.explain_ungraded", field=field)
    purpose = t("policy.for_purpose", purpose=t.maybe("purpose", d.purpose)) if d.purpose else ""
    source = t("policy.by_rule", rule=d.rule_id) if d.rule_id else t("policy.by_default")
    return t("policy.explain", field=field, shown=_operator_label(ctx, d), level=d.level,
             type=t.maybe("stype", d.sensitive_type), role=t.role(d.role), purpose=purpose, source=source)


def scan_commands(ctx: Ctx) -> list[tuple[str, str]]:
    """For an empty catalogue: each configured source system and the command that scans its landing file
    into this deployment's catalogue (the scan reads the bank's landing folder, which only the batch side has).
    """
    from custodata.sources.mapping import default_mappings_dir, load_mappings

    out = str(ctx.svc.out_dir)
    return [(m.label or m.system, f"custodata scan <贴源目录>/{m.path} --store {out}")
            for m in load_mappings(default_mappings_dir()) if getattr(m, "path", None)]


def routes(console: Console) -> APIRouter:
    router = APIRouter(route_class=route_class(console), include_in_schema=False)

    # ---- catalogue ----------------------------------------------------------------------------

    @router.get("/catalogue")
    def catalogue(ctx: Annotated[Ctx, Depends(console.page)]) -> Response:
        entries = admin.catalogue(ctx.svc, ctx.me)
        per_level = Counter(e.get("level") for e in entries)
        levels = [(f"{ctx.t('catalogue.level')} {lvl}", per_level.get(lvl, 0)) for lvl in range(1, 6)]
        if per_level.get(None):
            levels.append((ctx.t("level.none"), per_level[None]))
        return console.render(ctx, "catalogue.html", entries=entries, levels=levels,
                              scans=scan_commands(ctx) if not entries else [])

    # ---- audit --------------------------------------------------------------------------------

    def audit_page(ctx: Ctx, filters: dict[str, str], report: Any = None, before: int | None = None) -> Response:
        zone = console.settings.timezone
        query: dict[str, Any] = {"actor": filters["actor"] or None, "customer_id": filters["customer_id"] or None,
                 "action": filters["action"] or None, "since": _date(filters["since"], zone=zone),
                 "until": _date(filters["until"], end=True, zone=zone)}
        events = admin.audit_query(ctx.svc, ctx.me, **query, limit=AUDIT_PAGE + 1, newest_first=True,
                                   before_seq=before)
        more = len(events) > AUDIT_PAGE
        events = events[:AUDIT_PAGE]
        summary = admin.audit_summary(ctx.svc, ctx.me, zone=zone, **query)
        t = ctx.t
        per_action = sorted(((t.maybe("action", a), n) for a, n in summary["per_action"].items()),
                            key=lambda item: -item[1])
        per_day = list(summary["per_day"].items())[-AUDIT_DAYS:]
        kept = {k: v for k, v in filters.items() if v}
        next_url = "/audit?" + urlencode({**kept, "before": events[-1].seq}) if more and events else None
        return console.render(
            ctx, "audit.html", events=events, filters=filters, actions=[a.value for a in Action],
            per_action=per_action, per_day=per_day, days_shown=len(per_day), days_total=len(summary["per_day"]),
            total=summary["total"], report=report, paged=before is not None, next_url=next_url,
            first_url="/audit?" + urlencode(kept) if kept else "/audit",
            export_url="/audit/export.csv?" + urlencode(kept),
            may_verify=ctx.can("audit.verify"), may_export=ctx.can("audit.export"), reason=_reason, get=_get)

    @router.get("/audit")
    def audit(ctx: Annotated[Ctx, Depends(console.page)],
              actor: Annotated[str, Query(max_length=64)] = "",
              customer_id: Annotated[str, Query(max_length=64)] = "",
              action: Annotated[str, Query(max_length=32)] = "",
              since: Annotated[str, Query(max_length=10)] = "",
              until: Annotated[str, Query(max_length=10)] = "",
              before: Annotated[int | None, Query(ge=1)] = None,
              seq: Annotated[int | None, Query(ge=1)] = None) -> Response:
        """Newest first, AUDIT_PAGE events a page by key (``before``); ``seq`` opens the page that holds one event."""
        if action and action not in {a.value for a in Action}:
            raise ValueError(f"unknown action {action!r}")
        filters = {"actor": actor.strip(), "customer_id": customer_id.strip(), "action": action,
                   "since": since, "until": until}
        return audit_page(ctx, filters, before=seq + 1 if seq is not None else before)

    @router.get("/audit/export.csv")
    def audit_export(ctx: Annotated[Ctx, Depends(console.page)],
                     actor: Annotated[str, Query(max_length=64)] = "",
                     customer_id: Annotated[str, Query(max_length=64)] = "",
                     action: Annotated[str, Query(max_length=32)] = "",
                     since: Annotated[str, Query(max_length=10)] = "",
                     until: Annotated[str, Query(max_length=10)] = "") -> Response:
        """The filtered events as CSV for the auditor (through the service: audit.export, audited)."""
        if action and action not in {a.value for a in Action}:
            raise ValueError(f"unknown action {action!r}")
        zone = console.settings.timezone
        folder = Path(tempfile.mkdtemp(prefix="custodata-audit-"))
        path = folder / "audit.csv"
        filters: dict[str, Any] = {k: v for k, v in {"actor": actor.strip() or None,
                                                     "customer_id": customer_id.strip() or None,
                                     "action": action or None, "since": _date(since, zone=zone),
                                     "until": _date(until, end=True, zone=zone)}.items() if v is not None}
        admin.audit_export(ctx.svc, ctx.me, path, fmt="csv", **filters)
        stamp = display.local(ctx.svc.clock(), zone)
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"audit-{stamp:%Y%m%d-%H%M}.csv",
                            headers={"Cache-Control": "no-store"},
                            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))

    @router.post("/audit/verify")
    def verify(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        report = admin.audit_verify(ctx.svc, ctx.me)
        empty = {"actor": "", "customer_id": "", "action": "", "since": "", "until": ""}
        return audit_page(ctx, empty, report=report) if ctx.can("audit.read") else console.render(
            ctx, "audit.html", events=[], filters=empty, actions=[], per_action=[], per_day=[], report=report,
            total=None, next_url=None, paged=False, first_url="/audit", export_url="", may_export=False,
            days_shown=0, days_total=0, may_verify=True, reason=_reason, get=_get)

    # ---- people -------------------------------------------------------------------------------

    def people_page(ctx: Ctx, notice: str | None = None, q: str = "",
                    confirm: dict[str, str] | None = None) -> Response:
        from custodata.identity.roles import ROLES
        from custodata.service.demo import branch_customers

        everyone = admin.people(ctx.svc, ctx.me)
        needle = q.strip().lower()
        shown = [p for p in everyone if not needle or any(
            needle in str(_get(p, k) or "").lower() for k in ("person_id", "display_name", "branch"))]
        branches = sorted({str(_get(p, "branch")) for p in everyone if _get(p, "branch")}
                          | set(branch_customers(ctx.svc)))
        return console.render(ctx, "people.html", people=shown, total=len(everyone), q=q, notice=notice,
                              may_write=ctx.can("people.write"), roles=list(ROLES), kinds=PERSON_KINDS,
                              statuses=STATUSES, branches=branches, confirm=confirm, get=_get)

    @router.get("/people")
    def people(ctx: Annotated[Ctx, Depends(console.page)], q: Annotated[str, Query(max_length=64)] = "") -> Response:
        return people_page(ctx, q=q)

    @router.post("/people")
    def create_person(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        person_id = ctx.field("person_id")
        roles = ctx.fields("roles")
        _person, request = admin.create_person(
            ctx.svc, ctx.me, person_id, ctx.field("display_name"), ctx.field("kind"), ctx.field("branch"),
            password=str(ctx.form.get("password") or ""), roles=roles)
        if request is None:
            return people_page(ctx, ctx.t("people.created", id=person_id))
        return people_page(ctx, ctx.t("people.created_pending", id=person_id, request=request.request_id))

    @router.post("/people/{person_id}/status")
    def set_status(ctx: Annotated[Ctx, Depends(console.post)], person_id: str) -> Response:
        result = admin.set_status(ctx.svc, ctx.me, person_id, ctx.field("status"), reason=ctx.field("reason") or None)
        if hasattr(result, "request_id"):
            return people_page(ctx, ctx.t("people.grant_requested", id=person_id, request=result.request_id))
        return people_page(ctx, ctx.t("people.updated", id=person_id))

    @router.post("/people/{person_id}/roles")
    def grant(ctx: Annotated[Ctx, Depends(console.post)], person_id: str) -> Response:
        request = admin.grant_role(ctx.svc, ctx.me, person_id, ctx.field("role"))
        return people_page(ctx, ctx.t("people.grant_requested", id=person_id, request=request.request_id))

    @router.post("/people/{person_id}/roles/{role}/revoke")
    def revoke(ctx: Annotated[Ctx, Depends(console.post)], person_id: str, role: str) -> Response:
        """Revoking is two steps: the × asks, the confirmation page's button does it."""
        if ctx.field("confirm") != "1":
            return people_page(ctx, confirm={"person_id": person_id, "role": role})
        admin.revoke_role(ctx.svc, ctx.me, person_id, role)
        return people_page(ctx, ctx.t("people.revoked", id=person_id, role=ctx.t.role(role)))

    # ---- portfolios [名下客户] -------------------------------------------------------------------

    def portfolio_page(ctx: Ctx, person_id: str, notice: str | None = None) -> Response:
        person = ctx.svc.directory.person(person_id) if ctx.can("people.read") else None
        ids = admin.portfolio(ctx.svc, ctx.me, person_id)
        return console.render(ctx, "portfolio.html", person=person, person_id=person_id, ids=ids, notice=notice,
                              may_write=ctx.can("people.write") and person_id != ctx.me.person_id, get=_get)

    @router.get("/people/{person_id}/portfolio")
    def portfolio(ctx: Annotated[Ctx, Depends(console.page)], person_id: str) -> Response:
        return portfolio_page(ctx, person_id)

    @router.post("/people/{person_id}/portfolio")
    def set_portfolio(ctx: Annotated[Ctx, Depends(console.post)], person_id: str) -> Response:
        """Replace the portfolio: removals at once, additions as a grant a security officer decides."""
        import re

        text = str(ctx.form.get("customer_ids") or "")
        wanted = [c for c in re.split(r"[\s,，、;；]+", text.upper()) if c]
        bad = [c for c in wanted if not re.fullmatch(r"C\d{9,12}", c)]
        if bad:
            raise ValueError(f"not customer ids: {', '.join(bad[:5])} (one id like C000000123 a line)")
        kept, request = admin.set_portfolio(ctx.svc, ctx.me, person_id, wanted)
        notice = ctx.t("portfolio.saved", n=len(kept))
        if request is not None:
            notice += " " + ctx.t("portfolio.requested", request=request.request_id)
        return portfolio_page(ctx, person_id, notice)

    # ---- policies -----------------------------------------------------------------------------

    def policies_page(ctx: Ctx, *, explained: str | None = None, notice: str | None = None,
                      asked: dict[str, str] | None = None) -> Response:
        masking = ctx.svc.engine.masking
        roles = [r for r in masking.roles if r in _PEOPLE_ROLES]
        fields = sorted(masking.grading.fields)
        matrix = [(f, masking.grading.level(f) if hasattr(masking.grading, "level") else None,
                   [_decision_label(ctx, masking.decide(f, r, None)) for r in roles]) for f in fields]
        explained_zh = None
        if explained is not None and asked and ctx.t.lang == "zh":
            explained_zh = _explain_zh(ctx, masking.decide(asked["field"], asked["role"], asked.get("purpose") or None))
        return console.render(
            ctx, "policies.html", yaml_text=admin.policy_export(ctx.svc, ctx.me),
            history=admin.policy_history(ctx.svc, ctx.me), may_write=ctx.can("policy.write"),
            roles=roles, purposes=masking.purposes, fields=fields, matrix=matrix,
            explained=explained_zh or explained, notice=notice, asked=asked or {}, reason=_reason, get=_get)

    @router.get("/policies")
    def policies(ctx: Annotated[Ctx, Depends(console.page)],
                 role: Annotated[str, Query(max_length=32)] = "",
                 field: Annotated[str, Query(max_length=64)] = "",
                 purpose: Annotated[str, Query(max_length=64)] = "") -> Response:
        explained = None
        if role and field:
            explained = admin.policy_explain(ctx.svc, ctx.me, role, field, purpose or None)
        return policies_page(ctx, explained=explained, asked={"role": role, "field": field, "purpose": purpose})

    @router.post("/policies")
    def import_policy(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        text = str(ctx.form.get("yaml") or "")
        comment = ctx.field("comment")
        if not text.strip() or not comment:
            raise ValueError("a policy import needs the YAML text and a comment")
        request = admin.policy_import(ctx.svc, ctx.me, text, comment=comment)
        return policies_page(ctx, notice=ctx.t("policies.requested", request=request.request_id))

    return router
