import pytest

from custodata.normalise.email import normalise_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zhang.wei@qq.com", "zhang.wei@qq.com"),
        (" Zhang.Wei@QQ.COM ", "zhang.wei@qq.com"),
        ("zhangwei＠163。com", "zhangwei@163.com"),
        ("ｚｈａｎｇｗｅｉ＠１６３．ｃｏｍ", "zhangwei@163.com"),
        ("zhang wei@163.com", "zhangwei@163.com"),
        ("mailto:x.y+z@mail.example.cn", "x.y+z@mail.example.cn"),
        ("a@company.cn", "a@company.cn"),
        ("first_last-1@sub.domain.com.cn", "first_last-1@sub.domain.com.cn"),
    ],
)
def test_accepted(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "无",
        "zhangwei",
        "zhangwei@",
        "@qq.com",
        "zhangwei@qq",
        "zhang..wei@qq.com",
        ".zhangwei@qq.com",
        "zhangwei@-qq.com",
        "zhangwei@qq.c",
        "zhang@wei@qq.com",
        "张伟@qq.com",
        "test@example.com",
        "someone@example.org",
        "none@none.com",
        "000000@qq.com",
        "123456@qq.com",
        "aaaa@qq.com",
        "x" * 250 + "@qq.com",
    ],
)
def test_rejected(raw: str | None) -> None:
    assert normalise_email(raw) is None
