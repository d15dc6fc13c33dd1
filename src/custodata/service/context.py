"""The services a request needs, opened once per process, and the caller of a request."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from custodata.audit.events import Action, AuditEvent, Result
from custodata.errors import CustodataError
from custodata.ops.store import OpsStore, open_ops

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from custodata.access.engine import AccessDecision, PolicyEngine
    from custodata.access.store import PolicyStore
    from custodata.approvals import Approvals
    from custodata.audit.anchor import TrustAnchor
    from custodata.audit.log import AuditLog
    from custodata.audit.retention import AuditSettings
    from custodata.audit.signing import CheckpointSigner
    from custodata.crypto import Protector
    from custodata.identity.directory import Directory, Principal
    from custodata.identity.oidc import Admission
    from custodata.identity.settings import IdentitySettings
    from custodata.serving.served_view import ServedView


class AccessDenied(CustodataError):
    """Refused by policy; carries the decision so the caller can explain it (always audited before it is raised)."""

    audited = True

    def __init__(self, message: str, decision: AccessDecision | None = None) -> None:
        super().__init__(message)
        self.decision = decision


# Identifiers a refusal message may quote (an invalid ID number, a mobile, an e-mail): never into the log.
_QUOTED_VALUE = re.compile(r"[^\s'\"]*\d[^\s'\"]*\d[^\s'\"]*\d[^\s'\"]*\d[^\s'\"]*|[^\s'\"@]+@[^\s'\"]+")
# custodata's own ids (customers, requests, exports, jobs) name no person and stay readable
_CUSTOMER_ID = re.compile(r"C\d{9,12}")
_OUR_ID = re.compile(r"C\d{9,12}|(?:CR|EX|JOB|AL)-[0-9A-Za-z-]+")
_F = TypeVar("_F", bound=Callable[..., Any])


def refusal_reason(exc: BaseException) -> str:
    """The refusal as the audit log keeps it: the message with any quoted value cut out, bounded."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _QUOTED_VALUE.sub(lambda m: m.group(0) if _OUR_ID.fullmatch(m.group(0)) else "…", text)[:300]


_E = TypeVar("_E", bound=BaseException)


def mark_audited(exc: _E) -> _E:
    """Say that the refusal ``exc`` has its audit event already (so :func:`audited` adds none)."""
    exc.audited = True  # type: ignore[attr-defined]
    return exc


def audited(action: Action, **detail: Any) -> Callable[[_F], _F]:
    """Every refusal of a service operation leaves an audit event, not only the policy's.

    Invalid search criteria, a field that does not exist, a malformed change, a request
    that is not there: each of these is someone trying something, and an insider probing
    the service learns from them.  A refusal that has its event already (policy denials,
    maker-checker refusals) is passed on as it is; any other is recorded as ``failed``
    with its reason, values quoted in it cut out.
    """

    def wrap(func: _F) -> _F:
        @functools.wraps(func)
        def run(svc: Services, caller: Caller, *args: Any, **kwargs: Any) -> Any:
            try:
                return func(svc, caller, *args, **kwargs)
            except (CustodataError, ValueError, LookupError) as exc:
                if not getattr(exc, "audited", False):
                    svc.record(caller, action, Result.FAILED, reason=refusal_reason(exc),
                               detail={"operation": func.__name__, **detail})
                    mark_audited(exc)
                raise

        return run  # type: ignore[return-value]

    return wrap


@dataclass(frozen=True)
class Caller:
    """An authenticated person acting in one role, and where the request came from."""

    principal: Principal
    source_address: str | None = None

    @property
    def person_id(self) -> str:
        return self.principal.person_id

    @property
    def role(self) -> str:
        return self.principal.role


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class Services:
    """Everything the service layer uses, bound to one operational store and one output folder."""

    ops: OpsStore
    out_dir: Path
    clock: Any = field(default=utcnow)

    @classmethod
    def open(cls, out_dir: Path, *, url: str | None = None) -> Services:
        return cls(open_ops(url, out_dir=out_dir), out_dir)

    @cached_property
    def signer(self) -> CheckpointSigner:
        """The audit checkpoint key (``CUSTODATA_AUDIT_KEY``, else in the key folder beside ``out``)."""
        from custodata.audit.signing import CheckpointSigner

        return CheckpointSigner.for_out_dir(self.out_dir)

    @cached_property
    def audit_settings(self) -> AuditSettings:
        """``CUSTODATA_AUDIT_CONFIG`` (intervals, anchor file, trust anchor) or the defaults."""
        from custodata.audit.retention import load_settings

        return load_settings()

    def audit_public_key(self) -> TrustAnchor | Ed25519PublicKey:
        """The auditors' pinned trust anchor when configured; else the signing key (verify then warns)."""
        return self.audit_settings.anchor(data_dir=self.out_dir) or self.signer.public_key

    def audit_anchor_file(self) -> Path:
        """The append-only copy of every checkpoint, outside the store."""
        return self.audit_settings.anchor_path(self.out_dir, self.ops.url)

    @cached_property
    def audit(self) -> AuditLog:
        from custodata.audit.log import AuditLog

        chosen = self.audit_settings
        return AuditLog(self.ops, self.signer, checkpoint_every=chosen.checkpoint_every,
                        checkpoint_seconds=chosen.checkpoint_seconds, anchor_file=self.audit_anchor_file())

    @cached_property
    def directory(self) -> Directory:
        from custodata.identity.directory import Directory

        settings = self.identity_settings

        def mfa_key() -> bytes:
            from custodata.crypto.kek import load_provider

            return load_provider(self.out_dir).token_key()

        def mfa_roles() -> frozenset[str]:
            return self.engine.roles_with_any(settings.mfa.required_for)

        return Directory(self.ops, self.audit, settings=settings, mfa_key=mfa_key, mfa_roles=mfa_roles)

    @cached_property
    def identity_settings(self) -> IdentitySettings:
        """``CUSTODATA_IDENTITY_CONFIG`` (MFA policy, sessions, SCIM, OIDC) or the defaults (local passwords)."""
        from custodata.identity.settings import load_identity_settings

        return load_identity_settings()

    @cached_property
    def oidc(self) -> Admission | None:
        """The OpenID Connect relying party when ``oidc`` is configured (caches the provider's metadata and keys)."""
        chosen = self.identity_settings.oidc
        if chosen is None:
            return None
        from custodata.identity.oidc import Admission, OidcClient

        return Admission(self.directory, OidcClient(chosen, clock=self.directory.now))

    @cached_property
    def policies(self) -> PolicyStore:
        from custodata.access.store import PolicyStore

        store = PolicyStore(self.ops, self.audit)
        store.seed_default(by="system")
        return store

    @property
    def engine(self) -> PolicyEngine:
        return self.policies.current()

    @cached_property
    def protector(self) -> Protector:
        from custodata.serving.served_view import protector_from_ops

        return protector_from_ops(self.ops, out_dir=self.out_dir)

    @cached_property
    def served(self) -> ServedView:
        from custodata.serving.served_view import ServedView

        return ServedView(self.ops, self.protector)

    @cached_property
    def approvals(self) -> Approvals:
        from custodata.approvals import Approvals
        from custodata.approvals.secret import watermark_secret

        def authorize(subject: Any, action: str) -> AccessDecision:
            return self.engine.check(subject, action, at=self.clock())

        return Approvals(self.ops, self.audit, authorize=authorize, watermark_secret=watermark_secret(self.out_dir),
                         sealer=self.protector)

    def close(self) -> None:
        self.ops.close()

    # ---- the two things every operation does --------------------------------------------------

    def record(self, caller: Caller, action: Action, result: Result = Result.OK, *,
               customer_ids: Sequence[str] = (), customer_count: int | None = None, fields: Sequence[str] = (),
               purpose: str | None = None, reason: str | None = None, detail: dict[str, Any] | None = None) -> int:
        p = caller.principal
        detail = dict(detail or {})
        # Only custodata's own customer ids are recorded as customers: a caller who types an ID
        # number or a mobile where a customer id belongs must not write it into the log and its
        # index.  Likewise a purpose the policy does not declare is recorded as such, not as typed.
        ours = tuple(c for c in customer_ids if _CUSTOMER_ID.fullmatch(str(c)))
        if len(ours) != len(customer_ids):
            detail["unrecognised_ids"] = len(customer_ids) - len(ours)
        if purpose is not None and purpose not in self.engine.masking.purposes:
            detail["purpose_stated"] = "undeclared"
            purpose = None
        return self.audit.append(AuditEvent(
            actor=p.person_id, action=action, result=result, role=p.role, branch=p.branch,
            customer_ids=ours, customer_count=customer_count, fields=tuple(fields), purpose=purpose,
            source_address=caller.source_address, reason=reason, detail=detail,
        ))

    def require(self, caller: Caller, permission: str, audit_action: Action, *,
                customer_ids: Sequence[str] = (), purpose: str | None = None) -> None:
        """Check an action; a refusal is audited as a denial and raised."""
        decision = self.engine.check(caller.principal, permission, at=self.clock())
        if not decision.allowed:
            self.record(caller, audit_action, Result.DENIED, customer_ids=customer_ids, purpose=purpose,
                        reason=decision.reason)
            raise AccessDenied(decision.reason, decision)
