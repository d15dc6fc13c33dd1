"""Maker-checker requests [双人复核]: file, decide, apply, export, download, expire.

Separation of duties is enforced here, not left to the screens: the checker must
be a different person from the maker and hold the approving permission; only
pending, unexpired requests are decided (under a row lock, so two checkers
cannot both decide one request); an export is produced only for its maker, only
the columns and customers approved, and is downloadable by that recipient only
until it expires.  Every step, refusals included, is an audit event; events are
appended after the transaction commits, so the audit log (which may live in the
same SQLite file) never waits on our write lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from custodata.approvals.changes import (
    Granter,
    PolicyImporter,
    Sealer,
    Steward,
    check_payload,
    restrict_rows,
    run_change,
    run_grant,
    run_policy_import,
    shred_create,
)
from custodata.approvals.exports import (
    DEFAULT_TIMEZONE,
    ExportFile,
    localise,
    notice,
    render,
    watermark_rows,
    write_atomically,
)
from custodata.approvals.request import (
    ALL_KINDS,
    CHANGE_KINDS,
    CREATE_KIND,
    EXPORT_KIND,
    POLICY_IMPORT_KIND,
    ROLE_GRANT_KIND,
    TRUST_KINDS,
    ApprovalDenied,
    Authorize,
    ExportExpired,
    InvalidRequest,
    Request,
    RequestStateError,
    Subject,
    approve_action,
    request_action,
)
from custodata.approvals.secret import SECRET_ENV
from custodata.approvals.tables import change_request, export_file
from custodata.audit.events import Action, AuditEvent, AuditSink, Result
from custodata.errors import ConfigError, CustodataError, NotFoundError
from custodata.ops.store import OpsStore
from custodata.resolution.duplicates import DuplicateFound

RequestRef = Request | str


def _filing_action(kind: str) -> Action:
    """The audit action of filing or cancelling a request of ``kind``."""
    if kind == EXPORT_KIND:
        return Action.EXPORT_REQUEST
    if kind == ROLE_GRANT_KIND:
        return Action.IDENTITY_CHANGE
    if kind == POLICY_IMPORT_KIND:
        return Action.POLICY_CHANGE
    return Action.CHANGE_REQUEST


@dataclass(frozen=True)
class _Actor:
    """Who an event is about when no live subject is at hand (the recorded checker)."""

    person_id: str
    role: str
    branch: str | None = None
    kind: str = "employee"
    status: str = "active"


def utc_now() -> dt.datetime:
    """Naive UTC, as the operational store keeps times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Approvals:
    """Maker-checker requests over one operational store."""

    def __init__(
        self, store: OpsStore, audit: AuditSink, *, authorize: Authorize, watermark_secret: bytes | None = None,
        sealer: Sealer | None = None, export_ttl: dt.timedelta = dt.timedelta(days=7),
        request_ttl: dt.timedelta = dt.timedelta(days=14), clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if watermark_secret is not None and len(watermark_secret) < 16:
            raise ConfigError("the watermark secret must be at least 16 bytes")
        self.store, self.audit, self.authorize = store, audit, authorize
        self.sealer, self.clock = sealer, clock
        self.export_ttl, self.request_ttl = export_ttl, request_ttl
        self._secret = watermark_secret

    @property
    def secret(self) -> bytes:
        """The watermark key: as given, else ``CUSTODATA_WATERMARK_SECRET`` (see :mod:`.secret`)."""
        if self._secret is not None:
            return self._secret
        configured = os.environ.get(SECRET_ENV, "")
        if len(configured) < 16:
            raise ConfigError(f"exports need a watermark secret: pass watermark_secret=custodata.approvals."
                              f"watermark_secret(out_dir), or set {SECRET_ENV} (16+ characters)")
        return configured.encode("utf-8")

    def _ref(self, ref: RequestRef) -> str:
        return ref.request_id if isinstance(ref, Request) else ref

    # --- events -------------------------------------------------------------------------------
    def _event(self, who: Subject, action: Action, req: Request | None, *, result: Result = Result.OK,
               reason: str | None = None, **extra: Any) -> None:
        detail: dict[str, Any] = {}
        if req is not None:
            detail = {"request_id": req.request_id, "kind": req.kind}
        detail.update(extra.pop("detail", {}))
        ids = req.customer_ids if req is not None else []
        self.audit.append(AuditEvent(
            actor=who.person_id, action=action, result=result, role=who.role, branch=who.branch or None,
            customer_ids=extra.pop("customer_ids", ids), customer_count=extra.pop("customer_count", None),
            fields=req.fields if req is not None else (), purpose=req.purpose if req is not None else None,
            reason=reason, detail=detail, at=self.clock().replace(tzinfo=dt.UTC),
        ))

    def _deny(self, who: Subject, action: Action, req: Request | None, reason: str,
              told: str | None = None) -> ApprovalDenied:
        """Audit a refusal (``reason``) and return the error to raise, saying ``told`` when it must say less."""
        self._event(who, action, req, result=Result.DENIED, reason=reason)
        refusal = ApprovalDenied(told or reason)
        refusal.audited = True  # type: ignore[attr-defined]
        return refusal

    def _check(self, who: Subject, permission: str, action: Action, req: Request | None) -> None:
        decision = self.authorize(who, permission)
        if not decision.allowed:
            rule = f" (rule {decision.rule})" if decision.rule else ""
            raise self._deny(who, action, req, f"{who.person_id} may not {permission}: {decision.reason}{rule}")

    # --- requests -----------------------------------------------------------------------------
    def submit(self, maker: Subject, kind: str, payload: dict[str, Any], *, reason: str,
               checked_by_search: bool = False) -> Request:
        """File a request (edit_field, merge, unmerge, create, export, role_grant or policy_import).

        ``checked_by_search``: a ``create`` with no reason to decide on — search before create
        found nothing like it — is filed *approved*, with no checker: its job scores the form
        against every customer first and refuses it (``rejected``, the candidates in its
        result) when any scores above the duplicate threshold.  Only a create may skip the
        checker, and only one whose job keeps the duplicate check on.
        """
        if kind not in ALL_KINDS:
            raise InvalidRequest(f"unknown request kind {kind!r}: one of {', '.join(ALL_KINDS)}")
        action = _filing_action(kind)
        self._check(maker, request_action(kind), action, None)
        if not reason or not reason.strip():
            raise InvalidRequest("a request needs a reason: the checker decides on it")
        if checked_by_search and kind != CREATE_KIND:
            raise InvalidRequest("only a create request is carried out without a checker")
        stored = check_payload(kind, payload if not checked_by_search else {**payload, "check": True},
                               sealer=self.sealer)
        if kind == ROLE_GRANT_KIND and stored["person_id"] == maker.person_id:
            raise self._deny(maker, action, None, "separation of duties: nobody asks for roles for themselves")
        now = self.clock()
        status = "approved" if checked_by_search else "pending"
        req = Request(
            request_id=f"CR-{uuid.uuid4().hex[:12].upper()}", kind=kind, status="pending", maker=maker.person_id,
            maker_role=maker.role, maker_branch=maker.branch or None, created_at=now, reason=reason.strip(),
            payload=stored, expires_at=now + self.request_ttl,
        )
        with self.store.begin() as con:
            con.execute(change_request.insert().values(
                request_id=req.request_id, kind=kind, status=status, maker=req.maker, maker_role=req.maker_role,
                maker_branch=req.maker_branch, created_at=now, reason=req.reason,
                payload=json.dumps(stored, ensure_ascii=False), expires_at=req.expires_at,
                **({"decided_at": now, "decision_note": "search before create: no checker, the job checks for "
                    "duplicates first"} if checked_by_search else {}),
            ))
        self._event(maker, action, req, detail={"checked_by_search": True} if checked_by_search else {})
        return self.get(req.request_id) if checked_by_search else req

    def get(self, request_id: RequestRef) -> Request:
        request_id = self._ref(request_id)
        with self.store.read() as con:
            row = con.execute(sa.select(change_request).where(change_request.c.request_id == request_id)).first()
        if row is None:
            raise NotFoundError(f"no request {request_id}")
        return Request.from_row(row)

    def list_requests(self, *, status: str | None = None, maker: str | None = None, checker: str | None = None,
                      kinds: tuple[str, ...] | None = None, limit: int = 200) -> list[Request]:
        q = sa.select(change_request).order_by(change_request.c.created_at.desc()).limit(limit)
        if status:
            q = q.where(change_request.c.status == status)
        if maker:
            q = q.where(change_request.c.maker == maker)
        if checker:
            q = q.where(change_request.c.checker == checker)
        if kinds:
            q = q.where(change_request.c.kind.in_(kinds))
        with self.store.read() as con:
            return [Request.from_row(r) for r in con.execute(q)]

    def requested_by(self, maker: Subject, *, limit: int = 200) -> list[Request]:
        """The maker's own requests, newest first."""
        return self.list_requests(maker=maker.person_id, limit=limit)

    def pending(self, for_subject: Subject) -> list[Request]:
        """The checker's inbox: pending, unexpired requests of others that this subject may decide."""
        may = {k: self.authorize(for_subject, approve_action(k)).allowed for k in ALL_KINDS}
        kinds = [k for k, ok in may.items() if ok]
        if not kinds:
            return []
        q = (sa.select(change_request)
             .where(change_request.c.status == "pending", change_request.c.expires_at > self.clock(),
                    change_request.c.maker != for_subject.person_id, change_request.c.kind.in_(kinds))
             .order_by(change_request.c.created_at))
        with self.store.read() as con:
            found = [Request.from_row(r) for r in con.execute(q)]
        return [r for r in found if r.grantee != for_subject.person_id]  # nobody decides their own roles

    def _locked(self, con: sa.Connection, request_id: str) -> Request:
        row = con.execute(
            sa.select(change_request).where(change_request.c.request_id == request_id).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"no request {request_id}")
        return Request.from_row(row)

    def _set(self, con: sa.Connection, request_id: str, **values: Any) -> None:
        con.execute(change_request.update().where(change_request.c.request_id == request_id).values(**values))

    def decide(self, request_id: RequestRef, checker: Subject, *, approve: bool, note: str) -> Request:
        """Approve or reject someone else's pending request."""
        action = Action.APPROVE if approve else Action.REJECT
        request_id = self._ref(request_id)
        if not note or not note.strip():
            raise InvalidRequest("a decision needs a note saying why")
        now = self.clock()
        refusal: str | None = None
        expired = False
        with self.store.begin() as con:
            req = self._locked(con, request_id)
            if req.status != "pending":
                raise RequestStateError(f"{request_id} is {req.status}, not pending: it cannot be decided again")
            if req.expires_at <= now:
                self._set(con, request_id, status="expired")
                expired = True
            elif checker.person_id == req.maker:
                refusal = f"{checker.person_id} filed {request_id} and cannot also decide it (maker-checker)"
            elif checker.person_id == req.grantee:
                refusal = (f"{request_id} grants roles to {checker.person_id}, who cannot decide it "
                           "(separation of duties)")
            else:
                decision = self.authorize(checker, approve_action(req.kind))
                if not decision.allowed:
                    rule = f" (rule {decision.rule})" if decision.rule else ""
                    refusal = (f"{checker.person_id} may not {approve_action(req.kind)}: "
                               f"{decision.reason}{rule}")
            if refusal is None and not expired:
                self._set(con, request_id, status="approved" if approve else "rejected", checker=checker.person_id,
                          checker_role=checker.role, decided_at=now, decision_note=note.strip())
        if expired:
            raise RequestStateError(f"{request_id} expired on {req.expires_at:%Y-%m-%d %H:%M} UTC undecided")
        if refusal is not None:
            raise self._deny(checker, action, req, refusal)
        decided = self.get(request_id)
        self._event(checker, action, decided, reason=note.strip(), detail={"maker": req.maker})
        return decided

    def cancel(self, request_id: RequestRef, maker: Subject) -> Request:
        """The maker withdraws their own pending request."""
        request_id = self._ref(request_id)
        with self.store.begin() as con:
            req = self._locked(con, request_id)
            if req.maker != maker.person_id:
                raise ApprovalDenied(f"only {req.maker}, who filed {request_id}, can cancel it")
            if req.status != "pending":
                raise RequestStateError(f"{request_id} is {req.status}, not pending: it cannot be cancelled")
            self._set(con, request_id, status="cancelled", decided_at=self.clock())
        self._event(maker, _filing_action(req.kind), req, detail={"status": "cancelled"})
        return self.get(request_id)

    def expire(self, now: dt.datetime | None = None) -> list[str]:
        """Mark pending requests past their deadline as expired; returns their ids."""
        at = now or self.clock()
        with self.store.begin() as con:
            ids = [r[0] for r in con.execute(sa.select(change_request.c.request_id).where(
                change_request.c.status == "pending", change_request.c.expires_at <= at))]
            if ids:
                con.execute(change_request.update().where(change_request.c.request_id.in_(ids))
                            .values(status="expired"))
        return ids

    def _finish(self, request_id: str, status: str, result: dict[str, Any], *,
                created: str | None = None) -> Request:
        with self.store.begin() as con:
            req = self._locked(con, request_id)
            if req.status != "approved":
                raise RequestStateError(f"{request_id} is {req.status}: only an approved request is carried out")
            extra: dict[str, Any] = {}
            if req.kind == CREATE_KIND and status != "failed":  # done with the form: its sealed values go
                extra["payload"] = json.dumps(shred_create(req.payload, created), ensure_ascii=False)
            self._set(con, request_id, status=status, result=json.dumps(result, ensure_ascii=False, default=str),
                      **extra)
        return self.get(request_id)

    def refuse_duplicate(self, request: RequestRef, candidates: list[dict[str, Any]]) -> Request:
        """A create whose job found likely duplicates: rejected, the candidates (ids, evidence) in its result."""
        req = self.get(request)
        refused = self._finish(req.request_id, "rejected", {"duplicates": candidates})
        self._event(_Actor(req.maker, req.maker_role, req.maker_branch), Action.EDIT, refused, result=Result.DENIED,
                    reason=f"search before create: {len(candidates)} existing customer(s) above the duplicate "
                           "threshold", customer_ids=[str(c["customer_id"]) for c in candidates],
                    detail={"maker": req.maker})
        return refused

    def mark_applied(self, request_id: str, result: dict[str, Any]) -> Request:
        return self._finish(request_id, "applied", result)

    def mark_failed(self, request_id: str, error: str) -> Request:
        return self._finish(request_id, "failed", {"error": error})

    # --- carrying out -------------------------------------------------------------------------
    def apply_change(self, request: RequestRef, steward: Steward, *, by: Subject | None = None) -> Request:
        """Carry out an approved edit, merge or unmerge.

        The EDIT event names ``by``, else the checker whose approval set it off.
        """
        req = self.get(request)
        request_id = req.request_id
        if by is None:
            by = _Actor(req.checker or "-", req.checker_role or "-")
        if req.kind not in CHANGE_KINDS:
            raise InvalidRequest(f"{request_id} is an export request: produce the export instead")
        if req.status != "approved":
            raise RequestStateError(f"{request_id} is {req.status}: only an approved request is carried out")
        try:
            outcome = run_change(req, steward)
        except DuplicateFound as exc:
            return self.refuse_duplicate(req, [c.to_json() for c in exc.candidates])
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, CustodataError):
                message = f"{type(exc).__name__}: {message}"
            failed = self.mark_failed(request_id, message)
            self._event(by, Action.EDIT, failed, result=Result.FAILED, reason=message,
                        detail={"maker": req.maker, "checker": req.checker})
            raise
        return self.confirm_applied(req, outcome, by=by)

    def confirm_applied(self, request: RequestRef, outcome: list[str], *, by: Subject | None = None,
                        resumed: bool = False) -> Request:
        """Record an approved change as applied (``resumed``: found already in the batch store after a crash)."""
        req = self.get(request)
        who = by or _Actor(req.checker or "-", req.checker_role or "-")
        result: dict[str, Any] = {"result": outcome, **({"resumed": True} if resumed else {})}
        created = None
        if req.kind == CREATE_KIND and outcome and outcome[0].startswith("C"):
            created = result["customer_id"] = outcome[0]
        applied = self._finish(req.request_id, "applied", result, created=created)
        self._event(who, Action.EDIT, applied, detail={"maker": req.maker, "checker": req.checker, **result})
        return applied

    def reopen(self, request: RequestRef, by: Subject) -> Request:
        """Put a change whose application failed back to approved, to be tried again (its job is retried)."""
        request_id = self._ref(request)
        with self.store.begin() as con:
            req = self._locked(con, request_id)
            if req.kind not in CHANGE_KINDS:
                raise InvalidRequest(f"{request_id} is a {req.kind} request: only changes are retried")
            if req.status not in ("failed", "approved"):
                raise RequestStateError(f"{request_id} is {req.status}: only a change that failed is tried again")
            if req.status == "failed":
                self._set(con, request_id, status="approved", result=None)
        self._event(by, Action.APPROVE, req, detail={"retry": True, "previous": req.result or {}})
        return self.get(request_id)

    def apply_trust(self, request: RequestRef, *, directory: Granter, policies: PolicyImporter,
                    by: Subject | None = None) -> Request:
        """Carry out an approved role grant or policy import, recorded as the checker's act."""
        req = self.get(request)
        if req.kind not in TRUST_KINDS:
            raise InvalidRequest(f"{req.request_id} is a {req.kind} request, not a role grant or policy import")
        if req.status != "approved":
            raise RequestStateError(f"{req.request_id} is {req.status}: only an approved request is carried out")
        who = by or _Actor(req.checker or "-", req.checker_role or "-")
        action = Action.IDENTITY_CHANGE if req.kind == ROLE_GRANT_KIND else Action.POLICY_CHANGE
        try:
            outcome = (run_grant(req, directory) if req.kind == ROLE_GRANT_KIND
                       else run_policy_import(req, policies))
        except CustodataError as exc:
            failed = self.mark_failed(req.request_id, str(exc))
            self._event(who, action, failed, result=Result.FAILED, reason=str(exc),
                        detail={"maker": req.maker, "checker": req.checker})
            raise
        applied = self.mark_applied(req.request_id, outcome)
        self._event(who, action, applied, detail={"maker": req.maker, "checker": req.checker, **outcome})
        return applied

    def produce_export(
        self, request: RequestRef, *, rows: Iterable[dict[str, Any]], requester: Subject, out_dir: Path,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> ExportFile:
        """Write the approved export for its maker, watermarked for them.

        ``rows`` must already be masked per the requester's policy and purpose;
        only the approved columns (and customers, when listed) are written, times
        in ``timezone`` (the institution's).
        """
        req = self.get(request)
        request_id = req.request_id
        if req.kind != EXPORT_KIND:
            raise InvalidRequest(f"{request_id} is a {req.kind} request, not an export")
        if requester.person_id != req.maker:
            raise self._deny(requester, Action.EXPORT, req,
                             f"{request_id} was filed by {req.maker}: only they receive its export")
        if req.status != "approved":
            raise RequestStateError(f"{request_id} is {req.status}: only an approved export is produced")
        data = [localise(r, timezone) for r in restrict_rows(req, rows)]
        now = self.clock()
        export_id, watermark_id = f"EX-{uuid.uuid4().hex[:12].upper()}", secrets.token_hex(8)
        marked, canaries = watermark_rows(data, secret=self.secret, watermark_id=watermark_id)
        fmt = str(req.payload["format"])
        path = out_dir / f"{export_id}.{fmt}"
        columns = ["customer_id", *[f for f in req.fields if f != "customer_id"]]
        body = render(marked, columns, fmt=fmt,
                      header=notice(req.maker, export_id, now, rows=len(marked), zone=timezone))
        digest = write_atomically(path, body)
        produced = ExportFile(export_id, request_id, req.maker, watermark_id, path, fmt, len(data), digest, now,
                              now + self.export_ttl)
        try:
            with self.store.begin() as con:
                current = self._locked(con, request_id)
                if current.status != "approved":  # produced meanwhile by a concurrent call
                    raise RequestStateError(f"{request_id} is {current.status}: its export was already produced")
                con.execute(export_file.insert().values(
                    export_id=export_id, request_id=request_id, recipient=req.maker, watermark_id=watermark_id,
                    path=str(path), format=fmt, rows=len(data), canaries=json.dumps(canaries, ensure_ascii=False),
                    sha256=digest, created_at=now, expires_at=produced.expires_at, downloaded_count=0,
                ))
                self._set(con, request_id, status="applied", result=json.dumps(
                    {"export_id": export_id, "rows": len(data)}))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        ids = sorted({str(r["customer_id"]) for r in data if r.get("customer_id")})
        self._event(requester, Action.EXPORT, req, customer_ids=ids, customer_count=len(data),
                    detail={"export_id": export_id, "format": fmt})
        return produced

    def export(self, export_id: str) -> ExportFile:
        with self.store.read() as con:
            row = con.execute(sa.select(export_file).where(export_file.c.export_id == export_id)).first()
        if row is None:
            raise NotFoundError(f"no export {export_id}")
        return ExportFile.from_row(row)

    def download(self, export_id: str, subject: Subject) -> Path:
        """The export file, for its recipient only, before it expires, unaltered."""
        ex = self.export(export_id)
        req = self.get(ex.request_id)
        if subject.person_id != ex.recipient:
            # the log names the recipient; the person trying is told only that it is not theirs
            raise self._deny(subject, Action.DOWNLOAD, req, f"{export_id} was exported to {ex.recipient} only",
                             told=f"{export_id} is not addressed to you: only its recipient may download it")
        self._check(subject, "export.download", Action.DOWNLOAD, req)
        now = self.clock()
        problem = None
        if ex.purged_at is not None or now >= ex.expires_at:
            problem = f"{export_id} expired on {ex.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new export"
        elif not ex.path.exists() or write_digest(ex.path) != ex.sha256:
            problem = f"{export_id}'s file is missing or was altered since it was produced"
        if problem:
            self._event(subject, Action.DOWNLOAD, req, result=Result.FAILED, reason=problem,
                        customer_ids=(), customer_count=ex.rows, detail={"export_id": export_id})
            raise ExportExpired(problem) if "expired" in problem else RequestStateError(problem)
        with self.store.begin() as con:
            con.execute(export_file.update().where(export_file.c.export_id == export_id)
                        .values(downloaded_count=export_file.c.downloaded_count + 1))
        self._event(subject, Action.DOWNLOAD, req, customer_ids=(), customer_count=ex.rows,
                    detail={"export_id": export_id})
        return ex.path

    def purge_expired(self, now: dt.datetime | None = None) -> list[str]:
        """Delete the files of expired exports and mark them purged; returns the export ids."""
        at = now or self.clock()
        with self.store.begin() as con:
            due = list(con.execute(sa.select(export_file.c.export_id, export_file.c.path).where(
                export_file.c.purged_at.is_(None), export_file.c.expires_at <= at)))
            for export_id, path in due:
                Path(path).unlink(missing_ok=True)
                con.execute(export_file.update().where(export_file.c.export_id == export_id).values(purged_at=at))
        return [d[0] for d in due]


def write_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
