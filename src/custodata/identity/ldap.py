"""Signing in against the institution's LDAP / Active Directory [目录服务登录] (issue 15 point 1).

For institutions without OpenID Connect: the person types the directory password into
custodata's login form, custodata finds their entry (a search by a read-only service account,
or a DN template), binds as that entry with the password, reads their groups and attributes,
and maps them by configuration (:class:`~custodata.identity.settings.LdapSettings`) to roles,
branch, kind and validity.  The mapping is applied again at every login, so a mover's new
branch or group takes effect on their next sign-in, and separation of duties is checked on
what the directory asserts: groups that add up to administrator + auditor (any pair of
:data:`~custodata.identity.roles.SOD_CONFLICTS`) are refused and audited, never written.

Accounts made here have ``source = ldap`` and no local password.  Local accounts (the
embedded demo, the break-glass accounts) keep their own passwords and the local login; the
directory cannot take over a login name custodata already keeps for someone else.

What a login reveals is what a local login reveals: every refusal is the same
:class:`~custodata.identity.errors.AuthenticationError`, the audit event says which check
failed.  Failed binds of a known account count towards custodata's lockout like wrong local
passwords (the slot is taken before the bind, so parallel guesses do not multiply).  Neither
the person's password nor the service account's is ever logged or audited; an empty password
is refused before any bind (LDAP would take it as an anonymous bind and "succeed").
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from custodata.audit.events import Result
from custodata.errors import ConfigError
from custodata.identity.directory import PERSON_ID_PATTERN, Directory, Session
from custodata.identity.errors import (
    AuthenticationError,
    IdentityError,
    PersonNotFoundError,
    SeparationOfDutiesError,
)
from custodata.identity.roles import check_separation
from custodata.identity.settings import LdapSettings

with warnings.catch_warnings():  # ldap3 2.9.1 (its latest) uses pyasn1 names that pyasn1 0.6 deprecated
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from ldap3 import BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
    from ldap3.core.exceptions import LDAPException, LDAPSASLPrepError
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn, parse_dn

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = 49  # RFC 4511 resultCode
AD_NEVER = (0, 0x7FFFFFFFFFFFFFFF)  # accountExpires values that mean "never"
AD_EPOCH = dt.datetime(1601, 1, 1)


class DirectoryUnavailable(Exception):
    """The server could not be reached or answered with an error (not a wrong password)."""


@dataclass(frozen=True)
class DirectoryEntry:
    """One person's entry as the directory returned it: DN, group names and attributes (text)."""

    dn: str
    groups: tuple[str, ...]
    attributes: dict[str, list[str]]  # attribute names lower-cased
    disabled: bool = False

    def first(self, name: str) -> str | None:
        values = self.attributes.get(name.lower())
        return values[0].strip() if values and values[0].strip() else None


@dataclass(frozen=True)
class Assertion:
    """What the directory says about the person, mapped to custodata's terms."""

    display_name: str
    branch: str | None
    kind: str
    valid_to: dt.datetime | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]


def parse_directory_time(value: str | None) -> dt.datetime | None:
    """GeneralizedTime (``20270101000000Z``) or AD's ``accountExpires`` (100 ns since 1601), as naive UTC.

    None for no value or "never"; a value that is neither raises :class:`IdentityError`.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():  # AD FILETIME (a GeneralizedTime always ends in Z or an offset)
        ticks = int(text)
        return None if ticks in AD_NEVER else AD_EPOCH + dt.timedelta(microseconds=ticks // 10)
    for pattern in ("%Y%m%d%H%M%SZ", "%Y%m%d%H%M%S.%fZ", "%Y%m%d%H%MZ"):
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        parsed = dt.datetime.strptime(text, "%Y%m%d%H%M%S%z")
    except ValueError:
        raise IdentityError("the directory's validity attribute is not a GeneralizedTime or FILETIME") from None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None)


def _text(raw: dict[str, list[bytes]]) -> dict[str, list[str]]:
    return {k.lower(): [v.decode("utf-8", "replace") for v in values] for k, values in raw.items()}


def _group_name(dn: str) -> str:
    """``cn=CD-Counter,ou=groups,…`` → ``CD-Counter`` (the first RDN's value)."""
    try:
        return str(parse_dn(dn)[0][1])
    except (LDAPException, IndexError):
        return dn


def _close(con: Connection) -> None:
    """Unbind and close, whatever state a failed connect or TLS handshake left the connection in."""
    try:
        con.unbind()
    except LDAPException:
        pass
    if con.socket is not None:  # ldap3 keeps the socket of a failed connect or handshake
        con.socket.close()


class LdapLogin:
    """Bind logins against one directory, mapped to custodata's people as the actor ``ldap:<name>``."""

    def __init__(self, directory: Directory, settings: LdapSettings) -> None:
        self.directory = directory
        self.settings = settings
        self.actor = f"ldap:{settings.name}"
        # MFA enrolment proves a password without logging in: for an LDAP account that is a bind too
        directory.external_passwords["ldap"] = self.check_password

    # ---- the directory --------------------------------------------------------------------------

    def _server(self) -> Server:
        s = self.settings
        tls = Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
                  ca_certs_file=str(s.ca_file) if s.ca_file else None)
        return Server(s.url, use_ssl=s.url.startswith("ldaps://"), tls=tls, get_info=NONE,
                      connect_timeout=s.timeout_seconds)

    def _bind(self, dn: str, password: str) -> tuple[Connection, bool]:
        """An open connection bound as ``dn`` (True) or refused with invalid credentials (False)."""
        if not password:
            return Connection(self._server()), False  # an empty password would be an anonymous bind
        # no referrals followed: a referral would send the next request (and a rebind) to another server
        con = Connection(self._server(), user=dn, password=password, authentication=SIMPLE, read_only=True,
                         receive_timeout=self.settings.timeout_seconds, raise_exceptions=False, auto_referrals=False)
        try:
            con.open()
            if self.settings.start_tls and not con.start_tls():
                raise DirectoryUnavailable("StartTLS refused")
            if con.bind():
                return con, True
        except LDAPSASLPrepError:  # a tab, NUL … SASLprep forbids: no directory password, a wrong one
            _close(con)
            return con, False
        except LDAPException as exc:
            _close(con)
            raise DirectoryUnavailable(type(exc).__name__) from None
        code = con.result.get("result") if isinstance(con.result, dict) else None
        _close(con)
        if code == INVALID_CREDENTIALS:
            return con, False
        raise DirectoryUnavailable(f"bind answered {code}")

    def _service(self) -> Connection:
        s = self.settings
        if s.bind_dn is None:
            raise ConfigError("ldap: no service account (bind_dn) to search with")
        password = s.bind_password()
        if password is None:
            raise ConfigError("ldap: bind_password_env is not set")
        con, ok = self._bind(s.bind_dn, password)
        if not ok:
            raise DirectoryUnavailable("the service account's bind was refused")
        return con

    def _attributes(self) -> list[str]:
        s, m = self.settings, self.settings.mapping
        wanted = {s.display_name_attribute, "cn", m.branch_claim, m.kind_claim, m.valid_to_claim}
        if s.groups == "member_of":
            wanted.add(s.member_of_attribute)
        return sorted(wanted)

    @staticmethod
    def _search(con: Connection, base: str, query: str, attributes: Iterable[str], *,
                scope: Literal["BASE", "LEVEL", "SUBTREE"] = SUBTREE) -> list[dict[str, Any]]:
        try:
            con.search(base, query, search_scope=scope, attributes=list(attributes), size_limit=2)
        except LDAPException as exc:
            raise DirectoryUnavailable(type(exc).__name__) from None
        code = con.result.get("result") if isinstance(con.result, dict) else None
        if code == 32:  # noSuchObject: the base (or, for a BASE search, the entry) is not there
            return []
        if code not in (0, 4):  # success, sizeLimitExceeded (two hits: ambiguous, refused below)
            raise DirectoryUnavailable(f"search answered {code}")
        return [r for r in (con.response or []) if r.get("type") == "searchResEntry"]

    def _entry(self, con: Connection, dn: str, raw: dict[str, list[bytes]]) -> DirectoryEntry:
        s = self.settings
        attributes = _text(raw)
        if s.groups == "member_of":
            groups = tuple(_group_name(g) for g in attributes.get(s.member_of_attribute.lower(), []))
        else:
            assert s.group_base is not None  # noqa: S101 - the settings' validator requires it
            query = s.group_filter.replace("{dn}", escape_filter_chars(dn))
            found = self._search(con, s.group_base, query, [s.group_name_attribute])
            groups = tuple(v for g in found for v in _text(g.get("raw_attributes", {})).get(
                s.group_name_attribute.lower(), [])[:1])
        disabled = False
        if s.disabled_filter:
            disabled = bool(self._search(con, dn, s.disabled_filter, ["1.1"], scope=BASE))
        return DirectoryEntry(dn=dn, groups=tuple(sorted(set(groups))), attributes=attributes, disabled=disabled)

    def _lookup(self, login: str, password: str) -> tuple[str, DirectoryEntry | None, bool]:
        """``(why, entry, bound)``: the entry (None if absent), and whether the password bound as it.

        With a service account the entry is found and checked (disabled?) before the person's
        password is sent; with a DN template the person's own bind reads their entry.
        """
        s = self.settings
        if s.user_dn_template is not None:
            dn = s.user_dn_template.replace("{login}", escape_rdn(login))
            con, ok = self._bind(dn, password)
            if not ok:
                return "wrong password or not in the directory", None, False
            try:
                found = self._search(con, dn, "(objectClass=*)", self._attributes(), scope=BASE)
                if not found:
                    return "not in the directory", None, True
                return "", self._entry(con, dn, found[0].get("raw_attributes", {})), True
            finally:
                _close(con)
        assert s.user_base is not None  # noqa: S101 - the settings' validator requires it
        service = self._service()
        try:
            found = self._search(service, s.user_base, s.user_filter.replace("{login}", escape_filter_chars(login)),
                                 self._attributes())
            if len(found) != 1:
                service.rebind(user=s.bind_dn, password=s.bind_password())  # about a bind's time, like a miss
                return "not in the directory" if not found else "ambiguous in the directory", None, False
            entry = self._entry(service, found[0]["dn"], found[0].get("raw_attributes", {}))
        finally:
            _close(service)
        if entry.disabled:
            return "disabled in the directory", entry, False
        con, ok = self._bind(entry.dn, password)
        _close(con)
        return ("" if ok else "wrong password"), entry, ok

    def check_password(self, person_id: str, password: str) -> bool:
        """Whether ``password`` binds as the person's entry and the entry is not disabled (MFA enrolment)."""
        try:
            _why, entry, bound = self._lookup(person_id, password)
        except (DirectoryUnavailable, ConfigError):
            log.warning("LDAP directory %s unreachable while proving a password", self.settings.url)
            return False
        return bound and entry is not None and not entry.disabled

    # ---- mapping ------------------------------------------------------------------------------

    def assertion(self, login: str, entry: DirectoryEntry) -> Assertion:
        """The entry in custodata's terms: roles from group names, branch, kind and validity from attributes."""
        m = self.settings.mapping
        return Assertion(
            display_name=entry.first(self.settings.display_name_attribute) or entry.first("cn") or login,
            branch=entry.first(m.branch_claim) or m.default_branch,
            kind=m.kind(entry.first(m.kind_claim)),
            valid_to=parse_directory_time(entry.first(m.valid_to_claim)),
            roles=m.roles(list(entry.groups)),
            groups=entry.groups,
        )

    def _apply(self, login: str, entry: DirectoryEntry, a: Assertion, exists: bool) -> None:
        """Write what the directory asserts: create the person, or re-apply name, branch, kind, validity, roles."""
        d = self.directory
        if a.branch is None:
            raise IdentityError("the directory gives no branch and the configuration names no default_branch")
        if not exists:
            d.create_person(login, a.display_name[:255], a.kind, a.branch, password=None, roles=a.roles,
                            valid_to=a.valid_to, by=self.actor, source="ldap", external_id=entry.dn[:255])
            return
        d.update_person(login, by=self.actor, display_name=a.display_name[:255], kind=a.kind, branch=a.branch,
                        external_id=entry.dn[:255])
        person = d.person(login)
        if a.valid_to != person.valid_to:
            start = person.valid_from if a.valid_to is None or person.valid_from < a.valid_to \
                else a.valid_to - dt.timedelta(seconds=1)
            d.set_validity(login, start, a.valid_to, by=self.actor)
        held = set(person.roles)
        for role in sorted(held - set(a.roles)):  # revocations first: a move never holds both duties
            d.revoke_role(login, role, by=self.actor)
        for role in sorted(set(a.roles) - held):
            d.grant_role(login, role, by=self.actor)

    # ---- login --------------------------------------------------------------------------------

    def handles(self, person_id: str) -> bool:
        """Whether this login name signs in here: unknown to custodata, or an account the directory made."""
        pid = person_id.strip().lower() if isinstance(person_id, str) else ""
        if not PERSON_ID_PATTERN.fullmatch(pid):
            return False
        try:
            return self.directory.person(pid).source == "ldap"
        except PersonNotFoundError:
            return True

    def login(self, person_id: str, password: str, *, role: str | None = None, otp: str | None = None,
              source_address: str | None = None) -> Session:
        """Bind as the person, apply what the directory says about them, and open a session.

        Every refusal is the generic :class:`AuthenticationError` (an MFA prompt excepted, as for a
        local login once the password was right) and a ``login`` audit event saying why.
        """
        d = self.directory
        pid = person_id.strip().lower() if isinstance(person_id, str) else ""
        address = source_address[:64] if source_address else None
        event: dict[str, Any] = {"source_address": address, "method": "ldap", "directory": self.settings.name}
        if not PERSON_ID_PATTERN.fullmatch(pid):
            d._login_event("-", Result.FAILED, "unknown user", login=pid[:64], **event)
            raise AuthenticationError()
        try:
            person = d.person(pid)
        except PersonNotFoundError:
            person = None
        if person is not None and person.source != "ldap":  # a local account: never the directory's to vouch for
            d._login_event(pid, Result.FAILED, "not a directory account", **event)
            raise AuthenticationError()
        actor = pid if person is not None else "-"
        failures: int | None = 0
        if person is not None:
            failures = d._reserve_attempt(pid, d.now())
            if failures is None:
                d._login_event(pid, Result.FAILED, d._locked_reason(pid), branch=person.branch, **event)
                raise AuthenticationError()
        try:
            why, entry, bound = self._lookup(pid, password if isinstance(password, str) else "")
        except (DirectoryUnavailable, ConfigError) as exc:
            log.warning("LDAP directory %s unreachable: %s", self.settings.url, exc)
            if person is not None:
                d._attempt_passed(pid)  # nothing was guessed
            d._login_event(actor, Result.FAILED, "directory unreachable", login=pid, **event)
            raise AuthenticationError() from None
        if not bound or entry is None:
            detail: dict[str, Any] = {"failed_logins": failures} if person is not None and why.startswith("wrong") \
                else {}
            if person is not None and not why.startswith("wrong"):
                d._attempt_passed(pid)  # absent or disabled: no password was checked
                if why in ("not in the directory", "disabled in the directory"):
                    d.revoke_sessions(pid, by=self.actor)
            d._login_event(actor, Result.FAILED if why.startswith("wrong") else Result.DENIED, why, login=pid,
                           **event, **detail)
            raise AuthenticationError()
        try:
            asserted = self.assertion(pid, entry)
            check_separation(asserted.roles)
            self._apply(pid, entry, asserted, exists=person is not None)
        except SeparationOfDutiesError as exc:
            if person is not None:
                d._attempt_passed(pid)
            d.record_change(self.actor, "idp_roles_refused", pid, result=Result.DENIED, reason=str(exc),
                            roles=list(asserted.roles), groups=list(asserted.groups))
            d._login_event(actor, Result.DENIED, "the directory's groups break separation of duties", login=pid,
                           **event)
            raise AuthenticationError() from None
        except IdentityError as exc:
            if person is not None:
                d._attempt_passed(pid)
            d._login_event(actor, Result.DENIED, f"the directory's entry cannot be applied: {exc}"[:300], login=pid,
                           **event)
            raise AuthenticationError() from None
        return d.login_verified(pid, method="ldap", role=role, otp=otp, source_address=address,
                                failures=failures or 0)
