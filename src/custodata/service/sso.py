"""Single sign-on through the institution's OpenID Connect provider, as the service offers it.

The console starts a login (:func:`start`), keeps the returned secrets sealed in the browser,
and finishes it with the provider's code (:func:`finish`); the API hands any JWT bearer token
to :func:`bearer`.  Both end in the directory's checks and audit, like a password login.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custodata.audit.events import Result
from custodata.identity.oidc import Admission, AuthorizationRequest, OidcError, OidcNotConfigured, ProviderUnavailable
from custodata.service.context import Caller, Services

if TYPE_CHECKING:
    from custodata.identity.directory import Session


def admission(svc: Services) -> Admission:
    """The deployment's OIDC relying party (one per process: it caches the provider's metadata and keys)."""
    found = svc.oidc
    if found is None:
        raise OidcNotConfigured("single sign-on is not configured (no oidc section in CUSTODATA_IDENTITY_CONFIG)")
    return found


def start(svc: Services) -> AuthorizationRequest:
    """A fresh authorization request (state, nonce, PKCE S256) for the browser to take to the provider."""
    return admission(svc).client.authorization_request()


def finish(svc: Services, code: str, *, code_verifier: str, nonce: str, role: str | None = None,
           source_address: str | None = None) -> Session:
    """Trade the code for the ID token, validate it (keys, iss, aud, exp, nonce), admit the person, open a session.

    Every refusal is audited (a login event, or ``idp_roles_refused`` for an SoD breach) and
    raised as :class:`~custodata.identity.errors.AuthenticationError` with the generic message.
    """
    gate = admission(svc)
    address = source_address[:64] if source_address else None
    try:
        tokens = gate.client.exchange(code, code_verifier)
        claims = gate.client.verify_id_token(tokens["id_token"], nonce)
    except OidcError as exc:
        raise gate.refuse(Result.FAILED, exc.reason, via="console", source_address=address) from None
    except ProviderUnavailable:  # audited, then the console says the provider cannot be reached (503)
        gate.refuse(Result.FAILED, "the provider cannot be reached", via="console", source_address=address)
        raise
    return gate.sign_in(claims, role=role, source_address=source_address)


def bearer(svc: Services, token: str, *, source_address: str | None = None) -> Caller:
    """The caller behind a provider's JWT access token (validated and re-read on every request)."""
    return Caller(admission(svc).bearer(token, source_address=source_address), source_address)
