"""Tables of identity: people, the roles they hold, the customers they serve, and their sessions.

Times are naive UTC.  A session is stored under the SHA-256 of its token: the
token itself never reaches the database, so a copy of the store opens no session.
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

__all__ = ["metadata", "person", "person_mfa", "person_recovery_code", "person_role", "portfolio", "scim_group",
           "scim_group_member", "session"]

person = sa.Table(
    "person",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),  # the login name
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # employee | outsourced | partner
    sa.Column("branch", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active | transferred | leaving | left | frozen
    sa.Column("status_changed_at", sa.DateTime, nullable=False),
    sa.Column("valid_from", sa.DateTime, nullable=False),
    sa.Column("valid_to", sa.DateTime, nullable=True),  # exclusive; None = open-ended
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id, PHC string
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.DateTime, nullable=True),
    # set by whoever else chose the password (a one-time password): the next login must replace it
    sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
    # where the account comes from: local (a password kept here) | scim | oidc | ldap (the IdP's)
    sa.Column("source", sa.String(16), nullable=False, server_default="local"),
    sa.Column("external_id", sa.String(255), nullable=True),  # the IdP's own id (SCIM externalId, OIDC sub)
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Index(None, "branch"),
)

person_role = sa.Table(
    "person_role",
    metadata,
    sa.Column("person_id", sa.String(64), sa.ForeignKey("person.person_id"), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("granted_by", sa.String(255), nullable=False),
    sa.Column("granted_at", sa.DateTime, nullable=False),
)

portfolio = sa.Table(
    "portfolio",
    metadata,
    sa.Column("person_id", sa.String(64), sa.ForeignKey("person.person_id"), primary_key=True),
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Index(None, "customer_id"),  # "who serves this customer" without a scan
)

session = sa.Table(
    "session",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # hex SHA-256 of the bearer token
    sa.Column("person_id", sa.String(64), sa.ForeignKey("person.person_id"), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),  # the role acted in for the whole session
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("source_address", sa.String(64), nullable=True),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
    # how the session was opened: password | password+totp | recovery_code | break_glass | oidc | ldap
    sa.Column("method", sa.String(16), nullable=False, server_default="password"),
    sa.Column("mfa", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "person_id"),
)

# A person's TOTP seed (RFC 6238), sealed with AES-GCM under a key derived from the deployment's key
# provider: a copy of the store alone yields no second factor.  ``confirmed_at`` is None while an
# enrolment waits for its first code; ``last_step`` is the last time step accepted (no replay).
person_mfa = sa.Table(
    "person_mfa",
    metadata,
    sa.Column("person_id", sa.String(64), sa.ForeignKey("person.person_id"), primary_key=True),
    sa.Column("seed_sealed", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("confirmed_at", sa.DateTime, nullable=True),
    sa.Column("last_step", sa.Integer, nullable=True),
)

# Recovery codes, shown once at enrolment: kept as SHA-256 (each code carries 80 random bits, so a
# slow hash adds nothing), crossed out when used.
person_recovery_code = sa.Table(
    "person_recovery_code",
    metadata,
    sa.Column("person_id", sa.String(64), sa.ForeignKey("person.person_id"), primary_key=True),
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("used_at", sa.DateTime, nullable=True),
)

# Groups the institution's IdP provisions over SCIM (issue 15): a group maps to a role by configuration
# (``ClaimMapping.group_roles``); a provisioned person holds exactly the roles of their groups.
scim_group = sa.Table(
    "scim_group",
    metadata,
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(255), nullable=False, unique=True),
    sa.Column("external_id", sa.String(255), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

scim_group_member = sa.Table(
    "scim_group_member",
    metadata,
    sa.Column("group_id", sa.String(64), sa.ForeignKey("scim_group.group_id"), primary_key=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("person.person_id"), primary_key=True),
    sa.Index(None, "person_id"),
)
