"""Source mappings fail at load with a message naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodata.errors import MappingError
from custodata.sources import load_mapping, load_mappings, parse_mapping

GOOD = {
    "system": "auto_core",
    "business_type": "auto_policy",
    "format": "csv",
    "path": "a.csv",
    "record_key": "policy_no",
    "parties": [{"role": "policy_holder", "fields": {"holder_name": "name"}}],
}


def test_good_mapping_loads() -> None:
    m = parse_mapping(GOOD, "x.yaml")
    assert m.columns() == ["policy_no", "holder_name"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"business_type": "auto"}, "key 'business_type': 'auto' is not allowed; use one of"),
        ({"format": "xls"}, "key 'format'"),
        ({"colour": "red"}, "key 'colour': unknown key; remove it"),
        ({"parties": [{"role": "holder", "fields": {"n": "name"}}]}, "key 'parties[0].role'"),
        ({"parties": [{"role": "insured", "fields": {"n": "nmae"}}]}, "Did you mean 'name'?"),
        ({"parties": [{"role": "insured", "fields": {"n": "gender"}}]}, "at least one identifying field"),
        ({"parties": []}, "at least one party"),
        ({"fields": {"prem": "premium"}}, "column 'prem': 'premium' is not one of"),
        ({"path": None}, "needs 'path'"),
        ({"format": "sql", "path": None}, "needs 'url'"),
        ({"system": "Auto Core"}, "key 'system'"),
        ({"parties": [{"role": "insured", "fields": {"a": "name"}}, {"role": "insured", "fields": {"b": "name"}}]},
         "role(s) ['insured'] named twice"),
    ],
)
def test_bad_mapping_names_file_key_and_fix(change: dict[str, object], expected: str) -> None:
    data = {**GOOD, **change}
    with pytest.raises(MappingError) as err:
        parse_mapping(data, "maps/auto_core.yaml")
    assert "maps/auto_core.yaml" in str(err.value)
    assert expected in str(err.value)


def test_missing_required_key(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("system: a_b\nbusiness_type: deposit\nformat: csv\npath: x.csv\nparties: []\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"m.yaml: key 'record_key': required key is missing; add it"):
        load_mapping(f)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("system: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(f)
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "nope.yaml")


def test_duplicate_system_names(tmp_path: Path) -> None:
    import yaml

    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(GOOD), encoding="utf-8")
    with pytest.raises(MappingError, match="already used"):
        load_mappings(tmp_path)
