import pytest

from custodata.normalise.gender import normalise_gender


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("男", "M"),
        ("女", "F"),
        ("男性", "M"),
        ("女性", "F"),
        ("M", "M"),
        ("m", "M"),
        ("F", "F"),
        ("f", "F"),
        ("Ｍ", "M"),
        ("1", "M"),
        ("2", "F"),
        ("１", "M"),
        ("male", "M"),
        ("Female", "F"),
        ("FEMALE", "F"),
        (" 男 ", "M"),
        ("0", None),
        ("9", None),
        ("未知", None),
        ("x", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_gender(raw: str | None, expected: str | None) -> None:
    assert normalise_gender(raw) == expected
