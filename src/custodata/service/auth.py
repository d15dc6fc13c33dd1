"""Signing in and out, and turning a session token into a :class:`Caller` on every request.

The directory re-reads the person on every call, so a status change (left,
frozen) or a revoked role bites on the very next request, live token or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custodata.service.context import Caller, Services

if TYPE_CHECKING:
    from custodata.identity.directory import Session
    from custodata.identity.ldap import LdapLogin
    from custodata.identity.mfa import Enrolment


def _ldap(svc: Services) -> LdapLogin | None:
    """The directory bind login when the identity configuration names an LDAP server, else None.

    Making it also lets the directory prove an LDAP account's password (by a bind) for MFA enrolment.
    """
    settings = svc.identity_settings.ldap
    if settings is None:
        return None
    from custodata.identity.ldap import LdapLogin

    return LdapLogin(svc.directory, settings)


def login(svc: Services, person_id: str, password: str, *, role: str | None = None,
          source_address: str | None = None, otp: str | None = None) -> Session:
    """A local password login, or an LDAP bind for a login name custodata does not keep a password for."""
    ldap = _ldap(svc)
    if ldap is not None and ldap.handles(person_id):
        return ldap.login(person_id, password, role=role, source_address=source_address, otp=otp)
    return svc.directory.login(person_id, password, role=role, source_address=source_address, otp=otp)


def begin_mfa(svc: Services, person_id: str, password: str, *, source_address: str | None = None) -> Enrolment:
    """Start a TOTP enrolment proven by the password (no session: a role held to MFA opens none without it)."""
    _ldap(svc)
    return svc.directory.begin_mfa(person_id, password, source_address=source_address)


def confirm_mfa(svc: Services, person_id: str, password: str, code: str, *,
                source_address: str | None = None) -> list[str]:
    """Finish the enrolment with the app's first code; the recovery codes are returned once."""
    _ldap(svc)
    return svc.directory.confirm_mfa(person_id, password, code, source_address=source_address)


def logout_everywhere(svc: Services, token: str) -> int:
    """End every session of the person behind ``token``, this one included; returns how many ended.

    ``token`` may be the IdP's access token too (an API client signed in through the IdP ends the
    person's console sessions from there); the token itself lives until its ``exp`` at the IdP.
    """
    if _idp_token(svc, token):
        person = authenticate(svc, token).principal.person_id
        return svc.directory.revoke_sessions(person, by=person)
    return svc.directory.logout_everywhere(token)


def _idp_token(svc: Services, token: str) -> bool:
    return svc.identity_settings.oidc is not None and token.startswith("eyJ") and token.count(".") == 2


def activate(svc: Services, person_id: str, current: str, new: str, *, source_address: str | None = None) -> None:
    """Replace a password with one of the person's own choosing (how a one-time password is retired).

    No session is needed: a one-time password opens none.  Failures count like failed logins.
    """
    svc.directory.change_password(person_id, current, new, source_address=source_address)


def authenticate(svc: Services, token: str, *, source_address: str | None = None) -> Caller:
    """A custodata session token, or (with ``oidc`` configured) the institution's IdP's JWT access token."""
    if _idp_token(svc, token):
        from custodata.service import sso

        return sso.bearer(svc, token, source_address=source_address)
    principal = svc.directory.authenticate(token, source_address=source_address)
    return Caller(principal, source_address)


def logout(svc: Services, token: str) -> None:
    svc.directory.logout(token)
