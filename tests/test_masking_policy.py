"""The masking policy engine: selection order, explanations, YAML errors, round-trip, shipped defaults."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from custodata.classification import load_grading
from custodata.errors import ConfigError
from custodata.masking import MaskingContext, MaskingPolicy, load_policy, operator_names, parse_policy
from custodata.masking.policy import DEFAULT_PATH
from custodata.normalise import id_check_char

ID = "44030519900307001" + id_check_char("44030519900307001")
CARD = "6222021234567890123"
CTX = MaskingContext(today=dt.date(2024, 6, 1))

RECORD: dict[str, Any] = {
    "name": "欧阳锋",
    "family_name": "欧阳",
    "given_name": "锋",
    "id_number": ID,
    "uscc": "91440300MA5G0XKQ4L",
    "birth_date": "1990-03-07",
    "gender": "M",
    "mobile": "13812345678",
    "phone": "0755-12345678",
    "email": "zhangwei@example.com",
    "address": "广东省深圳市南山区科技园路1号",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "postcode": "518057",
    "card_no": CARD,
    "account_no": "6217001234567890",
    "policy_no": "P2023000123",
    "vehicle_plate": "粤B12345",
    "amount": 1234.5,
    "remark": "客户来电，手机13812345678，要求改地址",
    "ticket_no": "T-1",  # not a graded field: passed through
}


def make(rules: list[dict[str, Any]], **extra: Any) -> MaskingPolicy:
    data: dict[str, Any] = {
        "roles": {"clerk": "counter clerk", "agent": "outsourced agent"},
        "purposes": {"service": "customer service", "fraud": "fraud investigation"},
        "rules": rules,
        **extra,
    }
    return parse_policy(data, "test.yaml")


# ---------------------------------------------------------------------------------------------
# The shipped default policy


@pytest.fixture(scope="module")
def default() -> MaskingPolicy:
    return load_policy()


CLI_EXPECTED: dict[str, Any] = {
    "name": "欧阳**",
    "family_name": "欧阳",
    "given_name": "*",
    "id_number": ID[:1] + "*" * 13 + ID[-4:],  # 1+4: 6+4 would leave only the birth date hidden
    "uscc": "91440300MA5G0XKQ4L",
    "birth_date": "1990",
    "gender": "M",
    "mobile": "138****5678",
    "phone": "0755-******78",
    "email": "z***@example.com",
    "address": "广东省深圳市南山区****",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "postcode": "518057",
    "card_no": "622202*********0123",
    "account_no": "************7890",
    "policy_no": "P202***0123",
    "vehicle_plate": "粤B****5",
    "amount": 1234.5,
    "remark": "客户来电，手机138****5678，要求改地址",
    "ticket_no": "T-1",
}


def test_cli_role_sees_the_documented_display(default: MaskingPolicy) -> None:
    assert default.mask_record(RECORD, "cli", context=CTX) == CLI_EXPECTED


def test_every_graded_field_has_a_decision_for_every_role(default: MaskingPolicy) -> None:
    grading = load_grading()
    assert set(RECORD) >= set(grading.fields)
    for role in default.roles:
        for purpose in (None, *default.purposes):
            for field in grading.fields:
                decision = default.decide(field, role, purpose)
                assert decision.explanation
                assert decision.level == grading.field_level(field)
                level_4_plain = decision.level >= 4 and decision.operator == "plain"
                assert not level_4_plain or (role, purpose) == ("security_officer", "fraud_investigation"), (
                    field, role, purpose)


def test_marketer_sees_less(default: MaskingPolicy) -> None:
    out = default.mask_record(RECORD, "marketer", context=CTX)
    assert out["id_number"] is None and out["card_no"] is None and out["account_no"] is None
    assert out["remark"] is None
    assert out["birth_date"] == "30-39岁"
    assert out["address"] == "广东省深圳市****"
    assert out["name"] == "欧阳**"
    assert out["mobile"] is None  # a pseudonym only, and no token vault or key here
    vault = MaskingContext(tokenise=lambda v, t: f"{t}:tok", today=CTX.today)
    assert default.mask_value("mobile", "13812345678", "marketer", context=vault) == "mobile:tok"
    assert default.mask_value("mobile", "13812345678", "marketer", "marketing") == "138****5678"


def test_fraud_investigation_shows_more_to_the_security_officer_only(default: MaskingPolicy) -> None:
    full = default.mask_record(RECORD, "security_officer", "fraud_investigation")
    assert full["id_number"] == ID and full["mobile"] == "13812345678" and full["given_name"] == "锋"
    assert default.mask_record(RECORD, "security_officer", context=CTX)["id_number"] == CLI_EXPECTED["id_number"]
    assert default.mask_value("id_number", ID, "front_desk", "fraud_investigation") == CLI_EXPECTED["id_number"]


def test_administrator_sees_no_personal_data(default: MaskingPolicy) -> None:
    out = default.mask_record(RECORD, "administrator")
    assert all(out[f] is None for f in out if load_grading().field_level(f) >= 3 and f in load_grading().fields)
    assert out["uscc"] == RECORD["uscc"] and out["gender"] == "M"


def test_auditor_gets_keyed_pseudonyms(default: MaskingPolicy) -> None:
    assert default.mask_value("mobile", "13812345678", "auditor") is None  # no key: withheld
    keyed = MaskingContext(hash_key=b"audit-key")
    a = default.mask_value("mobile", "13812345678", "auditor", context=keyed)
    assert isinstance(a, str) and len(a) == 16
    assert a == default.mask_value("mobile", "13812345678", "auditor", "audit", context=keyed)


def test_authentication_secrets_are_denied_to_everyone(default: MaskingPolicy) -> None:
    for role in default.roles:
        for purpose in (None, *default.purposes):
            assert default.mask_typed("auth_secret", "123456", role, purpose) is None


def test_typed_masking_for_scan_evidence(default: MaskingPolicy) -> None:
    assert default.mask_typed("bank_card", CARD, "cli") == "622202*********0123"
    assert default.mask_typed("company_name", "深圳某某科技有限公司", "cli") == "深圳某某科技有限公司"
    assert default.mask_typed("passport", "E12345678", "cli") == "E*****678"
    assert default.mask_typed("ip_address", "10.1.2.3", "cli") == "********"  # default for level 3
    with pytest.raises(ConfigError, match="unknown sensitive type 'credit_score'"):
        default.mask_typed("credit_score", "700", "cli")


def test_explanations(default: MaskingPolicy) -> None:
    assert default.decide("card_no", "cli").explanation == (
        "masked with keep(6,4) because level 4 (bank_card) and role cli; rule staff-card"
    )
    assert default.decide("card_no", "marketer").explanation == (
        "withheld because level 4 (bank_card) and role marketer; rule marketer-no-identifiers"
    )
    assert default.decide("mobile", "security_officer", "fraud_investigation").explanation == (
        "shown in plain because level 4 (mobile) and role security_officer for purpose fraud_investigation; "
        "rule fraud-identity"
    )
    assert default.decide("birth_date", "marketer").explanation == (
        "masked with generalise(age_band, band=10) because level 3 (birth_date) and role marketer; "
        "rule marketer-age-band"
    )
    assert default.decide("gender", "cli").explanation == (
        "shown in plain because level 2 (gender) and role cli; no rule matched, default below level 3"
    )
    assert default.decide("ticket_no", "cli").explanation == "shown in plain because 'ticket_no' is not a graded field"
    d = default.decide("card_no", "cli")
    assert (d.operator, dict(d.params), d.rule_id, d.effect, d.sensitive_type) == (
        "keep", {"first": 6, "last": 4}, "staff-card", "allow", "bank_card")


def test_unknown_role_or_purpose_is_an_error(default: MaskingPolicy) -> None:
    with pytest.raises(ConfigError, match="unknown role: 'frontdesk' is not one of: .*Did you mean 'front_desk'"):
        default.decide("mobile", "frontdesk")
    with pytest.raises(ConfigError, match="unknown purpose: 'fraud' is not one of"):
        default.mask_value("mobile", "13812345678", "cli", "fraud")
    with pytest.raises(ConfigError, match="unknown role"):
        default.mask_record({"ticket_no": "x"}, "nobody")


# ---------------------------------------------------------------------------------------------
# Selection order


def test_deny_beats_any_allow() -> None:
    p = make([
        {"id": "allow-mobile", "roles": ["clerk"], "purposes": ["service"], "fields": ["mobile"], "operator": "plain"},
        {"id": "deny-level-4", "effect": "deny", "min_level": 4},
    ])
    d = p.decide("mobile", "clerk", "service")
    assert (d.effect, d.rule_id) == ("deny", "deny-level-4")
    assert p.mask_value("mobile", "13812345678", "clerk", "service") is None
    assert p.mask_value("name", "张伟", "clerk") == "**"  # level 3: not denied, default mask_all


def test_most_specific_allow_wins_field_then_type_then_level_then_catch_all() -> None:
    rules: list[dict[str, Any]] = [
        {"id": "catch-all", "operator": "plain"},
        {"id": "level", "min_level": 3, "max_level": 4, "operator": "mask_all"},
        {"id": "type", "types": ["mobile"], "operator": "keep", "params": {"first": 3, "last": 4}},
        {"id": "field", "fields": ["mobile"], "operator": "keep", "params": {"first": 0, "last": 4}},
    ]
    p = make(rules)
    assert p.decide("mobile", "clerk").rule_id == "field"
    assert p.decide("mobile", "agent").rule_id == "field"
    assert make(rules[:3]).decide("mobile", "clerk").rule_id == "type"
    assert make(rules[:2]).decide("mobile", "clerk").rule_id == "level"
    assert make(rules[:1]).decide("mobile", "clerk").rule_id == "catch-all"
    assert make(rules[:2]).decide("gender", "clerk").rule_id == "catch-all"  # level 2 is outside 3-4
    # a typed decision (scan evidence) cannot match field rules
    assert p.decide_typed("mobile", "clerk").rule_id == "type"


def test_purpose_then_roles_then_file_order_break_ties() -> None:
    p = make([
        {"id": "any-role", "types": ["mobile"], "operator": "mask_all"},
        {"id": "clerk", "roles": ["clerk"], "types": ["mobile"], "operator": "keep", "params": {"last": 4}},
        {"id": "clerk-again", "roles": ["clerk"], "types": ["mobile"], "operator": "redact"},
        {"id": "fraud", "purposes": ["fraud"], "types": ["mobile"], "operator": "plain"},
    ])
    assert p.decide("mobile", "clerk").rule_id == "clerk"  # roles beat no roles; earlier beats later
    assert p.decide("mobile", "agent").rule_id == "any-role"
    assert p.decide("mobile", "clerk", "fraud").rule_id == "fraud"  # purpose beats roles
    assert p.decide("mobile", "clerk", "service").rule_id == "clerk"  # rule for another purpose: no match
    assert p.mask_value("mobile", "13812345678", "agent", "fraud") == "13812345678"


def test_rule_naming_purposes_needs_a_purpose() -> None:
    p = make([{"id": "fraud", "purposes": ["fraud"], "types": ["mobile"], "operator": "plain"}])
    assert p.decide("mobile", "clerk").rule_id is None
    assert p.mask_value("mobile", "13812345678", "clerk") == "***********"


def test_defaults_without_rules_for_every_graded_field() -> None:
    grading = load_grading()
    p = make([])
    for field in grading.fields:
        d = p.decide(field, "clerk")
        assert d.rule_id is None
        assert d.operator == ("mask_all" if grading.field_level(field) >= 3 else "plain"), field
    strict = make([], default={"mask_from_level": 1, "operator": "redact"})
    assert all(strict.mask_value(f, "x", "agent") is None for f in grading.fields)


def test_mask_record_field_of_and_pass_through() -> None:
    p = make([{"id": "mobile", "types": ["mobile"], "operator": "keep", "params": {"first": 3, "last": 4}}])
    row = {"holder_mobile": "13812345678", "note": "13812345678", "company": "某某公司", "mobile": "13912345678"}
    mapped = p.mask_record(row, "clerk", field_of={"holder_mobile": "mobile", "note": None, "company": "company_name"})
    assert mapped == {"holder_mobile": "138****5678", "note": "13812345678", "company": "某某公司",
                      "mobile": "139****5678"}
    by_call = p.mask_record(row, "clerk", field_of=lambda k: "mobile" if k.endswith("mobile") else None)
    assert by_call == {**row, "holder_mobile": "138****5678", "mobile": "139****5678"}
    assert p.mask_record({"mobile": None, "other": 1}, "clerk") == {"mobile": None, "other": 1}


def test_a_policy_can_use_its_own_grading(tmp_path: Path) -> None:
    grading_yaml = tmp_path / "grading.yaml"
    grading_yaml.write_text(
        "types:\n  mobile: {label: m, category: C2, level: 2}\nfields:\n  mobile: mobile\n", encoding="utf-8"
    )
    grading = load_grading(grading_yaml)
    p = parse_policy({"roles": {"clerk": "c"}}, "x.yaml", grading)
    assert p.mask_value("mobile", "13812345678", "clerk") == "13812345678"  # level 2 here
    with pytest.raises(ConfigError, match="'bank_card' is not one of: mobile"):
        parse_policy({"roles": {"clerk": "c"}, "rules": [{"id": "r", "types": ["bank_card"], "operator": "plain"}]},
                     "x.yaml", grading)


# ---------------------------------------------------------------------------------------------
# Errors name the file, the key and the allowed values


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "roles": ["clerck"], "operator": "plain"}]},
         ["test.yaml: key 'rules[0].roles[0]': 'clerck' is not one of: clerk.", "Did you mean 'clerk'?",
          "(declare it under 'roles')"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "purposes": ["fraud"], "operator": "plain"}]},
         ["key 'rules[0].purposes[0]': 'fraud' is not declared; the policy declares no purposes"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "fields": ["mobil"], "operator": "plain"}]},
         ["key 'rules[0].fields[0]': 'mobil' is not one of: name,", "Did you mean 'mobile'?"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "types": ["bankcard"], "operator": "plain"}]},
         ["key 'rules[0].types[0]'", "Did you mean 'bank_card'?"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "operator": "keeep"}]},
         ["key 'rules[0].operator': 'keeep' is not one of: keep, redact", "Did you mean 'keep'?"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "operator": "keep", "params": {"frist": 1}}]},
         ["key 'rules[0].params.frist': keep: unknown parameter; allowed parameters: first, last, char, mask_length"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "operator": "generalise", "params": {"to": "street"}}]},
         ["key 'rules[0].params.to'", "'province', 'city' or 'district'"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r"}]},
         ["key 'rules[0]': an allow rule needs 'operator' (one of: keep,"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "effect": "deny", "operator": "plain"}]},
         ["key 'rules[0]': a deny rule withholds the field; remove 'operator' and 'params'"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "effect": "block"}]},
         ["key 'rules[0].effect': 'block' is not allowed; use one of 'allow' or 'deny'"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "min_level": 4, "max_level": 3, "operator": "plain"}]},
         ["key 'rules[0]': min_level 4 is above max_level 3"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "min_level": 9, "operator": "plain"}]},
         ["key 'rules[0].min_level'", "less than or equal to 5"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "operator": "plain", "colour": "red"}]},
         ["key 'rules[0].colour': unknown key; remove it or check its spelling"]),
        ({"roles": {"clerk": "c"}, "rules": [{"id": "r", "operator": "plain"}, {"id": "r", "operator": "plain"}]},
         ["key 'rules[1].id': 'r' is already the id of rules[0]; ids must be unique"]),
        ({"rules": []}, ["key 'roles': required key is missing; add it"]),
        ({"roles": {"Clerk": "c"}}, ["key 'roles.Clerk': use lower-case letters"]),
        ({"roles": {"clerk": "c"}, "default": {"operator": "mask"}},
         ["key 'default.operator': 'mask' is not one of", "Did you mean 'mask_all'?"]),
        ({"roles": {"clerk": "c"}, "version": 2}, ["key 'version'", "use one of 1"]),
        (["not", "a", "mapping"], ["test.yaml: a masking policy must be a YAML mapping"]),
    ],
)
def test_errors_name_file_key_and_allowed_values(data: Any, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(data, "test.yaml")
    message = str(info.value)
    assert message.startswith("test.yaml: ")
    for fragment in fragments:
        assert fragment in message


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match="missing.yaml: masking policy file not found"):
        load_policy(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("roles: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_policy(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("roles: {clerk: c}\nrules:\n  - {id: r, operator: keep, params: {first: -1}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wrong.yaml: key 'rules\[0\].params.first': keep: .*greater than"):
        load_policy(wrong)


# ---------------------------------------------------------------------------------------------
# YAML round trip


def test_to_yaml_round_trips_the_shipped_policy(default: MaskingPolicy, tmp_path: Path) -> None:
    exported = tmp_path / "exported.yaml"
    exported.write_text(default.to_yaml(), encoding="utf-8")
    again = load_policy(exported)
    assert again.config == default.config
    assert again.config == parse_policy(yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))).config
    for role in default.roles:
        assert again.mask_record(RECORD, role, context=CTX) == default.mask_record(RECORD, role, context=CTX)
    assert again.to_yaml() == default.to_yaml()


@given(
    first=st.integers(0, 8),
    last=st.integers(0, 8),
    roles=st.lists(st.sampled_from(["clerk", "agent"]), unique=True),
    effect=st.sampled_from(["allow", "deny"]),
    min_level=st.none() | st.integers(1, 5),
)
def test_to_yaml_round_trips_generated_policies(
    first: int, last: int, roles: list[str], effect: str, min_level: int | None
) -> None:
    rule: dict[str, Any] = {"id": "r1", "roles": roles, "effect": effect, "min_level": min_level}
    if effect == "allow":
        rule |= {"operator": "keep", "params": {"first": first, "last": last}}
    p = make([rule, {"id": "r2", "types": ["address"], "operator": "generalise", "params": {"to": "city"}}])
    assert parse_policy(yaml.safe_load(p.to_yaml()), "again.yaml").config == p.config


# ---------------------------------------------------------------------------------------------
# Properties of the shipped policy

MOBILES = st.builds(lambda p, rest: p + rest, st.sampled_from(["139", "186", "150"]),
                    st.text(alphabet="0123456789", min_size=8, max_size=8))


@given(mobile=MOBILES, id_seq=st.text(alphabet="0123456789", min_size=3, max_size=3))
def test_level_4_values_never_shown_whole_outside_fraud_investigation(mobile: str, id_seq: str) -> None:
    policy = load_policy()
    first17 = "440305199003070" + id_seq[:2]
    id_number = first17 + id_check_char(first17)
    row = {"mobile": mobile, "id_number": id_number, "remark": f"手机{mobile}"}
    for role in policy.roles:
        for purpose in (None, "customer_service", "marketing", "audit"):
            out = policy.mask_record(row, role, purpose)
            for value in out.values():
                assert value is None or (mobile not in str(value) and id_number not in str(value)), (role, purpose)


def test_readme_documents_every_operator_and_shipped_role(default: MaskingPolicy) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Masking [脱敏]") :]
    for name in operator_names():
        if not name.startswith("test_"):  # registered by the operator tests
            assert f"`{name}`" in section, name
    for role in default.roles:
        assert f"`{role}`" in section, role
    example = section[section.index("```yaml") + len("```yaml") : section.index("```", section.index("```yaml") + 7)]
    parse_policy(yaml.safe_load(example), "README.md")
