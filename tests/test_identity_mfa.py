"""TOTP second factor (RFC 6238) and session limits of local accounts (issue 15 points 2 and 4).

The codes are computed by pyotp from the seed the enrolment returned, exactly as an
authenticator app would; time is the directory's clock, moved by the tests.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import warnings
from collections.abc import Iterator

import pyotp
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from custodata.audit.events import Action, MemorySink, Result
from custodata.errors import StateError
from custodata.identity import tables as t
from custodata.identity.directory import Directory
from custodata.identity.errors import (
    AuthenticationError,
    MfaEnrolmentRequired,
    MfaRequired,
    SeparationOfDutiesError,
    SessionExpiredError,
)
from custodata.identity.mfa import recovery_hash
from custodata.identity.settings import IdentitySettings, MfaSettings, RoleTimeouts, SessionSettings
from custodata.ops import OpsStore, open_ops

PW = "Correct-horse-42"
START = dt.datetime(2026, 3, 2, 9, 0, 0)
KEY = secrets.token_bytes(32)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def store(tmp_path: object) -> Iterator[OpsStore]:
    s = open_ops(f"sqlite:///{tmp_path}/ops.sqlite")
    yield s
    s.close()


def directory(store: OpsStore, clock: Clock, sink: MemorySink, **settings: object) -> Directory:
    chosen = IdentitySettings(**settings)  # type: ignore[arg-type]
    return Directory(store, sink, clock=clock, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
                     settings=chosen, mfa_key=lambda: KEY,
                     mfa_roles=lambda: frozenset({"front_desk", "data_steward", "security_officer"}))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def enforced(store: OpsStore, clock: Clock, sink: MemorySink) -> Directory:
    d = directory(store, clock, sink, mfa=MfaSettings(enforce=True, break_glass=("glass",)))
    d.create_person("front.bj", "王晓燕", "employee", "北京朝阳支行", password=PW, roles=("front_desk",), by="t")
    d.create_person("mkt", "赵明", "employee", "北京朝阳支行", password=PW, roles=("marketer",), by="t")
    d.create_person("glass", "应急", "employee", "总行", password=PW, roles=("security_officer",), by="t")
    d.create_person("admin", "郑强", "employee", "总行", password=PW, roles=("administrator",), by="t")
    return d


def code_at(secret: str, clock: Clock) -> str:
    return pyotp.TOTP(secret).at(clock.now.replace(tzinfo=dt.UTC))


def enrol(d: Directory, clock: Clock, person_id: str = "front.bj") -> tuple[str, list[str]]:
    enrolment = d.begin_mfa(person_id, PW)
    assert enrolment.uri.startswith("otpauth://totp/") and f"secret={enrolment.secret}" in enrolment.uri
    codes = d.confirm_mfa(person_id, PW, code_at(enrolment.secret, clock))
    return enrolment.secret, codes


def test_a_role_that_can_unmask_needs_a_second_factor_once_policy_enforces_it(enforced: Directory,
                                                                              sink: MemorySink) -> None:
    with pytest.raises(MfaEnrolmentRequired):
        enforced.login("front.bj", PW)
    refused = sink.events[-1]
    assert refused.action == Action.LOGIN and refused.result == Result.DENIED
    assert "second factor" in (refused.reason or "")
    # a role without unmask or approve logs in with its password as before
    assert enforced.login("mkt", PW).principal.mfa is False


def test_enrolment_then_login_with_the_code_and_no_replay(enforced: Directory, clock: Clock,
                                                          store: OpsStore, sink: MemorySink) -> None:
    secret, codes = enrol(enforced, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    with store.read() as con:  # the seed is sealed and the recovery codes hashed: neither is in the store
        sealed = con.execute(sa.select(t.person_mfa.c.seed_sealed)).scalar_one()
        hashes = set(con.execute(sa.select(t.person_recovery_code.c.code_hash)).scalars())
    assert secret not in sealed and not set(codes) & hashes and recovery_hash(codes[0]) in hashes
    assert not any(secret in str(e) or codes[0] in str(e) for e in sink.events)
    with pytest.raises(MfaRequired):
        enforced.login("front.bj", PW)
    clock.advance(seconds=31)  # the enrolment's own code is spent: the next step's
    code = code_at(secret, clock)
    session = enforced.login("front.bj", PW, otp=code)
    assert session.principal.mfa and session.principal.method == "password+totp"
    assert enforced.authenticate(session.token).mfa
    with pytest.raises(AuthenticationError):  # the same code again, within its step: replay refused
        enforced.login("front.bj", PW, otp=code)
    with pytest.raises(AuthenticationError):
        enforced.login("front.bj", PW, otp="000000" if code != "000000" else "111111")
    assert sink.events[-1].reason == "wrong second factor"


def test_recovery_codes_work_once_each(enforced: Directory, clock: Clock) -> None:
    _secret, codes = enrol(enforced, clock)
    session = enforced.login("front.bj", PW, otp=codes[3].upper().replace("-", " "))
    assert session.principal.method == "recovery_code"
    with pytest.raises(AuthenticationError):
        enforced.login("front.bj", PW, otp=codes[3])


def test_wrong_codes_count_towards_the_lockout(enforced: Directory, clock: Clock) -> None:
    secret, _codes = enrol(enforced, clock)
    clock.advance(seconds=60)
    good = code_at(secret, clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(enforced.max_failures):
        with pytest.raises(AuthenticationError):
            enforced.login("front.bj", PW, otp=wrong)
    with pytest.raises(AuthenticationError):  # locked: even the right code with the right password fails
        enforced.login("front.bj", PW, otp=good)


def test_enrolment_needs_the_password_and_cannot_be_restarted_over_a_confirmed_one(enforced: Directory,
                                                                                   clock: Clock) -> None:
    with pytest.raises(AuthenticationError):
        enforced.begin_mfa("front.bj", "Wrong-horse-42")
    enrol(enforced, clock)
    with pytest.raises(StateError):
        enforced.begin_mfa("front.bj", PW)
    with pytest.raises(SeparationOfDutiesError):
        enforced.reset_mfa("front.bj", by="front.bj")
    assert enforced.reset_mfa("front.bj", by="admin")
    assert not enforced.has_mfa("front.bj")
    enrol(enforced, clock)


def test_a_wrong_first_code_does_not_confirm(enforced: Directory) -> None:
    enrolment = enforced.begin_mfa("front.bj", PW)
    good = pyotp.TOTP(enrolment.secret).at(START.replace(tzinfo=dt.UTC))
    with pytest.raises(AuthenticationError):
        enforced.confirm_mfa("front.bj", PW, f"{(int(good) + 7) % 1_000_000:06d}")
    assert not enforced.has_mfa("front.bj")


def test_break_glass_logs_in_with_a_password_and_says_so(enforced: Directory, sink: MemorySink) -> None:
    session = enforced.login("glass", PW)
    assert session.principal.method == "break_glass"
    assert sink.events[-1].detail["method"] == "break_glass"


def test_a_live_password_session_ends_when_policy_starts_to_require_mfa(store: OpsStore, clock: Clock,
                                                                        sink: MemorySink) -> None:
    lax = directory(store, clock, sink)
    lax.create_person("front.bj", "王晓燕", "employee", "北京朝阳支行", password=PW, roles=("front_desk",), by="t")
    token = lax.login("front.bj", PW).token
    strict = directory(store, clock, sink, mfa=MfaSettings(enforce=True))
    with pytest.raises(MfaRequired):
        strict.authenticate(token)
    with pytest.raises(SessionExpiredError):  # and it stays ended
        lax.authenticate(token)


def test_idle_and_absolute_limits_by_role_and_one_seat_for_outsourced(store: OpsStore, clock: Clock,
                                                                      sink: MemorySink) -> None:
    d = directory(store, clock, sink, sessions=SessionSettings(
        by_role={"outsourced_agent": RoleTimeouts(idle_minutes=15, absolute_hours=4)},
        max_concurrent={"outsourced": 1}))
    d.create_person("agent", "刘婷", "outsourced", "北京朝阳支行", password=PW, roles=("outsourced_agent",), by="t")
    d.create_person("mkt", "赵明", "employee", "北京朝阳支行", password=PW, roles=("marketer",), by="t")
    first = d.login("agent", PW)
    assert first.expires_at == START + dt.timedelta(hours=4)
    second = d.login("agent", PW)
    with pytest.raises(SessionExpiredError):  # a second seat's login ended the first
        d.authenticate(first.token)
    assert sink.events[-1].detail.get("sessions_ended_by_limit") == 1 or any(
        e.detail.get("sessions_ended_by_limit") == 1 for e in sink.events)
    clock.advance(minutes=10)
    d.authenticate(second.token)
    clock.advance(minutes=17)
    with pytest.raises(SessionExpiredError):
        d.authenticate(second.token)
    assert sink.events[-1].reason == "idle timeout"
    # an employee keeps several sessions and the default idle limit
    a, b = d.login("mkt", PW), d.login("mkt", PW)
    clock.advance(minutes=30)
    assert d.authenticate(a.token) and d.authenticate(b.token)


def test_logout_everywhere_ends_every_session_of_the_person(store: OpsStore, clock: Clock, sink: MemorySink) -> None:
    d = directory(store, clock, sink)
    d.create_person("mkt", "赵明", "employee", "北京朝阳支行", password=PW, roles=("marketer",), by="t")
    d.create_person("mkt2", "钱多", "employee", "北京朝阳支行", password=PW, roles=("marketer",), by="t")
    a, b, other = d.login("mkt", PW), d.login("mkt", PW), d.login("mkt2", PW)
    assert d.logout_everywhere(b.token) == 2
    for token in (a.token, b.token):
        with pytest.raises(SessionExpiredError):
            d.authenticate(token)
    assert d.authenticate(other.token).person_id == "mkt2"


# ---- through the API and the console ---------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from custodata.api import create_app
    from custodata.crypto.kek import load_provider
    from custodata.service import Services

    folder = tmp_path_factory.mktemp("mfa-api")
    load_provider(folder / "out", create=True)
    svc = Services.open(folder / "out", url=f"sqlite:///{folder / 'ops.sqlite'}")
    svc.identity_settings = IdentitySettings(mfa=MfaSettings(enforce=True))
    for pid, role in (("steward.api", "data_steward"), ("steward.web", "data_steward")):
        svc.directory.create_person(pid, "孙丽华", "employee", "总行", password=PW, roles=(role,), by="t")
    with TestClient(create_app(svc)) as client:
        yield client
    svc.close()


def test_api_enrolment_and_login_with_the_code(served: TestClient) -> None:
    client = served
    r = client.post("/api/v1/login", json={"person_id": "steward.api", "password": PW})
    assert r.status_code == 401 and "second factor" in r.json()["error"]["message"]
    r = client.post("/api/v1/mfa/enrol", json={"person_id": "steward.api", "password": PW})
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.headers["cache-control"] == "no-store"
    totp = pyotp.TOTP(secret)
    r = client.post("/api/v1/mfa/confirm",
                    json={"person_id": "steward.api", "password": PW, "code": totp.now()})
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    r = client.post("/api/v1/login", json={"person_id": "steward.api", "password": PW})
    assert r.status_code == 401 and "otp" in r.json()["error"]["message"]
    r = client.post("/api/v1/login",
                    json={"person_id": "steward.api", "password": PW, "otp": codes[0]})
    assert r.status_code == 200, r.text
    assert r.json()["person"]["mfa"] is True and r.json()["person"]["method"] == "recovery_code"
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/logout/everywhere", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_console_enrolment_and_login_with_the_code(served: TestClient) -> None:
    client = served
    page = client.post("/login", data={"person_id": "steward.web", "password": PW},
                       follow_redirects=False)
    assert page.status_code == 401 and "须先绑定身份验证器" in page.text
    page = client.post("/mfa/enrol", data={"person_id": "steward.web", "password": PW})
    assert page.status_code == 200
    secret = re.search(r'data-testid="mfa-secret">([A-Z2-7]+)<', page.text).group(1)  # type: ignore[union-attr]
    page = client.post("/mfa/confirm", data={"person_id": "steward.web", "password": PW,
                                             "code": pyotp.TOTP(secret).now()})
    assert page.status_code == 200 and "只显示这一次" in page.text
    assert page.text.count("<code translate=\"no\">") == 10
    page = client.post("/login", data={"person_id": "steward.web", "password": PW},
                       follow_redirects=False)
    assert page.status_code == 401 and "6 位动态验证码" in page.text
    # the enrolment spent the current step: log in with the next one
    code = pyotp.TOTP(secret).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    page = client.post("/login", data={"person_id": "steward.web", "password": PW,
                                       "otp": code}, follow_redirects=False)
    assert page.status_code == 303 and "custodata_session" in page.headers["set-cookie"]
