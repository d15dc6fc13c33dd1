"""Identities, roles, portfolios and sessions on both engines (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from custodata.audit.events import Action, AuditEvent, MemorySink, Result
from custodata.identity import tables as t
from custodata.identity.demo import DEMO_PEOPLE, seed_demo_people
from custodata.identity.directory import Directory
from custodata.identity.errors import (
    AccountDisabledError,
    AuthenticationError,
    IdentityError,
    PasswordChangeRequired,
    PersonExistsError,
    PersonNotFoundError,
    RoleNotHeldError,
    SeparationOfDutiesError,
    SessionExpiredError,
    WeakPasswordError,
)
from custodata.identity.passwords import check_password_policy
from custodata.identity.roles import ROLE_LABELS_EN, ROLES, SOD_CONFLICTS, check_separation, default_role
from custodata.ops import OpsStore, open_ops

PW = "Correct-horse-42"
ADMIN = "admin.boss"
START = dt.datetime(2026, 3, 2, 9, 0, 0)


def cheap_hasher() -> PasswordHasher:
    """argon2id with tiny parameters: the same code path, milliseconds instead of a 64 MiB hash per test."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def store(ops_url: str) -> Iterator[OpsStore]:
    s = open_ops(ops_url)
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def directory(store: OpsStore, sink: MemorySink, clock: Clock) -> Directory:
    return Directory(store, sink, clock=clock, hasher=cheap_hasher())


def add(directory: Directory, person_id: str = "zhang.wei", roles: tuple[str, ...] = ("front_desk",),
        **kwargs: object) -> None:
    directory.create_person(person_id, "张伟", kwargs.pop("kind", "employee"), kwargs.pop("branch", "北京朝阳支行"),  # type: ignore[arg-type]
                            password=PW, roles=roles, by=ADMIN, **kwargs)  # type: ignore[arg-type]


def logins(sink: MemorySink) -> list[AuditEvent]:
    return [e for e in sink.events if e.action == Action.LOGIN]


# --- roles and the password policy (no store) ---------------------------------------------------

def test_roles_have_chinese_and_english_labels_and_a_precedence() -> None:
    assert set(ROLES) == set(ROLE_LABELS_EN) == {
        "front_desk", "outsourced_agent", "marketer", "data_steward", "security_officer", "auditor", "administrator",
        "integration"}
    assert ROLES["front_desk"] == "柜面/客服" and ROLES["outsourced_agent"] == "外包坐席"
    assert default_role(["administrator", "data_steward"]) == "data_steward"
    assert default_role([]) is None


@pytest.mark.parametrize("roles", [
    ("administrator", "auditor"), ("administrator", "security_officer"), ("security_officer", "auditor"),
    ("front_desk", "administrator", "auditor"),
])
def test_separation_of_duties_refuses_the_three_officers_combined(roles: tuple[str, ...]) -> None:
    with pytest.raises(SeparationOfDutiesError, match="separation of duties"):
        check_separation(roles)


def test_separation_of_duties_allows_compatible_roles() -> None:
    check_separation(["data_steward", "front_desk"])
    check_separation(["marketer", "front_desk"])
    assert all(len(c) == 2 for c in SOD_CONFLICTS)


@pytest.mark.parametrize("roles", [
    ("administrator", "data_steward"), ("administrator", "front_desk"), ("auditor", "marketer"),
    ("administrator", "outsourced_agent"),
])
def test_the_system_and_audit_officers_hold_no_customer_data_role(roles: tuple[str, ...]) -> None:
    """Stops an administrator (or auditor) who also holds a customer-data role from reading customers
    through their own account, then administering or auditing it (issue 10 point 5)."""
    with pytest.raises(SeparationOfDutiesError, match="separation of duties"):
        check_separation(roles)


@pytest.mark.parametrize(("password", "rule"), [
    ("short-1", "at least 10"), ("          ", "blank"), ("aaaaaaaaaaaa", "4 different"),
    ("zhang.wei-2026!", "login name"), ("ZHANG.WEI", "at least 10"), ("x" * 1025, "at most"),
])
def test_password_policy_names_the_rule_broken(password: str, rule: str) -> None:
    with pytest.raises(WeakPasswordError, match=rule) as info:
        check_password_policy(password, "zhang.wei")
    assert password not in str(info.value)


def test_password_policy_accepts_a_decent_password() -> None:
    check_password_policy("Demo-front-2026", "front.bj")


# --- people ---------------------------------------------------------------------------------------

def test_create_stores_an_argon2id_hash_and_never_the_password(store: OpsStore, sink: MemorySink) -> None:
    directory = Directory(store, sink)  # production argon2 parameters
    person = directory.create_person("li.na", "李娜", "employee", "上海浦东支行", password=PW,
                                     roles=["front_desk", "marketer"], by=ADMIN)
    assert person.roles == ("front_desk", "marketer") and person.status == "active"
    assert "password_hash" not in {f.name for f in dataclasses.fields(person)}
    with store.read() as con:
        stored = con.execute(sa.select(t.person.c.password_hash)).scalar_one()
        everything = [tuple(r) for tbl in (t.person, t.person_role) for r in con.execute(sa.select(tbl))]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and PW not in stored
    assert PW not in repr(everything)
    assert directory.passwords.hasher.verify(stored, PW)
    session = directory.login("li.na", PW)
    assert session.principal.role == "front_desk"


def test_create_refuses_duplicates_bad_input_and_weak_passwords(directory: Directory) -> None:
    add(directory)
    with pytest.raises(PersonExistsError):
        add(directory)
    with pytest.raises(IdentityError, match="kind"):
        add(directory, "a1", kind="contractor")
    with pytest.raises(IdentityError, match="role"):
        add(directory, "a2", roles=("superuser",))
    with pytest.raises(IdentityError, match="login name"):
        add(directory, "Has Space")
    with pytest.raises(IdentityError, match="validity"):
        add(directory, "a3", valid_from=START, valid_to=START - dt.timedelta(days=1))
    with pytest.raises(WeakPasswordError):
        weak = "short"
        directory.create_person("a4", "x", "employee", "b", password=weak, by=ADMIN)
    with pytest.raises(PersonNotFoundError):
        directory.person("a4")
    assert [p.person_id for p in directory.people()] == ["zhang.wei"]


@pytest.mark.parametrize("roles", [("administrator", "auditor"), ("administrator", "security_officer")])
def test_separation_of_duties_refuses_creation(directory: Directory, sink: MemorySink, roles: tuple[str, ...]) -> None:
    with pytest.raises(SeparationOfDutiesError):
        add(directory, "both", roles=roles)
    with pytest.raises(PersonNotFoundError):
        directory.person("both")
    assert sink.events[-1].result == Result.DENIED and sink.events[-1].action == Action.IDENTITY_CHANGE


@pytest.mark.parametrize(("held", "granted"), [("administrator", "auditor"), ("administrator", "security_officer"),
                                               ("auditor", "administrator"), ("security_officer", "administrator")])
def test_separation_of_duties_refuses_the_grant(directory: Directory, sink: MemorySink, held: str,
                                                granted: str) -> None:
    add(directory, "officer", roles=(held,))
    with pytest.raises(SeparationOfDutiesError):
        directory.grant_role("officer", granted, by=ADMIN)
    assert directory.person("officer").roles == (held,)
    refused = sink.events[-1]
    assert (refused.action, refused.result, refused.actor) == (Action.IDENTITY_CHANGE, Result.DENIED, ADMIN)
    assert refused.detail["role"] == granted and "separation of duties" in (refused.reason or "")


def test_nobody_grants_a_role_to_themselves(directory: Directory) -> None:
    add(directory, "self.made", roles=("front_desk",))
    with pytest.raises(SeparationOfDutiesError, match="themselves"):
        directory.grant_role("self.made", "data_steward", by="self.made")
    assert directory.person("self.made").roles == ("front_desk",)


def test_grant_and_revoke_are_idempotent_and_audited(directory: Directory, sink: MemorySink) -> None:
    add(directory)
    assert directory.grant_role("zhang.wei", "marketer", by=ADMIN) is True
    assert directory.grant_role("zhang.wei", "marketer", by=ADMIN) is False
    assert directory.person("zhang.wei").roles == ("front_desk", "marketer")
    assert directory.revoke_role("zhang.wei", "marketer", by=ADMIN) is True
    assert directory.revoke_role("zhang.wei", "marketer", by=ADMIN) is False
    changes = [e.detail["change"] for e in sink.events if e.action == Action.IDENTITY_CHANGE]
    assert changes == ["person_created", "role_granted", "role_revoked"]
    with pytest.raises(PersonNotFoundError):
        directory.grant_role("nobody", "marketer", by=ADMIN)


def test_people_filters(directory: Directory) -> None:
    add(directory, "a.one", roles=("front_desk",))
    add(directory, "b.two", roles=("outsourced_agent",), kind="outsourced", branch="上海浦东支行")
    add(directory, "c.three", roles=())
    directory.set_status("c.three", "leaving", by=ADMIN)
    assert [p.person_id for p in directory.people(kind="outsourced")] == ["b.two"]
    assert [p.person_id for p in directory.people(branch="北京朝阳支行")] == ["a.one", "c.three"]
    assert [(p.person_id, p.roles) for p in directory.people(status="leaving")] == [("c.three", ())]
    assert directory.people()[1].roles == ("outsourced_agent",)
    with pytest.raises(IdentityError, match="status"):
        directory.people(status="retired")


def test_portfolio(directory: Directory, sink: MemorySink) -> None:
    add(directory, "agent", roles=("outsourced_agent",), kind="outsourced")
    directory.set_portfolio("agent", ["C000000003", "C000000001"], by=ADMIN)
    directory.add_to_portfolio("agent", ["C000000002", "C000000001"], by=ADMIN)
    assert directory.portfolio("agent") == ["C000000001", "C000000002", "C000000003"]
    assert directory.in_portfolio("agent", "C000000002") and not directory.in_portfolio("agent", "C000000009")
    directory.set_portfolio("agent", ["C000000002"], by=ADMIN)
    assert directory.portfolio("agent") == ["C000000002"]
    last = sink.events[-1]
    assert last.detail == {"change": "portfolio_changed", "person_id": "agent", "added": 0, "removed": 2}
    assert list(last.customer_ids) == ["C000000001", "C000000003"]
    events = len(sink.events)
    directory.add_to_portfolio("agent", ["C000000002"], by=ADMIN)  # nothing changes, nothing is recorded
    assert len(sink.events) == events
    with pytest.raises(IdentityError):
        directory.set_portfolio("agent", "C000000001", by=ADMIN)
    with pytest.raises(PersonNotFoundError):
        directory.portfolio("nobody")


# --- login, lockout, sessions ---------------------------------------------------------------------

def test_login_opens_a_session_stored_only_as_its_hash(directory: Directory, store: OpsStore,
                                                       sink: MemorySink) -> None:
    add(directory, roles=("front_desk", "marketer"))
    session = directory.login("Zhang.Wei ", PW, role="marketer", source_address="10.1.2.3")
    assert session.expires_at == START + dt.timedelta(hours=8)
    assert session.token not in repr(session)
    p = session.principal
    assert (p.person_id, p.role, p.roles, p.branch, p.can_read()) == (
        "zhang.wei", "marketer", frozenset({"front_desk", "marketer"}), "北京朝阳支行", True)
    with store.read() as con:
        rows = [tuple(r) for r in con.execute(sa.select(t.session))]
    assert len(rows) == 1 and session.token not in repr(rows)
    assert rows[0][0] == hashlib.sha256(session.token.encode()).hexdigest()
    assert directory.authenticate(session.token) == p
    ok = logins(sink)[-1]
    assert (ok.actor, ok.result, ok.role, ok.source_address) == ("zhang.wei", Result.OK, "marketer", "10.1.2.3")


def test_login_role_defaults_to_the_least_powerful_and_must_be_held(directory: Directory, sink: MemorySink) -> None:
    add(directory, roles=("data_steward", "front_desk"))
    assert directory.login("zhang.wei", PW).principal.role == "front_desk"
    # the right password with a role not held answers exactly like a wrong password (issue 10 point 21):
    # a different answer would confirm a guessed password; the audit event says which it was
    with pytest.raises(AuthenticationError) as held_not:
        directory.login("zhang.wei", PW, role="auditor")
    with pytest.raises(AuthenticationError) as wrong:
        directory.login("zhang.wei", "Wrong-password-9", role="auditor")
    assert type(held_not.value) is type(wrong.value) is AuthenticationError
    assert str(held_not.value) == str(wrong.value)
    denied = [e for e in logins(sink) if e.result == Result.DENIED]
    assert denied[-1].reason == "role not held: auditor"
    add(directory, "no.role", roles=())
    with pytest.raises(AuthenticationError):
        directory.login("no.role", PW)


def test_every_login_failure_looks_the_same_to_the_caller(directory: Directory, sink: MemorySink,
                                                          clock: Clock) -> None:
    add(directory, "wrong.pw")
    add(directory, "gone")
    directory.set_status("gone", "left", by=ADMIN)
    add(directory, "later", valid_from=START + dt.timedelta(days=1))
    messages = set()
    for who, password in (("nobody", PW), ("wrong.pw", "Not-the-password-1"), ("gone", PW), ("later", PW)):
        with pytest.raises(AuthenticationError) as info:
            directory.login(who, password)
        assert type(info.value) is AuthenticationError
        messages.add(str(info.value))
    assert len(messages) == 1
    outcomes = [(e.actor, e.result, e.reason) for e in logins(sink)]
    assert outcomes == [
        ("-", Result.FAILED, "unknown user"),
        ("wrong.pw", Result.FAILED, "wrong password"),
        ("gone", Result.DENIED, "account left"),
        ("later", Result.DENIED, "outside the validity period"),
    ]
    assert logins(sink)[0].detail["login"] == "nobody"
    clock.advance(days=1)
    assert directory.login("later", PW).principal.person_id == "later"


def test_lockout_after_repeated_failures_and_release_after_the_lockout(directory: Directory, sink: MemorySink,
                                                                        clock: Clock) -> None:
    add(directory)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            directory.login("zhang.wei", "Wrong-password-9")
    person = directory.person("zhang.wei")
    assert person.failed_logins == 5 and person.locked_until == START + dt.timedelta(minutes=15)
    assert "locked until" in (logins(sink)[-1].reason or "")
    with pytest.raises(AuthenticationError):  # the right password does not open a locked account
        directory.login("zhang.wei", PW)
    assert logins(sink)[-1].reason == "locked until 2026-03-02 09:15:00 UTC"
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(AuthenticationError):
        directory.login("zhang.wei", PW)
    clock.advance(seconds=1)
    directory.login("zhang.wei", PW)
    person = directory.person("zhang.wei")
    assert (person.failed_logins, person.locked_until) == (0, None)


def test_failures_count_afresh_once_a_lock_has_expired(directory: Directory, clock: Clock) -> None:
    add(directory)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            directory.login("zhang.wei", "Wrong-password-9")
    clock.advance(minutes=16)
    with pytest.raises(AuthenticationError):
        directory.login("zhang.wei", "Wrong-password-9")
    person = directory.person("zhang.wei")
    assert (person.failed_logins, person.locked_until) == (1, None)
    directory.login("zhang.wei", PW)


def test_an_administrator_password_reset_unlocks_and_ends_sessions(directory: Directory, sink: MemorySink) -> None:
    add(directory)
    live = directory.login("zhang.wei", PW)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            directory.login("zhang.wei", "Wrong-password-9")
    directory.set_password("zhang.wei", "Brand-new-secret-7", by=ADMIN)
    with pytest.raises(SessionExpiredError):
        directory.authenticate(live.token)
    assert sink.events[-1].detail == {"change": "password_set", "person_id": "zhang.wei", "sessions_revoked": 1}
    # the administrator chose it, so it is a one-time password: it opens no session until replaced
    with pytest.raises(PasswordChangeRequired):
        directory.login("zhang.wei", "Brand-new-secret-7")
    directory.change_password("zhang.wei", "Brand-new-secret-7", "Own-choice-secret-8")
    directory.login("zhang.wei", "Own-choice-secret-8")


def test_sessions_expire(directory: Directory, clock: Clock) -> None:
    add(directory)
    session = directory.login("zhang.wei", PW)
    clock.advance(hours=7, minutes=59)
    directory.authenticate(session.token)
    clock.advance(minutes=1)
    with pytest.raises(SessionExpiredError):
        directory.authenticate(session.token)
    for bad in ("", "not-a-token", "x" * 10_000):
        with pytest.raises(SessionExpiredError):
            directory.authenticate(bad)


@pytest.mark.parametrize("status", ["left", "frozen"])
def test_a_live_token_is_refused_once_the_person_left_or_is_frozen(directory: Directory, sink: MemorySink,
                                                                    status: str) -> None:
    add(directory)
    session = directory.login("zhang.wei", PW)
    directory.set_status("zhang.wei", status, by=ADMIN, reason="HR-2026-118")
    with pytest.raises(AuthenticationError):
        directory.authenticate(session.token)
    change = [e for e in sink.events if e.detail.get("change") == "status_changed"][-1]
    assert change.detail["sessions_revoked"] == 1 and change.reason == "HR-2026-118"
    with pytest.raises(AuthenticationError):
        directory.login("zhang.wei", PW)
    directory.set_status("zhang.wei", "active", by=ADMIN)  # unfrozen: a new login works, the old token stays dead
    with pytest.raises(SessionExpiredError):
        directory.authenticate(session.token)
    directory.authenticate(directory.login("zhang.wei", PW).token)


@pytest.mark.parametrize("status", ["left", "frozen"])
def test_status_is_reread_on_every_request(directory: Directory, store: OpsStore, sink: MemorySink,
                                           status: str) -> None:
    """Even a status written behind the directory's back (no session revoked) stops the next request."""
    add(directory)
    session = directory.login("zhang.wei", PW)
    with store.begin() as con:
        con.execute(sa.update(t.person).values(status=status))
    with pytest.raises(AccountDisabledError):
        directory.authenticate(session.token, source_address="10.9.9.9")
    refused = logins(sink)[-1]
    assert (refused.result, refused.reason, refused.source_address) == (Result.DENIED, f"account {status}", "10.9.9.9")
    with store.begin() as con:
        con.execute(sa.update(t.person).values(status="active"))
    with pytest.raises(SessionExpiredError):  # the refused session was ended, not merely refused
        directory.authenticate(session.token)


@pytest.mark.parametrize("status", ["transferred", "leaving"])
def test_transferred_and_leaving_people_still_authenticate(directory: Directory, status: str) -> None:
    add(directory)
    session = directory.login("zhang.wei", PW)
    directory.set_status("zhang.wei", status, by=ADMIN)
    principal = directory.authenticate(session.token)
    assert principal.status == status and principal.can_read()
    assert directory.login("zhang.wei", PW).principal.status == status


def test_a_revoked_role_ends_the_sessions_acting_in_it(directory: Directory, store: OpsStore) -> None:
    add(directory, roles=("front_desk", "marketer"))
    as_marketer = directory.login("zhang.wei", PW, role="marketer")
    as_front = directory.login("zhang.wei", PW, role="front_desk")
    directory.revoke_role("zhang.wei", "marketer", by=ADMIN)
    with pytest.raises(SessionExpiredError):
        directory.authenticate(as_marketer.token)
    assert directory.authenticate(as_front.token).roles == frozenset({"front_desk"})
    # a role removed behind the directory's back is caught on the next request too
    with store.begin() as con:
        con.execute(sa.delete(t.person_role))
    with pytest.raises(RoleNotHeldError):
        directory.authenticate(as_front.token)


def test_the_validity_period_is_checked_on_every_request(directory: Directory, clock: Clock) -> None:
    add(directory, valid_to=START + dt.timedelta(hours=1))
    session = directory.login("zhang.wei", PW)
    clock.advance(minutes=59)
    directory.authenticate(session.token)
    clock.advance(minutes=1)
    with pytest.raises(AccountDisabledError):
        directory.authenticate(session.token)
    directory.set_validity("zhang.wei", START, None, by=ADMIN)
    assert directory.login("zhang.wei", PW).principal.person_id == "zhang.wei"
    with pytest.raises(IdentityError):
        directory.set_validity("zhang.wei", START, START, by=ADMIN)


def test_authenticate_refreshes_last_seen_at_most_once_a_minute(directory: Directory, store: OpsStore,
                                                               clock: Clock) -> None:
    add(directory)
    session = directory.login("zhang.wei", PW)

    def last_seen() -> dt.datetime:
        with store.read() as con:
            value: dt.datetime = con.execute(sa.select(t.session.c.last_seen_at)).scalar_one()
            return value

    clock.advance(seconds=30)
    directory.authenticate(session.token)
    assert last_seen() == START
    clock.advance(seconds=30)
    directory.authenticate(session.token)
    assert last_seen() == START + dt.timedelta(minutes=1)


def test_logout_revoke_and_purge(directory: Directory, sink: MemorySink, clock: Clock) -> None:
    add(directory)
    first = directory.login("zhang.wei", PW, source_address="10.0.0.1")
    directory.logout(first.token)
    directory.logout(first.token)  # idempotent
    with pytest.raises(SessionExpiredError):
        directory.authenticate(first.token)
    out = [e for e in sink.events if e.action == Action.LOGOUT]
    assert len(out) == 1 and (out[0].actor, out[0].role, out[0].source_address) == (
        "zhang.wei", "front_desk", "10.0.0.1")
    second, third = directory.login("zhang.wei", PW), directory.login("zhang.wei", PW)
    assert directory.revoke_sessions("zhang.wei", by="monitoring") == 2
    for s in (second, third):
        with pytest.raises(SessionExpiredError):
            directory.authenticate(s.token)
    clock.advance(days=2)
    assert directory.purge_sessions() == 3


def test_a_stronger_hasher_rehashes_on_the_next_login(store: OpsStore, sink: MemorySink) -> None:
    weak = Directory(store, sink, hasher=cheap_hasher())
    weak.create_person("li.na", "李娜", "partner", "总行", password=PW, roles=["marketer"], by=ADMIN)
    stronger = Directory(store, sink, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    stronger.login("li.na", PW)
    with store.read() as con:
        stored = con.execute(sa.select(t.person.c.password_hash)).scalar_one()
    assert "t=2" in stored and not stronger.passwords.hasher.check_needs_rehash(stored)


def test_audit_events_cover_every_change_and_login_and_carry_no_secret(directory: Directory,
                                                                      sink: MemorySink) -> None:
    add(directory, roles=("front_desk",))
    directory.grant_role("zhang.wei", "marketer", by=ADMIN)
    directory.revoke_role("zhang.wei", "marketer", by=ADMIN)
    directory.set_portfolio("zhang.wei", ["C000000001"], by=ADMIN)
    directory.set_password("zhang.wei", "Second-secret-88", by="zhang.wei")
    directory.set_validity("zhang.wei", START, START + dt.timedelta(days=365), by=ADMIN)
    with pytest.raises(AuthenticationError):
        directory.login("zhang.wei", PW)
    session = directory.login("zhang.wei", "Second-secret-88")
    directory.logout(session.token)
    directory.set_status("zhang.wei", "left", by=ADMIN, reason="resigned")
    kinds = [(e.action, e.result, e.detail.get("change")) for e in sink.events]
    assert kinds == [
        (Action.IDENTITY_CHANGE, Result.OK, "person_created"),
        (Action.IDENTITY_CHANGE, Result.OK, "role_granted"),
        (Action.IDENTITY_CHANGE, Result.OK, "role_revoked"),
        (Action.IDENTITY_CHANGE, Result.OK, "portfolio_changed"),
        (Action.IDENTITY_CHANGE, Result.OK, "password_set"),
        (Action.IDENTITY_CHANGE, Result.OK, "validity_changed"),
        (Action.LOGIN, Result.FAILED, None),
        (Action.LOGIN, Result.OK, None),
        (Action.LOGOUT, Result.OK, None),
        (Action.IDENTITY_CHANGE, Result.OK, "status_changed"),
    ]
    assert all(e.actor == ADMIN for e in sink.events if e.action == Action.IDENTITY_CHANGE
               and e.detail["change"] != "password_set")
    dumped = repr(sink.events)
    for secret in (PW, "Second-secret-88", session.token, "$argon2"):
        assert secret not in dumped


def test_demo_people_cover_every_role_and_seeding_is_idempotent(directory: Directory) -> None:
    assert {p.role for p in DEMO_PEOPLE} == set(ROLES)
    seeded = seed_demo_people(directory, portfolio_customers=["C000000001", "C000000002"])
    again = seed_demo_people(directory, portfolio_customers=["C000000009"])
    assert seeded == again and len(directory.people()) == len(DEMO_PEOPLE)
    for person_id, role, password in seeded:
        assert directory.login(person_id, password).principal.role == role
    agents = [p.person_id for p in DEMO_PEOPLE if p.gets_portfolio]
    assert agents and directory.portfolio(agents[0]) == ["C000000001", "C000000002"]
    branches = {p.branch for p in DEMO_PEOPLE if p.role == "front_desk"}
    assert len(branches) == 2


def test_changes_and_logins_land_in_the_hash_chained_audit_log(store: OpsStore, clock: Clock) -> None:
    from custodata.audit.log import AuditLog

    log = AuditLog(store)
    directory = Directory(store, log, clock=clock, hasher=cheap_hasher())
    add(directory)
    with pytest.raises(AuthenticationError):
        directory.login("zhang.wei", "Wrong-password-9", source_address="10.0.0.8")
    session = directory.login("zhang.wei", PW)
    directory.set_status("zhang.wei", "frozen", by=ADMIN, reason="alert 12")
    stored = log.query()
    assert [(e.actor, e.action, e.result) for e in stored] == [
        (ADMIN, "identity_change", "ok"), ("zhang.wei", "login", "failed"), ("zhang.wei", "login", "ok"),
        (ADMIN, "identity_change", "ok")]
    assert stored[1].source_address == "10.0.0.8" and stored[3].detail["status"] == "frozen"
    assert PW not in repr(stored) and session.token not in repr(stored)
