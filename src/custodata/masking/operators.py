"""Masking operators [脱敏算子]: one small class per way of hiding a value, found by name.

A masking policy is data (``policy.yaml``), so the policy can only name
operators and their parameters; this module is what those names mean.  Each
operator is parameterised rather than hard-wired because display rules differ
between institutions (one bank shows a card's first 6 and last 4 digits,
another only the last 4), and new operators can be registered without
touching the policy engine.

Every operator is total: ``None`` stays ``None``, any other value (odd
strings, full-width digits, dates, numbers) gives a result and never an
exception, and no operator returns more of the original than its rule allows.
A value an operator cannot understand (an address with no known division, a
date that does not parse) is masked whole rather than shown.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from custodata.errors import ConfigError
from custodata.normalise.address import split_address
from custodata.normalise.dates import DateStatus, parse_date
from custodata.normalise.idnumber import IdStatus, check_id
from custodata.normalise.names import family_name, normalise_name
from custodata.normalise.phone import normalise_landline, normalise_mobile
from custodata.normalise.text import HALFWIDTH_TABLE

MASK = "*"

Tokeniser = Callable[[str, str | None], str]


@dataclass(frozen=True)
class MaskingContext:
    """What an operator may need besides the value: keys and services owned by other layers.

    Kept out of the policy file on purpose: a policy is shareable configuration,
    a hash key or a token vault is not.
    """

    hash_key: bytes | None = None
    """Key for keyed (HMAC-SHA-256) hashes; without it ``hash`` is plain SHA-256."""
    tokenise: Tokeniser | None = None
    """``(value, sensitive_type) -> token``: a stable pseudonym from the token vault."""
    today: dt.date | None = None
    """Reference date for age bands; ``None`` is the real today (tests pin it)."""
    sensitive_type: str | None = None
    """The value's sensitive type, set by the policy engine so tokens can be namespaced."""


NO_CONTEXT = MaskingContext()


class ParamsError(ConfigError):
    """An operator's parameters are wrong; ``key`` names the parameter for the caller's message."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


class OperatorParams(BaseModel):
    """Base of every operator's parameter model: unknown parameters are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Params = Mapping[str, Any] | OperatorParams
"""Parameters as written in a policy, or already parsed (the policy engine parses once)."""


class _NoParams(OperatorParams):
    pass


MaskChar = Field(default="*", min_length=1, max_length=1, description="the character that replaces hidden ones")
MaskLength = Field(
    default=None, ge=1, le=32, description="a fixed number of mask characters, so the value's length is hidden too"
)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _explain_params_error(model: type[OperatorParams], exc: ValidationError) -> ParamsError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    allowed = ", ".join(model.model_fields) or "none"
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(model.model_fields), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return ParamsError(key, f"unknown parameter; allowed parameters: {allowed}.{hint}")
    return ParamsError(key, f"{str(err['msg']).removeprefix('Value error, ')} (parameters: {allowed})")


P = TypeVar("P", bound=OperatorParams)

# Parsed parameters by (model, frozen raw params): policies repeat a handful of parameter sets.
_PARSED: dict[tuple[type[OperatorParams], Any], OperatorParams] = {}
_PARSED_MAX = 4096


class Operator(ABC, Generic[P]):
    """A named way of masking one value; subclasses set ``name`` and ``params_model``.

    ``operate`` takes the raw params mapping (as written in the policy) so an
    operator is usable without the policy engine; parsing is cached, so the
    per-value cost is a dictionary look-up.
    """

    name: ClassVar[str]
    params_model: type[P]

    def parse(self, params: Params | None = None) -> P:
        """The validated parameters; raises ParamsError naming the parameter at fault."""
        if isinstance(params, self.params_model):
            return params
        if isinstance(params, OperatorParams):
            raise ParamsError("", f"{self.name} takes {self.params_model.__name__}, not {type(params).__name__}")
        raw: Mapping[str, Any] = params or {}
        try:
            key = (self.params_model, _freeze(raw))
            cached = _PARSED.get(key)
        except TypeError:  # unhashable or unsortable parameters: validate without the cache
            key, cached = None, None
        if cached is not None:
            # The cache is keyed by the model class, so what comes back is a ``P``.
            return cast(P, cached)
        try:
            parsed = self.params_model.model_validate(dict(raw))
        except ValidationError as exc:
            raise _explain_params_error(self.params_model, exc) from None
        if key is not None:
            if len(_PARSED) > _PARSED_MAX:
                _PARSED.clear()
            _PARSED[key] = parsed
        return parsed

    def validate(self, params: Params | None = None) -> None:
        """Check parameters when a policy is loaded, so mistakes surface before any value is shown."""
        self.parse(params)

    @abstractmethod
    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        """The masked value; ``None`` for ``None``, never an exception for an odd value."""

    def describe(self, params: Params | None = None) -> str:
        """Short human form for explanations, e.g. ``keep(6,4)``."""
        if not params:
            return self.name
        given = params.model_dump(exclude_defaults=True) if isinstance(params, OperatorParams) else params
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in given.items())})"


def _text(value: object) -> str | None:
    """Values arrive as whatever the row holds (str, date, Decimal, int); masking works on text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


# ---------------------------------------------------------------------------------------------
# Pure helpers, typed on text, shared with display.py


def keep_chars(text: str, first: int, last: int, char: str = MASK, mask_length: int | None = None) -> str:
    """Keep ``first`` leading and ``last`` trailing characters of ``text`` and mask the rest.

    A value no longer than ``first + last`` is masked whole: keeping the rule's
    characters would show all (or all but one) of it.
    """
    n = len(text)
    if n <= first + last:
        return char * (n if mask_length is None else mask_length) if n else ""
    hidden = n - first - last
    return text[:first] + char * (hidden if mask_length is None else mask_length) + text[n - last :]


NameShown = Literal["family_name", "last_char"]


NAME_MASK_LENGTH = 2


def mask_name_text(text: str, show: NameShown = "family_name", char: str = MASK,
                   mask_length: int | None = NAME_MASK_LENGTH) -> str:
    """Chinese names keep the family name (compound surnames too); others their first letter.

    The name is normalised first (spaces, traditional characters, case), so
    ``張 偉`` and ``张伟`` mask the same.  A name that is nothing but its
    family name (欧阳) keeps only its first character.  The hidden part is a fixed
    number of mask characters by default (``甘**`` for 甘露 and 甘露露 alike,
    ``G**`` for any Latin name), so the mask does not tell the name's length;
    ``mask_length: null`` in a policy shows one mask character per hidden one.
    """
    if not text.strip():
        return text
    name = normalise_name(text)
    width = mask_length or NAME_MASK_LENGTH
    if name is None:
        return char * width
    if len(name) == 1:
        return char * width
    if show == "last_char":
        kept_head, kept_tail = "", name[-1]
    else:
        surname = family_name(name)
        kept_head = surname if surname is not None and len(surname) < len(name) else name[0]
        kept_tail = ""
    hidden = len(name) - len(kept_head) - len(kept_tail)
    return kept_head + char * (hidden if mask_length is None else mask_length) + kept_tail


def mask_email_text(text: str, keep_first: int = 1, mask_length: int = 3, domain: bool = True, char: str = MASK) -> str:
    """``z***@example.com``: the mailbox is hidden, the domain (a provider, rarely personal) kept."""
    s = text.strip().replace("＠", "@")
    at = s.rfind("@")
    if at < 0:
        return keep_chars(s, keep_first, 0, char)
    user, host = s[:at], s[at + 1 :]
    shown = user[: min(keep_first, max(len(user) - 1, 0))]
    return shown + char * mask_length + "@" + (host if domain else char * 3)


AddressLevel = Literal["province", "city", "district"]
DateLevel = Literal["age_band", "year", "year_month"]


def generalise_address_text(text: str, level: AddressLevel = "district", char: str = MASK) -> str:
    """The address down to ``level``; what lies below it becomes ``****``.

    Parts are taken from the gazetteer's official names (深圳南山区 → 广东省深圳市南山区),
    so the output carries no more of the original than the divisions.
    """
    address = split_address(text)
    if address is None:
        return char * len(text.strip()) if text.strip() else text
    parts: list[str | None] = [address.province]
    if level in ("city", "district"):
        parts.append(None if address.city == address.province else address.city)
    if level == "district":
        parts.append(address.district)
    shown = "".join(p for p in parts if p)
    return shown + char * 4


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def generalise_date_value(
    value: object, level: DateLevel = "year", band: int = 10, today: dt.date | None = None, char: str = MASK
) -> str | None:
    """A birth date as an age band (``30-39岁``), a year or a year and month."""
    if value is None:
        return None
    if isinstance(value, dt.date):
        born: dt.date | None = value if not isinstance(value, dt.datetime) else value.date()
    else:
        text = _text(value) or ""
        born, status = parse_date(text)
        if status is DateStatus.EMPTY and not text.strip():
            return text
        if born is None:
            return char * len(text.strip())
    assert born is not None  # noqa: S101  (narrowing for mypy; both branches set it)
    if level == "year":
        return f"{born.year:04d}"
    if level == "year_month":
        return f"{born.year:04d}-{born.month:02d}"
    age = _age(born, today or dt.date.today())
    if age < 0:
        return char * 4
    if band == 1:
        return f"{age}岁"
    low = age // band * band
    return f"{low}-{low + band - 1}岁"


def _digest(text: str, length: int, key: bytes | None) -> str:
    data = text.encode("utf-8", errors="surrogatepass")
    if key is not None:
        digest = hmac.new(key, data, hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(data).hexdigest()
    return digest[:length]


# ---------------------------------------------------------------------------------------------
# Identifiers inside free text (a deliberately small, private recogniser)

_D = "0-9０-９"
_SEP = " \\-－"
_NUMBER = re.compile(rf"(?<![{_D}])[{_D}](?:[{_D}]|[{_SEP}](?=[{_D}]))+[XxＸｘ]?(?![{_D}])")
# The lookbehind lets a mailbox start only where a run of mailbox characters starts, so a
# long run without an @ is scanned once instead of once per position.
_EMAIL_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+[@＠][A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
_SEPARATORS = re.compile(rf"[{_SEP}]")
_MIN_CANDIDATE_DIGITS = 7

IdentifierKind = Literal["mobile", "id_number", "bank_card"]
_LABELS: dict[str, str] = {
    "mobile": "[手机号]",
    "id_number": "[身份证号]",
    "bank_card": "[银行卡号]",
    "email": "[邮箱]",
    "digits": "[号码]",
}


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _identifier_kind(compact: str) -> IdentifierKind | None:
    """Which identifier a separator-free run of (half-width) digits is, by format and check digit."""
    if len(compact) in (15, 18) and check_id(compact) is IdStatus.OK:
        return "id_number"
    if not compact.isdigit():
        return None
    if len(compact) in (11, 13, 15) and normalise_mobile(compact) is not None:
        return "mobile"
    if 16 <= len(compact) <= 19 and _luhn_ok(compact):
        return "bank_card"
    return None


class FreeTextParams(OperatorParams):
    style: Literal["mask", "label"] = Field(
        default="mask", description="mask in place, or replace with a label like [手机号]"
    )
    mobile: tuple[int, int] = Field(default=(3, 4), description="first, last characters kept of a mobile")
    id_number: tuple[int, int] = Field(default=(6, 4), description="first, last characters kept of an ID number")
    bank_card: tuple[int, int] = Field(default=(6, 4), description="first, last characters kept of a card number")
    email: bool = Field(default=True, description="mask e-mail addresses too")
    other_digits_from: int | None = Field(
        default=11, ge=7, description="mask whole any other digit run this long (an ID with a typo is still an ID)"
    )
    address: Literal["plain", "district", "city", "province", "label"] | None = Field(
        default=None,
        description="a quoted street address: shown, cut after its district / city / province, or a label; "
        "unset: as far as the role's address rule allows (a label outside a policy)",
    )
    char: str = MaskChar

    @model_validator(mode="after")
    def _non_negative(self) -> FreeTextParams:
        for key in ("mobile", "id_number", "bank_card"):
            if min(getattr(self, key)) < 0:
                raise ValueError(f"{key}: first and last must be >= 0")
        return self


# Chinese numerals as people type a number out (一三八…, 幺 for 1 on the phone, 壹贰 in finance).
_CN_DIGIT_VALUES = {
    **{c: str(i) for i, c in enumerate("零一二三四五六七八九")},
    **{c: str(i) for i, c in enumerate("〇壹贰叁肆伍陆柒捌玖")},
    "幺": "1", "两": "2", "洞": "0",
}
_CN_DIGITS = "".join(_CN_DIGIT_VALUES)
_CN_NUMBER = re.compile(rf"[{_CN_DIGITS}](?:[{_CN_DIGITS}]|[{_SEP}](?=[{_CN_DIGITS}])){{6,}}")
_CN_NUMBER_TABLE = str.maketrans(_CN_DIGIT_VALUES)

# A street address quoted in a note: what comes before the street (province, city, district) is
# kept apart so that it can be shown as far as the address rule allows; the street needs a house
# number after it, so that 一路顺风 is not an address.
_HAN = "\u4e00-\u9fff"
_HOUSE_NUM = "[0-9０-９一二三四五六七八九十百千零〇]+"
_ADDRESS_IN_TEXT = re.compile(
    rf"(?P<province>[{_HAN}]{{2,6}}?(?:省|自治区))?"
    rf"(?P<city>[{_HAN}]{{2,6}}?市)?"
    rf"(?P<district>[{_HAN}]{{1,6}}?(?:区|县))?"
    rf"(?P<street>[^\W\d省市区县路街号巷弄]{{1,8}}(?:大道|大街|路|街|巷|弄))"
    rf"\s*{_HOUSE_NUM}(?:[\-－之]{_HOUSE_NUM})?\s*[号弄]"
    rf"(?:[0-9０-９A-Za-z一二三四五六七八九十\-－]+(?:栋|幢|座|单元|楼|层|室|号))*"
)
_ADDRESS_LABEL = "[详细地址]"


def _mask_address(m: re.Match[str], keep: str) -> str:
    if keep == "label":
        return "[地址]"
    shown = {"province": ("province",), "city": ("province", "city"),
             "district": ("province", "city", "district")}[keep]
    return "".join(m.group(g) or "" for g in shown) + _ADDRESS_LABEL


def _mask_cn_number(m: re.Match[str], p: FreeTextParams) -> str:
    candidate = m.group()
    compact = _SEPARATORS.sub("", candidate).translate(_CN_NUMBER_TABLE)
    kind = _identifier_kind(compact)
    if kind is not None:
        return _masked_as(candidate, kind, p)
    if p.other_digits_from is not None and len(compact) >= p.other_digits_from:
        return _masked_as(candidate, "digits", p)
    return candidate


def _masked_as(candidate: str, kind: str, p: FreeTextParams) -> str:
    if p.style == "label":
        return _LABELS[kind]
    if kind == "digits":
        return p.char * len(candidate)
    first, last = {"mobile": p.mobile, "id_number": p.id_number, "bank_card": p.bank_card}[kind]
    return keep_chars(candidate, first, last, p.char)


def _mask_number(candidate: str, p: FreeTextParams) -> str:
    compact = _SEPARATORS.sub("", candidate).translate(HALFWIDTH_TABLE).upper()
    kind = _identifier_kind(compact)
    if kind is not None:
        return _masked_as(candidate, kind, p)
    if compact.endswith("X"):
        # An X after a digit run that is no ID belongs to the surrounding text.
        return _mask_number(candidate[:-1], p) + candidate[-1]
    if _SEPARATORS.search(candidate):
        # A run joined by spaces or dashes may be several things (a date, then a mobile).
        pieces = re.split(rf"([{_SEP}])", candidate)
        done = [piece if _SEPARATORS.fullmatch(piece) else _mask_number(piece, p) for piece in pieces]
        if done != pieces:
            return "".join(done)
    if p.other_digits_from is not None and sum(c.isdigit() for c in compact) >= p.other_digits_from:
        return _masked_as(candidate, "digits", p)
    return candidate


def redact_identifiers(text: str, params: FreeTextParams | None = None) -> str:
    """Free text with embedded mobiles, ID numbers, card numbers, e-mails and street addresses masked.

    Numbers written in Chinese numerals (一三八…) are found too.

    Numbers are found by shape and confirmed by their check digits (ID
    checksum, card Luhn, mobile prefixes), so a policy number is not shown as
    if it were a card; other long digit runs are masked whole.
    """
    p = params or FreeTextParams()
    keep_address = p.address or "label"
    if keep_address != "plain":
        text = _ADDRESS_IN_TEXT.sub(lambda m: _mask_address(m, keep_address), text)
    if p.email and ("@" in text or "＠" in text):
        text = _EMAIL_IN_TEXT.sub(
            lambda m: _LABELS["email"] if p.style == "label" else mask_email_text(m.group(), char=p.char), text
        )

    def number(m: re.Match[str]) -> str:
        digits = sum(c.isdigit() for c in m.group())
        return m.group() if digits < _MIN_CANDIDATE_DIGITS else _mask_number(m.group(), p)

    text = _NUMBER.sub(number, text)
    return _CN_NUMBER.sub(lambda m: _mask_cn_number(m, p), text)


# ---------------------------------------------------------------------------------------------
# The operators


class KeepParams(OperatorParams):
    first: int = Field(default=0, ge=0, le=64, description="leading characters shown")
    last: int = Field(default=0, ge=0, le=64, description="trailing characters shown")
    char: str = MaskChar
    mask_length: int | None = MaskLength


class KeepOperator(Operator[KeepParams]):
    """Keep first N / last M characters: cards 6+4, mobiles 3+4, ID numbers 6+4, accounts 0+4."""

    name = "keep"
    params_model = KeepParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        if text is None:
            return None
        p = self.parse(params)
        return keep_chars(text, p.first, p.last, p.char, p.mask_length)

    def describe(self, params: Params | None = None) -> str:
        p = self.parse(params)
        return f"keep({p.first},{p.last})"


class RedactOperator(Operator[_NoParams]):
    """The value is withheld: shown as ``None``, as if the field were empty."""

    name = "redact"
    params_model = _NoParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        return None


class NullOperator(RedactOperator):
    """``null``: another name for ``redact``, for policies written in database terms."""

    name = "null"


class PlainOperator(Operator[_NoParams]):
    """No masking: the value is returned unchanged (and keeps its type)."""

    name = "plain"
    params_model = _NoParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        return value


class MaskAllParams(OperatorParams):
    char: str = MaskChar
    mask_length: int | None = MaskLength


class MaskAllOperator(Operator[MaskAllParams]):
    """Every character masked; the strictest display that still shows a value exists."""

    name = "mask_all"
    params_model = MaskAllParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        if text is None:
            return None
        p = self.parse(params)
        if not text:
            return text
        return p.char * (len(text) if p.mask_length is None else p.mask_length)


class HashParams(OperatorParams):
    length: int = Field(default=16, ge=8, le=64, description="hex characters kept of the SHA-256 digest")
    require_key: bool = Field(
        default=False, description="withhold the value when no key is given: a plain hash of a mobile is reversible"
    )


class HashOperator(Operator[HashParams]):
    """A pseudonym for analytics: keyed HMAC-SHA-256 when the context has a key, else SHA-256.

    Equal values give equal hashes, so counts and joins still work; without a
    key, short identifiers (mobiles, IDs) can be recovered by enumeration, hence
    ``require_key``.
    """

    name = "hash"
    params_model = HashParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        if text is None:
            return None
        p = self.parse(params)
        key = (context or NO_CONTEXT).hash_key
        if key is None and p.require_key:
            return None
        return _digest(text, p.length, key)


class TokenOperator(HashOperator):
    """A stable pseudonym from the token vault in the context; falls back to ``hash``.

    The vault's tokens can be resolved back by the access layer (with approval);
    a hash cannot, which is why the vault is preferred when there is one.
    """

    name = "token"

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        ctx = context or NO_CONTEXT
        if text is None or ctx.tokenise is None:
            return super().operate(value, params, context)
        self.parse(params)
        return ctx.tokenise(text, ctx.sensitive_type)


class GeneraliseParams(OperatorParams):
    to: Literal["age_band", "year", "year_month", "province", "city", "district"] = Field(
        description="dates: age_band, year, year_month; addresses: province, city, district"
    )
    band: int = Field(default=10, ge=1, le=100, description="width of an age band in years")
    char: str = MaskChar


class GeneraliseOperator(Operator[GeneraliseParams]):
    """Less precise instead of hidden: an age band or birth year, an address down to its district."""

    name = "generalise"
    params_model = GeneraliseParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        if value is None:
            return None
        p = self.parse(params)
        if p.to == "province" or p.to == "city" or p.to == "district":
            return generalise_address_text(_text(value) or "", p.to, p.char)
        return generalise_date_value(value, p.to, p.band, (context or NO_CONTEXT).today, p.char)

    def describe(self, params: Params | None = None) -> str:
        p = self.parse(params)
        return f"generalise({p.to}, band={p.band})" if p.to == "age_band" else f"generalise({p.to})"


class EmailParams(OperatorParams):
    keep_first: int = Field(default=1, ge=0, le=8, description="leading characters of the mailbox shown")
    mask_length: int = Field(default=3, ge=1, le=16, description="mask characters for the mailbox (length hidden)")
    domain: bool = Field(default=True, description="show the domain")
    char: str = MaskChar


class EmailOperator(Operator[EmailParams]):
    """``z***@example.com``."""

    name = "email"
    params_model = EmailParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        if text is None:
            return None
        p = self.parse(params)
        return mask_email_text(text, p.keep_first, p.mask_length, p.domain, p.char)


class NameParams(OperatorParams):
    show: Literal["family_name", "last_char"] = Field(
        default="family_name", description="family_name: 张** / 欧阳**; last_char: **伟 (some apps show this instead)"
    )
    char: str = MaskChar
    mask_length: int | None = Field(
        default=NAME_MASK_LENGTH, ge=1, le=32,
        description="mask characters for the hidden part, fixed so the name's length is hidden; "
                    "null: one per character")


class NameOperator(Operator[NameParams]):
    """Personal names: the family name stays (张*, 欧阳**), Latin names their first letter."""

    name = "name"
    params_model = NameParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        if text is None:
            return None
        p = self.parse(params)
        return mask_name_text(text, p.show, p.char, p.mask_length)

    def describe(self, params: Params | None = None) -> str:
        return f"name({self.parse(params).show})"


class LandlineParams(OperatorParams):
    last: int = Field(default=2, ge=0, le=8, description="trailing digits shown after the area code")
    char: str = MaskChar


class LandlineOperator(Operator[LandlineParams]):
    """Landlines keep the area code (a city, not a person) and the last digits: ``0755-*****67``."""

    name = "landline"
    params_model = LandlineParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        if text is None:
            return None
        p = self.parse(params)
        canonical = normalise_landline(text)
        if canonical is None:
            return keep_chars(text, 0, p.last, p.char)
        area, _, number = canonical.partition("-")
        return area + "-" + keep_chars(number, 0, p.last, p.char)


class FreeTextOperator(Operator[FreeTextParams]):
    """Free text (remarks, ticket notes) with embedded identifiers masked; the words stay."""

    name = "free_text"
    params_model = FreeTextParams

    def operate(self, value: object, params: Params | None = None, context: MaskingContext | None = None) -> object:
        text = _text(value)
        if text is None:
            return None
        p = self.parse(params)
        return redact_identifiers(text, p)


# ---------------------------------------------------------------------------------------------
# Registry

_REGISTRY: dict[str, Operator[Any]] = {}


def register(operator: Operator[Any], *, replace: bool = False) -> Operator[Any]:
    """Make an operator available to policies by its name (an institution's own, too)."""
    if operator.name in _REGISTRY and not replace:
        raise ConfigError(f"a masking operator named '{operator.name}' is already registered")
    _REGISTRY[operator.name] = operator
    return operator


def get_operator(name: str) -> Operator[Any]:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown masking operator '{name}'; known: {', '.join(_REGISTRY)}.{hint}") from None


def operator_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


for _op in (
    KeepOperator(),
    RedactOperator(),
    NullOperator(),
    HashOperator(),
    TokenOperator(),
    GeneraliseOperator(),
    EmailOperator(),
    NameOperator(),
    LandlineOperator(),
    FreeTextOperator(),
    MaskAllOperator(),
    PlainOperator(),
):
    register(_op)
