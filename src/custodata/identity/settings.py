"""How identity is configured for one deployment: MFA policy, sessions, and the institution's IdP.

One YAML file (``CUSTODATA_IDENTITY_CONFIG``), checked by the pydantic models below with
messages that name the file and the key.  Without a file every default applies: local
passwords only, MFA offered but not required (so the embedded demo logs in as before),
no SCIM, no OIDC, no LDAP.  A bank's deployment names its IdP here and turns ``mfa.enforce`` on.

Secrets never live in this file in plain: the SCIM token is kept as its SHA-256
(``custodata people scim-token`` makes one and prints the hash to paste here), and
the OIDC client secret and the LDAP service account's password are read from the
environment variables the file names.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from custodata.errors import ConfigError
from custodata.identity.roles import ROLES
from custodata.people_vocabulary import PERSON_KINDS, PersonKind
from custodata.yamlconfig import read_yaml, validate

CONFIG_ENV = "CUSTODATA_IDENTITY_CONFIG"

# the permissions whose holders must prove a second factor (issue 15: roles that can unmask or approve)
MFA_ACTIONS_DEFAULT: tuple[str, ...] = ("customer.unmask", "change.approve", "export.approve")
Kind = PersonKind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_roles(values: dict[str, str] | list[str], where: str) -> None:
    roles = values.values() if isinstance(values, dict) else values
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"{where}: unknown role {role!r}; choose one of {', '.join(ROLES)}")


class MfaSettings(_Model):
    """``enforce``: refuse a password-only login in a role that holds any of ``required_for`` (by policy).

    ``break_glass``: local accounts kept for when the IdP is down; they may log in with a
    password alone, and every such login is audited as ``break_glass``.
    """

    enforce: bool = False
    required_for: tuple[str, ...] = MFA_ACTIONS_DEFAULT
    break_glass: tuple[str, ...] = ()
    issuer: Annotated[str, Field(min_length=1, max_length=64)] = "custodata"  # the name authenticator apps show
    recovery_codes: Annotated[int, Field(ge=4, le=20)] = 10


class RoleTimeouts(_Model):
    idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)]
    absolute_hours: Annotated[float, Field(gt=0, le=24 * 7)]


class SessionSettings(_Model):
    """Idle and absolute limits per role (a role not listed keeps the defaults), and concurrency by kind.

    ``max_concurrent``: live sessions a person of that kind may hold (e.g. ``outsourced: 1``, a shared
    seat's login throws out the one before); a new login ends the oldest.
    """

    idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 8 * 60
    absolute_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 8
    by_role: dict[str, RoleTimeouts] = Field(default_factory=dict)
    max_concurrent: dict[Kind, int] = Field(default_factory=dict)

    @field_validator("by_role")
    @classmethod
    def _roles(cls, value: dict[str, RoleTimeouts]) -> dict[str, RoleTimeouts]:
        _known_roles(list(value), "sessions.by_role")
        return value

    @field_validator("max_concurrent")
    @classmethod
    def _limits(cls, value: dict[Kind, int]) -> dict[Kind, int]:
        for kind, limit in value.items():
            if limit < 1:
                raise ValueError(f"sessions.max_concurrent.{kind} must be at least 1")
        return value

    def idle(self, role: str) -> dt.timedelta:
        chosen = self.by_role.get(role)
        return dt.timedelta(minutes=chosen.idle_minutes if chosen else self.idle_minutes)

    def absolute(self, role: str) -> dt.timedelta:
        chosen = self.by_role.get(role)
        return dt.timedelta(hours=chosen.absolute_hours if chosen else self.absolute_hours)


def _kind_values() -> dict[str, Kind]:
    return {k: k for k in PERSON_KINDS}


class ClaimMapping(_Model):
    """How an IdP's assertions become custodata's roles, branch, kind and validity.

    ``group_roles`` maps a group name (an OIDC ``groups`` claim entry, a SCIM group's
    ``displayName``, an LDAP group's ``cn``) to a custodata role; groups not listed grant
    nothing.  Separation of duties is checked on the result, never assumed of the IdP.
    """

    group_roles: dict[str, str] = Field(default_factory=dict)
    groups_claim: str = "groups"
    branch_claim: str = "branch"
    kind_claim: str = "employee_type"
    kind_values: dict[str, Kind] = Field(default_factory=_kind_values)
    valid_to_claim: str = "valid_to"
    default_branch: Annotated[str | None, Field(max_length=64)] = None
    default_kind: Kind = "employee"

    @field_validator("group_roles")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        _known_roles(value, "group_roles")
        return value

    def roles(self, groups: object) -> tuple[str, ...]:
        """The roles a list of group names maps to (anything else than a list of text maps to none)."""
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list | tuple):
            return ()
        return tuple(sorted({self.group_roles[g] for g in groups if isinstance(g, str) and g in self.group_roles}))

    def kind(self, value: object) -> Kind:
        return self.kind_values.get(value, self.default_kind) if isinstance(value, str) else self.default_kind


class ScimSettings(_Model):
    """SCIM 2.0 provisioning from the IdP: one bearer token, kept here only as its SHA-256."""

    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    idp: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")] = "idp"  # recorded as the actor scim:<idp>
    requests_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 600
    mapping: ClaimMapping = ClaimMapping()


class OidcSettings(_Model):
    """OpenID Connect: authorization code + PKCE for the console, JWT bearer tokens for the API.

    ``client_secret_env`` names the environment variable holding the client secret (a public
    client with PKCE only leaves it unset).  ``audience`` is what API tokens must carry in
    ``aud`` (default: the client id).  ``mfa_amr`` / ``mfa_acr``: an ID token or access token
    whose ``amr`` holds one of these, or whose ``acr`` is one of these, counts as MFA.
    ``provision``: a person the directory lacks is refused (``match``: people come from SCIM)
    or created from the claims (``create``).  ``algorithms``: the signatures accepted, asymmetric
    only (never ``none``, never an HMAC keyed by something the provider publishes).
    """

    issuer: Annotated[str, Field(min_length=8, max_length=500)]
    client_id: Annotated[str, Field(min_length=1, max_length=255)]
    client_secret_env: Annotated[str | None, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")] = None
    redirect_uri: Annotated[str, Field(min_length=8, max_length=500)]
    scopes: tuple[str, ...] = ("openid", "profile", "email", "groups")
    audience: str | None = None
    username_claim: str = "preferred_username"
    mfa_amr: tuple[str, ...] = ("mfa", "otp", "hwk", "swk", "sms", "fpt", "face")
    mfa_acr: tuple[str, ...] = ()
    leeway_seconds: Annotated[int, Field(ge=0, le=600)] = 60
    allow_http: bool = False  # only for a provider on the same machine (tests); a real IdP is https
    mapping: ClaimMapping = ClaimMapping()
    idp: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")] = "idp"  # recorded as the actor oidc:<idp>
    provision: Literal["match", "create"] = "match"
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
        for alg in value:
            if alg not in allowed:
                raise ValueError(f"oidc.algorithms: {alg!r} is not allowed; choose of {', '.join(sorted(allowed))}")
        if not value:
            raise ValueError("oidc.algorithms must name at least one algorithm")
        return value

    @model_validator(mode="after")
    def _https(self) -> OidcSettings:
        for name in ("issuer", "redirect_uri"):
            value = getattr(self, name)
            if not re.match(r"^https?://", value):
                raise ValueError(f"oidc.{name} must be an http(s) URL")
            if value.startswith("http://") and not self.allow_http:
                raise ValueError(f"oidc.{name} must use https (allow_http only for a provider on this machine)")
        return self

    def client_secret(self) -> str | None:
        if self.client_secret_env is None:
            return None
        value = os.environ.get(self.client_secret_env)
        if not value:
            raise ConfigError(f"oidc.client_secret_env names {self.client_secret_env}, which is not set")
        return value


class LdapSettings(_Model):
    """LDAP / Active Directory bind, for institutions without OIDC (:mod:`custodata.identity.ldap`).

    The user's entry is found by the service account (``bind_dn`` with the password in the
    environment variable ``bind_password_env``) under ``user_base`` with ``user_filter``, or is
    ``user_dn_template`` itself; the login binds as that entry with the person's password.  Groups
    come from ``memberOf`` (``groups: member_of``) or a search under ``group_base``
    (``groups: search``, ``{dn}`` is the user's DN); ``mapping`` names the attributes for branch,
    kind and validity (``branch_claim: departmentNumber`` …) and maps group ``cn`` to roles.  A
    user matching ``disabled_filter`` (AD: ``(userAccountControl:1.2.840.113556.1.4.803:=2)``) is
    refused.  ``ldap://`` needs ``start_tls`` unless ``allow_plain`` (a server on this machine only).
    """

    url: Annotated[str, Field(pattern=r"^ldaps?://[^\s/]+/?$", max_length=500)]
    start_tls: bool = False
    allow_plain: bool = False
    ca_file: Path | None = None  # the CA that signed the server's certificate (else the system's)
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")] = "ldap"  # actor ldap:<name>
    bind_dn: Annotated[str | None, Field(max_length=500)] = None
    bind_password_env: Annotated[str | None, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")] = None
    user_base: Annotated[str | None, Field(max_length=500)] = None
    user_filter: Annotated[str, Field(max_length=500)] = "(&(objectClass=person)(uid={login}))"
    user_dn_template: Annotated[str | None, Field(max_length=500)] = None  # e.g. uid={login},ou=people,dc=…
    display_name_attribute: str = "displayName"
    disabled_filter: Annotated[str | None, Field(max_length=500)] = None
    groups: Literal["member_of", "search"] = "member_of"
    member_of_attribute: str = "memberOf"
    group_base: Annotated[str | None, Field(max_length=500)] = None
    group_filter: Annotated[str, Field(max_length=500)] = "(&(objectClass=groupOfNames)(member={dn}))"
    group_name_attribute: str = "cn"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5
    mapping: ClaimMapping = ClaimMapping(branch_claim="departmentNumber", kind_claim="employeeType")

    @model_validator(mode="after")
    def _shape(self) -> LdapSettings:
        if self.url.startswith("ldap://") and not (self.start_tls or self.allow_plain):
            raise ValueError("ldap.url is plain ldap://: set start_tls (or use ldaps://); allow_plain only for a "
                             "server on this machine")
        host = self.url.split("://", 1)[1].rstrip("/").rsplit(":", 1)[0].strip("[]")
        if self.allow_plain and host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("ldap.allow_plain is only for a server on this machine (127.0.0.1, ::1, localhost)")
        if self.user_dn_template is None:
            if not (self.bind_dn and self.bind_password_env and self.user_base):
                raise ValueError("ldap: give user_dn_template, or bind_dn, bind_password_env and user_base to "
                                 "search for the user")
            if "{login}" not in self.user_filter:
                raise ValueError("ldap.user_filter must contain {login}")
        elif "{login}" not in self.user_dn_template:
            raise ValueError("ldap.user_dn_template must contain {login}")
        if self.groups == "search":
            if not self.group_base:
                raise ValueError("ldap.groups: search needs group_base")
            if "{dn}" not in self.group_filter:
                raise ValueError("ldap.group_filter must contain {dn}")
        return self

    def bind_password(self) -> str | None:
        """The service account's password, from the environment (never from this file, never logged)."""
        if self.bind_password_env is None:
            return None
        value = os.environ.get(self.bind_password_env)
        if not value:
            raise ConfigError(f"ldap.bind_password_env names {self.bind_password_env}, which is not set")
        return value


class IdentitySettings(_Model):
    mfa: MfaSettings = MfaSettings()
    sessions: SessionSettings = SessionSettings()
    scim: ScimSettings | None = None
    oidc: OidcSettings | None = None
    ldap: LdapSettings | None = None


def load_identity_settings(path: Path | None = None) -> IdentitySettings:
    """The file at ``path`` or ``CUSTODATA_IDENTITY_CONFIG``; the defaults when neither is given."""
    if path is None:
        raw = os.environ.get(CONFIG_ENV, "").strip()
        if not raw:
            return IdentitySettings()
        path = Path(raw)
    return validate(IdentitySettings, read_yaml(path, "identity configuration"), str(path))
