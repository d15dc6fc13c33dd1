"""The console's pure parts: charts escape their labels, the catalogue falls back sanely, CSRF and redirects."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from custodata.console.charts import bar_chart, flow_chart
from custodata.console.customers import flow_stages, quarantined
from custodata.console.i18n import EN, ZH, Translator, pick_lang
from custodata.console.login import _safe_next
from custodata.console.security import CsrfError, check_csrf, csrf_token
from custodata.console.web import shown, when


def test_bar_chart_escapes_labels_and_scales_to_the_largest() -> None:
    svg = str(bar_chart([("<script>alert(1)</script>", 10), ("业务数据总域", 5), ("空", 0)], title="a&b"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    assert "业务数据总域" in svg
    widths = [float(w) for w in re.findall(r'<rect x="150" y="\d+" width="([\d.]+)"', svg)]
    assert widths[0] > widths[1] > widths[2] == 0


def test_flow_chart_shows_a_dash_for_an_unknown_count() -> None:
    svg = str(flow_chart([("贴源层", 1200), ("客户数据总域", None)], title="flow"))
    assert "1,200" in svg and "—" in svg and svg.count("<rect") == 2


def test_every_english_label_has_a_chinese_one_and_the_reverse() -> None:
    assert set(EN) == set(ZH)


def test_translator_falls_back_and_formats() -> None:
    assert Translator("en")("masked_for", role="Marketer") == "Masked for role “Marketer”"
    assert Translator("zh")("masked_for", role="营销") == "已按角色「营销」脱敏"
    assert Translator("zh")("no.such.key") == "no.such.key"
    assert Translator("zh").role("front_desk") == "柜面/客服"
    assert Translator("en").maybe("status", "left") == "Left"
    assert Translator("en").maybe("status", "unheard_of") == "unheard_of"


@pytest.mark.parametrize("value", [None, "", "fr", "zh-CN", "<x>"])
def test_unknown_language_is_the_default(value: str | None) -> None:
    assert pick_lang(value) == "zh"


def test_csrf_token_is_bound_to_the_session_and_the_key() -> None:
    key = b"k" * 32
    token = csrf_token(key, "session-a")
    check_csrf(key, "session-a", token)
    for session, submitted, k in (("session-b", token, key), ("session-a", token, b"x" * 32),
                                  ("session-a", None, key), ("session-a", "", key)):
        with pytest.raises(CsrfError):
            check_csrf(k, session, submitted)


@pytest.mark.parametrize(("target", "expected"), [
    ("/customers/C1", "/customers/C1"), ("https://evil.example/", "/"), ("//evil.example/x", "/"),
    ("/\\evil.example", "/"), ("", "/"), (None, "/"),
])
def test_login_redirects_only_within_the_site(target: str | None, expected: str) -> None:
    assert _safe_next(target) == expected


def test_flow_stages_read_the_served_domain_counts() -> None:
    counts = {
        "landing": {"auto_core": {"batches": 1, "read": 110, "accepted": 100, "quarantined": 10},
                    "card_core": {"batches": 1, "read": 50, "accepted": 50, "quarantined": 0}},
        "business": {"auto_policy": 100, "card": 50, "total": 150},
        "customer": {"parties": 180, "golden": 90, "relationships": 12, "review": 3, "erased": 0},
        "layer": {"individual": 80, "corporate": 10, "customer_view": 90},
        "served": {"generation": 1},
    }
    stages = flow_stages(counts)
    assert [(label, total) for label, total, _ in stages] == [
        ("flow.landing", 150), ("flow.business_sub", 150), ("flow.business_total", 150),
        ("flow.customer_total", 90), ("flow.customer_layer", 90)]
    assert stages[1][2] == [("auto_policy", 100), ("card", 50)]
    assert quarantined(counts) == [("auto_core", 10)]
    assert [total for _, total, _ in flow_stages({})] == [None] * 5


def test_values_are_shown_for_people() -> None:
    # stored times are UTC; pages show them in the console's zone (Asia/Shanghai unless configured)
    assert when(dt.datetime(2026, 3, 4, 3, 0, 1, 123456)) == "2026-03-04 11:00:01"
    assert when("2026-03-04T03:00:01.5+00:00") == "2026-03-04 11:00:01"
    assert when("2026-03-04T20:30:00Z", "Europe/London") == "2026-03-04 20:30:00"
    assert shown([{"kind": "mart", "name": "客群", "value": "高净值"}, "x"]) == "客群: 高净值、x"
    assert shown(None) == "—"
