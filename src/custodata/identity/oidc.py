"""Single sign-on with the institution's OpenID Connect provider [统一身份认证].

Two uses of one provider, both judged against the provider's published keys:

* the console signs people in by the **authorization code flow with PKCE** (S256), with
  ``state`` (the answer belongs to this browser's request) and ``nonce`` (the ID token was
  minted for it); the ID token's signature, ``iss``, ``aud``, ``exp`` and ``nonce`` are checked
  before anything else is read from it;
* the API accepts the provider's **JWT access tokens** as bearer tokens beside custodata's own
  session tokens: signature, ``iss``, ``aud`` (``oidc.audience``), ``exp`` and the algorithm.

The provider's metadata comes from ``<issuer>/.well-known/openid-configuration`` and its keys
from the ``jwks_uri`` it names; keys are cached and fetched again when a token names a key id
the cache lacks (a key rotation), at most once per ``JWKS_REFRESH_SECONDS``, so a flood of
tokens with made-up key ids costs the provider nothing.  Only asymmetric algorithms are
accepted (``oidc.algorithms``): never ``none``, never an HMAC keyed by something public.

What the provider asserts becomes a custodata person through :class:`Admission`: the login
name claim, roles by group (``mapping.group_roles``), branch, kind and validity.  Separation
of duties is checked on the asserted roles before anything is written (administrator +
auditor refused and audited), and a role that policy holds to MFA needs the provider's
``amr``/``acr``.  The person as stored then decides, as for every login: a frozen or departed
account opens nothing whatever the provider says.  JOSE is joserfc (Authlib's successor to
its ``authlib.jose``); PKCE and the token request's parameters are Authlib's.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from custodata.audit.events import Action, AuditEvent, Result
from custodata.errors import ConfigError, CustodataError, NotFoundError
from custodata.identity.directory import (
    PERSON_ID_PATTERN,
    Directory,
    Person,
    Principal,
    Session,
)
from custodata.identity.errors import AuthenticationError, IdentityError, SeparationOfDutiesError
from custodata.identity.roles import check_separation, default_role
from custodata.identity.settings import OidcSettings
from custodata.people_vocabulary import AUTHENTICATING_STATUSES

JWKS_REFRESH_SECONDS = 30.0  # at most one key fetch in this long for a key id the cache lacks
METADATA_TTL_SECONDS = 3600.0
HTTP_TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 1 << 20
MAX_JWT_LENGTH = 8192


class OidcError(AuthenticationError):
    """The provider's answer or token is refused; the audit event says why, the caller sees the generic message."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class ProviderUnavailable(ConfigError):
    """The provider's metadata or keys could not be read (down, misconfigured, not OpenID Connect)."""


def looks_like_jwt(token: str) -> bool:
    """A compact JWS (``header.payload.signature``, header ``eyJ…``): not one of custodata's session tokens."""
    return token.startswith("eyJ") and token.count(".") == 2 and len(token) <= MAX_JWT_LENGTH


def _fetch_json(url: str, *, data: bytes | None = None, headers: Mapping[str, str] | None = None) -> Any:
    if not url.startswith(("https://", "http://")):
        raise ProviderUnavailable(f"the OpenID provider names a URL that is not http(s): {url[:100]}")
    headers = {"Accept": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - http(s) checked above
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        body = exc.read(MAX_RESPONSE_BYTES + 1)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        raise OidcError(f"provider answered {exc.code}" + (f" ({str(error)[:64]})" if error else "")) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ProviderUnavailable(f"the OpenID provider cannot be reached at {url}: {exc}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise ProviderUnavailable(f"the OpenID provider's answer at {url} is larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise ProviderUnavailable(f"the OpenID provider's answer at {url} is not JSON") from None


@dataclass(frozen=True)
class AuthorizationRequest:
    """One console login's secrets, kept by the browser sealed (never in the URL but the challenge)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcClient:
    """The relying party: discovery, the provider's keys, the code exchange and token validation.

    ``clock`` returns UTC (naive or aware) like the directory's, so tests move time for both.
    """

    def __init__(self, settings: OidcSettings, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = -JWKS_REFRESH_SECONDS
        self.key_fetches = 0  # how often the key set was read (a test checks the cache holds)

    # ---- the provider -------------------------------------------------------------------------

    def now(self) -> int:
        if self._clock is None:
            return int(time.time())
        value = self._clock()
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp())

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, validated (RFC 8414 / OIDC Discovery) and cached an hour."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_SECONDS:
                return self._metadata
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        raw = _fetch_json(url)
        if not isinstance(raw, dict):
            raise ProviderUnavailable(f"{url} is not a discovery document")
        document = OpenIDProviderMetadata(raw)
        try:
            document.validate_issuer()
            document.validate_authorization_endpoint()
            document.validate_token_endpoint()
            document.validate_jwks_uri()
        except ValueError as exc:
            raise ProviderUnavailable(f"{url}: {exc}") from None
        if raw.get("issuer") != self.settings.issuer:
            raise ProviderUnavailable(f"{url} names the issuer {raw.get('issuer')!r}, not {self.settings.issuer!r}")
        methods = raw.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise ProviderUnavailable(f"{url}: the provider does not support PKCE S256")
        with self._lock:
            self._metadata, self._metadata_at = raw, time.monotonic()
        return raw

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            keys, fetched = self._keys, self._keys_at
        if keys is not None and not refresh:
            return keys
        if keys is not None and time.monotonic() - fetched < JWKS_REFRESH_SECONDS:
            return keys  # fetched a moment ago: an unknown key id now is not a rotation
        raw = _fetch_json(str(self.metadata()["jwks_uri"]))
        try:
            fresh = KeySet.import_key_set(raw)
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderUnavailable("the provider's jwks_uri holds no valid JWK set") from None
        with self._lock:
            self._keys, self._keys_at = fresh, time.monotonic()
            self.key_fetches += 1
        return fresh

    def _key_for(self, kid: str | None) -> Any:
        for refresh in (False, True):
            keys = self._key_set(refresh=refresh)
            try:
                key = keys.get_by_kid(kid) if kid else _only_signing_key(keys)
            except (JoseError, ValueError, KeyError):
                continue
            if key.get("use", "sig") == "sig":  # an encryption key never verifies a signature
                return key
        raise OidcError("signed with a key the provider does not publish")

    # ---- the console's flow -------------------------------------------------------------------

    def authorization_request(self, *, prompt: str | None = None) -> AuthorizationRequest:
        """The URL to send the browser to, with a fresh state, nonce and PKCE verifier (S256)."""
        endpoint = str(self.metadata()["authorization_endpoint"])
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        params = {
            "response_type": "code", "client_id": self.settings.client_id, "redirect_uri": self.settings.redirect_uri,
            "scope": " ".join(self.settings.scopes), "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        separator = "&" if "?" in endpoint else "?"
        return AuthorizationRequest(endpoint + separator + urllib.parse.urlencode(params), state, nonce, verifier)

    def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """Trade the code for tokens at the token endpoint (client secret by HTTP Basic when configured)."""
        if not code or len(code) > 2048:
            raise OidcError("no usable authorization code")
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.settings.redirect_uri,
                "code_verifier": code_verifier}
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        secret = self.settings.client_secret()
        if secret is None:
            form["client_id"] = self.settings.client_id
        else:
            pair = f"{urllib.parse.quote(self.settings.client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        answer = _fetch_json(str(self.metadata()["token_endpoint"]), data=urllib.parse.urlencode(form).encode(),
                             headers=headers)
        if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
            raise OidcError("the token endpoint returned no ID token")
        return answer

    # ---- tokens -------------------------------------------------------------------------------

    def _verify(self, token: str, audience: str, what: str) -> dict[str, Any]:
        if not isinstance(token, str) or not looks_like_jwt(token):
            raise OidcError(f"{what} is not a signed JWT")
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError):
            raise OidcError(f"{what}: unreadable header") from None
        alg = header.get("alg")
        if alg not in self.settings.algorithms:
            raise OidcError(f"{what}: algorithm {str(alg)[:16]!r} not allowed")
        kid = header.get("kid")
        key = self._key_for(kid if isinstance(kid, str) else None)
        try:
            decoded = jwt.decode(token, key, algorithms=[str(alg)])
        except (JoseError, ValueError):
            raise OidcError(f"{what}: bad signature") from None
        registry = jwt.JWTClaimsRegistry(
            now=self.now, leeway=self.settings.leeway_seconds,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True}, sub={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise OidcError(f"{what}: {exc.error} {getattr(exc, 'claim', '')}".strip()) from None
        return dict(decoded.claims)

    def verify_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once signature, iss, aud (the client id), exp and nonce hold."""
        claims = self._verify(token, self.settings.client_id, "ID token")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise OidcError("ID token: several audiences and azp is not this client")
        if not isinstance(claims.get("nonce"), str) or not _same(claims["nonce"], nonce):
            raise OidcError("ID token: nonce does not match this login")
        return claims

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """An API bearer token's claims once signature, iss, aud (``oidc.audience``), exp and alg hold.

        An ID token is not an access token: with ``audience`` left at the client id both would carry
        the same ``aud``, so one that says it is an ID token (a ``nonce``, or a ``typ`` other than a
        JWT / RFC 9068 access token) is refused; a separate ``audience`` is the better guard.
        """
        claims = self._verify(token, self.settings.audience or self.settings.client_id, "access token")
        typ = str(jws.extract_compact(token.encode()).protected.get("typ", "JWT")).lower()
        if "nonce" in claims or typ not in ("jwt", "at+jwt", "application/at+jwt"):
            raise OidcError("access token: an ID token or another kind of JWT, not an access token")
        return claims

    def has_mfa(self, claims: Mapping[str, Any]) -> bool:
        """Whether the provider asserts MFA: ``amr`` holds one of ``mfa_amr``, or ``acr`` is in ``mfa_acr``."""
        amr = claims.get("amr")
        if isinstance(amr, list) and any(isinstance(a, str) and a in self.settings.mfa_amr for a in amr):
            return True
        acr = claims.get("acr")
        return isinstance(acr, str) and acr in self.settings.mfa_acr


def _only_signing_key(keys: KeySet) -> Any:
    usable = [k for k in keys.keys if k.get("use", "sig") == "sig"]
    if len(usable) != 1:
        raise ValueError("no key id and not exactly one signing key")
    return usable[0]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _subject(claims: Mapping[str, Any]) -> str:
    """The token's ``sub`` as an ``oidc`` account keeps it (its ``external_id``)."""
    return str(claims.get("sub"))[:255]


def _valid_to(value: object) -> dt.datetime | None:
    """A validity end claim: epoch seconds or an ISO 8601 date/time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise IdentityError("the validity claim is not a date") from None
        return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    raise IdentityError("the validity claim is not a date")


class Admission:
    """What the provider asserts, turned into a custodata person and a session or a bearer principal.

    Accounts the provider keeps (``source = oidc``) follow its claims on every sign-in: roles by
    group, branch, kind, validity, each change an identity change by ``oidc:<idp>``.  An account
    SCIM provisioned is matched by its login name and keeps the roles SCIM gave it (SCIM is the
    source of truth there); its sign-in is what OIDC adds.  custodata's own local accounts (the
    embedded demo, break-glass) are never signed in through the provider.  A person not in the
    directory is created (``oidc.provision: create``) or refused (``match``).
    """

    def __init__(self, directory: Directory, client: OidcClient) -> None:
        self.directory = directory
        self.client = client
        self.settings = client.settings
        self.mapping = client.settings.mapping
        self.actor = f"oidc:{client.settings.idp}"

    def refuse(self, result: Result, reason: str, *, login: str | None = None, via: str,
                source_address: str | None, role: str | None = None) -> OidcError:
        actor = login if login and PERSON_ID_PATTERN.fullmatch(login) else "-"
        self.directory.audit.append(AuditEvent(
            actor=actor, action=Action.LOGIN, result=result, role=role, source_address=source_address,
            reason=reason, detail={"method": "oidc", "via": via, "idp": self.settings.idp,
                                   **({"login": login[:64]} if actor == "-" and login else {})}))
        return OidcError(reason)

    def login_name(self, claims: Mapping[str, Any]) -> str:
        value = claims.get(self.settings.username_claim)
        # ASCII before lower-casing: 'K' (KELVIN SIGN) is another user at the IdP but lower-cases to 'k'
        name = value.strip().lower() if isinstance(value, str) and value.isascii() else ""
        if not PERSON_ID_PATTERN.fullmatch(name):
            raise OidcError(f"the {self.settings.username_claim} claim is no usable login name")
        return name

    def person(self, claims: Mapping[str, Any], *, via: str, source_address: str | None) -> Person:
        """The person the claims stand for, created or brought up to date as the settings say; audited refusals."""
        address = source_address[:64] if source_address else None
        try:
            pid = self.login_name(claims)
        except OidcError as exc:
            raise self.refuse(Result.FAILED, exc.reason, via=via, source_address=address) from None
        asserted = self.mapping.roles(claims.get(self.mapping.groups_claim))
        try:
            check_separation(asserted)
        except SeparationOfDutiesError as exc:
            self.directory.record_change(self.actor, "idp_roles_refused", pid, result=Result.DENIED,
                                         reason=str(exc), roles=list(asserted), via=via)
            raise self.refuse(Result.DENIED, "the provider asserts roles that break separation of duties",
                               login=pid, via=via, source_address=address) from None
        try:
            current: Person | None = self.directory.person(pid)
        except NotFoundError:
            current = None
        try:
            if current is None:
                if self.settings.provision != "create":
                    raise self.refuse(Result.FAILED, "unknown user (oidc.provision is match)", login=pid, via=via,
                                       source_address=address)
                return self._create(pid, claims, asserted)
            if current.source == "scim":
                return current
            if current.source != "oidc":
                raise self.refuse(Result.DENIED, f"a {current.source} account does not sign in through the "
                                   "provider", login=pid, via=via, source_address=address)
            # the login name claim is neither unique nor stable at an IdP (OIDC Core 5.7): the account
            # is bound to the sub it was made for, so someone renamed to this name does not become it
            if current.external_id is not None and not _same(current.external_id, _subject(claims)):
                raise self.refuse(Result.DENIED, "the sub claim is not this account's (another person at the "
                                   "provider with this login name)", login=pid, via=via, source_address=address)
            return self._follow(current, claims, asserted)
        except (IdentityError, SeparationOfDutiesError) as exc:
            raise self.refuse(Result.DENIED, f"the provider's claims cannot be applied: {exc}"[:300], login=pid,
                               via=via, source_address=address) from None

    def _attributes(self, claims: Mapping[str, Any], person: Person | None = None,
                    ) -> tuple[str, str, str, dt.datetime | None]:
        """Name, kind, branch and validity end as claimed; a claim the token lacks keeps ``person``'s value.

        Access tokens often carry fewer claims than ID tokens: a missing claim is no assertion,
        never "back to the default" (a clerk's API call must not move them to the default branch).
        """
        m = self.mapping
        name, branch_claim = claims.get("name"), claims.get(m.branch_claim)
        if isinstance(name, str) and name.strip():
            display = name.strip()[:255]
        else:
            display = person.display_name if person else self.login_name(claims)
        if isinstance(branch_claim, str) and branch_claim.strip():
            branch: str | None = branch_claim.strip()[:64]
        else:
            branch = person.branch if person else m.default_branch
        if not branch:
            raise IdentityError(f"no {m.branch_claim} claim and the configuration names no default_branch")
        kind = m.kind(claims.get(m.kind_claim)) if m.kind_claim in claims or person is None else person.kind
        if m.valid_to_claim in claims or person is None:
            valid_to = _valid_to(claims.get(m.valid_to_claim))
        else:
            valid_to = person.valid_to
        return display, kind, branch, valid_to

    def _create(self, pid: str, claims: Mapping[str, Any], roles: tuple[str, ...]) -> Person:
        display, kind, branch, valid_to = self._attributes(claims)
        return self.directory.create_person(pid, display, kind, branch, password=None, roles=roles,
                                            valid_to=valid_to, by=self.actor, source="oidc",
                                            external_id=_subject(claims))

    def _follow(self, person: Person, claims: Mapping[str, Any], roles: tuple[str, ...]) -> Person:
        """Bring an ``oidc`` account to what the provider claims now; roles only when the groups claim is there."""
        display, kind, branch, valid_to = self._attributes(claims, person)
        pid = person.person_id
        changed = False
        if (display, kind, branch) != (person.display_name, person.kind, person.branch):
            self.directory.update_person(pid, by=self.actor, display_name=display, kind=kind, branch=branch)
            changed = True
        if valid_to != person.valid_to:
            self.directory.set_validity(pid, person.valid_from, valid_to, by=self.actor)
            changed = True
        held = set(person.roles)
        if self.mapping.groups_claim in claims and held != set(roles):
            for role in sorted(held - set(roles)):  # revocations first: a move never holds both duties
                self.directory.revoke_role(pid, role, by=self.actor)
            for role in sorted(set(roles) - held):
                self.directory.grant_role(pid, role, by=self.actor)
            changed = True
        return self.directory.person(pid) if changed else person

    # ---- the two ways in ------------------------------------------------------------------------

    def sign_in(self, id_claims: Mapping[str, Any], *, role: str | None = None,
                source_address: str | None = None) -> Session:
        """A console session for the ID token's person (the directory's checks and audit, method ``oidc``)."""
        person = self.person(id_claims, via="console", source_address=source_address)
        return self.directory.open_session(person.person_id, role=role, method="oidc",
                                           mfa=self.client.has_mfa(id_claims), source_address=source_address,
                                           idp=self.settings.idp)

    def bearer(self, token: str, *, source_address: str | None = None) -> Principal:
        """The person behind a provider's access token, re-read now; refusals audited, acceptances not (per call).

        Acts in the least powerful role held (as a login without a role does); a role policy holds
        to MFA needs the token's ``amr``/``acr``.
        """
        address = source_address[:64] if source_address else None
        try:
            claims = self.client.verify_access_token(token)
        except OidcError as exc:
            raise self.refuse(Result.FAILED, exc.reason, via="bearer", source_address=address) from None
        except ProviderUnavailable:  # keys not cached and the IdP down: a refusal, not a server error
            raise self.refuse(Result.FAILED, "the provider's keys cannot be read now", via="bearer",
                              source_address=address) from None
        person = self.person(claims, via="bearer", source_address=address)
        now = self.directory.now()
        acting = default_role(person.roles)
        mfa = self.client.has_mfa(claims)
        why = None
        if person.status not in AUTHENTICATING_STATUSES:
            why = f"account {person.status}"
        elif person.valid_from > now or (person.valid_to is not None and now >= person.valid_to):
            why = "outside the validity period"
        elif acting is None:
            why = "holds no role"
        elif self.directory.requires_mfa(acting) and not mfa:
            why = "second factor required by policy, the IdP asserted none"
        if why is not None or acting is None:
            raise self.refuse(Result.DENIED, why or "holds no role", login=person.person_id, via="bearer",
                               source_address=address, role=acting)
        expires = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC).replace(tzinfo=None)
        return Principal(person_id=person.person_id, display_name=person.display_name, kind=person.kind,
                         branch=person.branch, role=acting, roles=frozenset(person.roles), status=person.status,
                         session_expires_at=expires, mfa=mfa, method="oidc_bearer")


class OidcNotConfigured(CustodataError):
    """Single sign-on was asked for but the identity configuration names no ``oidc`` provider."""
