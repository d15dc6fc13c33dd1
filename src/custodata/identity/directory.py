"""The directory of people [人员目录]: who may log in, in which role, for which customers, until when.

Every request re-reads the person behind its session (:meth:`Directory.authenticate`),
so a status change, an expired validity period or a revoked role takes effect on the
very next request, whatever tokens are still in circulation.  Every change and every
login attempt is appended to the audit sink; passwords and tokens never are.

Events are appended after the change is committed: the audit log may live in the
same SQLite file, whose single writer would otherwise wait on our own transaction.
Times are naive UTC throughout, like the rest of the operational store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

from custodata.audit.events import Action, AuditEvent, AuditSink, Result
from custodata.errors import StateError
from custodata.identity import mfa as totp
from custodata.identity import tables as t
from custodata.identity.errors import (
    AccountDisabledError,
    AuthenticationError,
    IdentityError,
    MfaEnrolmentRequired,
    MfaRequired,
    PasswordChangeRequired,
    PersonExistsError,
    PersonNotFoundError,
    RoleNotHeldError,
    SeparationOfDutiesError,
    SessionExpiredError,
    WeakPasswordError,
)
from custodata.identity.passwords import Passwords, check_password_policy
from custodata.identity.roles import ROLE_PRECEDENCE, check_role, check_separation, default_role
from custodata.identity.settings import IdentitySettings
from custodata.ops.store import OpsStore
from custodata.people_vocabulary import AUTHENTICATING_STATUSES, DISABLED_STATUSES, PERSON_KINDS, PERSON_STATUSES

KINDS: tuple[str, ...] = PERSON_KINDS
STATUSES: tuple[str, ...] = PERSON_STATUSES

PERSON_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
LAST_SEEN_STEP = dt.timedelta(minutes=1)  # last_seen_at is refreshed at most this often: one write a minute
MAX_TOKEN_LENGTH = 256
CUSTOMER_ID_MAX = 64
SOURCES: tuple[str, ...] = ("local", "scim", "oidc", "ldap")
# the stored "hash" of an account whose password the IdP keeps: not a PHC string, so it matches nothing
NO_LOCAL_PASSWORD = "!no-local-password"  # noqa: S105 - a marker, not a secret


def utcnow() -> dt.datetime:
    """Now as naive UTC, the form the operational store keeps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise IdentityError(f"expected a date and time, not {value!r}")
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _session_person() -> sa.Select[Any]:
    """The session, its person and the roles held now: built once, so compiled once per dialect."""
    s, p, r = t.session, t.person, t.person_role
    return (
        sa.select(s.c.person_id, s.c.role, s.c.expires_at, s.c.last_seen_at, s.c.revoked_at, s.c.mfa, s.c.method,
                  p.c.display_name, p.c.kind, p.c.branch, p.c.status, p.c.valid_from, p.c.valid_to,
                  r.c.role.label("held"))
        .select_from(s.join(p, p.c.person_id == s.c.person_id)
                     .outerjoin(r, r.c.person_id == s.c.person_id))
        .where(s.c.token_hash == sa.bindparam("token_hash", type_=sa.String))
    )


_SESSION_PERSON = _session_person()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sorted_roles(roles: Iterable[str]) -> tuple[str, ...]:
    order = {r: i for i, r in enumerate(ROLE_PRECEDENCE)}
    return tuple(sorted(set(roles), key=lambda r: (order.get(r, len(order)), r)))


def check_person_id(person_id: str) -> str:
    """A login name: lower-case letters, digits and ``._@-``, at most 64 characters."""
    if not isinstance(person_id, str) or not PERSON_ID_PATTERN.fullmatch(person_id):
        raise IdentityError(
            f"bad login name {person_id!r}: use 1-64 lower-case letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit")
    return person_id


def _check_text(what: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IdentityError(f"{what} must not be empty")
    value = value.strip()
    if len(value) > limit:
        raise IdentityError(f"{what} must be at most {limit} characters")
    return value


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise IdentityError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
    return value


def _check_validity(valid_from: dt.datetime, valid_to: dt.datetime | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise IdentityError(f"the validity period ends ({valid_to:%Y-%m-%d %H:%M}) before it starts "
                            f"({valid_from:%Y-%m-%d %H:%M})")


def _check_customer_ids(customer_ids: Iterable[str]) -> set[str]:
    if isinstance(customer_ids, str):
        raise IdentityError("customer ids must be a list, not one string")
    ids: set[str] = set()
    for cid in customer_ids:
        ids.add(_check_text("a customer id", cid, CUSTOMER_ID_MAX))
    return ids


def _no_mfa_key() -> bytes:
    raise IdentityError("this directory has no key to seal second factors with")


def _within(valid_from: dt.datetime, valid_to: dt.datetime | None, now: dt.datetime) -> bool:
    return valid_from <= now and (valid_to is None or now < valid_to)


def _refusal(row: Any, held: Collection[str], acting: str | None, now: dt.datetime) -> str | None:
    """Why someone whose credentials were right still may not sign in (status, validity, role), or None."""
    if row.status not in AUTHENTICATING_STATUSES:
        return f"account {row.status}"
    if not _within(row.valid_from, row.valid_to, now):
        return "outside the validity period"
    if acting is None or acting not in held:
        return "holds no role" if acting is None else f"role not held: {acting}"
    return None


@dataclass(frozen=True)
class Person:
    """A person as the directory knows them; the password hash stays in the store."""

    person_id: str
    display_name: str
    kind: str
    branch: str
    status: str
    status_changed_at: dt.datetime
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    failed_logins: int
    locked_until: dt.datetime | None
    created_at: dt.datetime
    created_by: str
    roles: tuple[str, ...]
    must_change_password: bool = False  # a one-time password: the person has not chosen their own yet
    source: str = "local"  # local | scim | oidc | ldap: who keeps the account's credentials
    external_id: str | None = None


@dataclass(frozen=True)
class Principal:
    """The person behind one request, as re-read for that request, acting in one role."""

    person_id: str
    display_name: str
    kind: str
    branch: str
    role: str
    roles: frozenset[str]
    status: str
    session_expires_at: dt.datetime
    mfa: bool = False  # the session was opened with a second factor (TOTP, recovery code, the IdP's MFA)
    method: str = "password"

    def can_read(self) -> bool:
        """Whether the status allows reading customer data at all (policy may narrow it further)."""
        return self.status in AUTHENTICATING_STATUSES


@dataclass(frozen=True)
class Session:
    """A login's bearer token (shown once, stored only as its hash) and who it stands for."""

    token: str = field(repr=False)
    expires_at: dt.datetime
    principal: Principal


def _person(row: Any, roles: Iterable[str]) -> Person:
    return Person(
        person_id=row.person_id, display_name=row.display_name, kind=row.kind, branch=row.branch,
        status=row.status, status_changed_at=row.status_changed_at, valid_from=row.valid_from,
        valid_to=row.valid_to, failed_logins=row.failed_logins, locked_until=row.locked_until,
        created_at=row.created_at, created_by=row.created_by, roles=_sorted_roles(roles),
        must_change_password=bool(row.must_change_password), source=row.source, external_id=row.external_id,
    )


class Directory:
    """People, roles, portfolios and sessions in the operational store, every change audited.

    ``clock`` returns UTC (naive or aware); tests inject one to move time.
    ``hasher`` exists so tests can use cheap argon2 parameters; production keeps the default.
    """

    def __init__(
        self,
        store: OpsStore,
        audit: AuditSink,
        *,
        session_ttl: dt.timedelta = dt.timedelta(hours=8),
        max_failures: int = 5,
        lockout: dt.timedelta = dt.timedelta(minutes=15),
        clock: Callable[[], dt.datetime] = utcnow,
        hasher: PasswordHasher | None = None,
        settings: IdentitySettings | None = None,
        mfa_key: Callable[[], bytes] | None = None,
        mfa_roles: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        if session_ttl <= dt.timedelta(0):
            raise IdentityError("session_ttl must be positive")
        if max_failures < 1:
            raise IdentityError("max_failures must be at least 1")
        if lockout < dt.timedelta(0):
            raise IdentityError("lockout must not be negative")
        self.store = store
        self._reader = store.reader
        self.audit = audit
        self.session_ttl = session_ttl
        self.max_failures = max_failures
        self.lockout = lockout
        self.clock = clock
        self.passwords = Passwords(hasher)
        self.settings = settings or IdentitySettings()
        # the key TOTP seeds are sealed under (the deployment's key provider); asked for at first use
        self.seeds = totp.SeedSealer(mfa_key or _no_mfa_key)
        # the roles that must prove a second factor (the service derives them from the access policy)
        self._mfa_roles = mfa_roles or (lambda: frozenset())
        # source -> a check of a password the institution keeps (LDAP bind), where a password is proven
        # without a login (MFA enrolment); :mod:`custodata.identity.ldap` registers its own
        self.external_passwords: dict[str, Callable[[str, str], bool]] = {}

    # --- helpers -------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The directory's clock as naive UTC (what lockouts, validity and sessions are judged against)."""
        return _naive_utc(self.clock())

    def _emit(self, event: AuditEvent) -> None:
        self.audit.append(event)

    def _change(self, by: str, change: str, person_id: str, *, result: Result = Result.OK,
                reason: str | None = None, customer_ids: Sequence[str] = (), **detail: Any) -> None:
        self._emit(AuditEvent(actor=by, action=Action.IDENTITY_CHANGE, result=result, reason=reason,
                              customer_ids=tuple(customer_ids),
                              detail={"change": change, "person_id": person_id, **detail}))

    def record_change(self, by: str, change: str, person_id: str, *, result: Result = Result.OK,
                      reason: str | None = None, **detail: Any) -> None:
        """An identity change (or its refusal) decided outside the directory, e.g. an IdP's assertion refused."""
        self._change(by, change, person_id, result=result, reason=reason, **detail)

    @staticmethod
    def _load(con: sa.Connection, person_id: str, *, lock: bool = False) -> tuple[Any, frozenset[str]]:
        """The person's row and roles; ``lock`` holds the row (PostgreSQL) so concurrent grants serialise."""
        query = sa.select(t.person).where(t.person.c.person_id == person_id)
        row = con.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise PersonNotFoundError(f"no person with login name {person_id!r}")
        roles = con.execute(sa.select(t.person_role.c.role).where(t.person_role.c.person_id == person_id)).scalars()
        return row, frozenset(roles)

    @staticmethod
    def _revoke(con: sa.Connection, person_id: str, now: dt.datetime, role: str | None = None) -> int:
        cond = [t.session.c.person_id == person_id, t.session.c.revoked_at.is_(None), t.session.c.expires_at > now]
        if role is not None:
            cond.append(t.session.c.role == role)
        return con.execute(sa.update(t.session).where(*cond).values(revoked_at=now)).rowcount

    # --- people --------------------------------------------------------------------------------

    def create_person(
        self,
        person_id: str,
        display_name: str,
        kind: str,
        branch: str,
        *,
        password: str | None,
        roles: Iterable[str] = (),
        valid_from: dt.datetime | None = None,
        valid_to: dt.datetime | None = None,
        by: str,
        must_change_password: bool = False,
        source: str = "local",
        external_id: str | None = None,
    ) -> Person:
        """Add a person with their first password and roles; refused if the roles break separation of duties.

        Roles given here are granted at once: this is the bootstrap path (the demo, the terminal
        operator).  The service's administrators create people without roles and with
        ``must_change_password`` (a one-time password), and ask for the roles through an approval.
        ``password=None`` is an account whose credentials the institution's IdP keeps (``source``
        scim, oidc or ldap): it has no local password and can only sign in through the IdP.
        """
        by = _check_text("the acting person (by)", by, 255)
        pid = check_person_id(person_id)
        name = _check_text("the display name", display_name, 255)
        _check_choice("kind", kind, KINDS)
        branch = _check_text("the branch", branch, 64)
        if isinstance(roles, str):
            roles = (roles,)
        wanted = _sorted_roles(check_role(r) for r in roles)
        try:
            if wanted and by == pid:
                raise SeparationOfDutiesError("separation of duties: nobody grants a role to themselves")
            check_separation(wanted)
        except SeparationOfDutiesError as exc:
            self._change(by, "person_created", pid, result=Result.DENIED, reason=str(exc), roles=list(wanted))
            exc.audited = True  # type: ignore[attr-defined]
            raise
        now = self.now()
        start = _naive_utc(valid_from) if valid_from is not None else now
        end = _naive_utc(valid_to) if valid_to is not None else None
        _check_validity(start, end)
        _check_choice("source", source, SOURCES)
        if password is None:
            if source == "local":
                raise IdentityError("a local account needs a password")
            password_hash = NO_LOCAL_PASSWORD
        else:
            check_password_policy(password, pid)
            password_hash = self.passwords.hash(password)
        if external_id is not None:
            external_id = _check_text("the external id", external_id, 255)
        try:
            with self.store.begin() as con:
                if con.execute(sa.select(t.person.c.person_id).where(t.person.c.person_id == pid)).first():
                    raise PersonExistsError(f"a person with login name {pid!r} exists already")
                con.execute(sa.insert(t.person).values(
                    person_id=pid, display_name=name, kind=kind, branch=branch, status="active",
                    status_changed_at=now, valid_from=start, valid_to=end, password_hash=password_hash,
                    failed_logins=0, locked_until=None, created_at=now, created_by=by,
                    must_change_password=bool(must_change_password), source=source, external_id=external_id))
                if wanted:
                    con.execute(sa.insert(t.person_role), [
                        {"person_id": pid, "role": r, "granted_by": by, "granted_at": now} for r in wanted])
        except sa.exc.IntegrityError:  # created concurrently between our check and our insert
            raise PersonExistsError(f"a person with login name {pid!r} exists already") from None
        self._change(by, "person_created", pid, kind=kind, branch=branch, roles=list(wanted),
                     valid_from=_iso(start), valid_to=_iso(end), one_time_password=bool(must_change_password),
                     source=source)
        return self.person(pid)

    def update_person(self, person_id: str, *, by: str, display_name: str | None = None, kind: str | None = None,
                      branch: str | None = None, external_id: str | None = None) -> list[str]:
        """Change name, kind, branch or external id (a move); returns what changed, audited as one change.

        The person is re-read on every request, so a new branch narrows the row rule of live
        sessions on their next request.
        """
        by = _check_text("the acting person (by)", by, 255)
        values: dict[str, Any] = {}
        if display_name is not None:
            values["display_name"] = _check_text("the display name", display_name, 255)
        if kind is not None:
            values["kind"] = _check_choice("kind", kind, KINDS)
        if branch is not None:
            values["branch"] = _check_text("the branch", branch, 64)
        if external_id is not None:
            values["external_id"] = _check_text("the external id", external_id, 255)
        with self.store.begin() as con:
            row, _roles = self._load(con, person_id, lock=True)
            changed = {k: v for k, v in values.items() if getattr(row, k) != v}
            if changed:
                con.execute(sa.update(t.person).where(t.person.c.person_id == person_id).values(**changed))
        if changed:
            moved = {f"previous_{k}": getattr(row, k) for k in ("kind", "branch") if k in changed}
            self._change(by, "person_updated", person_id, changed=sorted(changed),
                         **{k: v for k, v in changed.items() if k in ("kind", "branch")}, **moved)
        return sorted(changed)

    def person(self, person_id: str) -> Person:
        """One person by login name (:class:`PersonNotFoundError` if there is none)."""
        with self.store.read() as con:
            row, roles = self._load(con, person_id)
        return _person(row, roles)

    def people(self, *, kind: str | None = None, branch: str | None = None, status: str | None = None) -> list[Person]:
        """Everyone matching the filters, by login name."""
        cond = []
        if kind is not None:
            cond.append(t.person.c.kind == _check_choice("kind", kind, KINDS))
        if status is not None:
            cond.append(t.person.c.status == _check_choice("status", status, STATUSES))
        if branch is not None:
            cond.append(t.person.c.branch == branch)
        with self.store.read() as con:
            rows = con.execute(sa.select(t.person).where(*cond).order_by(t.person.c.person_id)).all()
            held: dict[str, list[str]] = {}
            chosen = sa.select(t.person.c.person_id).where(*cond)
            for pid, role in con.execute(sa.select(t.person_role.c.person_id, t.person_role.c.role)
                                         .where(t.person_role.c.person_id.in_(chosen))):
                held.setdefault(pid, []).append(role)
        return [_person(r, held.get(r.person_id, ())) for r in rows]

    # --- roles ---------------------------------------------------------------------------------

    def grant_role(self, person_id: str, role: str, *, by: str, approved_by: str | None = None,
                   request_id: str | None = None) -> bool:
        """Grant a role (False if already held); refused if it breaks separation of duties or is self-granted.

        ``approved_by`` and ``request_id`` name the approval an administrator's grant went through
        (:mod:`custodata.service.admin`); neither the maker nor the checker may be the grantee.
        """
        by = _check_text("the acting person (by)", by, 255)
        check_role(role)
        refusal: SeparationOfDutiesError | None = None
        approval: dict[str, Any] = {k: v for k, v in (("approved_by", approved_by), ("request_id", request_id)) if v}
        if person_id in (by, approved_by):
            refusal = SeparationOfDutiesError("separation of duties: nobody grants a role to themselves")
        else:
            with self.store.begin() as con:
                _row, held = self._load(con, person_id, lock=True)
                if role in held:
                    return False
                try:
                    check_separation(held | {role})
                except SeparationOfDutiesError as exc:
                    refusal = exc
                else:
                    con.execute(sa.insert(t.person_role).values(
                        person_id=person_id, role=role, granted_by=by, granted_at=self.now()))
        if refusal is not None:
            self._change(by, "role_granted", person_id, result=Result.DENIED, reason=str(refusal), role=role,
                         **approval)
            refusal.audited = True  # type: ignore[attr-defined]
            raise refusal
        self._change(by, "role_granted", person_id, role=role, **approval)
        return True

    def revoke_role(self, person_id: str, role: str, *, by: str) -> bool:
        """Take a role away (False if not held); sessions acting in it end at once."""
        by = _check_text("the acting person (by)", by, 255)
        check_role(role)
        now = self.now()
        with self.store.begin() as con:
            _row, held = self._load(con, person_id, lock=True)
            if role not in held:
                return False
            con.execute(sa.delete(t.person_role).where(t.person_role.c.person_id == person_id,
                                                       t.person_role.c.role == role))
            ended = self._revoke(con, person_id, now, role)
        self._change(by, "role_revoked", person_id, role=role, sessions_revoked=ended)
        return True

    # --- status, validity, password ----------------------------------------------------------

    def set_status(self, person_id: str, status: str, *, by: str, reason: str | None = None) -> bool:
        """Move a person to a status (False if already there); ``left`` and ``frozen`` end every session."""
        by = _check_text("the acting person (by)", by, 255)
        _check_choice("status", status, STATUSES)
        now = self.now()
        with self.store.begin() as con:
            row, _roles = self._load(con, person_id, lock=True)
            if row.status == status:
                return False
            con.execute(sa.update(t.person).where(t.person.c.person_id == person_id)
                        .values(status=status, status_changed_at=now))
            ended = self._revoke(con, person_id, now) if status in DISABLED_STATUSES else 0
        self._change(by, "status_changed", person_id, reason=reason, previous=row.status, status=status,
                     sessions_revoked=ended)
        return True

    def set_validity(self, person_id: str, valid_from: dt.datetime, valid_to: dt.datetime | None, *,
                     by: str) -> None:
        """Set the period in which the person may log in (``valid_to`` exclusive; None = open-ended)."""
        by = _check_text("the acting person (by)", by, 255)
        start = _naive_utc(valid_from)
        end = _naive_utc(valid_to) if valid_to is not None else None
        _check_validity(start, end)
        with self.store.begin() as con:
            self._load(con, person_id, lock=True)
            con.execute(sa.update(t.person).where(t.person.c.person_id == person_id)
                        .values(valid_from=start, valid_to=end))
        self._change(by, "validity_changed", person_id, valid_from=_iso(start), valid_to=_iso(end))

    def set_password(self, person_id: str, password: str, *, by: str) -> None:
        """Set a new password; it also unlocks the account, and a reset by someone else ends live sessions.

        A password someone else chose is a one-time password: its holder must replace it
        (:meth:`change_password`) before it opens a session, so whoever reset it cannot log in as them.
        """
        by = _check_text("the acting person (by)", by, 255)
        check_password_policy(password, person_id)
        password_hash = self.passwords.hash(password)
        now = self.now()
        with self.store.begin() as con:
            self._load(con, person_id, lock=True)
            con.execute(sa.update(t.person).where(t.person.c.person_id == person_id)
                        .values(password_hash=password_hash, failed_logins=0, locked_until=None,
                                must_change_password=by != person_id))
            ended = self._revoke(con, person_id, now) if by != person_id else 0
        self._change(by, "password_set", person_id, sessions_revoked=ended)

    def change_password(self, person_id: str, current: str, new: str, *, source_address: str | None = None) -> None:
        """The person replaces their password, proving the current one (how a one-time password is retired).

        The current password is checked like a login (failures count towards the lockout, a
        locked or disabled account is refused with the generic message), and the new one must
        differ from it: otherwise whoever chose the one-time password would still know it.
        """
        now = self.now()
        pid = person_id.strip().lower() if isinstance(person_id, str) else ""
        address = source_address[:64] if source_address else None
        row = None
        if PERSON_ID_PATTERN.fullmatch(pid):
            with self.store.read() as con:
                try:
                    row, _held = self._load(con, pid)
                except PersonNotFoundError:
                    row = None
        failures = self._reserve_attempt(pid, now) if row is not None else None
        if row is None or failures is None:
            self.passwords.burn()
            self._change(pid[:64] or "-", "password_changed", pid[:64], result=Result.FAILED,
                         reason="unknown user" if row is None else "locked", source_address=address)
            raise AuthenticationError()
        matches, _rehash = self.passwords.verify(row.password_hash, current)
        if not matches:
            self._change(pid, "password_changed", pid, result=Result.FAILED, reason="wrong password",
                         failed_logins=failures, source_address=address)
            raise AuthenticationError()
        self._attempt_passed(pid)
        if row.status not in AUTHENTICATING_STATUSES or not _within(row.valid_from, row.valid_to, now):
            self._change(pid, "password_changed", pid, result=Result.DENIED, reason="the account cannot log in now",
                         source_address=address)
            raise AuthenticationError()
        if new == current:
            raise WeakPasswordError("the new password must differ from the current (one-time) password")
        check_password_policy(new, pid)
        password_hash = self.passwords.hash(new)
        with self.store.begin() as con:
            con.execute(sa.update(t.person).where(t.person.c.person_id == pid)
                        .values(password_hash=password_hash, failed_logins=0, locked_until=None,
                                must_change_password=False))
        self._change(pid, "password_changed", pid, one_time_password_retired=bool(row.must_change_password),
                     source_address=address)

    # --- portfolio -----------------------------------------------------------------------------

    def _write_portfolio(self, person_id: str, customer_ids: Iterable[str], by: str, *, replace: bool) -> None:
        by = _check_text("the acting person (by)", by, 255)
        wanted = _check_customer_ids(customer_ids)
        with self.store.begin() as con:
            self._load(con, person_id, lock=True)
            current = set(con.execute(sa.select(t.portfolio.c.customer_id)
                                      .where(t.portfolio.c.person_id == person_id)).scalars())
            added = wanted - current
            removed = current - wanted if replace else set()
            if removed:
                gone = sorted(removed)
                for i in range(0, len(gone), 500):
                    con.execute(sa.delete(t.portfolio).where(t.portfolio.c.person_id == person_id,
                                                             t.portfolio.c.customer_id.in_(gone[i:i + 500])))
            if added:
                con.execute(sa.insert(t.portfolio), [{"person_id": person_id, "customer_id": c} for c in sorted(added)])
        if added or removed:
            self._change(by, "portfolio_changed", person_id, customer_ids=sorted(added | removed),
                         added=len(added), removed=len(removed))

    def set_portfolio(self, person_id: str, customer_ids: Iterable[str], *, by: str) -> None:
        """Make the person's portfolio exactly these customers."""
        self._write_portfolio(person_id, customer_ids, by, replace=True)

    def add_to_portfolio(self, person_id: str, customer_ids: Iterable[str], *, by: str) -> None:
        """Add customers to the person's portfolio (those already in it are kept once)."""
        self._write_portfolio(person_id, customer_ids, by, replace=False)

    def in_portfolio(self, person_id: str, customer_id: str) -> bool:
        """Whether the person serves the customer: one primary-key look-up, cheap enough per request."""
        with self.store.read() as con:
            return con.execute(sa.select(sa.literal(1)).where(
                t.portfolio.c.person_id == person_id, t.portfolio.c.customer_id == customer_id)).first() is not None

    def portfolio(self, person_id: str) -> list[str]:
        """The customers the person serves, sorted (:class:`PersonNotFoundError` for an unknown person)."""
        with self.store.read() as con:
            self._load(con, person_id)
            return list(con.execute(sa.select(t.portfolio.c.customer_id).where(t.portfolio.c.person_id == person_id)
                                    .order_by(t.portfolio.c.customer_id)).scalars())

    # --- login and sessions ----------------------------------------------------------------------

    def _login_event(self, actor: str, result: Result, reason: str | None, *, role: str | None = None,
                     branch: str | None = None, source_address: str | None = None, **detail: Any) -> None:
        self._emit(AuditEvent(actor=actor, action=Action.LOGIN, result=result, role=role, branch=branch,
                              source_address=source_address, reason=reason, detail=detail))

    def _reserve_attempt(self, person_id: str, now: dt.datetime) -> int | None:
        """Count a password check *before* making it; None when the account is locked (check nothing).

        Counting after the check let 24 parallel attempts all read "0 failures" and have 19
        passwords checked, the right one logging in after the lock.  One conditional UPDATE takes
        a slot instead: at most ``max_failures`` checks run however many arrive at once, and the
        check that takes the last slot locks the account while it runs (a success lifts the lock,
        a crash leaves a lock that expires, never a count stuck at the limit).
        """
        p = t.person.c
        expired = sa.and_(p.locked_until.is_not(None), p.locked_until <= now)
        taken = sa.case((expired, 1), else_=p.failed_logins + 1)
        with self.store.begin() as con:
            result = con.execute(
                sa.update(t.person)
                .where(p.person_id == person_id,
                       sa.or_(expired, sa.and_(p.locked_until.is_(None), p.failed_logins < self.max_failures)))
                .values(failed_logins=taken,
                        locked_until=sa.case((taken >= self.max_failures, now + self.lockout), else_=None))
            )
            if result.rowcount != 1:
                return None
            failures = con.execute(sa.select(p.failed_logins).where(p.person_id == person_id)).scalar_one()
        return int(failures)

    def _attempt_passed(self, person_id: str, con: sa.Connection | None = None) -> None:
        """The password was right: the count starts again and a lock taken by this check is lifted."""
        statement = sa.update(t.person).where(t.person.c.person_id == person_id).values(
            failed_logins=0, locked_until=None)
        if con is not None:
            con.execute(statement)
            return
        with self.store.begin() as own:
            own.execute(statement)

    def _locked_reason(self, person_id: str) -> str:
        with self.store.read() as con:
            until = con.execute(sa.select(t.person.c.locked_until)
                                .where(t.person.c.person_id == person_id)).scalar_one_or_none()
        return f"locked until {until:%Y-%m-%d %H:%M:%S} UTC" if until is not None else "locked"

    def login(self, person_id: str, password: str, *, role: str | None = None,
              source_address: str | None = None, otp: str | None = None) -> Session:
        """Check the password (and the second factor, when enrolled or required) and open a session in one role.

        Unknown user, wrong password, locked, not active and outside validity all raise
        :class:`AuthenticationError` with the same message; the audit event says which.
        A person with a second factor must send its code as ``otp`` (:class:`MfaRequired`
        without one); a role that policy holds to MFA refuses a person who has none
        (:class:`MfaEnrolmentRequired`), unless they are a break-glass account.
        """
        now = self.now()
        pid = person_id.strip().lower() if isinstance(person_id, str) else ""
        address = source_address[:64] if source_address else None
        row = None
        held: frozenset[str] = frozenset()
        if PERSON_ID_PATTERN.fullmatch(pid):
            with self.store.read() as con:
                try:
                    row, held = self._load(con, pid)
                except PersonNotFoundError:
                    row = None
        if row is None:
            self.passwords.burn()
            self._login_event("-", Result.FAILED, "unknown user", source_address=address, login=pid[:64])
            raise AuthenticationError()
        event = {"actor": pid, "branch": row.branch, "source_address": address}
        failures = self._reserve_attempt(pid, now)
        if failures is None:
            self.passwords.burn()
            self._login_event(**event, result=Result.FAILED, reason=self._locked_reason(pid))
            raise AuthenticationError()
        matches, rehash = self.passwords.verify(row.password_hash, password)
        if not matches:
            reason = "wrong password"
            if failures >= self.max_failures:
                reason += f"; locked until {now + self.lockout:%Y-%m-%d %H:%M:%S} UTC after {failures} failures"
            self._login_event(**event, result=Result.FAILED, reason=reason, failed_logins=failures)
            raise AuthenticationError()
        enrolled = self._mfa_row(pid)
        if enrolled is None or enrolled.confirmed_at is None:
            self._attempt_passed(pid)  # else the attempt counts until its second factor is right too
        if row.status not in AUTHENTICATING_STATUSES:
            self._login_event(**event, result=Result.DENIED, reason=f"account {row.status}")
            raise AuthenticationError()
        if not _within(row.valid_from, row.valid_to, now):
            self._login_event(**event, result=Result.DENIED, reason="outside the validity period")
            raise AuthenticationError()
        if row.must_change_password:  # someone else chose it: it opens no session, only change_password
            self._login_event(**event, result=Result.DENIED, reason="one-time password not yet changed")
            raise PasswordChangeRequired()
        acting = default_role(held) if role is None else role
        if acting is None or acting not in held:
            why = "holds no role" if acting is None else f"role not held: {acting}"
            self._login_event(**event, result=Result.DENIED, reason=why, role=role)
            # the same answer as a wrong password: a different one would confirm the password to a guesser
            raise AuthenticationError()
        method, with_mfa = self._second_factor(pid, enrolled, acting, otp, now, {**event, "failed_logins": failures})
        if rehash:
            with self.store.begin() as con:
                con.execute(sa.update(t.person).where(t.person.c.person_id == pid)
                            .values(password_hash=self.passwords.hash(password)))
        return self._open(row, held, acting, method=method, mfa=with_mfa, address=address, now=now)

    def login_verified(self, person_id: str, *, method: str, role: str | None = None, otp: str | None = None,
                       source_address: str | None = None, failures: int = 0) -> Session:
        """The rest of a login whose password the institution's directory checked (an LDAP bind).

        The person as stored now decides, as for a local login: status, validity, the role asked
        for, then the second factor: a TOTP enrolled in custodata is asked for like a local
        account's, and a role policy holds to MFA refuses a person without one.  The failure
        slot the caller took (:meth:`_reserve_attempt`) is given back once everything passed.
        """
        now = self.now()
        address = source_address[:64] if source_address else None
        with self.store.read() as con:
            row, held = self._load(con, person_id)
        pid = row.person_id
        event: dict[str, Any] = {"actor": pid, "branch": row.branch, "source_address": address, "method": method}
        enrolled = self._mfa_row(pid)
        if enrolled is None or enrolled.confirmed_at is None:
            self._attempt_passed(pid)
        acting = default_role(held) if role is None else role
        why = _refusal(row, held, acting, now)
        if why is not None or acting is None:
            self._login_event(**event, result=Result.DENIED, reason=why, role=role)
            raise AuthenticationError()
        if (enrolled is None or enrolled.confirmed_at is None) and self.requires_mfa(acting):
            self._login_event(**event, result=Result.DENIED, reason="second factor required by policy, none enrolled",
                              role=acting)
            raise MfaEnrolmentRequired()
        factor, with_mfa = self._second_factor(pid, enrolled, acting, otp, now, {**event, "failed_logins": failures})
        chosen = {"password": method, "password+totp": f"{method}+totp"}.get(factor, factor)
        return self._open(row, held, acting, method=chosen, mfa=with_mfa, address=address, now=now)

    # --- second factor (TOTP) --------------------------------------------------------------------

    def requires_mfa(self, role: str) -> bool:
        """Whether policy holds a session in ``role`` to a second factor (``mfa.enforce`` and the role's powers)."""
        return self.settings.mfa.enforce and role in self._mfa_roles()

    def _mfa_row(self, person_id: str) -> Any:
        with self.store.read() as con:
            return con.execute(sa.select(t.person_mfa).where(t.person_mfa.c.person_id == person_id)).first()

    def _second_factor(self, pid: str, enrolled: Any, acting: str, otp: str | None, now: dt.datetime,
                       event: dict[str, Any]) -> tuple[str, bool]:
        """``(method, mfa)`` of a login whose password was right, or the refusal (audited) if the factor fails.

        Password and code are one attempt: the failure slot the password check took is only given
        back once the code is right too, so the six digits cannot be guessed faster than the password.
        """
        if enrolled is None or enrolled.confirmed_at is None:
            if not self.requires_mfa(acting):
                return "password", False
            if pid in self.settings.mfa.break_glass:
                return "break_glass", False
            self._login_event(**event, result=Result.DENIED, reason="second factor required by policy, none enrolled",
                              role=acting)
            raise MfaEnrolmentRequired()
        if not otp:  # nothing was guessed: the right password gives its slot back
            self._attempt_passed(pid)
            self._login_event(**{k: v for k, v in event.items() if k != "failed_logins"}, result=Result.FAILED,
                              reason="second factor missing", role=acting)
            raise MfaRequired()
        method = self._use_factor(pid, enrolled, otp, now)
        if method is None:
            self._login_event(**event, result=Result.FAILED, reason="wrong second factor", role=acting)
            raise AuthenticationError()
        self._attempt_passed(pid)
        return method, True

    def _use_factor(self, pid: str, enrolled: Any, otp: str, now: dt.datetime) -> str | None:
        """Spend a TOTP step or a recovery code (each at most once); the method it was, or None."""
        secret = self.seeds.open(pid, enrolled.seed_sealed)
        step = totp.matching_step(secret, otp, now=now.replace(tzinfo=dt.UTC).timestamp(), after=enrolled.last_step)
        m = t.person_mfa.c
        if step is not None:
            with self.store.begin() as con:
                taken = con.execute(sa.update(t.person_mfa)
                                    .where(m.person_id == pid, sa.or_(m.last_step.is_(None), m.last_step < step))
                                    .values(last_step=step)).rowcount
            return "password+totp" if taken == 1 else None
        if totp.looks_like_recovery_code(otp):
            r = t.person_recovery_code.c
            with self.store.begin() as con:
                used = con.execute(sa.update(t.person_recovery_code)
                                   .where(r.person_id == pid, r.code_hash == totp.recovery_hash(otp),
                                          r.used_at.is_(None))
                                   .values(used_at=now)).rowcount
            if used == 1:
                return "recovery_code"
        return None

    def _prove(self, person_id: str, password: str, change: str, source_address: str | None) -> Any:
        """The person's row once their password is proven (failures count to the lockout); generic refusal else."""
        now = self.now()
        pid = person_id.strip().lower() if isinstance(person_id, str) else ""
        address = source_address[:64] if source_address else None
        row = None
        if PERSON_ID_PATTERN.fullmatch(pid):
            with self.store.read() as con:
                try:
                    row, _held = self._load(con, pid)
                except PersonNotFoundError:
                    row = None
        failures = self._reserve_attempt(pid, now) if row is not None else None
        if row is None or failures is None:
            self.passwords.burn()
            self._change(pid[:64] or "-", change, pid[:64], result=Result.FAILED,
                         reason="unknown user" if row is None else "locked", source_address=address)
            raise AuthenticationError()
        external = self.external_passwords.get(row.source)
        matches = external(pid, password) if external else self.passwords.verify(row.password_hash, password)[0]
        if not matches:
            self._change(pid, change, pid, result=Result.FAILED, reason="wrong password", failed_logins=failures,
                         source_address=address)
            raise AuthenticationError()
        self._attempt_passed(pid)
        if row.status not in AUTHENTICATING_STATUSES or not _within(row.valid_from, row.valid_to, now) \
                or row.must_change_password:
            self._change(pid, change, pid, result=Result.DENIED, reason="the account cannot log in now",
                         source_address=address)
            raise AuthenticationError()
        return row

    def begin_mfa(self, person_id: str, password: str, *, source_address: str | None = None) -> totp.Enrolment:
        """Start a TOTP enrolment, proven by the password: the seed and its URI are returned once, never again.

        A person who has a confirmed factor cannot start over this way (whoever learnt the password
        would replace the phone): an administrator resets it first (:meth:`reset_mfa`).
        """
        row = self._prove(person_id, password, "mfa_enrolment_started", source_address)
        pid = row.person_id
        current = self._mfa_row(pid)
        if current is not None and current.confirmed_at is not None:
            self._change(pid, "mfa_enrolment_started", pid, result=Result.DENIED, reason="a second factor is enrolled")
            raise StateError("a second factor is enrolled already; an administrator resets it if the device is lost")
        enrolment = totp.new_enrolment(pid, self.settings.mfa.issuer)
        sealed = self.seeds.seal(pid, enrolment.secret)
        now = self.now()
        with self.store.begin() as con:
            con.execute(sa.delete(t.person_mfa).where(t.person_mfa.c.person_id == pid))
            con.execute(sa.insert(t.person_mfa).values(person_id=pid, seed_sealed=sealed, created_at=now,
                                                       confirmed_at=None, last_step=None))
        self._change(pid, "mfa_enrolment_started", pid,
                     source_address=source_address[:64] if source_address else None)
        return enrolment

    def confirm_mfa(self, person_id: str, password: str, code: str, *,
                    source_address: str | None = None) -> list[str]:
        """Finish an enrolment with the app's first code; returns the recovery codes (shown once, kept hashed)."""
        row = self._prove(person_id, password, "mfa_enrolled", source_address)
        pid = row.person_id
        pending = self._mfa_row(pid)
        if pending is None or pending.confirmed_at is not None:
            self._change(pid, "mfa_enrolled", pid, result=Result.FAILED, reason="no enrolment waiting")
            raise StateError("no enrolment is waiting: start one first (mfa enrol)")
        now = self.now()
        secret = self.seeds.open(pid, pending.seed_sealed)
        step = totp.matching_step(secret, code, now=now.replace(tzinfo=dt.UTC).timestamp())
        if step is None:
            self._change(pid, "mfa_enrolled", pid, result=Result.FAILED, reason="wrong code")
            raise AuthenticationError("the code does not match: check the authenticator app's time and try again")
        codes = totp.new_recovery_codes(self.settings.mfa.recovery_codes)
        with self.store.begin() as con:
            con.execute(sa.update(t.person_mfa).where(t.person_mfa.c.person_id == pid)
                        .values(confirmed_at=now, last_step=step))
            con.execute(sa.delete(t.person_recovery_code).where(t.person_recovery_code.c.person_id == pid))
            con.execute(sa.insert(t.person_recovery_code),
                        [{"person_id": pid, "code_hash": totp.recovery_hash(c), "used_at": None} for c in codes])
        self._change(pid, "mfa_enrolled", pid, recovery_codes=len(codes),
                     source_address=source_address[:64] if source_address else None)
        return codes

    def has_mfa(self, person_id: str) -> bool:
        row = self._mfa_row(person_id)
        return row is not None and row.confirmed_at is not None

    def reset_mfa(self, person_id: str, *, by: str) -> bool:
        """Remove a person's second factor and recovery codes (a lost phone); their sessions end at once."""
        by = _check_text("the acting person (by)", by, 255)
        if by == person_id:
            raise SeparationOfDutiesError("separation of duties: nobody resets their own second factor")
        now = self.now()
        with self.store.begin() as con:
            self._load(con, person_id, lock=True)
            gone = con.execute(sa.delete(t.person_mfa).where(t.person_mfa.c.person_id == person_id)).rowcount
            con.execute(sa.delete(t.person_recovery_code).where(t.person_recovery_code.c.person_id == person_id))
            ended = self._revoke(con, person_id, now) if gone else 0
        if gone:
            self._change(by, "mfa_reset", person_id, sessions_revoked=ended)
        return bool(gone)

    # --- sessions ----------------------------------------------------------------------------------

    def _open(self, row: Any, held: frozenset[str], acting: str, *, method: str, mfa: bool,
              address: str | None, now: dt.datetime, **detail: Any) -> Session:
        """Insert a session (absolute limit by role) and end the oldest beyond the kind's concurrent limit."""
        token = secrets.token_urlsafe(32)
        token_hash = _token_hash(token)
        expires = now + min(self.session_ttl, self.settings.sessions.absolute(acting))
        limit = self.settings.sessions.max_concurrent.get(row.kind)
        s = t.session.c
        ended = 0
        with self.store.begin() as con:
            if limit is not None:  # parallel logins wait here: each counts the others' sessions (PostgreSQL)
                self._load(con, row.person_id, lock=True)
            con.execute(sa.insert(t.session).values(
                token_hash=token_hash, person_id=row.person_id, role=acting, created_at=now, expires_at=expires,
                last_seen_at=now, source_address=address, revoked_at=None, method=method, mfa=mfa))
            if limit is not None:
                live = con.execute(sa.select(s.token_hash).where(
                    s.person_id == row.person_id, s.revoked_at.is_(None), s.expires_at > now)
                    .order_by(s.created_at.desc(), (s.token_hash == token_hash).desc())).scalars().all()
                older = [h for h in live if h != token_hash][max(0, limit - 1):]
                if older:
                    ended = con.execute(sa.update(t.session).where(s.token_hash.in_(older))
                                        .values(revoked_at=now)).rowcount
        extra = {"sessions_ended_by_limit": ended} if ended else {}
        self._login_event(row.person_id, Result.OK, None, role=acting, branch=row.branch, source_address=address,
                          session=token_hash[:16], method=method, mfa=mfa, **extra, **detail)
        principal = Principal(person_id=row.person_id, display_name=row.display_name, kind=row.kind,
                              branch=row.branch, role=acting, roles=held, status=row.status,
                              session_expires_at=expires, mfa=mfa, method=method)
        return Session(token=token, expires_at=expires, principal=principal)

    def open_session(self, person_id: str, *, role: str | None, method: str, mfa: bool,
                     source_address: str | None = None, **detail: Any) -> Session:
        """A session for a person the institution's IdP has authenticated (OIDC, LDAP): no local password.

        The person as stored now decides (status, validity, roles held): an IdP that vouches for
        someone custodata has frozen opens nothing.  A role held to MFA needs ``mfa`` (the IdP's
        ``amr``/``acr``); every refusal is audited like a failed login.
        """
        now = self.now()
        address = source_address[:64] if source_address else None
        with self.store.read() as con:
            try:
                row, held = self._load(con, person_id)
            except PersonNotFoundError:
                self._login_event("-", Result.FAILED, "unknown user", source_address=address, login=person_id[:64],
                                  method=method)
                raise AuthenticationError() from None
        event: dict[str, Any] = {"actor": row.person_id, "branch": row.branch, "source_address": address}
        acting = default_role(held) if role is None else role
        why = _refusal(row, held, acting, now)
        if why is None and acting is not None and self.requires_mfa(acting) and not mfa:
            why = "second factor required by policy, the IdP asserted none"
        if why is not None or acting is None:
            self._login_event(**event, result=Result.DENIED, reason=why, role=acting, method=method, **detail)
            raise AuthenticationError()
        return self._open(row, held, acting, method=method, mfa=mfa, address=address, now=now, **detail)

    def authenticate(self, token: str, *, source_address: str | None = None) -> Principal:
        """The person behind a session token, re-read now: one indexed query, plus a write once a minute.

        A session ends when it expires or is revoked, and is refused (and revoked) as soon
        as its person has left, is frozen, is outside the validity period, or lost the role
        the session acts in.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise SessionExpiredError("session unknown or expired: log in again")
        token_hash = _token_hash(token)
        now = self.now()
        s = t.session
        with self._reader.connect() as con:  # autocommit: one statement, no BEGIN/ROLLBACK round trips
            rows = con.execute(_SESSION_PERSON, {"token_hash": token_hash}).all()
        if not rows or rows[0].revoked_at is not None or rows[0].expires_at <= now:
            raise SessionExpiredError("session unknown or expired: log in again")
        first = rows[0]
        held = frozenset(x.held for x in rows if x.held is not None)
        refusal: AuthenticationError | None = None
        if now - first.last_seen_at > self.settings.sessions.idle(first.role) + LAST_SEEN_STEP:
            reason = "idle timeout"
            refusal = SessionExpiredError("session ended after a time without use: log in again")
        elif first.status not in AUTHENTICATING_STATUSES:
            reason = f"account {first.status}"
            refusal = AccountDisabledError("session ended: the account cannot be used now")
        elif not _within(first.valid_from, first.valid_to, now):
            reason = "outside the validity period"
            refusal = AccountDisabledError("session ended: the account cannot be used now")
        elif first.role not in held:
            reason = f"role revoked: {first.role}"
            refusal = RoleNotHeldError(f"session ended: you no longer hold the role {first.role!r}")
        elif not first.mfa and first.method != "break_glass" and self.requires_mfa(first.role):
            reason = "second factor now required by policy"
            refusal = MfaRequired("session ended: this role now needs a second factor; log in again with it")
        if refusal is not None:
            with self.store.begin() as con:
                con.execute(sa.update(s).where(s.c.token_hash == token_hash, s.c.revoked_at.is_(None))
                            .values(revoked_at=now))
            self._login_event(first.person_id, Result.DENIED, reason, role=first.role, branch=first.branch,
                              source_address=source_address[:64] if source_address else None,
                              via="session", session=token_hash[:16])
            raise refusal
        if now - first.last_seen_at >= LAST_SEEN_STEP:
            with self.store.begin() as con:
                con.execute(sa.update(s).where(s.c.token_hash == token_hash).values(last_seen_at=now))
        return Principal(person_id=first.person_id, display_name=first.display_name, kind=first.kind,
                         branch=first.branch, role=first.role, roles=held, status=first.status,
                         session_expires_at=first.expires_at, mfa=bool(first.mfa), method=first.method)

    def logout(self, token: str) -> None:
        """End a session; an unknown, expired or already ended token is a no-op."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return
        token_hash = _token_hash(token)
        now = self.now()
        s = t.session
        with self.store.begin() as con:
            row = con.execute(sa.select(s.c.person_id, s.c.role, s.c.source_address)
                              .where(s.c.token_hash == token_hash, s.c.revoked_at.is_(None), s.c.expires_at > now)
                              ).first()
            if row is None:
                return
            con.execute(sa.update(s).where(s.c.token_hash == token_hash).values(revoked_at=now))
        self._emit(AuditEvent(actor=row.person_id, action=Action.LOGOUT, role=row.role,
                              source_address=row.source_address, detail={"session": token_hash[:16]}))

    def logout_everywhere(self, token: str) -> int:
        """End every live session of the person behind ``token`` (a lost laptop, a shared screen)."""
        principal = self.authenticate(token)
        return self.revoke_sessions(principal.person_id, by=principal.person_id)

    def revoke_sessions(self, person_id: str, *, by: str = "system") -> int:
        """End every live session of a person (e.g. a monitoring alert); returns how many ended."""
        now = self.now()
        with self.store.begin() as con:
            self._load(con, person_id, lock=True)
            ended = self._revoke(con, person_id, now)
        if ended:
            self._change(by, "sessions_revoked", person_id, sessions_revoked=ended)
        return ended

    def purge_sessions(self, *, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
        """Delete sessions that expired or were revoked more than ``older_than`` ago (the audit log keeps logins)."""
        cutoff = self.now() - older_than
        s = t.session
        with self.store.begin() as con:
            return con.execute(sa.delete(s).where(sa.or_(s.c.expires_at < cutoff, s.c.revoked_at < cutoff))).rowcount
