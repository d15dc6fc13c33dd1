"""Customer pages: search, the masked 360° view with unmask-with-purpose, lineage, and the domain flow.

Every value shown comes from :mod:`custodata.service.customers` already masked
for the person's role and purpose; this module only lays it out.  An unmasked
value is rendered into that one response and kept nowhere else.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the Depends(console.…) annotations
# of the route functions, which refer to a local of routes().

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from custodata.console import display
from custodata.console.web import Console, Ctx, route_class
from custodata.errors import ConfigError
from custodata.service import create as create_service
from custodata.service import customers, governance

# search criteria and their longest accepted value
SEARCH_FIELDS = {"name": 100, "id_number": 40, "mobile": 30, "customer_id": 64}
# profile keys shown under their own heading or not at all (structure, not attributes)
_PROFILE_SKIP = frozenset({"customer_id", "requested_id"})
# business-record columns worth a column in the table, in order
RECORD_COLUMNS = ("business_type", "source", "record_key", "role", "product", "amount", "status", "branch",
                  "start_date", "batch_id")
# profile keys an export does not carry as columns (structure, not attributes of the customer)
_NOT_EXPORTED = frozenset({"tags", "sources", "n_records", "first_seen", "last_updated"})


# the create form: the search's criteria and the rest a front desk types
CREATE_FIELDS = ("kind", "name", "id_number", "mobile", "birth_date", "gender", "address", "email", "phone", "uscc")


def correctable_fields() -> list[str]:
    """Fields a golden-record edit may change from the console.

    Protected fields (ID number, mobile …) must be sealed under the customer's key
    when the request is filed, which the service's approvals do not do yet, so they
    are not offered rather than refused after the person has typed the value.
    """
    from custodata.resolution.golden import PROTECTED
    from custodata.resolution.steward import CORRECTABLE

    return [f for f in CORRECTABLE if f not in PROTECTED]


def _purpose(ctx: Ctx, value: str | None) -> str | None:
    """A stated purpose only if the policy knows it (an unknown one is refused with the known ones listed)."""
    if not value:
        return None
    known = ctx.svc.engine.masking.purposes
    if value not in known:
        raise ValueError(f"unknown purpose {value!r}: one of {', '.join(known)}")
    return value


def _unmaskable(ctx: Ctx, profile: dict[str, Any], purpose: str | None) -> dict[str, list[str]]:
    """Masked or withheld profile fields the person's unmask rules allow, each with the purposes allowed.

    Only a button the policy would honour is offered (an outsourced agent sees one for the
    mobile only); the service checks again when it is pressed.
    """
    if not ctx.can("customer.unmask"):
        return {}
    engine = ctx.svc.engine
    masking = engine.masking
    at = ctx.svc.clock()
    out: dict[str, list[str]] = {}
    for name in profile:
        if masking.grading.field_type(name) is None:
            continue
        decision = masking.decide(name, ctx.me.role, purpose)
        if decision.operator == "plain" and decision.effect == "allow":
            continue
        allowed = []
        for p in masking.purposes:
            try:
                if engine.check_unmask(ctx.me.principal, name, p, at=at).allowed:
                    allowed.append(p)
            except ConfigError:  # a field the policy does not know cannot be unmasked
                break
        if allowed:
            out[name] = allowed
    return out


def _withheld(ctx: Ctx, profile: dict[str, Any], purpose: str | None) -> set[str]:
    """Empty profile fields that are empty because the policy withholds them (shown so, not as a dash)."""
    masking = ctx.svc.engine.masking
    out = set()
    for name, value in profile.items():
        if value is None and masking.grading.field_type(name) is not None:
            if masking.decide(name, ctx.me.role, purpose).effect == "deny":
                out.add(name)
    return out


def export_form(ctx: Ctx, profile: dict[str, Any]) -> dict[str, Any]:
    """The export form's choices: the person's own purposes (their first chosen), and only the fields
    an export for that purpose would show them — a field their policy withholds is not offered.

    None is ticked: an export carries what the person picks, not everything by default.
    """
    role = ctx.me.role
    masking = ctx.svc.engine.masking
    purposes = [p for p in ctx.svc.engine.purposes_for(role) if p in masking.purposes] or list(masking.purposes)
    purpose = purposes[0] if purposes else None
    fields = []
    for name in profile:
        if name in _NOT_EXPORTED:
            continue
        if masking.grading.field_type(name) is not None and masking.decide(name, role, purpose).effect == "deny":
            continue
        fields.append(name)
    return {"export_purposes": purposes, "export_purpose": purpose, "export_fields": fields}


def _ints(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


Stage = tuple[str, int | None, list[tuple[str, int]]]


def flow_stages(counts: dict[str, Any]) -> list[Stage]:
    """The five stages of the data flow (label key, count, parts) from the served view's domain counts.

    Landing counts rows accepted per source system (quarantined rows never enter the
    flow); the business sub-domains are the per-business-type tables; the customer
    total domain counts golden customers; the business layer counts the unified view.
    """
    landing = counts.get("landing") or {}
    landing_parts = sorted((str(system), int(row.get("accepted", 0))) for system, row in landing.items()
                           if isinstance(row, dict))
    business = _ints(counts.get("business"))
    sub_parts = sorted((k, v) for k, v in business.items() if k != "total")
    customer = _ints(counts.get("customer"))
    layer = _ints(counts.get("layer"))
    layer_parts = sorted((k, v) for k, v in layer.items() if k != "customer_view")
    return [
        ("flow.landing", sum(n for _, n in landing_parts) if landing else None, landing_parts),
        ("flow.business_sub", sum(n for _, n in sub_parts) if sub_parts else None, sub_parts),
        ("flow.business_total", business.get("total"), []),
        ("flow.customer_total", customer.get("golden"),
         [(k, customer[k]) for k in ("parties", "golden", "relationships", "review", "erased") if k in customer]),
        ("flow.customer_layer", layer.get("customer_view"), layer_parts),
    ]


def quarantined(counts: dict[str, Any]) -> list[tuple[str, int]]:
    """Rows held back at landing per source system: invalid input never flows on, but it is counted."""
    landing = counts.get("landing") or {}
    return sorted((str(system), int(row.get("quarantined", 0))) for system, row in landing.items()
                  if isinstance(row, dict) and row.get("quarantined"))


def routes(console: Console) -> APIRouter:
    router = APIRouter(route_class=route_class(console), include_in_schema=False)

    # The search is a POST whose criteria (ID numbers, mobiles) never enter a URL: the post seals them
    # into a short-lived cookie bound to the session and redirects to a results page with a bare URL,
    # so they are in no browser history, bookmark, Referer or access log.  Each showing of the
    # results is a search (audited and counted as such), as it was when the criteria were in the URL.

    @router.get("/search")
    def search_form(ctx: Annotated[Ctx, Depends(console.page)]) -> Response:
        response = console.render(ctx, "search.html", criteria=dict.fromkeys(SEARCH_FIELDS, ""), hits=None,
                                  can_create=False, create_form={}, outcome=None,
                                  purposes=ctx.svc.engine.purposes_for(ctx.me.role))
        console.clear_search(response)
        return response

    @router.post("/search")
    def search_post(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        criteria = {key: ctx.field(key)[:limit] for key, limit in SEARCH_FIELDS.items()}
        if not any(criteria.values()):
            return console.redirect("/search")
        response = console.redirect("/search/results")
        console.set_search(response, ctx, criteria)
        return response

    @router.get("/search/results")
    def search_results(ctx: Annotated[Ctx, Depends(console.page)]) -> Response:
        criteria = console.open_search(ctx)
        if criteria is None:  # expired, another session's, or never searched: start again
            return console.redirect("/search")
        criteria = {key: criteria.get(key, "") for key in SEARCH_FIELDS}
        hits = customers.search(ctx.svc, ctx.me, name=criteria["name"] or None,
                                id_number=criteria["id_number"] or None, mobile=criteria["mobile"] or None,
                                customer_id=criteria["customer_id"] or None)
        return render_search(ctx, criteria, hits, form={k: criteria.get(k, "") for k in ("name", "id_number",
                                                                                          "mobile")})

    def render_search(ctx: Ctx, criteria: dict[str, str], hits: list[dict[str, Any]] | None, *,
                      form: dict[str, str], outcome: Any = None) -> Response:
        """The search page; after a search, the "create from this search" form prefilled with its criteria."""
        allowed = ctx.svc.engine.check(ctx.me.principal, create_service.PERMISSION, at=ctx.svc.clock()).allowed
        return console.render(ctx, "search.html", criteria=criteria, hits=hits, can_create=allowed,
                              create_form={k: form.get(k, "") for k in CREATE_FIELDS}, outcome=outcome,
                              purposes=ctx.svc.engine.purposes_for(ctx.me.role))

    @router.get("/mine")
    def mine(ctx: Annotated[Ctx, Depends(console.page)],
             page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
        """The person's own customers [我的客户]: their portfolio, masked like search results."""
        size = 50
        shown, total = customers.my_customers(ctx.svc, ctx.me, limit=size, offset=(page - 1) * size)
        pages = max(1, -(-total // size))
        return console.render(ctx, "mine.html", hits=shown, total=total, page=page, pages=pages)

    @router.post("/search/create")
    def create_from_search(ctx: Annotated[Ctx, Depends(console.post)]) -> Response:
        """Create from the search's form: created, refused with masked candidates, or a request (with a reason)."""
        form = {k: ctx.field(k)[:200] for k in CREATE_FIELDS}
        reason = ctx.field("reason") or None
        outcome = create_service.create_customer(
            ctx.svc, ctx.me, {k: v for k, v in form.items() if v}, purpose=_purpose(ctx, ctx.field("purpose")),
            reason=reason)
        blank = dict.fromkeys(SEARCH_FIELDS, "")
        return render_search(ctx, blank, None, form=form if outcome.status == "duplicates" else {}, outcome=outcome)

    @router.get("/search/create/{request_id}")
    def create_result(ctx: Annotated[Ctx, Depends(console.page)],
                      request_id: Annotated[str, Path(max_length=40, pattern=r"^CR-[0-9A-F]+$")]) -> Response:
        """Where a create still running when its page answered stands now (the queued notice links here)."""
        outcome = create_service.create_outcome(ctx.svc, ctx.me, request_id)
        return render_search(ctx, dict.fromkeys(SEARCH_FIELDS, ""), None, form={}, outcome=outcome)

    def show(ctx: Ctx, customer_id: str, purpose: str | None, *, revealed: dict[str, Any] | None = None,
             notice: str | None = None) -> Response:
        view = customers.view(ctx.svc, ctx.me, customer_id, purpose=purpose)
        profile = {k: v for k, v in view["profile"].items() if k not in _PROFILE_SKIP}
        if "age" in profile and profile["age"] is None:
            today = display.local(ctx.svc.clock(), console.settings.timezone).date()
            profile["age"] = display.age_from(profile, today)
        return console.render(
            ctx, "customer.html", view=view, profile=profile, purpose=purpose,
            withheld=_withheld(ctx, profile, purpose),
            purposes=ctx.svc.engine.masking.purposes, unmaskable=_unmaskable(ctx, profile, purpose),
            record_columns=RECORD_COLUMNS, revealed=revealed, notice=notice,
            editable=correctable_fields(), **export_form(ctx, profile),
        )

    @router.get("/customers/{customer_id}")
    def customer(ctx: Annotated[Ctx, Depends(console.page)], customer_id: str,
                 purpose: Annotated[str, Query(max_length=64)] = "") -> Response:
        return show(ctx, customer_id, _purpose(ctx, purpose))

    @router.post("/customers/{customer_id}/unmask")
    def unmask(ctx: Annotated[Ctx, Depends(console.post)], customer_id: str) -> Response:
        field = ctx.field("field")
        purpose = _purpose(ctx, ctx.field("purpose"))
        if not field:
            raise ValueError("choose the field to unmask")
        plain = customers.unmask(ctx.svc, ctx.me, customer_id, field, purpose=purpose)
        return show(ctx, str(plain["customer_id"]), purpose, revealed={"field": field, "value": plain["value"]})

    @router.post("/customers/{customer_id}/requests")
    def request_change(ctx: Annotated[Ctx, Depends(console.post)], customer_id: str) -> Response:
        kind = ctx.field("kind")
        reason = ctx.field("reason")
        if not reason:
            raise ValueError("give a reason for the request")
        payload: dict[str, Any]
        if kind == "edit_field":
            payload = {"customer_id": customer_id, "field": ctx.field("field"), "value": ctx.field("value")}
            if not payload["field"]:
                raise ValueError("choose the field to change")
        elif kind == "export":
            fields = ctx.fields("fields")
            if not fields:
                raise ValueError("choose the fields to export")
            payload = {"customer_ids": [customer_id], "purpose": _purpose(ctx, ctx.field("purpose")),
                       "fields": fields}
        else:
            raise ValueError("a request from the customer page is an edit_field or an export")
        made = governance.request(ctx.svc, ctx.me, kind, payload, reason=reason)
        request_id = getattr(made, "request_id", None) or getattr(made, "id", "")
        return show(ctx, customer_id, None, notice=ctx.t("request.created", id=request_id))

    @router.get("/customers/{customer_id}/lineage")
    def lineage(ctx: Annotated[Ctx, Depends(console.page)], customer_id: str) -> Response:
        data = customers.lineage(ctx.svc, ctx.me, customer_id)
        per_source = Counter(ctx.t.maybe("source", r.get("source")) for r in data["lineage"])
        return console.render(ctx, "lineage.html", data=data, per_source=sorted(per_source.items()))

    @router.get("/flow")
    def flow(ctx: Annotated[Ctx, Depends(console.page)]) -> Response:
        counts = customers.domain_counts(ctx.svc, ctx.me)
        stages = [(label, total, [(ctx.t.maybe("domain", k), n) for k, n in parts])
                  for label, total, parts in flow_stages(counts)]
        held = [(ctx.t.maybe("domain", k), n) for k, n in quarantined(counts)]
        return console.render(ctx, "flow.html", stages=stages, quarantined=held,
                              served=counts.get("served") or {},
                              chart_stages=[(ctx.t(label), total) for label, total, _ in stages])

    return router
