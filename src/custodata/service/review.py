"""What a checker reads before deciding: a proposed change's before and after, masked for the checker.

A maker-checker decision made on "C000003404 地址" alone is a signature, not a check.
:func:`proposals` shows the checker, for each pending change of the inbox, the value in
force and the value proposed — each masked by the *checker's* role with no purpose
stated: the maker's purpose or role never widens what the checker sees, and a customer
outside the checker's row rule shows nothing.  A protected field the checker's policy
shows in plain is an unmasking and goes through the unmask rule and its daily allowance
(:func:`custodata.service.customers._unmask_in_view`); refused, it is withheld.  Every
proposal shown is a read of customer data and is audited as one (``section: approval``).

When the policy masks both values to the same text (an address generalised to its
district, a token), the pair is marked ``hidden_change``: the screen says the hidden
part changed, without showing more of either value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from custodata.approvals.changes import intake_aad, proposed_value
from custodata.approvals.request import CREATE_KIND, Request
from custodata.audit.events import Action
from custodata.errors import CustodataError, NotFoundError
from custodata.service.context import AccessDenied, Caller, Services
from custodata.service.customers import _plain_fields, _unmask_in_view, _visible

# what a checker compares when two customers are to be merged (the fields that tell people apart)
MERGE_FIELDS = ("name", "gender", "birth_date", "id_number", "uscc", "mobile", "email", "address")
# what a source record says of its person (the lineage keeps these): the two sides of an unmerge
RECORD_FIELDS = ("name", "id_number", "mobile")
MAX_PROPOSALS = 50  # an inbox shows at most this many proposals in full; the rest by reference


@dataclass(frozen=True)
class Compared:
    """One field of a proposal as the checker may see it (``None``: empty, unless ``withheld``)."""

    field: str
    before: Any
    after: Any
    withheld: bool = False       # the checker's policy withholds this field: neither value is shown
    hidden_change: bool = False  # the values differ only where the checker's policy masks them


@dataclass(frozen=True)
class Proposal:
    """The proposed change of one request, for its checker."""

    request_id: str
    kind: str
    customer_ids: tuple[str, ...]
    rows: tuple[Compared, ...] = ()
    out_of_scope: bool = False   # the checker's row rule does not reach the customer(s): nothing shown
    note: str | None = None      # why values cannot be shown (e.g. the form was already used)
    shown_fields: tuple[str, ...] = field(default=())
    sides: str = ""              # what the two columns are, when not the kind's before and after (an unmerge's)


def _compare(svc: Services, caller: Caller, name: str, before: Any, after: Any) -> Compared:
    masking = svc.engine.masking
    if name not in masking.grading.fields and name not in masking.grading.types:
        return Compared(name, None, None, withheld=True)  # fail closed: an unknown field is not shown
    decision = masking.decide(name, caller.role, None)
    if decision.effect == "deny":
        return Compared(name, None, None, withheld=True)
    shown_before, shown_after = decision.apply(before), decision.apply(after)
    differs = (before or None) != (after or None)
    return Compared(name, shown_before, shown_after, hidden_change=differs and shown_before == shown_after)


def _compare_sides(svc: Services, caller: Caller, name: str, before: list[Any], after: list[Any]) -> Compared:
    """One field over two groups of source records: each side's distinct values, each masked (a tuple)."""
    masking = svc.engine.masking
    if name not in masking.grading.fields and name not in masking.grading.types:
        return Compared(name, None, None, withheld=True)
    decision = masking.decide(name, caller.role, None)
    if decision.effect == "deny":
        return Compared(name, None, None, withheld=True)

    def side(values: list[Any]) -> tuple[Any, ...] | None:
        shown = tuple(dict.fromkeys(v for v in (decision.apply(x) for x in values if x) if v))
        return shown or None

    raw_before, raw_after = {v for v in before if v}, {v for v in after if v}
    shown_before, shown_after = side(before), side(after)
    return Compared(name, shown_before, shown_after,
                    hidden_change=raw_before != raw_after and shown_before == shown_after)


def _unmerge_rows(svc: Services, caller: Caller, customer_id: str,
                  records: list[str]) -> tuple[list[Compared], str]:
    """The two sides of an unmerge: the records that stay and those detached (named), or, for an undo of
    the latest merge, the customer as it stands and what each of its source records says."""
    lineage = svc.served.lineage(customer_id)
    if records:
        detach = set(records)
        stay = [r for r in lineage if r.get("obs_id") not in detach]
        leave = [r for r in lineage if r.get("obs_id") in detach]
        return [_compare_sides(svc, caller, f, [r.get(f) for r in stay], [r.get(f) for r in leave])
                for f in RECORD_FIELDS], "unmerge_records"
    profile = _profile(svc, customer_id)
    return [_compare_sides(svc, caller, f, [profile.get(f)], [r.get(f) for r in lineage])
            for f in RECORD_FIELDS], "unmerge_latest"


def _unsealed_form(svc: Services, payload: Mapping[str, Any]) -> dict[str, str | None]:
    values = payload.get("values") or {}
    intake = str(payload.get("intake", ""))
    return {f: svc.protector.decrypt(str(v), intake_aad(intake, f)) for f, v in values.items()}


def _profile(svc: Services, customer_id: str) -> dict[str, Any]:
    return dict(svc.served.get(customer_id)["profile"])


def _rows(svc: Services, caller: Caller, req: Request) -> tuple[tuple[str, ...], list[Compared], str | None]:
    """(customers, compared fields, note) of one request, or NotFoundError for a customer gone.

    An unmerge's note names its two sides (``unmerge_records`` or ``unmerge_latest``).
    """
    p = req.payload
    if req.kind == "edit_field":
        cid, name = str(p["customer_id"]), str(p["field"])
        current = _profile(svc, cid).get(name)
        proposed = proposed_value(req, svc.protector)
        return (cid,), [_compare(svc, caller, name, current, proposed)], None
    if req.kind == "merge":
        survivor, absorbed = str(p["survivor"]), str(p["absorbed"])
        kept, merged = _profile(svc, survivor), _profile(svc, absorbed)
        rows = [_compare(svc, caller, f, kept.get(f), merged.get(f)) for f in MERGE_FIELDS
                if kept.get(f) is not None or merged.get(f) is not None]
        return (survivor, absorbed), rows, None
    if req.kind == "unmerge":
        cid = str(p["customer_id"])
        rows, sides = _unmerge_rows(svc, caller, cid, [str(r) for r in p.get("records") or []])
        return (cid,), rows, sides
    if req.kind == CREATE_KIND:
        if "values" not in p:
            return (), [], "form_used"
        form = _unsealed_form(svc, p)
        return (), [_compare(svc, caller, f, None, v) for f, v in sorted(form.items())], None
    return tuple(req.customer_ids), [], None


def _guard_plain(svc: Services, caller: Caller, proposal: Proposal) -> Proposal:
    """Protected fields shown in plain are an unmasking: the unmask rule and allowance, else withheld."""
    plain = set(_plain_fields(svc.engine.masking, caller.role, None))
    used = sorted({r.field for r in proposal.rows if r.field in plain and not r.withheld
                   and (r.before is not None or r.after is not None)})
    if not used:
        return proposal
    subject = proposal.customer_ids[0] if proposal.customer_ids else ""
    try:
        _unmask_in_view(svc, caller, subject, used, None,
                        {"section": "approval", "request_id": proposal.request_id})
    except AccessDenied:
        rows = tuple(Compared(r.field, None, None, withheld=True) if r.field in used else r for r in proposal.rows)
        return Proposal(proposal.request_id, proposal.kind, proposal.customer_ids, rows,
                        shown_fields=tuple(f for f in proposal.shown_fields if f not in used), sides=proposal.sides)
    return proposal


def _one(svc: Services, caller: Caller, req: Request) -> Proposal:
    try:
        customers, rows, note = _rows(svc, caller, req)
    except NotFoundError:
        return Proposal(req.request_id, req.kind, tuple(req.customer_ids), note="customer_gone")
    except CustodataError:  # a value that no longer decrypts (its customer erased meanwhile)
        return Proposal(req.request_id, req.kind, tuple(req.customer_ids), note="unreadable")
    for cid in customers:
        if not _visible(svc, caller, "customer.read", cid, svc.served.branches_of(cid)):
            return Proposal(req.request_id, req.kind, customers, out_of_scope=True)
    shown = tuple(sorted({r.field for r in rows if not r.withheld}))
    if req.kind == "unmerge":
        return Proposal(req.request_id, req.kind, customers, tuple(rows), shown_fields=shown, sides=note or "")
    return Proposal(req.request_id, req.kind, customers, tuple(rows), note=note, shown_fields=shown)


def proposals(svc: Services, caller: Caller, requests: Iterable[Request]) -> dict[str, Proposal]:
    """The proposed change of each request the caller may decide, masked for the caller; each read audited."""
    found: dict[str, Proposal] = {}
    decidable = {r.request_id for r in svc.approvals.pending(caller.principal)}
    for req in requests:
        if len(found) >= MAX_PROPOSALS:
            break
        if req.request_id not in decidable:  # only a request this checker may decide is shown in full
            continue
        proposal = _guard_plain(svc, caller, _one(svc, caller, req))
        found[req.request_id] = proposal
        if proposal.rows and not proposal.out_of_scope:
            svc.record(caller, Action.READ, customer_ids=list(proposal.customer_ids),
                       fields=list(proposal.shown_fields),
                       detail={"section": "approval", "request_id": req.request_id, "kind": req.kind})
    return found

