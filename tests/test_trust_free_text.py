"""Free text never shows more of an embedded value than that value's own field rule (issue 10 point 3).

The attack: a service-ticket remark quoting a street address, an ID number or a mobile in Chinese
numerals was shown whole (or 6+4) to roles whose address rule stops at the district or city and
whose ID rule shows 1+4, so the remark was a way around field masking.
"""

from __future__ import annotations

import pytest

from custodata.masking.operators import FreeTextParams, redact_identifiers
from custodata.masking.policy import load_policy

ID = "110101199003074514"
REMARK = (f"客户来电，住在广东省深圳市南山区科技路88号3栋501室，身份证{ID}，"
          "手机一三八一二三四五六七八，或13812345678。祝您一路顺风。")


@pytest.fixture(scope="module")
def policy():  # type: ignore[no-untyped-def]
    return load_policy()


@pytest.mark.parametrize("role", ["front_desk", "data_steward", "outsourced_agent", "auditor", "cli"])
def test_remark_hides_the_street_address_for_roles_that_see_no_street(policy, role: str) -> None:  # type: ignore[no-untyped-def]
    """A quoted street address in a remark is cut where the role's address rule cuts the address field."""
    shown = policy.mask_value("remark", REMARK, role)
    assert "科技路" not in shown and "88号" not in shown and "501室" not in shown
    address_rule = policy.decide("address", role)
    if address_rule.operator == "generalise" and address_rule.params.get("to") == "city":
        assert "南山区" not in shown
    assert "一路顺风" in shown  # words that are no address stay


@pytest.mark.parametrize("role", ["front_desk", "data_steward", "outsourced_agent", "auditor", "security_officer"])
def test_remark_shows_an_id_no_further_than_the_id_field(policy, role: str) -> None:  # type: ignore[no-untyped-def]
    """IDs inside remarks were shown 6+4 to staff whose ID field shows 1+4."""
    shown = policy.mask_value("remark", REMARK, role)
    field = policy.mask_value("id_number", ID, role)
    assert ID not in shown
    if field is None or "*" not in str(field):
        return
    # the digits shown of the ID in the remark are no more than those the field shows
    assert ID[:6] not in shown or str(field).startswith(ID[:6])
    shown_digits_field = sum(c.isdigit() for c in str(field))
    for piece in shown.split("，"):
        if piece.startswith("身份证"):
            assert sum(c.isdigit() for c in piece) <= shown_digits_field


@pytest.mark.parametrize("role", ["front_desk", "outsourced_agent", "auditor"])
def test_a_mobile_in_chinese_numerals_is_masked(policy, role: str) -> None:  # type: ignore[no-untyped-def]
    """A mobile written out as 一三八一二三四五六七八 passed through the remark untouched."""
    shown = policy.mask_value("remark", REMARK, role)
    assert "一三八一二三四五六七八" not in shown
    assert "13812345678" not in shown


def test_outside_a_policy_addresses_become_a_label() -> None:
    # the words before a city may go with it: a note loses a word rather than shows a street
    assert redact_identifiers("寄到北京市朝阳区建国路5号").endswith("[地址]")
    assert "建国路" not in redact_identifiers("寄到北京市朝阳区建国路5号")
    kept = redact_identifiers("寄到北京市朝阳区建国路5号", FreeTextParams(address="district"))
    assert kept == "寄到北京市朝阳区[详细地址]"
    assert redact_identifiers("我不知道路怎么走") == "我不知道路怎么走"


def test_masked_names_do_not_tell_their_length() -> None:
    """Stops reading a name's length off its mask (甘** vs 甘*, G********* for a ten-letter name): with the
    family name and the branch known, the length narrows a customer down (issue 10 point 4)."""
    from custodata.masking.operators import get_operator

    name = get_operator("name")
    masks = {name.operate(n, {}) for n in ("甘露", "甘露露", "甘小露露")}
    assert masks == {"甘**"}
    assert {name.operate(n, {}) for n in ("Gan", "Gan Lulu Lu")} == {"G**"}
