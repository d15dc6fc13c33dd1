"""Login lockout under parallel attempts: at most five passwords are ever checked (issue 10 point 12).

The attack: fire 24 or 40 login attempts at once with a list of guesses, the right
password among the last ones.  Counting failures after each check let every attempt
read "0 failures", so 15-19 passwords were checked and the right one logged in after
the lock.  Here the count is taken before the check, in one conditional UPDATE.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from custodata.audit.events import MemorySink
from custodata.identity.directory import Directory
from custodata.identity.errors import AuthenticationError
from custodata.ops import OpsStore, open_ops
from tests.test_identity import ADMIN, PW, Clock, cheap_hasher


class CountingDirectory(Directory):
    """Counts the password checks actually made (what the attacker gets to try)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.checked = 0
        self._count_lock = threading.Lock()
        verify = self.passwords.verify

        def counting(stored: str, password: object) -> tuple[bool, bool]:
            with self._count_lock:
                self.checked += 1
            return verify(stored, password)

        self.passwords.verify = counting  # type: ignore[method-assign]


@pytest.fixture
def store(ops_url: str) -> Iterator[OpsStore]:
    s = open_ops(ops_url)
    yield s
    s.close()


@pytest.mark.parametrize("attempts", [24, 40])
def test_parallel_guesses_check_at_most_five_passwords(store: OpsStore, attempts: int) -> None:
    """Stops: a burst of parallel guesses getting more than the five checks the lockout allows, and the
    right password logging in after the lock."""
    directory = CountingDirectory(store, MemorySink(), clock=Clock(), hasher=cheap_hasher())
    directory.create_person("zhang.wei", "张伟", "employee", "北京朝阳支行", password=PW, roles=("front_desk",),
                            by=ADMIN)
    guesses = [f"Wrong-guess-{i:03d}" for i in range(attempts - 1)] + [PW]
    barrier = threading.Barrier(min(attempts, 16))

    def attempt(password: str) -> bool:
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass
        try:
            directory.login("zhang.wei", password)
            return True
        except AuthenticationError:
            return False

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(attempt, guesses))
    assert directory.checked <= 5, directory.checked
    if not any(results):  # the right password came too late: the account is locked and it is not checked
        assert directory.person("zhang.wei").locked_until is not None
        before = directory.checked
        with pytest.raises(AuthenticationError):
            directory.login("zhang.wei", PW)
        assert directory.checked == before


def test_a_lock_taken_by_a_crashed_check_expires(store: OpsStore) -> None:
    """Stops an account staying locked for ever when a process dies between counting and checking."""
    clock = Clock()
    directory = Directory(store, MemorySink(), clock=clock, hasher=cheap_hasher())
    directory.create_person("li.na", "李娜", "employee", "总行", password=PW, roles=("front_desk",), by=ADMIN)
    for _ in range(directory.max_failures):  # five checks counted, none finished
        assert directory._reserve_attempt("li.na", clock()) is not None
    assert directory._reserve_attempt("li.na", clock()) is None
    clock.advance(minutes=16)
    assert directory.login("li.na", PW).principal.person_id == "li.na"
    assert directory.person("li.na").failed_logins == 0
