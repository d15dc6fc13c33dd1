"""Request and response bodies of the API: separate input and public output models.

Input models carry the constraints (lengths, patterns, enumerations) so bad input
is refused with a 422 before any service runs; output models name exactly what
may leave the service, so a secret kept on an internal object (a password hash,
a session token's hash) can never be serialised by accident.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from custodata.people_vocabulary import PersonKind

# ---- shared constrained types ----------------------------------------------------------------

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN, min_length=1, max_length=64)]
"""Login names, customer ids, request and export ids: letters, digits and ``_.:@-``."""

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, min_length=1, max_length=64)]
"""Roles, field names, purposes, statuses: the policy's lower-case identifiers."""

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
"""A reason, a note or a comment a person types."""

SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]

# a value in a request payload: a scalar, or a list of ids (an export's customers, fields)
PayloadValue = (Annotated[str, StringConstraints(max_length=2000)] | int | float | bool | None
                | Annotated[list[Annotated[str, StringConstraints(max_length=200)]], Field(max_length=100_000)])
PayloadKey = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


class Input(BaseModel):
    """Every request body: unknown keys are refused, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


# ---- authentication --------------------------------------------------------------------------


OtpCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=24)]
"""A TOTP code (6 digits) or a recovery code (``abcd-efgh-jkmn-pqrs``)."""


class LoginIn(Input):
    person_id: Identifier
    password: Password
    role: Name | None = None
    otp: OtpCode | None = Field(default=None, description="the second factor, when the account has one")


class MfaEnrolIn(Input):
    person_id: Identifier
    password: Password


class MfaConfirmIn(Input):
    person_id: Identifier
    password: Password
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]


class MfaEnrolOut(BaseModel):
    """Shown once: the seed for the authenticator app, as text and as an ``otpauth://`` URI (a QR code's content)."""

    secret: str
    otpauth_uri: str


class MfaConfirmOut(BaseModel):
    """Shown once: each recovery code opens one login when the phone is lost; custodata keeps only their hashes."""

    recovery_codes: list[str]


class ActivateIn(Input):
    person_id: Identifier
    password: Password
    new_password: Password


class PrincipalOut(BaseModel):
    person_id: str
    display_name: str
    kind: str
    branch: str
    role: str
    roles: list[str]
    status: str
    mfa: bool = False
    method: str = "password"


class LoginOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 — the scheme name, not a secret
    expires_at: dt.datetime
    person: PrincipalOut
    role: str


# ---- customers -------------------------------------------------------------------------------


class SearchIn(Input):
    """Search before create; sent as a body so ID numbers and mobiles never land in URLs or access logs."""

    name: SearchText | None = None
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    mobile: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)] | None = None
    customer_id: Identifier | None = None
    purpose: Name | None = Field(default=None, description="purpose of use; an ID or mobile search is a use of it "
                                 "(default: the role's first purpose in the policy)")
    limit: int = Field(default=20, ge=1, le=100)


FormText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class CreateForm(Input):
    """What the front desk typed (the search's criteria and the rest): never echoed in an error."""

    kind: Literal["individual", "company"] = "individual"
    name: FormText | None = None
    id_number: FormText | None = None
    uscc: FormText | None = None
    mobile: FormText | None = None
    phone: FormText | None = None
    email: FormText | None = None
    address: FormText | None = None
    birth_date: FormText | None = None
    gender: FormText | None = None


class CreateIn(Input):
    """Create a customer after a search; ``reason`` creates it anyway despite likely duplicates (a steward decides)."""

    form: CreateForm
    purpose: Name | None = None
    reason: ShortText | None = None


class SearchHit(BaseModel):
    customer_id: str
    kind: str | None = None
    segment: str | None = None
    name: str | None = None
    branches: list[str] = []


class UnmaskIn(Input):
    field: Name
    purpose: Name


class UnmaskOut(BaseModel):
    customer_id: str
    field: str
    value: Any
    purpose: str | None


# ---- maker-checker ---------------------------------------------------------------------------


class RequestIn(Input):
    """A change (edit_field, merge, unmerge) or an export; the payload's keys depend on the kind.

    edit_field: customer_id, field, value; merge: survivor, absorbed; unmerge: customer_id (and
    the record to split off); export: customer_ids, purpose, optionally fields and format.
    """

    kind: Literal["edit_field", "merge", "unmerge", "export"]
    payload: Annotated[dict[PayloadKey, PayloadValue], Field(max_length=20)]
    reason: ShortText


class DecisionIn(Input):
    note: ShortText


# ---- administration --------------------------------------------------------------------------


class PolicyIn(Input):
    document: Annotated[str, StringConstraints(min_length=1, max_length=512_000)]
    comment: ShortText


class PersonIn(Input):
    person_id: Identifier
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: PersonKind
    branch: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    password: Password
    roles: Annotated[list[Name], Field(max_length=10)] = []
    valid_to: dt.datetime | None = None


class StatusIn(Input):
    status: Literal["active", "transferred", "leaving", "left", "frozen"]
    reason: ShortText | None = None


class RoleIn(Input):
    role: Name


class PortfolioIn(Input):
    customer_ids: Annotated[list[Identifier], Field(max_length=100_000)]


class PortfolioOut(BaseModel):
    person_id: str
    customer_ids: list[str]
    pending_request: str | None = None  # the request for the customers added (a security officer decides)


class PersonOut(BaseModel):
    """A person as others may see them: never the password hash or failed-login state."""

    person_id: str
    display_name: str
    kind: str
    branch: str
    status: str
    roles: list[str]
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    status_changed_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    created_by: str | None = None
    pending_request: str | None = None  # the role-grant request filed with a new person


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    trust_anchor: str | None = None  # fingerprint of the pinned key the signatures were checked under
    anchored: int = 0                # checkpoints of the anchor file compared with the chain
    warnings: list[str] = []         # what this verification could not vouch for (no trust anchor …)


class Health(BaseModel):
    status: Literal["ok"]
    version: str


# ---- the one error shape ---------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str
    rule: str | None = None
    fields: list[dict[str, Any]] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


# ---- turning service objects into public values ----------------------------------------------

# keys that name secrets, login-state internals or server file paths; never serialised whatever carries them
SECRET_KEYS = frozenset({"password", "password_hash", "token_hash", "secret", "failed_logins", "locked_until",
                         "path"})


_LEAVES = frozenset({str, int, float, bool, type(None)})


def public(value: Any) -> Any:
    """A service result as JSON-ready data: dataclasses and models to dicts, minus :data:`SECRET_KEYS`."""
    kind = type(value)
    if kind in _LEAVES:  # most values: no ABC checks
        return value
    if kind is dict:  # leaves copied in place, not a call each (a 360° view has a few hundred)
        out = {}
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            if key not in SECRET_KEYS:
                out[key] = v if type(v) in _LEAVES else public(v)
        return out
    if kind is list:
        return [v if type(v) in _LEAVES else public(v) for v in value]
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): public(v) for k, v in value.items() if str(k) not in SECRET_KEYS}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(public(v) for v in value)
    if isinstance(value, list | tuple):
        return [public(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "isoformat"):  # a DuckDB/PostgreSQL date or time type
        return value.isoformat()
    return str(value)


def principal_out(principal: Any) -> PrincipalOut:
    return PrincipalOut(person_id=principal.person_id, display_name=principal.display_name, kind=principal.kind,
                        branch=principal.branch, role=principal.role, roles=sorted(principal.roles),
                        status=principal.status, mfa=bool(getattr(principal, "mfa", False)),
                        method=str(getattr(principal, "method", "password")))


def person_out(person: Any) -> PersonOut:
    return PersonOut(person_id=person.person_id, display_name=person.display_name, kind=person.kind,
                     branch=person.branch, status=person.status, roles=sorted(person.roles),
                     valid_from=getattr(person, "valid_from", None), valid_to=getattr(person, "valid_to", None),
                     status_changed_at=getattr(person, "status_changed_at", None),
                     created_at=getattr(person, "created_at", None), created_by=getattr(person, "created_by", None))
