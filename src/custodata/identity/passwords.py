"""Passwords: the minimum policy, argon2id hashing, and verification that takes the same time either way.

A login for an unknown or locked account still runs one argon2 verification
against a throw-away hash, so response time does not tell an attacker which
login names exist.  Hashes made with other parameters than the hasher's are
flagged for re-hashing on the next successful login.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from custodata.identity.errors import WeakPasswordError

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane) rather than argon2-cffi's RFC 9106
# default (64 MiB, 4 lanes): measured here at ~50 ms against ~440 ms a verification, and a burst of 50
# concurrent logins then needs ~1 GB instead of ~3 GB.  Stronger stored hashes are re-hashed to these.
HASH_TIME_COST = 2
HASH_MEMORY_KIB = 19 * 1024
HASH_PARALLELISM = 1

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 accepts more, but nobody types it and it would only cost us time


def check_password_policy(password: str, person_id: str) -> None:
    """Refuse a password below the minimum policy; the message names the rule, never the password."""
    if not isinstance(password, str):
        raise WeakPasswordError("the password must be text")
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"the password must be at most {MAX_LENGTH} characters long")
    if not password.strip():
        raise WeakPasswordError("the password must not be blank")
    if len(set(password)) < 4:
        raise WeakPasswordError("the password must use at least 4 different characters")
    lowered = password.casefold()
    if person_id and (lowered == person_id.casefold() or (len(person_id) >= 4 and person_id.casefold() in lowered)):
        raise WeakPasswordError("the password must not be or contain the login name")


class Passwords:
    """Hash and verify with one :class:`argon2.PasswordHasher` (argon2id with the parameters above unless given)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher(time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB,
                                               parallelism=HASH_PARALLELISM)
        self._decoy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored_hash: str, password: object) -> tuple[bool, bool]:
        """``(matches, needs_rehash)``; a malformed stored hash or a non-text password never matches."""
        if not isinstance(password, str) or not password or len(password) > MAX_LENGTH:
            self.burn()
            return False, False
        try:
            self.hasher.verify(stored_hash, password)
        except VerificationError:
            return False, False
        except InvalidHashError:  # no hash to check (an IdP's account): as slow as a wrong password
            self.burn()
            return False, False
        return True, self.hasher.check_needs_rehash(stored_hash)

    def burn(self) -> None:
        """Spend the time of one verification, for logins that fail before any real hash is checked."""
        if self._decoy is None:
            self._decoy = self.hasher.hash(secrets.token_urlsafe(16))
        try:
            self.hasher.verify(self._decoy, "not-the-decoy-password")
        except VerificationError:
            pass
