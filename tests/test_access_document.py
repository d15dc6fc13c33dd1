"""The policy document: the shipped default validates, and mistakes are refused at load with clear messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from custodata.access.actions import ACTIONS, CUSTOMER_DATA_ACTIONS, expand, matches
from custodata.access.policy_document import (
    ACCESS_DEFAULT_PATH,
    changed_sections,
    default_document,
    default_document_yaml,
    parse_document,
    parse_document_yaml,
)
from custodata.errors import ConfigError
from custodata.masking.policy import load_policy


def data() -> dict[str, Any]:
    loaded = yaml.safe_load(default_document_yaml())
    assert isinstance(loaded, dict)
    return copy.deepcopy(loaded)


def test_default_document_loads() -> None:
    doc = default_document()
    # the masking section is the shipped masking policy, unchanged
    assert doc.masking.config == load_policy().config
    access = doc.access
    assert set(access.permissions) == set(doc.masking.roles)
    assert set(access.rows) == set(doc.masking.roles)
    assert {u.id for u in access.unmask} >= {"front-desk-contact", "outsourced-callback"}


def test_default_keeps_separation_of_duties() -> None:
    """Administrators and auditors never reach customer data; only the security officer writes policy."""
    access = default_document().access
    for role in ("administrator", "auditor"):
        assert not set(access.permissions[role]) & CUSTOMER_DATA_ACTIONS
        assert access.rows[role] == "none"
    assert [r for r, a in access.permissions.items() if "policy.write" in a] == ["security_officer"]
    assert [r for r, a in access.permissions.items() if "people.write" in a] == ["administrator"]
    assert "export.approve" not in access.permissions["marketer"]


def test_access_file_is_the_access_section() -> None:
    shipped = yaml.safe_load(ACCESS_DEFAULT_PATH.read_text(encoding="utf-8"))
    assert data()["access"] == shipped


def refused(changes: dict[str, Any], section: str = "access") -> str:
    d = data()
    d[section].update(copy.deepcopy(changes))
    with pytest.raises(ConfigError) as err:
        parse_document(d, "p.yaml")
    return str(err.value)


def test_unknown_role_refused() -> None:
    msg = refused({"permissions": {"front_dsk": ["customer.read"]}})
    assert "p.yaml: access: key 'permissions.front_dsk'" in msg
    assert "Did you mean 'front_desk'?" in msg and "masking.roles" in msg
    msg = refused({"deny": [{"id": "x", "roles": ["markter"], "actions": ["export.*"]}]})
    assert "deny[0].roles[0]" in msg and "'marketer'" in msg


def test_unknown_action_refused() -> None:
    msg = refused({"permissions": {"front_desk": ["customer.raed"]}})
    assert "key 'permissions.front_desk[0]'" in msg and "Did you mean 'customer.read'?" in msg
    msg = refused({"deny": [{"id": "x", "actions": ["exports.*"]}]})
    assert "deny[0].actions[0]" in msg and "export.*" in msg


def test_unknown_field_type_and_purpose_refused() -> None:
    msg = refused({"unmask": [{"id": "u", "roles": ["front_desk"], "fields": ["mobil"], "types": ["emial"],
                               "purposes": ["sales"]}]})
    assert "unmask[0].fields[0]" in msg and "Did you mean 'mobile'?" in msg
    assert "unmask[0].types[0]" in msg and "Did you mean 'email'?" in msg
    assert "unmask[0].purposes[0]" in msg and "masking.purposes" in msg


def test_shape_errors_name_the_key() -> None:
    assert "access: key 'unmask[0].purposes': required key is missing" in refused(
        {"unmask": [{"id": "u", "roles": ["front_desk"], "fields": ["mobile"]}]})
    assert "name what may be unmasked" in refused(
        {"unmask": [{"id": "u", "roles": ["front_desk"], "purposes": ["claims"]}]})
    assert "key 'rows.front_desk'" in refused({"rows": {"front_desk": "region"}})
    assert "key 'deny[0].statuses[0]'" in refused({"deny": [{"id": "x", "statuses": ["retired"], "actions": ["*"]}]})
    assert "unknown key" in refused({"deny": [{"id": "x", "action": ["*"]}]})
    assert "unknown key" in refused({"roles": {}})


@pytest.mark.parametrize(("window", "expected"), [
    ({"from": "8:00", "to": "20:00"}, "not a time of day"),
    ({"from": "08:00", "to": "24:00"}, "not a time of day"),
    ({"from": "08:00", "to": "20:00", "timezone": "Asia/Shanghia"}, "not an IANA time zone"),
    ({"from": "08:00", "to": "08:00"}, "would never open"),
    ({"from": "08:00", "to": "20:00", "days": []}, "would never open"),
    ({"from": "08:00", "to": "20:00", "days": ["monday"]}, "windows[0].days[0]"),
])
def test_bad_windows_refused(window: dict[str, Any], expected: str) -> None:
    assert expected in refused({"windows": [{"id": "w", **window}]})


def test_duplicate_rule_ids_refused() -> None:
    msg = refused({"deny": [{"id": "front-desk-contact", "actions": ["*"]}]})
    assert "deny[0].id" in msg and "already the id of unmask[0]" in msg


def test_masking_section_checked_with_its_own_messages() -> None:
    d = data()
    d["masking"]["rules"][0]["types"] = ["auth_secrt"]
    with pytest.raises(ConfigError, match=r"p\.yaml: masking: key 'rules\[0\]\.types\[0\]'.*auth_secret"):
        parse_document(d, "p.yaml")


def test_top_level_keys() -> None:
    d = data()
    del d["access"]
    d["extra"] = 1
    with pytest.raises(ConfigError) as err:
        parse_document(d, "p.yaml")
    assert "key 'access': required key is missing" in str(err.value)
    assert "key 'extra': unknown key" in str(err.value)
    with pytest.raises(ConfigError, match="key 'version'"):
        parse_document({**data(), "version": 2}, "p.yaml")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        parse_document(["a"], "p.yaml")


def test_bad_yaml_names_the_line() -> None:
    text = "version: 1\nmasking:\n  roles: [a\naccess: {}\n"
    with pytest.raises(ConfigError, match=r"p\.yaml: not valid YAML at line \d+, column \d+"):
        parse_document_yaml(text, "p.yaml")


def test_changed_sections() -> None:
    before = default_document()
    d = data()
    d["access"]["rows"]["marketer"] = "portfolio"
    d["masking"]["purposes"]["collection"] = "催收"
    after = parse_document(d, "p.yaml")
    assert changed_sections(before, after) == ["access.rows", "masking.purposes"]
    assert changed_sections(before, before) == []
    assert "access.deny" in changed_sections(None, before)


def test_action_patterns() -> None:
    assert matches("*", "audit.read") and matches("export.*", "export.approve")
    assert not matches("export.*", "exporter.x") and not matches("customer.read", "customer.readall")
    assert set(expand("export.*")) == {"export.request", "export.approve", "export.download"}
    assert expand("nothing.*") == ()
    assert set(expand("*")) == set(ACTIONS)
