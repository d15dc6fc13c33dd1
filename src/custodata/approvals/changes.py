"""Payloads of the request kinds: checked when filed, carried safely, applied when approved.

A correction's new value is normalised as the pipeline would (an invalid ID
number is refused before a checker ever sees it) and then sealed under the
customer's own data key, bound to the customer and field: the operational store
never holds a protected field's plaintext, and erasing the customer (destroying
the key) shreds their pending corrections too.  Protected fields cannot be
corrected without a sealer; other fields are sealed whenever one is given.

A role grant names a person and the roles asked for; a policy import carries the
document, the version it was compared with and what it widens, so the checker
decides on the difference, and an import whose base was replaced meanwhile is
refused rather than applied over a policy nobody compared it with.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from custodata.approvals.request import (
    CHANGE_KINDS,
    CREATE_KIND,
    EXPORT_KIND,
    POLICY_IMPORT_KIND,
    ROLE_GRANT_KIND,
    InvalidRequest,
    Request,
)
from custodata.approvals.tables import FORMATS, KINDS
from custodata.crypto.keyring import customer_key_id
from custodata.resolution.golden import PROTECTED, golden_aad
from custodata.resolution.steward import CORRECTABLE, CorrectionError, normalise_correction

MAX_EXPORT_CUSTOMERS = 100_000
MAX_POLICY_CHARS = 512_000
MAX_GRANT_ROLES = 10


class Sealer(Protocol):
    """Encrypts under a named data key (the batch store's :class:`~custodata.crypto.Protector` fits)."""

    def encrypt(self, value: str | None, key_id: str, aad: str) -> str | None: ...


class Unsealer(Protocol):
    def decrypt(self, value: str | None, aad: str) -> str | None: ...


class Steward(Protocol):
    """Runs steward operations on the batch store (:class:`custodata.pipeline.Pipeline` fits)."""

    def steward(self, operation: str, **kwargs: object) -> list[str]: ...


class Granter(Protocol):
    """Grants access (:class:`custodata.identity.directory.Directory` fits)."""

    def grant_role(self, person_id: str, role: str, *, by: str, approved_by: str | None = None,
                   request_id: str | None = None) -> bool: ...

    def add_to_portfolio(self, person_id: str, customer_ids: Iterable[str], *, by: str) -> None: ...

    def set_status(self, person_id: str, status: str, *, by: str, reason: str | None = None) -> bool: ...


class PolicyImporter(Protocol):
    """Stores policy versions (:class:`custodata.access.store.PolicyStore` fits)."""

    def latest_version(self) -> int | None: ...

    def import_yaml(self, text: str, *, by: str, comment: str, expected_base: int | None | bool = False) -> int: ...


def _text(payload: dict[str, Any], key: str, kind: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"a {kind} request needs '{key}' (a non-empty string)")
    return value.strip()


def _texts(value: Any, key: str, kind: str, *, required: bool) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidRequest(f"'{key}' of a {kind} request must be a list of non-empty strings")
    out = list(dict.fromkeys(v.strip() for v in value))
    if required and not out:
        raise InvalidRequest(f"'{key}' of a {kind} request must not be empty")
    return out


def check_payload(kind: str, payload: dict[str, Any], *, sealer: Sealer | None = None) -> dict[str, Any]:
    """The payload to store for a new request of ``kind``, or :class:`InvalidRequest` saying what is wrong."""
    if kind not in KINDS:
        raise InvalidRequest(f"unknown request kind {kind!r}; use one of {', '.join(KINDS)}")
    if not isinstance(payload, dict):
        raise InvalidRequest("a request payload must be a mapping")
    if kind == "edit_field":
        customer_id, field = _text(payload, "customer_id", kind), _text(payload, "field", kind)
        if field not in CORRECTABLE:
            raise InvalidRequest(f"field {field!r} cannot be corrected; correctable: {', '.join(CORRECTABLE)}")
        raw = _text(payload, "value", kind)
        try:
            value = normalise_correction(field, raw)
        except CorrectionError as exc:
            raise InvalidRequest(str(exc)) from None
        if sealer is None:
            if field in PROTECTED:
                raise InvalidRequest(
                    f"{field} is a protected field: its new value must be sealed under the customer's key, "
                    "and this service has no key access (open it with the batch store's protector)"
                )
            return {"customer_id": customer_id, "field": field, "value": value, "sealed": False}
        sealed = sealer.encrypt(value, customer_key_id(customer_id), golden_aad(customer_id, field))
        return {"customer_id": customer_id, "field": field, "value": sealed, "sealed": True}
    if kind == "merge":
        survivor, absorbed = _text(payload, "survivor", kind), _text(payload, "absorbed", kind)
        if survivor == absorbed:
            raise InvalidRequest(f"cannot merge {survivor} into itself")
        return {"survivor": survivor, "absorbed": absorbed}
    if kind == "unmerge":
        out: dict[str, Any] = {"customer_id": _text(payload, "customer_id", kind)}
        records = _texts(payload.get("records"), "records", kind, required=False)
        if records:
            out["records"] = records
        return out
    if kind == CREATE_KIND:
        return _check_create(payload, sealer)
    if kind == ROLE_GRANT_KIND:
        return _check_grant(payload)
    if kind == POLICY_IMPORT_KIND:
        return _check_policy_import(payload)
    return _check_export(payload)


def intake_aad(intake: str, field: str) -> str:
    """Associated data of one sealed value of a create form: bound to that form and field."""
    return f"intake:{intake}:{field}"


def _check_create(payload: dict[str, Any], sealer: Sealer | None) -> dict[str, Any]:
    """A create form: checked as the mdm source will check it, each value sealed under the intake key.

    Like a correction's value, no plaintext of the form is kept in the operational store;
    once the create is carried out or refused, the sealed values are dropped from the
    request (:func:`shred_create`), so the new customer's erasure leaves no copy here.
    """
    import uuid

    from custodata.crypto.keyring import INTAKE_KEY_ID
    from custodata.sources.mdm import FormError, check_form

    unknown = sorted(set(payload) - {"form", "purpose", "check", "branch", "candidates"})
    if unknown:
        raise InvalidRequest(f"unknown keys in a create request: {', '.join(unknown)}")
    try:
        kind, values = check_form(payload.get("form"))  # type: ignore[arg-type]
    except FormError as exc:
        raise InvalidRequest(str(exc)) from None
    if sealer is None:
        raise InvalidRequest("a create form carries personal data: it must be sealed, and this service has no "
                             "key access (open it with the served view's protector)")
    intake = uuid.uuid4().hex
    sealed = {f: sealer.encrypt(v, INTAKE_KEY_ID, intake_aad(intake, f)) for f, v in values.items()}
    return {"kind": kind, "intake": intake, "record_key": f"MDM-{intake[:16].upper()}", "fields": sorted(values),
            "values": sealed, "purpose": payload.get("purpose"), "check": bool(payload.get("check", True)),
            "branch": payload.get("branch") or None,
            "candidates": [str(c) for c in payload.get("candidates") or ()]}


def shred_create(payload: dict[str, Any], customer_id: str | None) -> dict[str, Any]:
    """A create request's payload once carried out or refused: field names and ids, no sealed values."""
    kept = {k: v for k, v in payload.items() if k != "values"}
    if customer_id is not None:
        kept["customer_id"] = customer_id
    return kept


def _check_grant(payload: dict[str, Any]) -> dict[str, Any]:
    """An access grant to one person: roles, customers added to their portfolio, or a return to active.

    All three widen what one person reaches, so all three are one kind of request a security
    officer decides (the stored kind is ``role_grant``; the payload says which it is).
    """
    from custodata.identity.errors import IdentityError
    from custodata.identity.roles import check_role

    kind = ROLE_GRANT_KIND
    unknown = sorted(set(payload) - {"person_id", "roles", "portfolio", "status"})
    if unknown:
        raise InvalidRequest(f"unknown keys in a role_grant request: {', '.join(unknown)}")
    given = [k for k in ("roles", "portfolio", "status") if k in payload]
    if len(given) != 1:
        raise InvalidRequest("a role_grant request asks for exactly one of: roles, portfolio, status")
    person = _text(payload, "person_id", kind)
    if "status" in payload:
        if payload["status"] != "active":
            raise InvalidRequest("a role_grant request may only ask to make a person active again")
        return {"person_id": person, "status": "active"}
    if "portfolio" in payload:
        customers = _texts(payload.get("portfolio"), "portfolio", kind, required=True)
        if len(customers) > MAX_EXPORT_CUSTOMERS:
            raise InvalidRequest(f"a portfolio grant adds at most {MAX_EXPORT_CUSTOMERS:,} customers")
        return {"person_id": person, "portfolio": customers}
    roles = _texts(payload.get("roles"), "roles", kind, required=True)
    if len(roles) > MAX_GRANT_ROLES:
        raise InvalidRequest(f"a role_grant request asks for at most {MAX_GRANT_ROLES} roles")
    try:
        for role in roles:
            check_role(role)
    except IdentityError as exc:
        raise InvalidRequest(str(exc)) from None
    return {"person_id": person, "roles": roles}


def _check_policy_import(payload: dict[str, Any]) -> dict[str, Any]:
    kind = POLICY_IMPORT_KIND
    unknown = sorted(set(payload) - {"document", "comment", "base_version", "diff", "widens", "narrows"})
    if unknown:
        raise InvalidRequest(f"unknown keys in a policy_import request: {', '.join(unknown)}")
    document, diff = payload.get("document"), payload.get("diff")
    if not isinstance(document, str) or not document.strip() or len(document) > MAX_POLICY_CHARS:
        raise InvalidRequest(f"a policy_import request needs 'document' (YAML text, at most {MAX_POLICY_CHARS:,} "
                             "characters)")
    if not isinstance(diff, str):
        raise InvalidRequest("a policy_import request needs 'diff' (the unified diff against the version in force)")
    base = payload.get("base_version")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 1):
        raise InvalidRequest("'base_version' of a policy_import request must be a version number or none")
    return {
        "document": document, "comment": _text(payload, "comment", kind), "base_version": base, "diff": diff,
        "widens": _texts(payload.get("widens", []), "widens", kind, required=False),
        "narrows": _texts(payload.get("narrows", []), "narrows", kind, required=False),
    }


def _check_export(payload: dict[str, Any]) -> dict[str, Any]:
    kind = EXPORT_KIND
    unknown = sorted(set(payload) - {"customer_ids", "search", "fields", "purpose", "format"})
    if unknown:
        raise InvalidRequest(f"unknown keys in an export request: {', '.join(unknown)}")
    ids = _texts(payload.get("customer_ids"), "customer_ids", kind, required=False)
    search = payload.get("search")
    if bool(ids) == (search is not None):
        raise InvalidRequest("an export request names either 'customer_ids' or a 'search', exactly one")
    if len(ids) > MAX_EXPORT_CUSTOMERS:
        raise InvalidRequest(f"an export lists at most {MAX_EXPORT_CUSTOMERS} customers, not {len(ids)}")
    if search is not None and not (isinstance(search, dict) and search):
        raise InvalidRequest("'search' of an export request must be a non-empty mapping of criteria")
    fmt = payload.get("format", "csv")
    if fmt not in FORMATS:
        raise InvalidRequest(f"export format {fmt!r} is not supported; use {' or '.join(FORMATS)}")
    return {
        "customer_ids": ids or None, "search": search,
        "fields": _texts(payload.get("fields"), "fields", kind, required=True),
        "purpose": _text(payload, "purpose", kind), "format": fmt,
    }


def proposed_value(request: Request, unsealer: Unsealer | None = None) -> str | None:
    """The new value an edit_field request proposes, for the checker's screen (mask it before showing).

    A sealed value needs the batch store's protector; without one, None.
    """
    if request.kind != "edit_field":
        raise InvalidRequest(f"{request.request_id} is a {request.kind} request, not a field correction")
    p = request.payload
    if not p.get("sealed"):
        return str(p["value"])
    if unsealer is None:
        return None
    return unsealer.decrypt(str(p["value"]), golden_aad(str(p["customer_id"]), str(p["field"])))


def run_change(request: Request, steward: Steward) -> list[str]:
    """Carry out an approved change through the steward operations; returns their result."""
    if request.kind not in CHANGE_KINDS:
        raise InvalidRequest(f"{request.request_id} is an {request.kind} request: produce the export instead")
    p, why = request.payload, f"{request.request_id}: {request.reason}"
    if request.kind == CREATE_KIND:
        if "values" not in p:
            raise InvalidRequest(f"{request.request_id}'s form was already used (its values are gone)")
        return steward.steward("create", sealed=dict(p["values"]), intake=p["intake"], kind=p["kind"],
                               record_key=p["record_key"], branch=p.get("branch"), check=bool(p["check"]),
                               reason=why, by=request.maker, request_id=request.request_id)
    if request.kind == "merge":
        return steward.steward("merge", survivor=p["survivor"], absorbed=p["absorbed"], reason=why)
    if request.kind == "unmerge":
        kwargs: dict[str, object] = {"customer_id": p["customer_id"], "reason": why}
        if p.get("records"):
            kwargs["records"] = list(p["records"])
        return steward.steward("unmerge", **kwargs)
    return steward.steward(
        "correct", customer_id=p["customer_id"], field=p["field"], value=p["value"], sealed=bool(p["sealed"]),
        reason=why, by=request.maker, request_id=request.request_id,
    )


def run_grant(request: Request, granter: Granter) -> dict[str, Any]:
    """Grant the approved roles, recorded as the maker's grant with the checker's approval."""
    if request.kind != ROLE_GRANT_KIND:
        raise InvalidRequest(f"{request.request_id} is a {request.kind} request, not a role grant")
    p = request.payload
    person = str(p["person_id"])
    if request.checker == person or request.maker == person:
        raise InvalidRequest(f"{request.request_id} grants access to {person}, who filed or decided it")
    approval = f"{request.request_id}, approved by {request.checker}"
    if "status" in p:
        granter.set_status(person, "active", by=request.maker, reason=approval)
        return {"person_id": person, "status": "active"}
    if "portfolio" in p:
        granter.add_to_portfolio(person, [str(c) for c in p["portfolio"]], by=f"{request.maker} ({approval})")
        return {"person_id": person, "portfolio_added": len(p["portfolio"])}
    granted = [role for role in p["roles"]
               if granter.grant_role(person, str(role), by=request.maker, approved_by=request.checker,
                                     request_id=request.request_id)]
    return {"person_id": person, "granted": granted}


def run_policy_import(request: Request, importer: PolicyImporter) -> dict[str, Any]:
    """Store the approved document, unless the version it was compared with is no longer in force."""
    if request.kind != POLICY_IMPORT_KIND:
        raise InvalidRequest(f"{request.request_id} is a {request.kind} request, not a policy import")
    p = request.payload
    in_force = importer.latest_version()
    if in_force != p["base_version"]:
        raise InvalidRequest(
            f"policy version {in_force} is in force now, not version {p['base_version']} that "
            f"{request.request_id}'s difference was shown against: file the import again")
    version = importer.import_yaml(  # checked again inside the store's transaction: no race between the two
        str(p["document"]), by=request.maker, expected_base=p["base_version"],
        comment=f"{p['comment']} [{request.request_id}, approved by {request.checker}]")
    return {"version": version}


def restrict_rows(request: Request, rows: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """Only the approved columns (with the customer id), and only approved customers when listed: never more."""
    fields = ["customer_id", *[f for f in request.fields if f != "customer_id"]]
    allowed = set(request.customer_ids)
    for row in rows:
        if allowed and "customer_id" in row and str(row["customer_id"]) not in allowed:
            raise InvalidRequest(f"row for a customer outside export request {request.request_id}")
        yield {f: row.get(f) for f in fields}
