"""The access-decision engine: every kind of decision, and that each one says which rule made it."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from custodata.access import actions as A
from custodata.access.engine import NEVER_UNMASK_RULE, PolicyEngine
from custodata.access.policy_document import default_document, default_document_yaml, parse_document
from custodata.classification.grading import Grading, TypeGrade, load_grading
from custodata.errors import ConfigError

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Wednesday 2026-03-04, 10:00 in Shanghai: inside every default window
OFFICE_HOURS = dt.datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Person:
    person_id: str
    role: str
    kind: str = "employee"
    branch: str = "310100"
    status: str = "active"


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(default_document(), version=1)


def default_data() -> dict[str, Any]:
    data = yaml.safe_load(default_document_yaml())
    assert isinstance(data, dict)
    return data


def engine_with(access_changes: dict[str, Any], grading: Grading | None = None) -> PolicyEngine:
    data = default_data()
    data["access"].update(copy.deepcopy(access_changes))
    return PolicyEngine(parse_document(data, "test policy", grading), version=7)


# ---- permissions and deny rules -----------------------------------------------------------------

@pytest.mark.parametrize(("role", "action", "allowed"), [
    ("front_desk", A.CUSTOMER_READ, True),
    ("front_desk", A.EXPORT_REQUEST, False),
    ("marketer", A.EXPORT_REQUEST, True),
    ("marketer", A.CUSTOMER_UNMASK, False),
    ("auditor", A.AUDIT_VERIFY, True),
    ("auditor", A.CUSTOMER_READ, False),
    ("administrator", A.PEOPLE_WRITE, True),
    ("administrator", A.CUSTOMER_SEARCH, False),
    ("security_officer", A.POLICY_WRITE, True),
    ("security_officer", A.PEOPLE_WRITE, False),
    ("data_steward", A.CHANGE_APPROVE, True),
])
def test_permissions_by_role(engine: PolicyEngine, role: str, action: str, allowed: bool) -> None:
    d = engine.check(Person("p1", role), action, at=OFFICE_HOURS)
    assert d.allowed is allowed
    assert d.action == action
    assert d.rule == f"permissions.{role}"
    assert role in d.reason and action in d.reason
    assert d.reason.startswith("allowed" if allowed else "denied")
    assert d.reason_zh.startswith("允许" if allowed else "拒绝")


def test_deny_rule_wins_over_permission(engine: PolicyEngine) -> None:
    steward = Person("s1", "data_steward")
    assert engine.check(steward, A.EXPORT_REQUEST, at=OFFICE_HOURS).allowed
    leaving = Person("s1", "data_steward", status="leaving")
    d = engine.check(leaving, A.EXPORT_REQUEST, at=OFFICE_HOURS)
    assert not d.allowed
    assert d.rule == "deny-leaving-export-unmask"
    assert "status leaving may not export.request" in d.reason
    assert "deny-leaving-export-unmask" in d.reason and "deny-leaving-export-unmask" in d.reason_zh
    # the same person may still read: the deny rule names only what it refuses
    assert engine.check(leaving, A.CUSTOMER_READ, at=OFFICE_HOURS).allowed


def test_deny_rule_by_kind_and_wildcards(engine: PolicyEngine) -> None:
    agent = Person("o1", "marketer", kind="outsourced")
    d = engine.check(agent, A.EXPORT_DOWNLOAD, at=OFFICE_HOURS)
    assert (d.allowed, d.rule) == (False, "deny-external-export")
    assert "kind outsourced" in d.reason
    left = Person("x", "auditor", status="left")
    for action in (A.AUDIT_READ, A.POLICY_READ):
        assert engine.check(left, action, at=OFFICE_HOURS).rule == "deny-inactive"


def test_unknown_role_is_denied_and_unknown_action_is_an_error(engine: PolicyEngine) -> None:
    d = engine.check(Person("p", "janitor"), A.CUSTOMER_READ, at=OFFICE_HOURS)
    assert not d.allowed and "janitor" in d.reason and "version 1" in d.reason
    with pytest.raises(ConfigError, match=r"customer\.read"):
        engine.check(Person("p", "front_desk"), "customer.raed")


def test_allowed_actions_lists_what_check_allows(engine: PolicyEngine) -> None:
    auditor = engine.allowed_actions(Person("a", "auditor"), at=OFFICE_HOURS)
    assert A.AUDIT_EXPORT in auditor
    assert not auditor & A.CUSTOMER_DATA_ACTIONS


# ---- time windows -------------------------------------------------------------------------------

@pytest.mark.parametrize(("at", "inside"), [
    (dt.datetime(2026, 3, 4, 8, 30, tzinfo=SHANGHAI), True),     # opening minute
    (dt.datetime(2026, 3, 4, 18, 29, tzinfo=SHANGHAI), True),
    (dt.datetime(2026, 3, 4, 18, 30, tzinfo=SHANGHAI), False),   # `to` is exclusive
    (dt.datetime(2026, 3, 4, 8, 29, tzinfo=SHANGHAI), False),
    (dt.datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI), False),    # Saturday
    # 02:00 UTC is 10:00 in Shanghai; naive datetimes are UTC
    (dt.datetime(2026, 3, 4, 2, 0, tzinfo=dt.UTC), True),
    (dt.datetime(2026, 3, 4, 2, 0), True),
    # 10:00 UTC is 18:00 in Shanghai; 11:00 UTC is 19:00, closed although 11:00 is office time in UTC
    (dt.datetime(2026, 3, 4, 10, 0), True),
    (dt.datetime(2026, 3, 4, 11, 0), False),
    # Friday 23:00 UTC is already Saturday 07:00 in Shanghai
    (dt.datetime(2026, 3, 6, 23, 0, tzinfo=dt.UTC), False),
])
def test_time_window_in_the_window_time_zone(engine: PolicyEngine, at: dt.datetime, inside: bool) -> None:
    d = engine.check(Person("m", "marketer"), A.CUSTOMER_READ, at=at)
    assert d.allowed is inside
    if inside:
        assert "within window marketing-hours" in d.reason
    else:
        assert d.rule == "marketing-hours"
        assert "Asia/Shanghai" in d.reason and "08:30–18:30" in d.reason


def test_windows_restrict_customer_data_only(engine: PolicyEngine) -> None:
    night = dt.datetime(2026, 3, 4, 23, 0, tzinfo=SHANGHAI)
    marketer = Person("m", "marketer")
    assert not engine.check(marketer, A.CUSTOMER_SEARCH, at=night).allowed
    assert engine.check(marketer, A.DOMAINS_READ, at=night).allowed
    # windows match by kind too, and people no window matches are never limited
    assert not engine.check(Person("o", "outsourced_agent", kind="outsourced"), A.CUSTOMER_READ, at=night).allowed
    assert engine.check(Person("f", "front_desk"), A.CUSTOMER_READ, at=night).allowed


def test_window_past_midnight() -> None:
    engine = engine_with({"windows": [{
        "id": "night-shift", "roles": ["front_desk"], "days": ["fri"], "from": "22:00", "to": "06:00",
        "timezone": "Asia/Shanghai"}]})
    person = Person("f", "front_desk")
    cases = [
        (dt.datetime(2026, 3, 6, 23, 0, tzinfo=SHANGHAI), True),   # Friday evening
        (dt.datetime(2026, 3, 7, 5, 59, tzinfo=SHANGHAI), True),   # Saturday small hours belong to Friday
        (dt.datetime(2026, 3, 7, 6, 0, tzinfo=SHANGHAI), False),
        (dt.datetime(2026, 3, 6, 5, 0, tzinfo=SHANGHAI), False),   # Friday small hours belong to Thursday
        (dt.datetime(2026, 3, 7, 23, 0, tzinfo=SHANGHAI), False),  # Saturday evening
    ]
    for at, inside in cases:
        assert engine.check(person, A.CUSTOMER_READ, at=at).allowed is inside, at


# ---- rows ---------------------------------------------------------------------------------------

def test_branch_rows(engine: PolicyEngine) -> None:
    clerk = Person("f1", "front_desk", branch="310100")
    inside = engine.check_row(clerk, A.CUSTOMER_READ, customer_branches={"310100", "440300"}, in_portfolio=False)
    assert inside.allowed and "branch 310100" in inside.reason
    outside = engine.check_row(clerk, A.CUSTOMER_READ, customer_branches={"440300"}, in_portfolio=False)
    assert not outside.allowed
    assert outside.rule == "rows.front_desk"
    assert "customer outside branch 310100" in outside.reason
    assert "310100" in outside.reason_zh
    # a customer assigned to the person is reached from any branch
    assert engine.check_row(clerk, A.CUSTOMER_READ, customer_branches={"440300"}, in_portfolio=True).allowed
    assert engine.row_scope(clerk) == "branch"


@dataclass(frozen=True)
class Unplaced:
    person_id: str
    role: str
    kind: str = "employee"
    branch: str | None = None
    status: str = "active"


def test_branch_rows_for_a_person_without_a_branch(engine: PolicyEngine) -> None:
    clerk = Unplaced("f9", "front_desk")
    d = engine.check_row(clerk, A.CUSTOMER_READ, customer_branches={"310100"}, in_portfolio=False)
    assert not d.allowed and "f9 has no branch" in d.reason
    assert engine.check_row(clerk, A.CUSTOMER_READ, customer_branches={"310100"}, in_portfolio=True).allowed


def test_portfolio_rows(engine: PolicyEngine) -> None:
    agent = Person("o1", "outsourced_agent", kind="outsourced", branch="310100")
    at = OFFICE_HOURS
    assert engine.row_scope(agent) == "portfolio"
    d = engine.check_row(agent, A.CUSTOMER_READ, customer_branches={"310100"}, in_portfolio=False, at=at)
    assert not d.allowed and "not in the portfolio of o1" in d.reason
    assert engine.check_row(agent, A.CUSTOMER_READ, customer_branches=(), in_portfolio=True, at=at).allowed


def test_row_rules_start_from_check(engine: PolicyEngine) -> None:
    auditor = Person("a", "auditor")
    d = engine.check_row(auditor, A.CUSTOMER_READ, customer_branches={"310100"}, in_portfolio=True)
    assert (d.allowed, d.rule) == (False, "permissions.auditor")
    assert engine.row_scope(auditor) == "none"


def test_transferred_person_narrowed_to_portfolio(engine: PolicyEngine) -> None:
    moved = Person("s1", "data_steward", status="transferred")
    assert engine.row_scope(Person("s1", "data_steward")) == "all"
    assert engine.row_scope(moved) == "portfolio"
    assert engine.row_scope(moved, action=A.AUDIT_READ) == "all"
    d = engine.check_row(moved, A.CUSTOMER_READ, customer_branches={"310100"}, in_portfolio=False)
    assert (d.allowed, d.rule) == (False, "deny-transferred-outside-portfolio")
    assert "narrowed to portfolio by status transferred" in d.reason
    assert engine.check_row(moved, A.CUSTOMER_READ, customer_branches=(), in_portfolio=True).allowed


# ---- unmasking ----------------------------------------------------------------------------------

def test_unmask_needs_a_purpose(engine: PolicyEngine) -> None:
    clerk = Person("f1", "front_desk")
    for purpose in (None, ""):
        d = engine.check_unmask(clerk, "mobile", purpose)
        assert not d.allowed
        assert "needs a stated purpose" in d.reason and "customer_service" in d.reason
        assert "使用目的" in d.reason_zh


def test_unmask_with_a_matching_rule(engine: PolicyEngine) -> None:
    d = engine.check_unmask(Person("f1", "front_desk"), "id_number", "claims")
    assert d.allowed
    assert d.action == A.CUSTOMER_UNMASK
    assert d.rule == "front-desk-identity"
    assert d.max_per_day == 20
    assert "level 4" in d.reason and "front_desk" in d.reason and "claims" in d.reason


def test_unmask_refused_for_a_purpose_no_rule_accepts(engine: PolicyEngine) -> None:
    d = engine.check_unmask(Person("f1", "front_desk"), "mobile", "marketing")
    assert not d.allowed and d.rule == "front-desk-contact"
    assert "purpose marketing" in d.reason and "accepted: claims, customer_service" in d.reason
    # an unknown purpose is refused the same way, not an error: it comes from the user
    assert not engine.check_unmask(Person("f1", "front_desk"), "mobile", "curiosity").allowed


def test_unmask_refused_without_a_rule_for_the_field(engine: PolicyEngine) -> None:
    agent = Person("o1", "outsourced_agent", kind="outsourced")
    assert engine.check_unmask(agent, "mobile", "customer_service", at=OFFICE_HOURS).allowed
    d = engine.check_unmask(agent, "id_number", "customer_service", at=OFFICE_HOURS)
    assert not d.allowed and d.rule is None
    assert "no unmask rule lets role outsourced_agent unmask id_number (level 4" in d.reason


def test_unmask_starts_from_check(engine: PolicyEngine) -> None:
    d = engine.check_unmask(Person("f1", "front_desk", status="leaving"), "mobile", "customer_service")
    assert (d.allowed, d.rule) == (False, "deny-leaving-export-unmask")
    d = engine.check_unmask(Person("m1", "marketer"), "mobile", "marketing", at=OFFICE_HOURS)
    assert (d.allowed, d.rule) == (False, "permissions.marketer")


def test_unmask_of_an_ungraded_field_is_a_caller_error(engine: PolicyEngine) -> None:
    with pytest.raises(ConfigError, match="cannot unmask 'mobil'.*mobile"):
        engine.check_unmask(Person("f1", "front_desk"), "mobil", "customer_service")


def _grading_with_secrets() -> Grading:
    base = load_grading()
    types = dict(base.types)
    types["biometric"] = TypeGrade(label="生物识别信息", category="C2", level=5)
    return Grading(encrypt_at_level=base.encrypt_at_level, types=types,
                   fields={**base.fields, "face_template": "biometric", "card_pin": "auth_secret"})


def test_level_5_and_c3_never_unmasked_whatever_a_rule_says() -> None:
    grading = _grading_with_secrets()
    engine = engine_with({"unmask": [{
        "id": "everything", "roles": ["security_officer"], "min_level": 1, "purposes": ["fraud_investigation"]}]},
        grading)
    officer = Person("s", "security_officer")
    assert engine.check_unmask(officer, "id_number", "fraud_investigation").allowed
    for field, why in (("face_template", "C2"), ("card_pin", "C3")):
        d = engine.check_unmask(officer, field, "fraud_investigation")
        assert not d.allowed
        assert d.rule == NEVER_UNMASK_RULE
        assert why in d.reason and "never unmasked" in d.reason


def test_rule_naming_a_secret_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match=r"unmask\[0\]\.types\[0\].*'auth_secret' is C3 level 4.*never unmasked"):
        engine_with({"unmask": [{"id": "pins", "roles": ["front_desk"], "types": ["auth_secret"],
                                 "purposes": ["customer_service"]}]})
    with pytest.raises(ConfigError, match=r"unmask\[0\]\.fields\[0\].*level 5"):
        engine_with({"unmask": [{"id": "faces", "roles": ["front_desk"], "fields": ["face_template"],
                                 "purposes": ["customer_service"]}]}, _grading_with_secrets())


# ---- field display ------------------------------------------------------------------------------

def test_explain_field_from_the_masking_section(engine: PolicyEngine) -> None:
    assert engine.explain_field("mobile", "front_desk") == (
        "masked (keep first 3, last 4) because level 4 (mobile) and role front_desk (rule all-mobile)")
    assert engine.explain_field("id_number", "marketer") == (
        "withheld because level 4 (id_number) and role marketer (rule marketer-no-identifiers)")
    assert engine.explain_field("mobile", "security_officer", "fraud_investigation") == (
        "shown in plain because level 4 (mobile) and role security_officer for purpose fraud_investigation "
        "(rule fraud-identity)")
    assert "no rule matched" in engine.explain_field("amount", "marketer")
    assert engine.explain_field("customer_id", "marketer") == (
        "shown in plain because 'customer_id' is not a graded field")


def test_engine_masks_with_its_own_masking_section(engine: PolicyEngine) -> None:
    assert engine.decide_field("mobile", "front_desk").apply("13812345678") == "138****5678"
    assert engine.masking.mask_value("id_number", "110101199003071234", "marketer") is None
