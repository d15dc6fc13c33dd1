"""Recognisers of sensitive values: validated, not pattern-only, each with its explanation.

A recogniser answers one question — is this value a resident ID, a bank card,
a mobile? — by validating it the way the issuer defines it (check characters,
Luhn, allocated number segments, the gazetteer), because a pattern alone calls
every 18-digit order number an ID.  The shape follows Presidio: a small
interface, a by-name registry, ``recognise(value)`` for one value and
``find_all(text)`` for spans in free text, and every answer carries the reason
it was given.  Per-value work is a precompiled shape test before any checksum,
so a scan of millions of values stays cheap; the national validators are the
normalisers' (``custodata.normalise``), so a value the scan calls an ID is
exactly one the pipeline accepts as an ID.

Digits of any script are digits (the normalisers' rule, ``normalise.text.ascii_digits``):
``prepare`` and ``find_all`` read Arabic-Indic, Devanagari or mathematical digits as ASCII,
one character for one, so an ID typed in another script is found (and masked) like any
other, and the validators below only ever see ASCII digits.

Some types cannot be told from a single value: a two-character word may or may
not be a name, a date may or may not be a birth date.  Those recognisers judge
a whole column (``accept_column``) or need the column's name to hint at them
(``requires_hint``); ``custodata.classification.scan`` applies both.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from custodata.classification.config import ClassificationConfig, PatternSpec, load_config
from custodata.errors import ConfigError, NotFoundError
from custodata.normalise.address import split_address
from custodata.normalise.dates import DateStatus, parse_date
from custodata.normalise.email import email_address
from custodata.normalise.gender import normalise_gender
from custodata.normalise.idnumber import IdStatus, check_id
from custodata.normalise.names import COMPOUND_SURNAMES, SURNAME_READINGS, normalise_name
from custodata.normalise.phone import normalise_landline, normalise_mobile
from custodata.normalise.regions import gazetteer
from custodata.normalise.text import ascii_digits
from custodata.normalise.uscc import USCC_SHAPE, check_uscc

# Full-width ASCII and the ideographic space, one character for one, so spans found in the
# folded text index the original text too (custodata.normalise.text also deletes invisibles).
_FOLD: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _fold(text: str) -> str:
    """Half width and ASCII digits, one character for one (spans index the original)."""
    return ascii_digits(text.translate(_FOLD))


def prepare(value: str) -> str:
    """The form recognisers validate: half width, ASCII digits, outer whitespace stripped."""
    return _fold(value).strip()


@dataclass(frozen=True, slots=True)
class Match:
    """A recognised value: its type, how sure, who said so and why."""

    type: str
    score: float
    recogniser: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Span(Match):
    """A recognised value inside a text, at ``text[start:end]``."""

    start: int
    end: int


def mask_keep(value: str, first: int, last: int) -> str:
    """Keep ``first`` leading and ``last`` trailing characters, star the rest.

    Local rather than ``custodata.masking``'s so that masking (which may use
    the recognisers for free text) and classification never import each other.
    """
    if len(value) <= first + last:
        return "*" * len(value)
    return value[:first] + "*" * (len(value) - first - last) + value[len(value) - last:]


def safe_mask(raw: str, masked: str | None) -> str:
    """The masked display, never the plaintext: short values are starred whole."""
    if masked is None or not raw or raw in masked:
        return "*" * max(len(raw), 1)
    return masked


class Recogniser(ABC):
    """One sensitive type's validator: a few primitives, the rest are template methods.

    Subclasses set ``name``, ``type``, ``score`` (how sure one validated value
    makes us) and implement ``validate`` on a prepared value; ``finder`` (a
    regex of candidate spans) makes them usable on free text.
    """

    name: str = ""
    type: str = ""
    score: float = 1.0
    #: Validated values are not enough on their own: the column name must hint at the type.
    requires_hint: bool = False
    #: Candidate spans in free text; None when the type is not looked for in text.
    finder: re.Pattern[str] | None = None
    #: Words one of which must precede a span in free text (weak patterns only).
    context: tuple[str, ...] = ()
    context_window: int = 12
    #: What one validated value means, for a column's explanation.
    reason: str = ""
    keep: tuple[int, int] = (1, 1)

    @abstractmethod
    def validate(self, value: str) -> bool:
        """Whether a prepared value (see ``prepare``) is of this type."""

    def explain(self, value: str) -> str:
        return self.reason

    def value_score(self, value: str) -> float:
        return self.score

    def mask(self, value: str) -> str:
        return safe_mask(value, mask_keep(value, *self.keep))

    def accept_column(self, valid: Sequence[str], values: Sequence[str], hinted: bool) -> tuple[bool, str]:
        """Column-level judgement once enough values validate: (accepted, why)."""
        return True, ""

    def recognise(self, value: str | None) -> Match | None:
        if value is None:
            return None
        v = prepare(value)
        if not v or not self.validate(v):
            return None
        return Match(self.type, self.value_score(v), self.name, self.explain(v))

    def find_all(self, text: str) -> list[Span]:
        if self.finder is None or not text:
            return []
        return self._find(_fold(text))

    def _find(self, folded: str) -> list[Span]:
        if self.finder is None:
            return []
        spans = []
        for m in self.finder.finditer(folded):
            value = m.group()
            if not self.validate(value):
                continue
            if self.context and not self._in_context(folded, m.start()):
                continue
            spans.append(Span(self.type, self.value_score(value), self.name, self.explain(value), m.start(), m.end()))
        return spans

    def _in_context(self, folded: str, start: int) -> bool:
        window = folded[max(0, start - self.context_window):start].lower()
        return any(word in window for word in self.context)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.type}>"


# --------------------------------------------------------------------------- identity documents

_SEPARATORS = re.compile(r"[\s\-]")


class ResidentIdRecogniser(Recogniser):
    name = "cn_resident_id"
    type = "id_number"
    keep = (6, 4)
    reason = "resident ID with a valid province code, date of birth and GB 11643 check character"
    finder = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
    _shape = re.compile(r"[0-9]{6}[\s-]?[0-9]{8}[\s-]?[0-9]{3}[0-9Xx]|[0-9]{6}[\s-]?[0-9]{6}[\s-]?[0-9]{3}")

    def validate(self, value: str) -> bool:
        return self._shape.fullmatch(value) is not None and check_id(value) is IdStatus.OK

    def value_score(self, value: str) -> float:
        return 0.9 if len(_SEPARATORS.sub("", value)) == 15 else 1.0

    def explain(self, value: str) -> str:
        if len(_SEPARATORS.sub("", value)) == 15:
            return "15-digit resident ID (issued before 1999): valid province code and date of birth; no check digit"
        return "18-character resident ID: valid province code, date of birth and GB 11643 check character"

    def mask(self, value: str) -> str:
        return safe_mask(value, mask_keep(_SEPARATORS.sub("", value), 6, 4))


class ResidencePermitRecogniser(ResidentIdRecogniser):
    """港澳台居民居住证: ID-number format under the codes 810000 / 820000 / 830000."""

    name = "hmt_residence_permit"
    type = "permit"
    reason = "Hong Kong / Macao / Taiwan residence permit number (8x0000 + birth date + check character)"
    finder = re.compile(r"(?<![0-9A-Za-z])8[123]0000[0-9]{11}[0-9Xx](?![0-9A-Za-z])")

    def validate(self, value: str) -> bool:
        v = _SEPARATORS.sub("", value)
        return len(v) == 18 and v[:2] in ("81", "82", "83") and v[2:6] == "0000" and check_id(v) is IdStatus.OK

    def value_score(self, value: str) -> float:
        return 1.0

    def explain(self, value: str) -> str:
        return self.reason


class PassportRecogniser(Recogniser):
    """PRC passports: E + 8 digits, E + letter + 7 digits (from 2017), G + 8 (older), D/S/P."""

    name = "cn_passport"
    type = "passport"
    score = 0.7
    keep = (2, 2)
    reason = "PRC passport number format (E/G + 8, E + letter + 7, D/S/P + 7-8)"
    _shape = re.compile(r"E[0-9A-HJ-NP-Z]\d{7}|G\d{8}|[DSP]\d{7,8}")
    finder = re.compile(r"(?<![0-9A-Za-z])(?:E[0-9A-HJ-NP-Z]\d{7}|G\d{8}|[DSP]\d{7,8})(?![0-9A-Za-z])")
    context = ("护照", "passport", "证件")

    def validate(self, value: str) -> bool:
        return self._shape.fullmatch(value.upper()) is not None


class TravelPermitRecogniser(Recogniser):
    """Travel permits: 回乡证 H/M + 8 (+2) digits, 往来港澳通行证 C…, 往来台湾通行证 L + 8."""

    name = "hmt_travel_permit"
    type = "permit"
    score = 0.75
    keep = (2, 2)
    reason = "Hong Kong / Macao / Taiwan travel permit format (H/M + 8 or 10 digits, C + 8, L + 8)"
    _shape = re.compile(r"[HM]\d{8}(?:\d{2})?|C[0-9A-HJ-NP-Z]\d{7}|L\d{8}")
    finder = re.compile(r"(?<![0-9A-Za-z])(?:[HM]\d{8}(?:\d{2})?|C[0-9A-HJ-NP-Z]\d{7}|L\d{8})(?![0-9A-Za-z])")
    context = ("通行证", "回乡证", "港澳", "台湾", "permit")

    def validate(self, value: str) -> bool:
        return self._shape.fullmatch(value.upper()) is not None


class TaiwanPermitRecogniser(Recogniser):
    """台胞证: 8 digits (since 2015) — any 8-digit number, so only where the name or text says so."""

    name = "tw_compatriot_permit"
    type = "permit"
    score = 0.6
    requires_hint = True
    keep = (2, 2)
    reason = "Taiwan compatriot permit (8 digits, or 10 with a letter) in a column named as a permit"
    _shape = re.compile(r"\d{8}|\d{10}(?:\([A-Z]\))?")
    finder = re.compile(r"(?<![0-9A-Za-z])\d{8}(?![0-9A-Za-z])")
    context = ("台胞证", "台湾居民来往大陆通行证")

    def validate(self, value: str) -> bool:
        return self._shape.fullmatch(value.upper()) is not None


class UsccRecogniser(Recogniser):
    name = "cn_uscc"
    type = "uscc"
    keep = (6, 2)
    reason = "unified social credit code: registration authority, region code and GB 32100 check character valid"
    _shape = re.compile(USCC_SHAPE)  # the normaliser's: a letter in the region code fails both
    finder = re.compile(f"(?<![0-9A-Za-z]){USCC_SHAPE}(?![0-9A-Za-z])")

    def validate(self, value: str) -> bool:
        v = value.upper()
        return self._shape.fullmatch(v) is not None and check_uscc(v) is IdStatus.OK


# --------------------------------------------------------------------------- financial identifiers

_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812 (Luhn) check over a string of ASCII digits; anything else fails."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(c)] for c in digits[-2::-2])
    return total % 10 == 0


class BankCardRecogniser(Recogniser):
    """Payment cards: 16-19 digits, issuer prefix 3-6 (JCB/Amex, Visa, Mastercard, UnionPay), Luhn."""

    name = "bank_card_luhn"
    type = "bank_card"
    score = 0.9
    keep = (6, 4)
    reason = "16-19 digit card number with a card-issuer prefix (3-6) and a valid Luhn check digit"
    _shape = re.compile(r"[3-6][0-9]{3}(?:[ -]?[0-9]{4}){3}(?:[ -]?[0-9]{1,3})?")
    finder = re.compile(r"(?<![0-9])[3-6][0-9]{3}(?:[ -]?[0-9]{4}){3}(?:[ -]?[0-9]{1,3})?(?![0-9])")

    def validate(self, value: str) -> bool:
        if self._shape.fullmatch(value) is None:
            return False
        digits = _SEPARATORS.sub("", value)
        return digits.count(digits[0]) != len(digits) and luhn_ok(digits)

    def mask(self, value: str) -> str:
        return safe_mask(value, mask_keep(_SEPARATORS.sub("", value), 6, 4))


class PatternRecogniser(Recogniser):
    """An institution's own identifier format from ``recognisers.yaml`` (account, policy numbers)."""

    def __init__(self, spec: PatternSpec) -> None:
        self.name = spec.name
        self.type = spec.type
        self.score = spec.score
        self.requires_hint = spec.requires_hint
        self.reason = spec.explanation or f"matches the configured pattern {spec.regex}"
        self._regex = re.compile(spec.regex)

    def validate(self, value: str) -> bool:
        return self._regex.fullmatch(value) is not None

    def mask(self, value: str) -> str:
        keep = (4, 4) if len(value) >= 12 else (2, 2)
        return safe_mask(value, mask_keep(value, *keep))


# --------------------------------------------------------------------------- contact details

# Allocated mainland mobile segments (MIIT numbering plan); 140-144, 154, 172, 174 and 194
# are data-only, satellite or unassigned and do not reach a customer's handset.
MOBILE_SEGMENTS: frozenset[str] = frozenset(
    [str(p) for p in range(130, 140)]
    + "145 146 147 148 149 150 151 152 153 155 156 157 158 159 162 165 166 167 170 171 173 175 176 177 178".split()
    + [str(p) for p in range(180, 190)]
    + "190 191 192 193 195 196 197 198 199".split()
)


class MobileRecogniser(Recogniser):
    name = "cn_mobile"
    type = "mobile"
    score = 0.9
    reason = "mainland mobile number: 11 digits in an allocated number segment (+86 / 0086 allowed)"
    _shape = re.compile(r"(?:\(?(?:\+|00)?86\)?[\s-]?)?1[3-9][0-9](?:[\s-]?[0-9]){8}")
    finder = re.compile(r"(?<![0-9])(?:(?:\+|00)86[\s-]?)?1[3-9][0-9](?:[\s-]?[0-9]{4}){2}(?![0-9])")

    def validate(self, value: str) -> bool:
        if self._shape.fullmatch(value) is None:
            return False
        national = normalise_mobile(value)
        return national is not None and national[:3] in MOBILE_SEGMENTS

    def mask(self, value: str) -> str:
        return safe_mask(value, mask_keep(normalise_mobile(value) or value, 3, 4))


class LandlineRecogniser(Recogniser):
    name = "cn_landline"
    type = "landline"
    score = 0.8
    reason = "mainland landline with an area code (010, 02x, 0xxx) and a 7-8 digit number"
    _shape = re.compile(
        r"(?:(?:\+|00)86[\s-]*\(?0?|\(?0)[1-9][0-9]{1,2}\)?[\s-]*[2-9][0-9]{2,3}[\s-]?[0-9]{4}"
        r"(?:\s*(?:转|ext\.?|x|#|分机)\s*[0-9]{1,6})?",
        re.IGNORECASE,
    )
    finder = re.compile(r"(?<![0-9])\(?0[1-9][0-9]{1,2}\)?[\s-]?[2-9][0-9]{6,7}(?![0-9])")

    def validate(self, value: str) -> bool:
        return self._shape.fullmatch(value) is not None and normalise_landline(value) is not None

    def mask(self, value: str) -> str:
        normalised = normalise_landline(value) or value
        return safe_mask(value, mask_keep(normalised, normalised.find("-") + 1 or 3, 2))


class EmailRecogniser(Recogniser):
    name = "email"
    type = "email"
    score = 0.95
    # Stand-ins (test@example.com) are e-mail addresses all the same: whether one may link two
    # customers is matching's concern (normalise_email), not the column's type.
    reason = "syntactically valid e-mail address (local part of at most 64 characters)"
    finder = re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+"
        r"(?:xn--[A-Za-z0-9-]*[A-Za-z0-9]|[A-Za-z]{2,63})(?![A-Za-z0-9-])"
    )

    def validate(self, value: str) -> bool:
        return "@" in value and email_address(value) is not None

    def mask(self, value: str) -> str:
        user, _, domain = value.partition("@")
        return safe_mask(value, user[:1] + "***@" + domain)


class AddressRecogniser(Recogniser):
    """Postal addresses: a province / city / district structure, then a street or house detail."""

    name = "cn_address"
    type = "address"
    score = 0.9
    reason = "postal address: province / city / district (gazetteer) followed by a street or house detail"
    _divisions = re.compile(r"[省市区县州盟旗]")
    _detail = re.compile(r"\d|[路街道巷弄号村镇乡室栋楼幢院组屯里]")
    _organisation = re.compile(r"(?:公司|集团|银行|支行|分行|医院|学校|大学)$")

    @cached_property
    def _known(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        gaz = gazetteer()
        return (frozenset(gaz.provinces), frozenset(gaz.city_province),
                frozenset(r.district for r in gaz.regions))

    def _levels(self, value: str) -> tuple[int, int] | None:
        """(parts found, parts found in the gazetteer) when the value has a street detail."""
        if len(value) < 6 or len(value) > 150 or value.isascii() or self._divisions.search(value) is None:
            return None
        if self._organisation.search(value):
            return None
        address = split_address(value)
        if address is None or not self._detail.search(address.detail):
            return None
        provinces, cities, districts = self._known
        parts = (address.province, address.city, address.district)
        found = sum(p is not None for p in parts)
        known = (address.province in provinces) + (address.city in cities) + (address.district in districts)
        return found, known

    def validate(self, value: str) -> bool:
        levels = self._levels(value)
        return levels is not None and (levels[1] >= 1 or levels[0] >= 2)

    def explain(self, value: str) -> str:
        levels = self._levels(value)
        known = levels[1] if levels else 0
        return (f"postal address: {known} of province / city / district found in the gazetteer, "
                "followed by a street or house detail")

    def mask(self, value: str) -> str:
        keep = min(9, len(value) // 2)
        return safe_mask(value, value[:keep] + "****")


# --------------------------------------------------------------------------- persons

_HAN_NAME = re.compile(r"[\u3400-\u9fff\uf900-\ufaff·]+")
_HONORIFICS: frozenset[str] = frozenset({"先生", "女士", "小姐", "太太"})
# A pinyin syllable (over-general on purpose: it only has to refuse ordinary English words).
_SYLLABLES = re.compile(
    r"(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|van|ai|ei|ui|ao|ou|iu|ie|ve|ue|er|an|en|in|un|vn|"
    r"ia|ua|uo|a|o|e|i|u|v))+"
)


class PersonNameRecogniser(Recogniser):
    """Chinese names (family name + one or two characters), minority and pinyin names.

    One value cannot say whether 高兴 is a name; a column can: names are led
    mostly by the commonest family names and hardly repeat, ordinary words and
    code lists do neither.  ``accept_column`` applies those statistics.
    """

    name = "person_name"
    type = "person_name"
    score = 0.85
    reason = "personal name: a known family name and one or two given-name characters (or pinyin)"
    min_common_share = 0.5
    min_distinct = 0.2

    def __init__(self, surnames: Sequence[str], common: int) -> None:
        ordered = tuple(dict.fromkeys([*surnames, *sorted(COMPOUND_SURNAMES)]))
        self._surnames = frozenset(ordered)
        self._common = frozenset(surnames[:common])
        self._n_common = common

    @cached_property
    def _surname_pinyin(self) -> frozenset[str]:
        from pypinyin import Style, lazy_pinyin

        return frozenset(
            SURNAME_READINGS.get(s) or "".join(lazy_pinyin(s, style=Style.NORMAL)) for s in self._surnames
        )

    def _surname(self, name: str) -> str:
        return name[:2] if name[:2] in self._surnames and len(name) > 2 else name[:1]

    def _latin(self, value: str) -> bool:
        words = value.replace(",", " ").replace("-", "").lower().split()
        if not 2 <= len(words) <= 3 or not all(_SYLLABLES.fullmatch(w) for w in words):
            return False
        return words[0] in self._surname_pinyin or words[-1] in self._surname_pinyin

    def validate(self, value: str) -> bool:
        if len(value) > 40:
            return False
        if value.isascii():
            return self._latin(value)
        name = normalise_name(value)
        if name is None or _HAN_NAME.fullmatch(name) is None:
            return False
        if "·" in name:
            return all(name.split("·")) and len(name) <= 20
        surname = self._surname(name)
        given = name[len(surname):]
        return surname in self._surnames and (1 <= len(given) <= 2 or given in _HONORIFICS)

    def value_score(self, value: str) -> float:
        # One value cannot tell 高兴 the word from 高兴 the person; the column statistics can.
        return 0.4 if len(value) <= 2 else 0.6

    def explain(self, value: str) -> str:
        if value.isascii():
            return "personal name in pinyin, with a known family name"
        if "·" in value:
            return "personal name with a middle dot (minority or transliterated name)"
        return "personal name: a known family name and one or two given-name characters"

    def mask(self, value: str) -> str:
        if value.isascii():  # pinyin: the first letter only
            return safe_mask(value, value[0] + "*" * (len(value) - 1))
        keep = 2 if len(value) >= 4 else 1  # the family name (欧阳** keeps two)
        return safe_mask(value, value[:keep] + "*" * (len(value) - keep))

    def accept_column(self, valid: Sequence[str], values: Sequence[str], hinted: bool) -> tuple[bool, str]:
        han = [n for v in valid if not v.isascii() and (n := normalise_name(v)) and "·" not in n]
        common = sum(self._surname(n) in self._common for n in han) / len(han) if han else 1.0
        distinct = len(set(values)) / len(values) if values else 1.0
        if len(han) >= 20 and common < self.min_common_share:
            return False, (f"only {common:.0%} led by one of the {self._n_common} commonest family names: "
                           "ordinary words, not names")
        if len(values) >= 50 and distinct < self.min_distinct:
            return False, f"only {distinct:.0%} distinct values: a code list, not names"
        return True, f"{common:.0%} led by a common family name, {distinct:.0%} distinct"


class BirthDateRecogniser(Recogniser):
    name = "birth_date"
    type = "birth_date"
    score = 0.8
    requires_hint = True
    keep = (4, 0)
    reason = "a date between 1900 and today in a column named as a date of birth"

    def validate(self, value: str) -> bool:
        if not 6 <= len(value) <= 30 or not value[0].isdigit():
            return False
        born, status = parse_date(value)
        return status is DateStatus.OK and born is not None and born <= dt.date.today()


class GenderRecogniser(Recogniser):
    """男/女 (and male/female) speak for themselves; codes 1/2 or M/F need the column's name."""

    name = "gender"
    type = "gender"
    score = 0.9
    keep = (0, 0)
    reason = "gender code (男/女, M/F, 1/2 per GB/T 2261.1)"
    _words: frozenset[str] = frozenset({"男", "女", "男性", "女性", "male", "female"})

    def validate(self, value: str) -> bool:
        return len(value) <= 6 and normalise_gender(value) is not None

    def accept_column(self, valid: Sequence[str], values: Sequence[str], hinted: bool) -> tuple[bool, str]:
        kinds = len(set(values))
        if kinds > 8:
            return False, f"{kinds} different values: not a gender code"
        if not hinted and sum(v.lower() in self._words for v in valid) < 0.8 * len(valid):
            return False, "codes such as 1/2 or M/F are gender only where the column name says so"
        return True, f"{kinds} distinct codes"


# --------------------------------------------------------------------------- other types

class IpAddressRecogniser(Recogniser):
    name = "ip_address"
    type = "ip_address"
    score = 0.85
    keep = (4, 0)
    reason = "IPv4 or IPv6 address"
    _shape = re.compile(r"[0-9A-Fa-f:.]{2,45}")
    finder = re.compile(
        r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"
    )

    def validate(self, value: str) -> bool:
        if self._shape.fullmatch(value) is None or (value.count(".") != 3 and ":" not in value):
            return False
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True


_PLATE = (r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·\s-]?"
          r"(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警港澳领])")


class VehiclePlateRecogniser(Recogniser):
    name = "cn_vehicle_plate"
    type = "vehicle_plate"
    score = 0.9
    keep = (2, 1)
    reason = "mainland licence plate: province character, issuing-authority letter, 5-6 characters"
    _shape = re.compile(_PLATE)
    finder = re.compile(rf"{_PLATE}(?![A-Za-z0-9])")

    def validate(self, value: str) -> bool:
        return self._shape.fullmatch(value.upper()) is not None


class CompanyNameRecogniser(Recogniser):
    name = "company_name"
    type = "company_name"
    score = 0.85
    keep = (4, 0)
    reason = "organisation name ending in a legal form (有限公司, 集团, 合伙, 合作社 ...)"
    _shape = re.compile(
        r"[^\d\s]{2,80}(?:公司|集团|[(（](?:普通|有限|特殊普通)合伙[)）]|合伙企业|合作社|事务所|商行|经营部|厂)"
        r"|.{2,80}\b(?:co\.?,?\s*ltd\.?|limited|inc\.?|corp(?:oration)?\.?|llc|gmbh)",
        re.IGNORECASE,
    )

    def validate(self, value: str) -> bool:
        return len(value) >= 4 and self._shape.fullmatch(value) is not None


class RegionRecogniser(Recogniser):
    """A bare province, city or district name (广东省, 深圳, 南山区), without a street."""

    name = "cn_region"
    type = "region"
    score = 0.85
    keep = (1, 0)
    reason = "province, city or district name from the gazetteer"

    @cached_property
    def _names(self) -> frozenset[str]:
        gaz = gazetteer()
        return frozenset([*gaz.province_by_name, *gaz.city_by_name, *(r.district for r in gaz.regions)])

    def validate(self, value: str) -> bool:
        if len(value) > 24 or value.isascii():
            return False
        if value in self._names:
            return True
        if AddressRecogniser._divisions.search(value) is None:
            return False
        address = split_address(value)
        return address is not None and not address.detail and address.province is not None


class AmountRecogniser(Recogniser):
    name = "amount"
    type = "amount"
    score = 0.7
    requires_hint = True
    keep = (1, 0)
    reason = "a monetary amount in a column named as an amount, balance or premium"
    _shape = re.compile(r"[+-]?[¥$]?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,4})?\s?(?:元|万元|万)?")

    def validate(self, value: str) -> bool:
        return len(value) <= 30 and self._shape.fullmatch(value) is not None


class PostcodeRecogniser(Recogniser):
    name = "cn_postcode"
    type = "postcode"
    score = 0.8
    requires_hint = True
    keep = (2, 0)
    reason = "six-digit postcode in a column named as a postcode"
    _shape = re.compile(r"[0-8]\d{5}")

    def validate(self, value: str) -> bool:
        return self._shape.fullmatch(value) is not None


class AuthSecretRecogniser(Recogniser):
    """Passwords, PINs, CVVs and their hashes: any token, where the column's name says secret."""

    name = "auth_secret"
    type = "auth_secret"
    score = 0.9
    requires_hint = True
    keep = (0, 0)
    reason = "a token without spaces in a column named as a password, PIN or card verification code"

    def validate(self, value: str) -> bool:
        return 3 <= len(value) <= 256 and not any(c.isspace() for c in value)


# --------------------------------------------------------------------------- registry

class Registry:
    """Recognisers by name, in priority order (earlier wins a tie on the same column)."""

    def __init__(self, recognisers: Iterable[Recogniser] = ()) -> None:
        self._by_name: dict[str, Recogniser] = {}
        for recogniser in recognisers:
            self.register(recogniser)

    def register(self, recogniser: Recogniser) -> None:
        if not recogniser.name or not recogniser.type:
            raise ConfigError(f"{recogniser!r}: a recogniser needs a name and a type")
        if recogniser.name in self._by_name:
            raise ConfigError(f"recogniser '{recogniser.name}' is registered twice")
        self._by_name[recogniser.name] = recogniser
        self.__dict__.pop("_finders", None)

    def get(self, name: str) -> Recogniser:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFoundError(f"no recogniser named '{name}'; known: {', '.join(self._by_name)}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def for_type(self, type_: str) -> tuple[Recogniser, ...]:
        return tuple(r for r in self._by_name.values() if r.type == type_)

    def __iter__(self) -> Iterator[Recogniser]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    @cached_property
    def _finders(self) -> tuple[Recogniser, ...]:
        return tuple(r for r in self if r.finder is not None and (not r.requires_hint or r.context))

    def recognise(self, value: str | None) -> Match | None:
        """The best match of one value among recognisers that need no column context."""
        best: Match | None = None
        for recogniser in self:
            if recogniser.requires_hint:
                continue
            match = recogniser.recognise(value)
            if match is not None and (best is None or match.score > best.score):
                best = match
        return best

    def find_all(self, text: str | None) -> list[Span]:
        """Sensitive values inside a text, overlaps resolved to the surest, then longest span."""
        if not text:
            return []
        folded = _fold(text)
        found = [span for r in self._finders for span in r._find(folded)]
        if len(found) < 2:
            return found
        found.sort(key=lambda s: (-s.score, s.start - s.end, s.start))
        kept: list[Span] = []
        for span in found:
            if all(span.end <= k.start or span.start >= k.end for k in kept):
                kept.append(span)
        return sorted(kept, key=lambda s: s.start)


def build_registry(config: ClassificationConfig) -> Registry:
    """The built-in recognisers plus the configured patterns, in priority order."""
    validated: list[Recogniser] = [
        ResidencePermitRecogniser(), ResidentIdRecogniser(), UsccRecogniser(), BankCardRecogniser(),
        MobileRecogniser(), LandlineRecogniser(), EmailRecogniser(), PassportRecogniser(),
        TravelPermitRecogniser(), VehiclePlateRecogniser(), IpAddressRecogniser(),
    ]
    patterns = [PatternRecogniser(spec) for spec in config.patterns]
    content: list[Recogniser] = [
        AddressRecogniser(), PersonNameRecogniser(config.surname_list, config.common_surnames),
        CompanyNameRecogniser(), RegionRecogniser(), GenderRecogniser(),
    ]
    hinted: list[Recogniser] = [
        TaiwanPermitRecogniser(), BirthDateRecogniser(), AmountRecogniser(), PostcodeRecogniser(),
        AuthSecretRecogniser(),
    ]
    return Registry([*validated, *patterns, *content, *hinted])


@lru_cache(maxsize=8)
def _default_registry(path: Path | None) -> Registry:
    return build_registry(load_config(path))


def default_registry(config_path: Path | None = None) -> Registry:
    """The shipped recognisers (with ``recognisers.yaml``'s patterns), built once per process."""
    return _default_registry(config_path.resolve() if config_path else None)


def recognise(value: str | None) -> Match | None:
    """Recognise one value with the default registry."""
    return default_registry().recognise(value)


def find_all(text: str | None) -> list[Span]:
    """Sensitive values inside a free text, with the default registry."""
    return default_registry().find_all(text)
