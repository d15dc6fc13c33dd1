"""Joiners, movers and leavers pushed in by the institution's IdP (SCIM 2.0 users and groups).

The IdP is the source of truth for the accounts it provisions (``source = scim``): their
name, kind, branch, validity, status and — through group membership mapped by
configuration — their roles.  It cannot touch a local account (the demo people, the
break-glass accounts), and it cannot lift a freeze custodata itself imposed (a monitoring
alert's or a security officer's): a frozen account stays frozen until custodata's own
people decide.  Separation of duties is checked on the roles the IdP's groups add up to,
before any membership is written: an IdP that puts one person in the administrators' and
the auditors' groups is refused, and the refusal is audited.

Every change goes through :class:`~custodata.identity.directory.Directory`, so each one is
an identity change in the audit log with the actor ``scim:<idp>``, and each one bites on
the person's next request: the directory re-reads the person on every request, a revoked
role ends the sessions acting in it, and ``left`` ends every session at once.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from custodata.audit.events import Result
from custodata.errors import NotFoundError
from custodata.identity import tables as t
from custodata.identity.directory import STATUSES, Directory, Person
from custodata.identity.errors import IdentityError, PersonExistsError, SeparationOfDutiesError
from custodata.identity.roles import check_separation
from custodata.identity.settings import ClaimMapping
from custodata.people_vocabulary import DISABLED_STATUSES

GROUP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class NotProvisionedError(PermissionError, IdentityError):
    """The account is custodata's own (local): the IdP may neither change nor remove it."""


class GroupNotFoundError(NotFoundError):
    """No provisioned group has this id."""


@dataclass(frozen=True)
class UserAssertion:
    """What the IdP says about one person (a SCIM User, already validated at the edge)."""

    user_name: str
    display_name: str
    active: bool = True
    external_id: str | None = None
    branch: str | None = None
    kind: str | None = None
    status: str | None = None  # active | transferred | leaving (a leaver's notice period feeds monitoring)
    valid_to: dt.datetime | None = None
    portfolio: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Group:
    group_id: str
    display_name: str
    external_id: str | None
    members: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime


class Provisioner:
    """Apply the IdP's users and groups to the directory, as the actor ``scim:<idp>``."""

    def __init__(self, directory: Directory, mapping: ClaimMapping, *, idp: str = "idp") -> None:
        self.directory = directory
        self.mapping = mapping
        self.actor = f"scim:{idp}"
        self.store = directory.store

    # ---- users --------------------------------------------------------------------------------

    def _own(self, person_id: str) -> Person:
        person = self.directory.person(person_id)
        if person.source != "scim":
            raise NotProvisionedError(f"{person_id!r} is a local account: the IdP does not manage it")
        return person

    def user(self, person_id: str) -> Person:
        return self._own(person_id)

    def users(self) -> list[Person]:
        return [p for p in self.directory.people() if p.source == "scim"]

    def create_user(self, a: UserAssertion) -> Person:
        """A joiner: an account without a local password, in the asserted branch and kind, no roles yet."""
        branch = a.branch or self.mapping.default_branch
        if not branch:
            raise IdentityError("the user has no branch and the configuration names no default_branch")
        try:
            self.directory.person(a.user_name)
        except NotFoundError:
            pass
        else:
            raise PersonExistsError(f"a person with login name {a.user_name!r} exists already")
        self.directory.create_person(a.user_name, a.display_name, a.kind or self.mapping.default_kind, branch,
                                     password=None, valid_to=a.valid_to, by=self.actor, source="scim",
                                     external_id=a.external_id)
        self._status(a.user_name, a)
        if a.portfolio is not None:
            self.directory.set_portfolio(a.user_name, a.portfolio, by=self.actor)
        return self.directory.person(a.user_name)

    def replace_user(self, person_id: str, a: UserAssertion) -> Person:
        """A mover or a leaver: name, kind, branch, validity, status and portfolio as the IdP says now."""
        person = self._own(person_id)
        if a.user_name != person_id:
            raise IdentityError("userName cannot change: a login name is never reused or renamed")
        self.directory.update_person(person_id, by=self.actor, display_name=a.display_name, kind=a.kind,
                                     branch=a.branch, external_id=a.external_id)
        if a.valid_to != person.valid_to:
            self.directory.set_validity(person_id, person.valid_from, a.valid_to, by=self.actor)
        self._status(person_id, a)
        if a.portfolio is not None:
            self.directory.set_portfolio(person_id, a.portfolio, by=self.actor)
        return self.directory.person(person_id)

    def deactivate(self, person_id: str) -> Person:
        """A leaver (``active: false`` or DELETE): status ``left``, every live session ends at once."""
        self._own(person_id)
        self.directory.set_status(person_id, "left", by=self.actor, reason="deactivated by the IdP")
        return self.directory.person(person_id)

    def _status(self, person_id: str, a: UserAssertion) -> None:
        current = self.directory.person(person_id).status
        wanted = "left" if not a.active else (a.status or "active")
        if wanted not in STATUSES or wanted == "frozen":
            raise IdentityError(f"status {wanted!r} cannot be provisioned: use active, transferred, leaving or "
                                "active: false")
        if current == wanted:
            return
        if current == "frozen":  # custodata's own freeze is lifted by custodata's people only
            self.directory.record_change(self.actor, "status_changed", person_id, result=Result.DENIED,
                                         reason="the account is frozen by custodata; the IdP cannot lift it",
                                         status=wanted)
            return
        self.directory.set_status(person_id, wanted, by=self.actor, reason="provisioned by the IdP")

    # ---- groups -------------------------------------------------------------------------------

    @staticmethod
    def _group_row(con: sa.Connection, group_id: str) -> Group:
        row = con.execute(sa.select(t.scim_group).where(t.scim_group.c.group_id == group_id)).first()
        if row is None:
            raise GroupNotFoundError(f"no group with id {group_id!r}")
        members = con.execute(sa.select(t.scim_group_member.c.person_id)
                              .where(t.scim_group_member.c.group_id == group_id)
                              .order_by(t.scim_group_member.c.person_id)).scalars().all()
        return Group(row.group_id, row.display_name, row.external_id, tuple(members), row.created_at,
                     row.updated_at)

    def group(self, group_id: str) -> Group:
        with self.store.read() as con:
            return self._group_row(con, group_id)

    def groups(self) -> list[Group]:
        with self.store.read() as con:
            ids = con.execute(sa.select(t.scim_group.c.group_id).order_by(t.scim_group.c.group_id)).scalars().all()
            return [self._group_row(con, g) for g in ids]

    def _groups_of(self, con: sa.Connection, person_id: str) -> dict[str, str]:
        g, m = t.scim_group.c, t.scim_group_member.c
        rows = con.execute(sa.select(g.group_id, g.display_name)
                           .select_from(t.scim_group_member.join(t.scim_group, g.group_id == m.group_id))
                           .where(m.person_id == person_id)).all()
        return {r.group_id: r.display_name for r in rows}

    def create_group(self, display_name: str, members: Sequence[str] = (), *,
                     external_id: str | None = None) -> Group:
        group_id = secrets.token_hex(8)
        self._write_group(group_id, display_name, external_id, members, create=True)
        return self.group(group_id)

    def replace_group(self, group_id: str, display_name: str, members: Sequence[str], *,
                      external_id: str | None = None) -> Group:
        self._write_group(group_id, display_name, external_id, members, create=False)
        return self.group(group_id)

    def change_members(self, group_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
                       display_name: str | None = None) -> Group:
        current = self.group(group_id)
        members = (set(current.members) | set(add)) - set(remove)
        self._write_group(group_id, display_name or current.display_name, current.external_id, sorted(members),
                          create=False)
        return self.group(group_id)

    def delete_group(self, group_id: str) -> None:
        current = self.group(group_id)
        self._apply(group_id, current.display_name, current.external_id, (), create=False, delete=True)

    def _write_group(self, group_id: str, display_name: str, external_id: str | None, members: Sequence[str],
                     *, create: bool) -> None:
        name = display_name.strip()
        if not name or len(name) > 255:
            raise IdentityError("a group's displayName must be 1-255 characters")
        for pid in members:
            self._own(pid)  # only the IdP's own accounts join its groups: no role for a local account
        self._apply(group_id, name, external_id, tuple(dict.fromkeys(members)), create=create, delete=False)

    def _apply(self, group_id: str, name: str, external_id: str | None, members: tuple[str, ...], *,
               create: bool, delete: bool) -> None:
        """Check separation of duties for everyone the change touches, then write it and sync their roles."""
        now = self.directory.now()
        with self.store.read() as con:
            before = () if create else self._group_row(con, group_id).members
            touched = sorted(set(before) | set(members))
            wanted: dict[str, tuple[str, ...]] = {}
            for pid in touched:
                names = self._groups_of(con, pid)
                names.pop(group_id, None)
                if pid in members and not delete:
                    names[group_id] = name
                wanted[pid] = self.mapping.roles(list(names.values()))
        for pid, roles in wanted.items():
            try:
                check_separation(roles)
            except SeparationOfDutiesError as exc:
                self.directory.record_change(self.actor, "idp_roles_refused", pid, result=Result.DENIED,
                                             reason=str(exc), roles=list(roles), group=name)
                exc.audited = True  # type: ignore[attr-defined]
                raise
        g, m = t.scim_group, t.scim_group_member
        try:
            with self.store.begin() as con:
                if create:
                    con.execute(sa.insert(g).values(group_id=group_id, display_name=name, external_id=external_id,
                                                    created_at=now, updated_at=now))
                con.execute(sa.delete(m).where(m.c.group_id == group_id))
                if delete:
                    con.execute(sa.delete(g).where(g.c.group_id == group_id))
                else:
                    if not create:
                        con.execute(sa.update(g).where(g.c.group_id == group_id)
                                    .values(display_name=name, external_id=external_id, updated_at=now))
                    if members:
                        con.execute(sa.insert(m), [{"group_id": group_id, "person_id": p} for p in members])
        except sa.exc.IntegrityError:
            raise PersonExistsError(f"a group named {name!r} exists already") from None
        for pid, roles in wanted.items():
            self._sync_roles(pid, roles)

    def _sync_roles(self, person_id: str, wanted: Sequence[str]) -> None:
        """Make the person's roles exactly ``wanted``: revocations first, so a move never holds both duties."""
        held = set(self.directory.person(person_id).roles)
        for role in sorted(held - set(wanted)):
            self.directory.revoke_role(person_id, role, by=self.actor)
        for role in sorted(set(wanted) - held):
            self.directory.grant_role(person_id, role, by=self.actor)


def is_active(person: Person) -> bool:
    """SCIM's ``active``: a person who can still sign in (a leaver or a frozen account is not)."""
    return person.status not in DISABLED_STATUSES
