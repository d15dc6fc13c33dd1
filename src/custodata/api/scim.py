"""SCIM 2.0 provisioning (RFC 7643/7644) at ``/scim/v2``: the institution's IdP pushes users and groups.

Only the IdP calls these routes, with the one bearer token the operator configured
(``scim.token_sha256`` in the identity configuration: the token itself is nowhere in
custodata).  Every call is rate-limited per client address before the token is even
looked at, and every body is validated by the models below (types, lengths, the login
name's pattern) with errors that name the attribute, never its value.  Errors use SCIM's
own error shape (RFC 7644 §3.12), which IdP connectors parse; everything else of
custodata's API keeps its one shape.

What a user or group means for custodata is in :mod:`custodata.identity.provisioning`:
users are people (``userName`` is the login name and the resource id), groups map to roles.
custodata's own attributes travel in the extension ``urn:custodata:params:scim:schemas:1.0:User``
(branch, kind, status, validTo, portfolio); the enterprise extension's ``employeeType`` and
``department`` are read when the custodata one is absent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError
from starlette.concurrency import run_in_threadpool

from custodata.audit.events import Action, AuditEvent, Result
from custodata.errors import CustodataError, NotFoundError
from custodata.identity.directory import PERSON_ID_PATTERN, Person
from custodata.identity.errors import PersonExistsError, SeparationOfDutiesError
from custodata.identity.provisioning import (
    Group,
    NotProvisionedError,
    Provisioner,
    UserAssertion,
    is_active,
)
from custodata.identity.settings import ScimSettings
from custodata.people_vocabulary import PersonKind
from custodata.service import Services

PREFIX = "/scim/v2"
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CUSTODATA = "urn:custodata:params:scim:schemas:1.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_RESULTS = 200

# control characters and bidi overrides in a name would rewrite how a console page or an export reads
_UNSEEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(value: str) -> str:
    if _UNSEEN.search(value):
        raise ValueError("control or bidi characters")
    return value


def _login_name(value: str) -> str:
    """The whole value a login name (pydantic's ``pattern`` only searches, and before ``to_lower``)."""
    if not PERSON_ID_PATTERN.fullmatch(value):
        raise ValueError("not a login name")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), AfterValidator(_visible)]
CustomerId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                       AfterValidator(_visible)]
def _ascii(value: object) -> object:
    """Before lower-casing: 'K' (KELVIN SIGN) would become 'k', another person's login name."""
    if isinstance(value, str) and not value.isascii():
        raise ValueError("not a login name")
    return value


LoginName = Annotated[str, BeforeValidator(_ascii), StringConstraints(strip_whitespace=True, to_lower=True,
                                                                      max_length=64), AfterValidator(_login_name)]


class ScimError(Exception):
    """An answer in SCIM's error shape: HTTP status, ``scimType`` and a message without submitted values."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


class _In(BaseModel):
    # IdPs send attributes custodata does not keep (emails, phoneNumbers, locale …): ignored, but every
    # attribute custodata does keep is typed and bounded
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class NameIn(_In):
    formatted: Text | None = None
    familyName: Text | None = None  # noqa: N815 - SCIM's attribute names
    givenName: Text | None = None  # noqa: N815


class EnterpriseIn(_In):
    employeeType: Text | None = None  # noqa: N815
    department: Text | None = None


class CustodataIn(_In):
    branch: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                      AfterValidator(_visible)] | None = None
    kind: PersonKind | None = None
    status: Literal["active", "transferred", "leaving"] | None = None
    validTo: dt.datetime | None = None  # noqa: N815
    portfolio: Annotated[list[CustomerId], Field(max_length=100_000)] | None = None


class UserIn(_In):
    userName: LoginName  # noqa: N815
    externalId: Text | None = None  # noqa: N815
    displayName: Text | None = None  # noqa: N815
    name: NameIn | None = None
    active: bool = True
    enterprise: EnterpriseIn | None = Field(None, alias="urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    custodata: CustodataIn | None = Field(None, alias="urn:custodata:params:scim:schemas:1.0:User")

    def assertion(self, provisioner: Provisioner) -> UserAssertion:
        name = self.displayName or (self.name.formatted if self.name else None) or (
            " ".join(p for p in (self.name.familyName, self.name.givenName) if p) if self.name else None)
        ext, ent = self.custodata or CustodataIn(), self.enterprise or EnterpriseIn()
        kind = ext.kind or (provisioner.mapping.kind(ent.employeeType) if ent.employeeType else None)
        valid_to = ext.validTo
        if valid_to is not None and valid_to.tzinfo is not None:
            valid_to = valid_to.astimezone(dt.UTC).replace(tzinfo=None)
        return UserAssertion(user_name=self.userName, display_name=name or self.userName, active=self.active,
                             external_id=self.externalId, branch=ext.branch or ent.department, kind=kind,
                             status=ext.status, valid_to=valid_to,
                             portfolio=tuple(ext.portfolio) if ext.portfolio is not None else None)


class MemberIn(_In):
    value: LoginName


class GroupIn(_In):
    displayName: Text  # noqa: N815
    externalId: Text | None = None  # noqa: N815
    members: Annotated[list[MemberIn], Field(max_length=50_000)] = []


class PatchOperation(_In):
    op: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^(add|remove|replace)$")]
    path: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    value: Any = None


class PatchIn(_In):
    schemas: list[str]
    Operations: Annotated[list[PatchOperation], Field(min_length=1, max_length=100)]  # noqa: N815


# ---- guarding the door: the token and the rate -----------------------------------------------------


class RateLimiter:
    """At most ``per_minute`` calls per client address in any sliding minute (per process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> float | None:
        """None when the call may go ahead, else the seconds until it may."""
        now = self.clock()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - 60:
                calls.popleft()
            if len(calls) >= self.per_minute:
                return max(0.0, calls[0] + 60 - now)
            calls.append(now)
            if len(self._calls) > 10_000:  # addresses that went quiet
                for stale in [k for k, v in self._calls.items() if not v or v[-1] <= now - 60][:5_000]:
                    del self._calls[stale]
            return None


def _settings(svc: Services) -> ScimSettings:
    settings = svc.identity_settings.scim
    if settings is None:
        raise ScimError(404, "SCIM provisioning is not configured on this deployment")
    return settings


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


def _guard(request: Request) -> Provisioner:
    """Rate limit, then the IdP's token (constant-time): the provisioner acting as ``scim:<idp>``."""
    svc: Services = request.app.state.services
    settings = _settings(svc)
    limiter: RateLimiter | None = getattr(request.app.state, "scim_limiter", None)
    if limiter is None or limiter.per_minute != settings.requests_per_minute:
        limiter = request.app.state.scim_limiter = RateLimiter(settings.requests_per_minute)
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    given = hashlib.sha256(token.encode()).hexdigest() if token and len(token) <= 512 else ""
    genuine = scheme.lower() == "bearer" and hmac.compare_digest(given, settings.token_sha256)
    # callers without the token count apart: their flood from the IdP's address (a NAT, a shared
    # egress) must not spend the IdP's budget and hold back a leaver's deactivation with 429s
    wait = limiter.allow(f"{_client(request)} {'idp' if genuine else '-'}")
    if wait is not None:
        raise ScimError(429, f"too many provisioning calls: retry in {int(wait) + 1} s", "tooMany")
    if not genuine:
        svc.audit.append(AuditEvent(actor="-", action=Action.LOGIN, result=Result.FAILED,
                                    reason="SCIM token missing or wrong", source_address=_client(request)[:64],
                                    detail={"via": "scim"}))
        raise ScimError(401, "the IdP's bearer token is missing or wrong")
    return Provisioner(svc.directory, settings.mapping, idp=settings.idp)


# ---- representations --------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def user_out(person: Person, base: str, groups: list[Group] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schemas": [USER_SCHEMA, CUSTODATA],
        "id": person.person_id,
        "userName": person.person_id,
        "displayName": person.display_name,
        "active": is_active(person),
        "meta": {"resourceType": "User", "created": _iso(person.created_at),
                 "lastModified": _iso(person.status_changed_at), "location": f"{base}/Users/{person.person_id}"},
        CUSTODATA: {"branch": person.branch, "kind": person.kind, "status": person.status,
                    "validTo": _iso(person.valid_to), "roles": list(person.roles)},
    }
    if person.external_id:
        out["externalId"] = person.external_id
    if groups is not None:
        out["groups"] = [{"value": g.group_id, "display": g.display_name, "$ref": f"{base}/Groups/{g.group_id}"}
                         for g in groups if person.person_id in g.members]
    return out


def group_out(group: Group, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA], "id": group.group_id, "displayName": group.display_name,
        "members": [{"value": m, "$ref": f"{base}/Users/{m}"} for m in group.members],
        "meta": {"resourceType": "Group", "created": _iso(group.created_at), "lastModified": _iso(group.updated_at),
                 "location": f"{base}/Groups/{group.group_id}"},
    }
    if group.external_id:
        out["externalId"] = group.external_id
    return out


def _scim(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=SCIM_JSON)


def _listed(resources: list[dict[str, Any]], start: int, count: int) -> JSONResponse:
    page = resources[start - 1:start - 1 + count]
    return _scim({"schemas": [LIST_SCHEMA], "totalResults": len(resources), "startIndex": start,
                  "itemsPerPage": len(page), "Resources": page})


_FILTER = re.compile(r'^\s*(userName|externalId|displayName)\s+eq\s+"([^"\\]{1,255})"\s*$', re.IGNORECASE)


def _filter(raw: str | None, allowed: tuple[str, ...]) -> tuple[str, str] | None:
    """The one filter IdP connectors send (``attr eq "value"``); anything else is ``invalidFilter``."""
    if not raw:
        return None
    m = _FILTER.match(raw)
    if m is None or m.group(1).lower() not in {a.lower() for a in allowed}:
        raise ScimError(400, f"only {' or '.join(allowed)} eq \"…\" filters are supported", "invalidFilter")
    return m.group(1).lower(), m.group(2)


def _paging(request: Request) -> tuple[int, int]:
    try:
        start = max(1, int(request.query_params.get("startIndex", "1")))
        count = min(MAX_RESULTS, max(0, int(request.query_params.get("count", str(MAX_RESULTS)))))
    except ValueError:
        raise ScimError(400, "startIndex and count must be whole numbers", "invalidValue") from None
    return start, count


async def _guarded_body(request: Request) -> tuple[Provisioner, Any]:
    """The rate limit and the IdP's token first, then the body: nobody else gets JSON parsed or validated."""
    provisioner = await run_in_threadpool(_guard, request)
    return provisioner, await _body(request)


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from None


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where = sorted({".".join(str(p) for p in e["loc"]) or "(body)" for e in exc.errors()})
        raise ScimError(400, f"invalid attributes: {', '.join(where)[:300]}", "invalidValue") from None


# ---- routes -----------------------------------------------------------------------------------------

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class ScimRoute(APIRoute):
    """Every failure of a SCIM route is an answer in SCIM's error shape, never the API's."""

    def get_route_handler(self) -> Endpoint:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - mapped to SCIM's error shape
                return _error(exc)

        return handle


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, ScimError):
        status, detail, scim_type = exc.status, exc.detail, exc.scim_type
    elif isinstance(exc, SeparationOfDutiesError):
        status, detail, scim_type = 409, str(exc), "mutability"
    elif isinstance(exc, PersonExistsError):
        status, detail, scim_type = 409, str(exc), "uniqueness"
    elif isinstance(exc, NotProvisionedError):
        status, detail, scim_type = 403, str(exc), None
    elif isinstance(exc, NotFoundError | LookupError):
        status, detail, scim_type = 404, "no such resource", None
    elif isinstance(exc, ValueError | CustodataError):
        status, detail, scim_type = 400, str(exc)[:300], "invalidValue"
    else:
        import logging

        logging.getLogger("custodata.api").exception("SCIM call failed", exc_info=exc)
        status, detail, scim_type = 500, "internal error: the call could not be completed; it has been logged", None
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    headers = {"Retry-After": "60"} if status == 429 else None
    return JSONResponse(body, status_code=status, media_type=SCIM_JSON, headers=headers)


router = APIRouter(prefix=PREFIX, route_class=ScimRoute, include_in_schema=False)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get("/ServiceProviderConfig")
async def service_provider_config(request: Request) -> Response:
    await run_in_threadpool(_guard, request)
    return _scim({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS}, "changePassword": {"supported": False},
        "sort": {"supported": False}, "etag": {"supported": False},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "Bearer token",
                                   "description": "the token whose SHA-256 the operator configured"}],
    })


@router.get("/Users")
async def list_users(request: Request) -> Response:
    def run() -> Response:
        p = _guard(request)
        chosen = _filter(request.query_params.get("filter"), ("userName", "externalId"))
        start, count = _paging(request)
        people = p.users()
        if chosen is not None:
            attr, value = chosen
            people = [x for x in people if (x.person_id if attr == "username" else x.external_id) ==
                      (value.lower() if attr == "username" else value)]
        base = _base(request)
        return _listed([user_out(x, base) for x in people], start, count)

    return await run_in_threadpool(run)


@router.get("/Users/{person_id}")
async def get_user(person_id: str, request: Request) -> Response:
    def run() -> Response:
        p = _guard(request)
        return _scim(user_out(p.user(person_id), _base(request), p.groups()))

    return await run_in_threadpool(run)


@router.post("/Users")
async def create_user(request: Request) -> Response:
    p, data = await _guarded_body(request)

    def run() -> Response:
        body: UserIn = _parse(UserIn, data)
        person = p.create_user(body.assertion(p))
        response = _scim(user_out(person, _base(request), []), 201)
        response.headers["Location"] = f"{_base(request)}/Users/{person.person_id}"
        return response

    return await run_in_threadpool(run)


@router.put("/Users/{person_id}")
async def replace_user(person_id: str, request: Request) -> Response:
    p, data = await _guarded_body(request)

    def run() -> Response:
        body: UserIn = _parse(UserIn, data)
        return _scim(user_out(p.replace_user(person_id, body.assertion(p)), _base(request), p.groups()))

    return await run_in_threadpool(run)


_USER_PATHS = {"active", "displayname", "externalid", "name.formatted", "username"}


def _patched_user(person: Person, patch: PatchIn) -> dict[str, Any]:
    """The user as a full SCIM body with the patch's operations applied (``replace``/``add`` of simple paths)."""
    doc: dict[str, Any] = {"userName": person.person_id, "displayName": person.display_name,
                           "active": is_active(person), "externalId": person.external_id,
                           CUSTODATA: {"branch": person.branch, "kind": person.kind,
                                       "status": person.status if person.status in ("active", "transferred",
                                                                                      "leaving") else None,
                                       "validTo": person.valid_to.isoformat() if person.valid_to else None}}
    for op in patch.Operations:
        if op.op == "remove":
            raise ScimError(400, "remove is not supported on users: replace the attribute or deactivate",
                            "mutability")
        if op.path is None:
            if not isinstance(op.value, dict):
                raise ScimError(400, "an operation without a path needs an object value", "invalidValue")
            for key, value in op.value.items():
                if key in (CUSTODATA, ENTERPRISE) and isinstance(value, dict):
                    doc.setdefault(key, {}).update(value)
                else:
                    doc[key] = value
            continue
        path = op.path
        if path.startswith(CUSTODATA + ":"):
            doc[CUSTODATA][path[len(CUSTODATA) + 1:]] = op.value
        elif path.startswith(ENTERPRISE + ":"):
            doc.setdefault(ENTERPRISE, {})[path[len(ENTERPRISE) + 1:]] = op.value
        elif path.lower() in _USER_PATHS:
            key = {"active": "active", "displayname": "displayName", "externalid": "externalId",
                   "username": "userName"}.get(path.lower())
            if key is None:
                doc["displayName"] = op.value
            else:
                doc[key] = op.value
        else:
            raise ScimError(400, f"path {path[:60]!r} is not supported", "invalidPath")
    if isinstance(doc.get("active"), str):  # some IdPs send "False" as text
        doc["active"] = doc["active"].strip().lower() == "true"
    return doc


@router.patch("/Users/{person_id}")
async def patch_user(person_id: str, request: Request) -> Response:
    p, data = await _guarded_body(request)

    def run() -> Response:
        patch: PatchIn = _parse(PatchIn, data)
        if PATCH_SCHEMA not in patch.schemas:
            raise ScimError(400, f"a PATCH body names the schema {PATCH_SCHEMA}", "invalidSyntax")
        body: UserIn = _parse(UserIn, _patched_user(p.user(person_id), patch))
        return _scim(user_out(p.replace_user(person_id, body.assertion(p)), _base(request), p.groups()))

    return await run_in_threadpool(run)


@router.delete("/Users/{person_id}")
async def delete_user(person_id: str, request: Request) -> Response:
    """A leaver: the account is kept (login names are never reused, the audit trail names it) as ``left``."""
    def run() -> Response:
        _guard(request).deactivate(person_id)
        return Response(status_code=204)

    return await run_in_threadpool(run)


@router.get("/Groups")
async def list_groups(request: Request) -> Response:
    def run() -> Response:
        p = _guard(request)
        chosen = _filter(request.query_params.get("filter"), ("displayName", "externalId"))
        start, count = _paging(request)
        groups = p.groups()
        if chosen is not None:
            attr, value = chosen
            groups = [g for g in groups if (g.display_name if attr == "displayname" else g.external_id) == value]
        base = _base(request)
        return _listed([group_out(g, base) for g in groups], start, count)

    return await run_in_threadpool(run)


@router.get("/Groups/{group_id}")
async def get_group(group_id: str, request: Request) -> Response:
    def run() -> Response:
        return _scim(group_out(_guard(request).group(group_id), _base(request)))

    return await run_in_threadpool(run)


@router.post("/Groups")
async def create_group(request: Request) -> Response:
    p, data = await _guarded_body(request)

    def run() -> Response:
        body: GroupIn = _parse(GroupIn, data)
        group = p.create_group(body.displayName, [m.value for m in body.members], external_id=body.externalId)
        response = _scim(group_out(group, _base(request)), 201)
        response.headers["Location"] = f"{_base(request)}/Groups/{group.group_id}"
        return response

    return await run_in_threadpool(run)


@router.put("/Groups/{group_id}")
async def replace_group(group_id: str, request: Request) -> Response:
    p, data = await _guarded_body(request)

    def run() -> Response:
        body: GroupIn = _parse(GroupIn, data)
        group = p.replace_group(group_id, body.displayName, [m.value for m in body.members],
                                external_id=body.externalId)
        return _scim(group_out(group, _base(request)))

    return await run_in_threadpool(run)


_MEMBER_FILTER = re.compile(r'^members\[value eq "([^"\\]{1,64})"\]$', re.IGNORECASE)


def _member_ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [_parse(MemberIn, item).value for item in items if item is not None]


@router.patch("/Groups/{group_id}")
async def patch_group(group_id: str, request: Request) -> Response:
    """Members added or removed (``members`` or ``members[value eq "x"]``), or the displayName replaced."""
    p, data = await _guarded_body(request)

    def run() -> Response:
        patch: PatchIn = _parse(PatchIn, data)
        if PATCH_SCHEMA not in patch.schemas:
            raise ScimError(400, f"a PATCH body names the schema {PATCH_SCHEMA}", "invalidSyntax")
        add: list[str] = []
        remove: list[str] = []
        name: str | None = None
        replace_members: list[str] | None = None
        for op in patch.Operations:
            path = (op.path or "").strip()
            single = _MEMBER_FILTER.match(path)
            if single is not None and op.op == "remove":
                remove.append(single.group(1).lower())
            elif path.lower() == "members":
                ids = _member_ids(op.value) if op.value is not None else []
                if op.op == "add":
                    add.extend(ids)
                elif op.op == "remove":
                    remove.extend(ids if op.value is not None else list(p.group(group_id).members))
                else:
                    replace_members = ids
            elif path.lower() == "displayname" and op.op in ("replace", "add"):
                name = _parse(GroupIn, {"displayName": op.value}).displayName
            elif not path and op.op in ("replace", "add") and isinstance(op.value, dict):
                if "displayName" in op.value:
                    name = _parse(GroupIn, {"displayName": op.value["displayName"]}).displayName
                if "members" in op.value:
                    ids = _member_ids(op.value["members"])
                    if op.op == "add":
                        add.extend(ids)
                    else:
                        replace_members = ids
            else:
                raise ScimError(400, f"operation {op.op} on {path[:60]!r} is not supported", "invalidPath")
        if replace_members is not None:
            current = p.group(group_id)
            group = p.replace_group(group_id, name or current.display_name, replace_members,
                                    external_id=current.external_id)
            if add or remove:
                group = p.change_members(group_id, add=add, remove=remove)
        else:
            group = p.change_members(group_id, add=add, remove=remove, display_name=name)
        return _scim(group_out(group, _base(request)))

    return await run_in_threadpool(run)


@router.delete("/Groups/{group_id}")
async def delete_group(group_id: str, request: Request) -> Response:
    def run() -> Response:
        _guard(request).delete_group(group_id)
        return Response(status_code=204)

    return await run_in_threadpool(run)
