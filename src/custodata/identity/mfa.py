"""The second factor of local accounts: TOTP (RFC 6238, on pyotp) and one-time recovery codes.

A TOTP seed must be readable to check a code, so it cannot be hashed like a password:
it is sealed with AES-GCM under a key derived one way from the deployment's key provider
(the same provider that keeps the customers' data keys), bound to the person's login
name.  A copy of the operational store alone therefore yields no second factor.

A code is accepted in the current 30-second step or one step either side (clock drift of
a phone), and never twice: the last accepted step is kept and a code of that step or an
earlier one is refused, so a code read over someone's shoulder cannot be replayed.

Recovery codes carry 80 random bits each and are stored as SHA-256: a slow hash protects
low-entropy secrets chosen by people, which these are not.  They are shown once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.identity.errors import IdentityError

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper and typed


@dataclass(frozen=True)
class Enrolment:
    """A started enrolment: the seed to put in an authenticator app (shown once), and its otpauth URI."""

    secret: str = field(repr=False)
    uri: str = field(repr=False)


class SeedSealer:
    """Seal and open TOTP seeds under one key, each bound to its person (AES-GCM, the login name as AAD).

    ``key`` is called lazily: a deployment that never enrols anybody never needs the key provider.
    """

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key_source = key
        self._aead: AESGCM | None = None

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            root = self._key_source()
            self._aead = AESGCM(hmac.new(root, b"custodata totp seed v1", hashlib.sha256).digest())
        return self._aead

    def seal(self, person_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._cipher().encrypt(nonce, secret.encode("ascii"), person_id.encode())
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, person_id: str, sealed: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
            return self._cipher().decrypt(raw[:12], raw[12:], person_id.encode()).decode("ascii")
        except (ValueError, InvalidTag):
            raise IdentityError("the stored second factor cannot be opened with this deployment's key") from None


def new_enrolment(person_id: str, issuer: str) -> Enrolment:
    """A fresh 160-bit seed (RFC 4226's recommended length) and the URI authenticator apps scan."""
    secret = pyotp.random_base32(32)
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=person_id,
                                                                                   issuer_name=issuer)
    return Enrolment(secret=secret, uri=uri)


def matching_step(secret: str, code: object, *, now: float | None = None, after: int | None = None) -> int | None:
    """The time step ``code`` is valid for (within the drift window and later than ``after``), else None."""
    if not isinstance(code, str):
        return None
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():  # '١٢٣٤٥٦' is digits to isdigit
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    at = time.time() if now is None else now
    current = int(at // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def new_recovery_codes(count: int) -> list[str]:
    """``count`` codes of 16 characters in four groups (``abcd-efgh-jkmn-pqrs``), ~80 random bits each."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_hash(code: str) -> str:
    """How a recovery code is kept: SHA-256 of its normalised form (case, spaces and dashes ignored)."""
    normal = "".join(ch for ch in code.lower() if ch in RECOVERY_ALPHABET)
    return hashlib.sha256(b"custodata recovery code v1:" + normal.encode()).hexdigest()


def looks_like_recovery_code(code: object) -> bool:
    return isinstance(code, str) and 16 <= len(code.strip()) <= 24
