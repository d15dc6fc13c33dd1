"""Administration pages: the catalogue, the audit viewer with verify, people, and policies.

Each page goes through :mod:`custodata.service.admin`, which checks the
permission and audits the access; a role without it gets the refusal page.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the Depends(console.…) annotations
# of the route functions, which refer to a local of routes().

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from custodata.audit.events import Action
from custodata.console.web import Console, Ctx, route_class
from custodata.service import admin

AUDIT_PAGE = 200       # rows in the table
AUDIT_WINDOW = 1000    # events behind the charts
PERSON_KINDS = ("employee", "outsourced", "partner")
STATUSES = ("active", "transferred", "leaving", "left", "frozen")


def _date(value: str, *, end: bool = False) -> dt.datetime | None:
    """A yyyy-mm-dd filter as naive UTC; ``end`` makes it exclusive at the next midnight."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (yyyy-mm-dd): {value!r}") from None
    start = dt.datetime.combine(day, dt.time())
    return start + dt.timedelta(days=1) if end else start


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _per(events: Sequence[Any], key: str) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for e in events:
        value = _get(_get(e, "event") or e, key)
        if key == "at" and isinstance(value, dt.datetime):
            value = value.date().isoformat()
        counts[str(value)] += 1
    return sorted(counts.items())


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
        return console.render(ctx, "catalogue.html", entries=entries, levels=levels)

    # ---- audit --------------------------------------------------------------------------------

    def audit_page(ctx: Ctx, filters: dict[str, str], report: Any = None) -> Response:
        events = admin.audit_query(
            ctx.svc, ctx.me, actor=filters["actor"] or None, customer_id=filters["customer_id"] or None,
            action=filters["action"] or None, since=_date(filters["since"]), until=_date(filters["until"], end=True),
            limit=AUDIT_WINDOW)
        newest_first = list(reversed(events))  # the service returns chain order; people read the latest first
        return console.render(
            ctx, "audit.html", events=newest_first[:AUDIT_PAGE], filters=filters, actions=[a.value for a in Action],
            per_action=_per(events, "action"), per_day=_per(events, "at"), report=report,
            may_verify=ctx.can("audit.verify"), get=_get)

    @router.get("/audit")
    def audit(ctx: Annotated[Ctx, Depends(console.page)],
              actor: Annotated[str, Query(max_length=64)] = "",
              customer_id: Annotated[str, Query(max_length=64)] = "",
              action: Annotated[str, Query(max_length=32)] = "",
              since: Annotated[str, Query(max_length=10)] = "",
              until: Annotated[str, Query(max_length=10)] = "") -> Response:
        if action and action not in {a.value for a in Action}:
            raise ValueError(f"unknown action {action!r}")
        filters = {"actor": actor.strip(), "customer_id": customer_id.strip(), "action": action,
                   "since": since, "until": until}
        return audit_page(ctx, filters)

    @router.post("/audit/verify")
    def verify(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        report = admin.audit_verify(ctx.svc, ctx.me)
        empty = {"actor": "", "customer_id": "", "action": "", "since": "", "until": ""}
        return audit_page(ctx, empty, report=report) if ctx.can("audit.read") else console.render(
            ctx, "audit.html", events=[], filters=empty, actions=[], per_action=[], per_day=[], report=report,
            may_verify=True, get=_get)

    # ---- people -------------------------------------------------------------------------------

    def people_page(ctx: Ctx, notice: str | None = None) -> Response:
        from custodata.identity.roles import ROLES

        return console.render(ctx, "people.html", people=admin.people(ctx.svc, ctx.me), notice=notice,
                              may_write=ctx.can("people.write"), roles=list(ROLES), kinds=PERSON_KINDS,
                              statuses=STATUSES, get=_get)

    @router.get("/people")
    def people(ctx: Annotated[Ctx, Depends(console.page)]) -> Response:
        return people_page(ctx)

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
        admin.revoke_role(ctx.svc, ctx.me, person_id, role)
        return people_page(ctx, ctx.t("people.updated", id=person_id))

    # ---- policies -----------------------------------------------------------------------------

    def policies_page(ctx: Ctx, *, explained: str | None = None, notice: str | None = None,
                      asked: dict[str, str] | None = None) -> Response:
        masking = ctx.svc.engine.masking
        return console.render(
            ctx, "policies.html", yaml_text=admin.policy_export(ctx.svc, ctx.me),
            history=admin.policy_history(ctx.svc, ctx.me), may_write=ctx.can("policy.write"),
            roles=masking.roles, purposes=masking.purposes, fields=sorted(masking.grading.fields),
            explained=explained, notice=notice, asked=asked or {}, get=_get)

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
