"""Errors of identity: refused input, refused grants, refused logins and sessions.

Login failures share one generic message on purpose (the audit event's reason
says which check failed), so a caller cannot probe which login names exist or
which accounts are locked.  They inherit ``PermissionError`` so the service can
map them to 401 without importing this module's names.
"""

from __future__ import annotations

from custodata.errors import CustodataError, NotFoundError

LOGIN_FAILED = "login failed: unknown user, wrong password, or the account cannot log in now"


class IdentityError(ValueError, CustodataError):
    """Bad identity input: malformed login name, unknown role, kind or status, bad validity period."""


class PersonExistsError(IdentityError):
    """A person with this login name exists already (login names are never reused silently)."""


class PersonNotFoundError(NotFoundError):
    """No person has this login name."""


class WeakPasswordError(IdentityError):
    """The password does not meet the minimum policy (the message says which rule, never the password)."""


class SeparationOfDutiesError(IdentityError):
    """The grant or creation would give one person two duties that must be held by different people."""


class AuthenticationError(PermissionError, CustodataError):
    """A login or a session is refused; the message is deliberately the same for every cause."""

    def __init__(self, message: str = LOGIN_FAILED) -> None:
        super().__init__(message)


class RoleNotHeldError(AuthenticationError):
    """The password was right but the person does not hold the role asked for (or holds none)."""


class SessionExpiredError(AuthenticationError):
    """The session token is unknown, expired, logged out or revoked: log in again."""


class AccountDisabledError(AuthenticationError):
    """The person behind a live session has left, is frozen, or is outside the validity period."""


class PasswordChangeRequired(AuthenticationError):
    """The password was right but someone else chose it (a one-time password): set your own first.

    Saying so reveals only that the password was right, which its holder knows already.
    """

    def __init__(self, message: str = "login refused: this is a one-time password; choose your own password "
                                      "first (custodata people activate, or POST /api/v1/activate)") -> None:
        super().__init__(message)


class MfaRequired(AuthenticationError):
    """The password was right and the account has a second factor: send the current code (or a recovery code)."""

    def __init__(self, message: str = "login needs the second factor: send the 6-digit code from your "
                                      "authenticator app (or a recovery code) as otp") -> None:
        super().__init__(message)


class MfaEnrolmentRequired(AuthenticationError):
    """The role asked for can unmask or approve, and policy wants a second factor the person has not set up."""

    def __init__(self, message: str = "login refused: this role needs a second factor; enrol one first "
                                      "(custodata people mfa-enrol, or POST /api/v1/mfa/enrol)") -> None:
        super().__init__(message)
